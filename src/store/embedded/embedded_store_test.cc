#include "store/embedded/embedded_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>
#include <tuple>

#include "store/embedded/synthetic_workload.h"
#include "testing/store_conformance.h"

namespace loupe::store {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<Store> OpenForConformance(const std::string& dir) {
  EmbeddedOptions o;
  o.dir = dir;
  auto s = NewEmbeddedStore(o);
  if (!s.ok()) {
    ADD_FAILURE() << s.status().ToString();
    return nullptr;
  }
  return std::move(*s);
}

// A small memtable limit makes every test batch cross several flushes, so
// the suite also runs over segments, not only memtables.
std::unique_ptr<Store> OpenWithTinyMemtable(const std::string& dir) {
  EmbeddedOptions o;
  o.dir = dir;
  o.memtable_bytes = 16 << 10;
  o.segment.rows_per_group = 16;
  auto s = NewEmbeddedStore(o);
  if (!s.ok()) {
    ADD_FAILURE() << s.status().ToString();
    return nullptr;
  }
  return std::move(*s);
}

// Compaction and retention passes every 5 ms while the suite runs: its data
// is years old, so every partition with two segments is compacted under the
// suite's reads and appends (retention stays off: the default keeps all).
std::unique_ptr<Store> OpenWithBusyMaintenance(const std::string& dir) {
  EmbeddedOptions o;
  o.dir = dir;
  o.memtable_bytes = 16 << 10;
  o.segment.rows_per_group = 16;
  o.maintenance_interval_us = 5'000;
  o.compaction_grace_us = 0;
  auto s = NewEmbeddedStore(o);
  if (!s.ok()) {
    ADD_FAILURE() << s.status().ToString();
    return nullptr;
  }
  return std::move(*s);
}

LOUPE_INSTANTIATE_STORE_CONFORMANCE(Embedded,
                                    (::loupe::testing::StoreConformanceParam{
                                        .name = "embedded",
                                        .open = OpenForConformance,
                                        .durable = true,
                                        .reopen = OpenForConformance,
                                    }),
                                    (::loupe::testing::StoreConformanceParam{
                                        .name = "embedded_tiny_memtable",
                                        .open = OpenWithTinyMemtable,
                                        .durable = true,
                                        .reopen = OpenWithTinyMemtable,
                                    }),
                                    (::loupe::testing::StoreConformanceParam{
                                        .name = "embedded_compacting",
                                        .open = OpenWithBusyMaintenance,
                                        .durable = true,
                                        .reopen = OpenWithBusyMaintenance,
                                    }));

constexpr int64_t kT0 = 1'700'000'000'000'000;
constexpr int64_t kHour = 3'600'000'000;

class EmbeddedStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loupe_embedded_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  EmbeddedOptions Options(Env* env = Env::Default()) const {
    EmbeddedOptions o;
    o.dir = dir_;
    o.env = env;
    o.background_flush = false;
    o.segment.rows_per_group = 64;
    return o;
  }
  std::unique_ptr<EmbeddedStore> Open(const EmbeddedOptions& o) {
    auto s = EmbeddedStore::Open(o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }
  std::vector<std::string> SegmentFiles() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) {
      if (e.path().extension() == ".seg") out.push_back(e.path().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  std::string dir_;
};

std::vector<model::Transaction> Generate(size_t n, int64_t start = kT0, uint64_t seed = 3) {
  SyntheticWorkload::Options o;
  o.seed = seed;
  SyntheticWorkload w(o, start);
  std::vector<model::Transaction> out;
  for (size_t i = 0; i < n; ++i) out.push_back(w.Next());
  return out;
}

Status AppendAll(Store& s, ProjectId p, const std::vector<model::Transaction>& txs) {
  WriteBatch b;
  b.transactions = txs;
  return s.Append(p, std::move(b));
}

std::vector<model::TxId> ScanIds(const Store& s, ProjectId p, ScanOrder order,
                                 const TxFilter& f = {}, Status* status = nullptr) {
  std::vector<model::TxId> ids;
  Status st = s.Scan(p, f, order, [&](std::span<const TxRow> rows) {
    for (const TxRow& r : rows) ids.push_back(r.id);
    return true;
  });
  if (status) *status = st;
  return ids;
}

TEST_F(EmbeddedStoreTest, FlushWritesSegmentsThatAReopenReads) {
  // Three hours: three partitions.
  auto txs = Generate(3000);
  for (size_t i = 0; i < txs.size(); ++i) {
    txs[i].end_us += static_cast<int64_t>(i % 3) * kHour;
    txs[i].start_us += static_cast<int64_t>(i % 3) * kHour;
  }
  auto store = Open(Options());
  ASSERT_TRUE(AppendAll(*store, 1, txs).ok());
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(store->embedded_stats().segments, 3u);
  EXPECT_EQ(store->embedded_stats().memtable_rows, 0u);
  EXPECT_EQ(SegmentFiles().size(), 3u);
  const auto before = ScanIds(*store, 1, ScanOrder::kNewestFirst);
  ASSERT_EQ(before.size(), txs.size());
  ASSERT_TRUE(store->Close().ok());

  store = Open(Options());
  EXPECT_EQ(store->Stats().transactions, txs.size());
  uint64_t steps = 0;
  for (const auto& tx : txs) steps += tx.steps.size();
  EXPECT_EQ(store->Stats().steps, steps);
  EXPECT_EQ(ScanIds(*store, 1, ScanOrder::kNewestFirst), before);
  for (size_t i = 0; i < txs.size(); i += 101) {
    auto got = store->Get(1, txs[i].id);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->endpoint, txs[i].endpoint);
    EXPECT_EQ(got->steps.size(), txs[i].steps.size());
    EXPECT_EQ(got->url, txs[i].url);
    auto trace = store->GetTrace(1, txs[i].trace_id);
    ASSERT_TRUE(trace.ok());
    ASSERT_EQ(trace->size(), 1u);
    EXPECT_EQ((*trace)[0].id, txs[i].id);
  }
  // Replaying what is already in segments stores nothing twice.
  ASSERT_TRUE(AppendAll(*store, 1, txs).ok());
  EXPECT_EQ(store->Stats().transactions, txs.size());
  EXPECT_EQ(store->Stats().duplicates_skipped, txs.size());
}

// A week of distinct visitors, squeezed: every transaction has a user and a
// client IP never seen before. Once flushed, their strings are in the
// segments only (read back on demand): the dictionaries held in memory stay
// as small as the memtable, while filters and lookups by user still work,
// also after a reopen. A project-wide dictionary held all 4 million strings.
TEST_F(EmbeddedStoreTest, DistinctUsersLeaveNoDictionaryBehind) {
  constexpr int kUsers = 2'000'000;
  constexpr int kBatch = 20'000;
  constexpr int kFlushEvery = 200'000;
  auto user = [](int k) { return "user-" + std::to_string(k); };
  auto ip = [](int k) {
    return "10." + std::to_string(k >> 16) + "." + std::to_string((k >> 8) & 255) + "." +
           std::to_string(k & 255);
  };
  EmbeddedOptions o = Options();
  o.segment.rows_per_group = 8192;
  auto store = Open(o);
  uint64_t peak_entries = 0, peak_bytes = 0;
  for (int i = 0; i < kUsers; i += kBatch) {
    WriteBatch b;
    for (int k = i; k < i + kBatch; ++k) {
      model::Transaction tx;
      tx.id = static_cast<model::TxId>(k) + 1;
      tx.trace_id[0] = static_cast<uint8_t>(k);
      tx.trace_id[1] = static_cast<uint8_t>(k >> 8);
      tx.trace_id[2] = static_cast<uint8_t>(k >> 16);
      tx.end_us = kT0 + int64_t{k} * 3'600;  // 2 hours: three partitions
      tx.start_us = tx.end_us - 1'000;
      tx.service = "shop";
      tx.instance = "shop-1";
      tx.endpoint = "GET /";
      tx.user = user(k);
      tx.client_ip = ip(k);
      b.transactions.push_back(std::move(tx));
    }
    ASSERT_TRUE(store->Append(1, std::move(b)).ok());
    const StoreStats st = store->Stats();
    peak_entries = std::max(peak_entries, st.dictionary_entries);
    peak_bytes = std::max(peak_bytes, st.dictionary_bytes);
    if ((i + kBatch) % kFlushEvery == 0) {
      ASSERT_TRUE(store->Flush().ok());
    }
  }
  // At most two memtables' worth of rows (one flush interval, and a
  // partition boundary) have their strings in memory.
  EXPECT_LE(peak_entries, 2u * kFlushEvery + 1'000);
  EXPECT_LE(peak_bytes, size_t{40} << 20);
  const StoreStats flushed = store->Stats();
  EXPECT_LE(flushed.dictionary_entries, 1'000u);  // service, instance... per segment
  EXPECT_LE(flushed.dictionary_bytes, size_t{64} << 10);

  auto check = [&](EmbeddedStore& s) {
    for (int k : {0, 777'777, kUsers - 1}) {
      TxFilter f;
      f.user = user(k);
      EXPECT_THAT(ScanIds(s, 1, ScanOrder::kNewestFirst, f),
                  ::testing::ElementsAre(static_cast<model::TxId>(k) + 1));
      f = {};
      f.client_ip = ip(k);
      EXPECT_THAT(ScanIds(s, 1, ScanOrder::kAny, f),
                  ::testing::ElementsAre(static_cast<model::TxId>(k) + 1));
      auto got = s.Get(1, static_cast<model::TxId>(k) + 1);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      EXPECT_EQ(got->user, user(k));
      EXPECT_EQ(got->client_ip, ip(k));
    }
    TxFilter f;
    f.user = "never-seen";
    EXPECT_THAT(ScanIds(s, 1, ScanOrder::kAny, f), ::testing::IsEmpty());
    // A list reads every row's user from the segments' dictionaries.
    size_t rows = 0, named = 0;
    f = {};
    f.fields = kFieldClient;
    ASSERT_TRUE(s.Scan(1, f, ScanOrder::kNewestFirst, [&](std::span<const TxRow> batch) {
                   for (const TxRow& r : batch) {
                     ++rows;
                     named += r.user == user(static_cast<int>(r.id - 1));
                   }
                   return rows < 100'000;
                 }).ok());
    EXPECT_EQ(named, rows);
  };
  check(*store);
  ASSERT_TRUE(store->Close().ok());
  store = Open(o);
  EXPECT_LE(store->Stats().dictionary_entries, 1'000u);
  check(*store);
}

TEST_F(EmbeddedStoreTest, NewestFirstMergesMemtableAndSeveralSegments) {
  auto txs = Generate(2000);
  std::mt19937_64 rng(5);
  std::shuffle(txs.begin(), txs.end(), rng);
  auto store = Open(Options());
  for (size_t i = 0; i < txs.size(); i += 500) {
    ASSERT_TRUE(AppendAll(*store, 1, {txs.begin() + i, txs.begin() + i + 500}).ok());
    if (i < 1500) {
      ASSERT_TRUE(store->Flush().ok());  // the last batch stays in the memtable
    }
  }
  EXPECT_EQ(store->embedded_stats().segments, 3u);
  std::vector<int64_t> ends;
  ASSERT_TRUE(store
                  ->Scan(1, {}, ScanOrder::kNewestFirst,
                         [&](std::span<const TxRow> rows) {
                           for (const TxRow& r : rows) ends.push_back(r.end_us);
                           return true;
                         })
                  .ok());
  ASSERT_EQ(ends.size(), txs.size());
  EXPECT_TRUE(std::is_sorted(ends.rbegin(), ends.rend()));

  // A narrow window with filters reads the same rows from every source.
  TxFilter f;
  f.from_us = ends[1500];
  f.to_us = ends[500];
  f.service = "svc-a";
  f.min_elapsed_us = 20'000;
  size_t want = 0;
  for (const auto& tx : txs) {
    want += tx.end_us >= f.from_us && tx.end_us < f.to_us && tx.service == "svc-a" &&
            tx.elapsed_us() >= 20'000;
  }
  EXPECT_EQ(ScanIds(*store, 1, ScanOrder::kNewestFirst, f).size(), want);
  EXPECT_EQ(ScanIds(*store, 1, ScanOrder::kAny, f).size(), want);
}

// Scan copies runs of rows (whole groups, up to the next source's head in a
// newest-first merge) and ScanScatter hands over whole groups' columns:
// every window, with and without row filters, must give exactly the rows a
// brute-force filter gives.
TEST_F(EmbeddedStoreTest, ScanRunsMatchBruteForceOverManyWindows) {
  auto txs = Generate(3000);
  std::mt19937_64 rng(7);
  std::shuffle(txs.begin(), txs.end(), rng);
  auto store = Open(Options());
  for (size_t i = 0; i < txs.size(); i += 600) {
    ASSERT_TRUE(AppendAll(*store, 1, {txs.begin() + i, txs.begin() + i + 600}).ok());
    if (i < 2400) {
      ASSERT_TRUE(store->Flush().ok());  // the last batch stays in the memtable
    }
  }
  std::vector<int64_t> ends;
  for (const auto& tx : txs) ends.push_back(tx.end_us);
  std::sort(ends.begin(), ends.end());
  auto check = [&](const char* stage) {
    for (int round = 0; round < 60; ++round) {
      TxFilter f;
      f.from_us = ends[rng() % ends.size()] + static_cast<int64_t>(rng() % 3) - 1;
      f.to_us = ends[rng() % ends.size()] + static_cast<int64_t>(rng() % 3);
      if (f.from_us > f.to_us) std::swap(f.from_us, f.to_us);
      if (round % 10 == 0) f.from_us = 0;
      if (round % 3 == 1) f.min_elapsed_us = 30'000;
      if (round % 4 == 2) f.errors_only = true;
      f.fields = round % 2 ? 0u : uint32_t{kFieldAll};
      std::multiset<std::pair<int64_t, model::TxId>> want;
      for (const auto& tx : txs) {
        if (tx.end_us >= f.from_us && tx.end_us < f.to_us && tx.elapsed_us() >= f.min_elapsed_us &&
            (!f.errors_only || tx.error)) {
          want.insert({tx.end_us, tx.id});
        }
      }
      for (ScanOrder order : {ScanOrder::kNewestFirst, ScanOrder::kAny}) {
        std::multiset<std::pair<int64_t, model::TxId>> got;
        std::vector<int64_t> got_ends;
        ASSERT_TRUE(store
                        ->Scan(1, f, order,
                               [&](std::span<const TxRow> rows) {
                                 for (const TxRow& r : rows) {
                                   got.insert({r.end_us, r.id});
                                   got_ends.push_back(r.end_us);
                                 }
                                 return true;
                               })
                        .ok());
        EXPECT_EQ(got, want) << stage << ", round " << round;
        if (order == ScanOrder::kAny) {
          // The columnar scan gives the same rows' end, elapsed and error.
          ::loupe::testing::ScatterPoints rows, cols;
          for (const auto& tx : txs) {
            if (want.count({tx.end_us, tx.id}) != 0) {
              rows.insert({tx.end_us, tx.elapsed_us(), tx.error});
            }
          }
          cols = ::loupe::testing::ScanScatterPoints(*store, 1, f);
          EXPECT_EQ(cols, rows) << stage << ", round " << round;
        }
        if (order == ScanOrder::kNewestFirst) {
          EXPECT_TRUE(std::is_sorted(got_ends.rbegin(), got_ends.rend()))
              << stage << ", round " << round;
        }
      }
    }
  };
  // Five interleaved sources: short runs between the merge's heap steps.
  check("memtable and 4 segments");
  // One source: whole groups per run.
  ASSERT_TRUE(store->Flush().ok());
  ASSERT_TRUE(store->CompactClosedPartitions().ok());
  ASSERT_EQ(store->embedded_stats().segments, 1u);
  check("compacted");
}

// The scatter cache hands over exactly what decoding gives (groups whose
// values do not fit its 32-bit columns are decoded every time), is used
// only for time/elapsed/error filters, and stays within its budget.
TEST_F(EmbeddedStoreTest, ScatterCacheGivesTheDecodedColumnsWithinItsBudget) {
  auto txs = Generate(3000);
  for (size_t i = 0; i < txs.size(); i += 700) {
    txs[i].start_us = txs[i].end_us - 5'000'000'000;  // elapsed past 2^32 µs
  }
  auto store = Open(Options());  // 64 rows a group: 47 groups
  ASSERT_TRUE(AppendAll(*store, 1, txs).ok());
  ASSERT_TRUE(store->Flush().ok());
  std::vector<int64_t> ends;
  for (const auto& tx : txs) ends.push_back(tx.end_us);
  std::sort(ends.begin(), ends.end());
  std::vector<TxFilter> filters(4);
  filters[1].from_us = ends[100] + 1;
  filters[1].to_us = ends[2500];
  filters[2].min_elapsed_us = 30'000;
  filters[2].errors_only = true;
  filters[3].service = txs[0].service;
  using Cols = ::loupe::testing::ScatterPoints;
  auto scan = [&](const TxFilter& f) { return ::loupe::testing::ScanScatterPoints(*store, 1, f); };
  store->SetScatterCacheBytes(0);
  std::vector<Cols> want;
  for (const TxFilter& f : filters) want.push_back(scan(f));
  EXPECT_EQ(want[0].size(), txs.size());
  EXPECT_EQ(store->embedded_stats().scatter_cache_misses, 0u);  // off: not counted

  store->SetScatterCacheBytes(size_t{64} << 20);
  EXPECT_EQ(scan(filters[0]), want[0]);
  EmbeddedStats s = store->embedded_stats();
  EXPECT_EQ(s.scatter_cache_hits, 0u);
  EXPECT_EQ(s.scatter_cache_misses, 47u);
  EXPECT_GT(s.scatter_cache_bytes, 0u);
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < filters.size(); ++i) EXPECT_EQ(scan(filters[i]), want[i]) << i;
  }
  s = store->embedded_stats();
  // Up to 5 groups hold an elapsed time past 2^32 µs: decoded on every scan
  // of the three cacheable filters; a dictionary filter (filters[3])
  // decodes and counts neither a hit nor a miss.
  EXPECT_GT(s.scatter_cache_misses, 47u);
  EXPECT_LE(s.scatter_cache_misses, 47u + 2 * 3 * 5);
  EXPECT_GE(s.scatter_cache_hits, 2u * 3 * (47 - 5 - 2));
  EXPECT_LE(s.scatter_cache_hits + s.scatter_cache_misses, 47u + 2 * 3 * 47);

  // A budget of about three groups: evicts, stays within, answers right.
  const size_t small = s.scatter_cache_bytes / 42 * 3;
  store->SetScatterCacheBytes(small);
  EXPECT_LE(store->embedded_stats().scatter_cache_bytes, small);
  for (size_t i = 0; i < filters.size(); ++i) EXPECT_EQ(scan(filters[i]), want[i]) << i;
  EXPECT_LE(store->embedded_stats().scatter_cache_bytes, small);
  EXPECT_GT(store->embedded_stats().scatter_cache_bytes, 0u);
  store->SetScatterCacheBytes(0);
  EXPECT_EQ(store->embedded_stats().scatter_cache_bytes, 0u);
  EXPECT_EQ(scan(filters[0]), want[0]);
}

TEST_F(EmbeddedStoreTest, LateStepsOfAFlushedTransactionMergeAtReadTimeAndPersist) {
  auto txs = Generate(10);
  model::Transaction& target = txs[4];
  target.steps.clear();
  target.summary = {};
  auto store = Open(Options());
  ASSERT_TRUE(AppendAll(*store, 1, txs).ok());
  ASSERT_TRUE(store->Flush().ok());

  model::Step sql;
  sql.span_id = 0xabc;
  sql.parent_span_id = target.span_id;
  sql.kind = model::StepKind::kSql;
  sql.start_us = target.start_us + 5;
  sql.elapsed_us = 700;
  sql.sql = "SELECT 1";
  WriteBatch late;
  late.late_steps.push_back({target.id, {sql, sql}});  // a duplicate inside the batch too
  ASSERT_TRUE(store->Append(1, late).ok());
  EXPECT_EQ(store->Stats().late_steps_merged, 1u);

  auto check = [&](EmbeddedStore& s) {
    auto got = s.Get(1, target.id);
    ASSERT_TRUE(got.ok());
    ASSERT_EQ(got->steps.size(), 1u);
    EXPECT_EQ(got->steps[0].sql, "SELECT 1");
    EXPECT_EQ(got->steps[0].parent_span_id, target.span_id);
    EXPECT_EQ(got->summary.sql_count, 1u);
    EXPECT_EQ(got->summary.sql_us, 700);
    bool seen = false;
    ASSERT_TRUE(s.Scan(1, {}, ScanOrder::kAny, [&](std::span<const TxRow> rows) {
                   for (const TxRow& r : rows) {
                     if (r.id == target.id) {
                       seen = true;
                       EXPECT_EQ(r.summary.sql_count, 1u);
                     }
                   }
                   return true;
                 }).ok());
    EXPECT_TRUE(seen);
  };
  check(*store);
  ASSERT_TRUE(store->Flush().ok());  // the late steps go to a second segment
  EXPECT_EQ(store->embedded_stats().segments, 2u);
  check(*store);
  ASSERT_TRUE(store->Close().ok());
  store = Open(Options());
  check(*store);
  // Replayed late steps are recognized after the reopen.
  ASSERT_TRUE(store->Append(1, late).ok());
  EXPECT_EQ(store->Stats().late_steps_merged, 0u);
  check(*store);
}

TEST_F(EmbeddedStoreTest, DamagedSegmentIsSkippedAtOpenAndTheRestStaysReadable) {
  auto a = Generate(500, kT0);
  auto b = Generate(500, kT0 + 2 * kHour, 9);
  auto store = Open(Options());
  ASSERT_TRUE(AppendAll(*store, 1, a).ok());
  ASSERT_TRUE(AppendAll(*store, 1, b).ok());
  ASSERT_TRUE(store->Close().ok());
  auto files = SegmentFiles();
  ASSERT_EQ(files.size(), 2u);
  {
    // Damage the trailer of the first (older partition) segment.
    std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-3, std::ios::end);
    f.put('\x7f');
  }
  store = Open(Options());
  EXPECT_EQ(store->embedded_stats().corrupt_segments, 1u);
  EXPECT_EQ(store->Stats().transactions, b.size());
  EXPECT_EQ(ScanIds(*store, 1, ScanOrder::kAny).size(), b.size());
  EXPECT_TRUE(store->Get(1, b[7].id).ok());
  EXPECT_EQ(store->Get(1, a[7].id).status().code(), Status::Code::kNotFound);
}

TEST_F(EmbeddedStoreTest, DamagedRowGroupIsReportedAndOtherGroupsAreDelivered) {
  auto txs = Generate(640);  // ten groups of 64
  auto store = Open(Options());
  ASSERT_TRUE(AppendAll(*store, 1, txs).ok());
  ASSERT_TRUE(store->Close().ok());
  auto files = SegmentFiles();
  ASSERT_EQ(files.size(), 1u);
  Segment::Chunk chunk;
  {
    auto seg = Segment::Open(Env::Default(), files[0]);
    ASSERT_TRUE(seg.ok());
    chunk = (*seg)->groups()[3].columns[kColElapsed];
  }
  {
    std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(chunk.offset));
    char c = static_cast<char>(f.get());
    f.seekp(static_cast<std::streamoff>(chunk.offset));
    f.put(static_cast<char>(c ^ 0x40));
  }
  store = Open(Options());
  Status st;
  auto ids = ScanIds(*store, 1, ScanOrder::kNewestFirst, {}, &st);
  EXPECT_EQ(st.code(), Status::Code::kCorruption);
  EXPECT_NE(st.message().find(files[0]), std::string::npos) << st.ToString();
  EXPECT_EQ(ids.size(), txs.size() - 64);
  EXPECT_EQ(store->embedded_stats().corrupt_chunks, 1u);
}

TEST_F(EmbeddedStoreTest, SecondOpenOfTheSameDirectoryFailsUntilClose) {
  auto first = Open(Options());
  auto second = EmbeddedStore::Open(Options());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Status::Code::kUnavailable);
  ASSERT_TRUE(first->Close().ok());
  EXPECT_TRUE(EmbeddedStore::Open(Options()).ok());
}

TEST_F(EmbeddedStoreTest, FailedFlushKeepsDataInMemoryAndARetrySucceeds) {
  FaultInjectionEnv env(Env::Default());
  auto txs = Generate(300);
  auto store = Open(Options(&env));
  ASSERT_TRUE(AppendAll(*store, 1, txs).ok());
  env.SetWriteBudget(1000);  // disk full during the flush
  Status s = store->Flush();
  EXPECT_EQ(s.code(), Status::Code::kResourceExhausted) << s.ToString();
  EXPECT_EQ(store->embedded_stats().failed_flushes, 1u);
  EXPECT_EQ(ScanIds(*store, 1, ScanOrder::kAny).size(), txs.size());
  EXPECT_TRUE(store->Get(1, txs[0].id).ok());
  // The failed flush left no segment behind and appends still work.
  EXPECT_TRUE(SegmentFiles().empty());
  ASSERT_TRUE(AppendAll(*store, 1, Generate(5, kT0 + kHour, 4)).ok());

  env.SetWriteBudget(-1);
  ASSERT_TRUE(store->Flush().ok());
  ASSERT_TRUE(store->Close().ok());
  store = Open(Options());
  EXPECT_EQ(store->Stats().transactions, txs.size() + 5);
}

TEST_F(EmbeddedStoreTest, FlushedSegmentsSurviveACrash) {
  FaultInjectionEnv env(Env::Default());
  auto txs = Generate(200);
  {
    auto store = Open(Options(&env));
    ASSERT_TRUE(AppendAll(*store, 1, txs).ok());
    ASSERT_TRUE(store->Flush().ok());
    ASSERT_TRUE(AppendAll(*store, 1, Generate(50, kT0 + kHour, 8)).ok());  // not flushed
    ASSERT_TRUE(env.DropUnsyncedData().ok());
    // Leaving the scope runs the destructor (Close, hence a flush), which a
    // real crash would not; only the first flush is relied on below.
  }
  ASSERT_TRUE(env.DropUnsyncedData().ok());
  auto store = Open(Options());
  EXPECT_GE(store->Stats().transactions, txs.size());
  for (const auto& tx : txs) ASSERT_TRUE(store->Get(1, tx.id).ok());
}

TEST_F(EmbeddedStoreTest, BackgroundFlushRunsAtTheMemtableLimit) {
  EmbeddedOptions o = Options();
  o.background_flush = true;
  o.memtable_bytes = 256 << 10;
  auto store = Open(o);
  auto txs = Generate(5000);
  for (size_t i = 0; i < txs.size(); i += 250) {
    ASSERT_TRUE(AppendAll(*store, 1, {txs.begin() + i, txs.begin() + i + 250}).ok());
  }
  for (int i = 0; i < 100 && store->embedded_stats().segments == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_GT(store->embedded_stats().segments, 0u);
  EXPECT_EQ(ScanIds(*store, 1, ScanOrder::kAny).size(), txs.size());
  std::set<model::TxId> ids;
  for (auto id : ScanIds(*store, 1, ScanOrder::kNewestFirst)) ids.insert(id);
  EXPECT_EQ(ids.size(), txs.size());
}

}  // namespace
}  // namespace loupe::store
