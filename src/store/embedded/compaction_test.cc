// Compaction of closed partitions (compaction.cc): results identical before
// and after, late steps and profiles folded in, crash consistency over
// FaultInjectionEnv, reads never see a gap or a duplicate.
#include <gtest/gtest.h>
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <new>
#include <random>
#include <thread>

#include "store/embedded/embedded_store.h"
#include "store/embedded/segment.h"
#include "store/embedded/synthetic_workload.h"
#include "store/profile_codec.h"

// Bytes held through operator new in this test binary, and their peak
// since the last reset: a compaction's working set is measured, not timed.
namespace heap_counter {
std::atomic<int64_t> live{0};
std::atomic<int64_t> peak{0};
void Held(void* p) {
  if (p == nullptr) return;
  const auto n = static_cast<int64_t>(malloc_usable_size(p));
  const int64_t now = live.fetch_add(n, std::memory_order_relaxed) + n;
  int64_t seen = peak.load(std::memory_order_relaxed);
  while (now > seen && !peak.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
  }
}
void Freed(void* p) {
  if (p != nullptr) live.fetch_sub(static_cast<int64_t>(malloc_usable_size(p)));
}
}  // namespace heap_counter

void* operator new(size_t n) {
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  heap_counter::Held(p);
  return p;
}
void* operator new[](size_t n) { return operator new(n); }
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  void* p = std::malloc(n == 0 ? 1 : n);
  heap_counter::Held(p);
  return p;
}
void* operator new[](size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void operator delete(void* p) noexcept {
  heap_counter::Freed(p);
  std::free(p);
}
void operator delete[](void* p) noexcept { operator delete(p); }
void operator delete(void* p, size_t) noexcept { operator delete(p); }
void operator delete[](void* p, size_t) noexcept { operator delete(p); }

namespace loupe::store {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kHour = 3'600'000'000;
constexpr int64_t kHourStart = 472'222 * kHour;  // an hour boundary (2023-11-14 22:00 UTC)
constexpr int64_t kMinute = 60'000'000;

std::vector<model::Transaction> Generate(size_t n, int64_t start, uint64_t seed = 3) {
  SyntheticWorkload::Options o;
  o.seed = seed;
  o.tps = 200;
  SyntheticWorkload w(o, start);
  std::vector<model::Transaction> out;
  for (size_t i = 0; i < n; ++i) out.push_back(w.Next());
  return out;
}

Status AppendAll(Store& s, ProjectId p, std::vector<model::Transaction> txs) {
  WriteBatch b;
  b.transactions = std::move(txs);
  return s.Append(p, std::move(b));
}

// Everything a Scan returns, all fields, newest first, as comparable text.
std::vector<std::string> ScanAll(const Store& s, ProjectId p) {
  std::vector<std::string> out;
  Status st = s.Scan(p, {}, ScanOrder::kNewestFirst, [&](std::span<const TxRow> rows) {
    for (const TxRow& r : rows) {
      out.push_back(
          model::TxIdToHex(r.id) + " " + std::to_string(r.start_us) + " " +
          std::to_string(r.end_us) + " " + std::to_string(r.status) + " " + std::string(r.service) +
          " " + std::string(r.instance) + " " + std::string(r.endpoint) + " " +
          std::string(r.user) + " " + std::string(r.client_ip) + " " + std::string(r.http_method) +
          " " + std::string(r.error_type) + " " + std::to_string(r.summary.sql_count) + " " +
          std::to_string(r.summary.sql_us) + " " + std::to_string(r.summary.external_count) + " " +
          std::to_string(r.summary.cpu_us));
    }
    return true;
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

// A transaction with its profile, as comparable text.
std::string TxText(const model::Transaction& t) {
  std::string s = model::TxIdToHex(t.id) + " " + t.url + " " + t.host + " " +
                  std::to_string(t.summary.sql_count) + " steps:";
  for (const model::Step& st : t.steps) {
    s += " " + std::to_string(st.span_id) + "/" + std::to_string(st.start_us) + "/" + st.name +
         "/" + st.sql;
  }
  return s;
}

class CompactionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loupe_compaction_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  EmbeddedOptions Options(Env* env = Env::Default()) {
    EmbeddedOptions o;
    o.dir = dir_;
    o.env = env;
    o.clock = &clock_;
    o.background_flush = false;
    o.background_maintenance = false;
    o.compaction_grace_us = 10 * kMinute;
    o.segment.rows_per_group = 64;
    o.segment.profile_block_bytes = 4096;
    return o;
  }
  std::unique_ptr<EmbeddedStore> Open(const EmbeddedOptions& o) {
    auto s = EmbeddedStore::Open(o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }
  std::vector<std::string> Files(const std::string& ext) const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) {
      if (e.path().extension() == ext) out.push_back(e.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // 1,000 transactions of the hour starting at kHourStart, appended in four
  // batches with a flush after each (four segments), plus late steps of a
  // flushed transaction in a fifth segment. Returns the transactions.
  std::vector<model::Transaction> FillHour(EmbeddedStore& store) {
    auto txs = Generate(1000, kHourStart + kMinute);
    std::mt19937_64 rng(7);
    std::shuffle(txs.begin(), txs.end(), rng);  // every segment spans the hour
    for (size_t i = 0; i < txs.size(); i += 250) {
      EXPECT_TRUE(AppendAll(store, 1, {txs.begin() + i, txs.begin() + i + 250}).ok());
      EXPECT_TRUE(store.Flush().ok());
    }
    late_target_ = txs[10];
    model::Step sql;
    sql.span_id = 0xfeed;
    sql.parent_span_id = late_target_.span_id;
    sql.kind = model::StepKind::kSql;
    sql.start_us = late_target_.start_us + 1;
    sql.elapsed_us = 900;
    sql.name = "late";
    sql.sql = "SELECT late";
    WriteBatch late;
    late.late_steps.push_back({late_target_.id, {sql}});
    EXPECT_TRUE(store.Append(1, late).ok());
    EXPECT_TRUE(store.Flush().ok());
    return txs;
  }

  std::string dir_;
  ManualClock clock_{kHourStart + 30 * kMinute};  // inside the hour: not closed yet
  model::Transaction late_target_;
};

TEST_F(CompactionTest, ClosedPartitionBecomesOneSegmentWithIdenticalReads) {
  auto store = Open(Options());
  auto txs = FillHour(*store);
  ASSERT_EQ(store->embedded_stats().segments, 5u);
  const auto rows_before = ScanAll(*store, 1);
  ASSERT_EQ(rows_before.size(), txs.size());
  std::map<model::TxId, std::string> profiles_before;
  for (size_t i = 0; i < txs.size(); i += 7) {
    auto got = store->Get(1, txs[i].id);
    ASSERT_TRUE(got.ok());
    profiles_before[txs[i].id] = TxText(*got);
  }
  auto late_before = store->Get(1, late_target_.id);
  ASSERT_TRUE(late_before.ok());
  ASSERT_EQ(late_before->steps.size(), late_target_.steps.size() + 1);
  const uint64_t steps_before = store->Stats().steps;

  // The hour is not over (nor its grace period): nothing happens.
  ASSERT_TRUE(store->CompactClosedPartitions().ok());
  clock_.Set(kHourStart + kHour + 5 * kMinute);
  ASSERT_TRUE(store->CompactClosedPartitions().ok());
  EXPECT_EQ(store->embedded_stats().compactions, 0u);
  EXPECT_EQ(Files(".seg").size(), 5u);

  clock_.Set(kHourStart + kHour + 11 * kMinute);
  ASSERT_TRUE(store->CompactClosedPartitions().ok());
  EmbeddedStats es = store->embedded_stats();
  EXPECT_EQ(es.compactions, 1u);
  EXPECT_EQ(es.segments_compacted, 5u);
  EXPECT_EQ(es.segments, 1u);
  ASSERT_EQ(Files(".seg").size(), 1u);
  EXPECT_TRUE(Files(".tmp").empty());
  EXPECT_EQ(es.segment_bytes, fs::file_size(dir_ + "/" + Files(".seg")[0]));

  auto check = [&](EmbeddedStore& s) {
    EXPECT_EQ(ScanAll(s, 1), rows_before);
    for (const auto& [id, text] : profiles_before) {
      auto got = s.Get(1, id);
      ASSERT_TRUE(got.ok());
      EXPECT_EQ(TxText(*got), text);
    }
    // The late step is folded into the profile, once.
    auto late = s.Get(1, late_target_.id);
    ASSERT_TRUE(late.ok());
    EXPECT_EQ(TxText(*late), TxText(*late_before));
    auto trace = s.GetTrace(1, late_target_.trace_id);
    ASSERT_TRUE(trace.ok());
    ASSERT_EQ(trace->size(), 1u);
    EXPECT_EQ(TxText((*trace)[0]), TxText(*late_before));
    EXPECT_EQ(s.Stats().transactions, txs.size());
    EXPECT_EQ(s.Stats().steps, steps_before);
  };
  check(*store);
  // Replays are still recognized: the transaction and the late step.
  ASSERT_TRUE(AppendAll(*store, 1, {txs[3]}).ok());
  EXPECT_EQ(store->Stats().duplicates_skipped, 1u);
  model::Step again = late_before->steps.back();
  for (const auto& st : late_before->steps) {
    if (st.span_id == 0xfeed) again = st;
  }
  WriteBatch replay;
  replay.late_steps.push_back({late_target_.id, {again}});
  const uint64_t merged = store->Stats().late_steps_merged;
  ASSERT_TRUE(store->Append(1, replay).ok());
  EXPECT_EQ(store->Stats().late_steps_merged, merged);

  ASSERT_TRUE(store->Close().ok());
  store = Open(Options());
  check(*store);
  EXPECT_EQ(store->embedded_stats().segments, 1u);
  // One segment: nothing more to do.
  ASSERT_TRUE(store->CompactClosedPartitions().ok());
  EXPECT_EQ(store->embedded_stats().compactions, 0u);
}

// A data directory written before segment version 2 reads the same, and its
// compaction writes version 2.
TEST_F(CompactionTest, VersionOneSegmentsReadAndCompactIntoVersionTwo) {
  EmbeddedOptions old_format = Options();
  old_format.segment.version = 1;
  std::vector<model::Transaction> txs;
  std::vector<std::string> rows_before;
  std::map<model::TxId, std::string> profiles_before;
  auto profiles = [&](EmbeddedStore& s) {
    std::map<model::TxId, std::string> out;
    for (size_t i = 0; i < txs.size(); i += 3) {
      auto got = s.Get(1, txs[i].id);
      EXPECT_TRUE(got.ok());
      if (got.ok()) EncodeProfile(*got, &out[txs[i].id]);
    }
    return out;
  };
  auto versions = [&] {
    std::vector<uint32_t> columnar;
    for (const std::string& f : Files(".seg")) {
      auto seg = Segment::Open(Env::Default(), dir_ + "/" + f);
      EXPECT_TRUE(seg.ok());
      if (seg.ok()) columnar.push_back((*seg)->version());
    }
    return columnar;
  };
  {
    auto store = Open(old_format);
    txs = FillHour(*store);
    rows_before = ScanAll(*store, 1);
    profiles_before = profiles(*store);
  }
  EXPECT_EQ(versions(), std::vector<uint32_t>(5, 1));
  auto store = Open(Options());
  EXPECT_EQ(ScanAll(*store, 1), rows_before);
  EXPECT_EQ(profiles(*store), profiles_before);
  clock_.Set(kHourStart + kHour + 11 * kMinute);
  ASSERT_TRUE(store->CompactClosedPartitions().ok());
  EXPECT_EQ(store->embedded_stats().compactions, 1u);
  EXPECT_EQ(versions(), std::vector<uint32_t>{2});
  EXPECT_EQ(ScanAll(*store, 1), rows_before);
  EXPECT_EQ(profiles(*store), profiles_before);
}

TEST_F(CompactionTest, OpenPartitionsAndOtherProjectsAreLeftAlone) {
  auto store = Open(Options());
  FillHour(*store);
  // The current hour (two segments) and another project's closed hour.
  clock_.Set(kHourStart + kHour + 20 * kMinute);
  auto now = Generate(100, kHourStart + kHour + kMinute, 9);
  ASSERT_TRUE(AppendAll(*store, 1, {now.begin(), now.begin() + 50}).ok());
  ASSERT_TRUE(store->Flush().ok());
  ASSERT_TRUE(AppendAll(*store, 1, {now.begin() + 50, now.end()}).ok());
  ASSERT_TRUE(store->Flush().ok());
  auto other = Generate(100, kHourStart + kMinute, 11);
  ASSERT_TRUE(AppendAll(*store, 2, {other.begin(), other.begin() + 50}).ok());
  ASSERT_TRUE(store->Flush().ok());
  ASSERT_TRUE(AppendAll(*store, 2, {other.begin() + 50, other.end()}).ok());
  ASSERT_TRUE(store->Flush().ok());
  ASSERT_EQ(store->embedded_stats().segments, 5u + 2u + 2u);

  ASSERT_TRUE(store->CompactClosedPartitions().ok());
  EXPECT_EQ(store->embedded_stats().compactions, 2u);  // project 1's hour, project 2's hour
  EXPECT_EQ(store->embedded_stats().segments, 1u + 2u + 1u);
  EXPECT_EQ(ScanAll(*store, 1).size(), 1100u);
  EXPECT_EQ(ScanAll(*store, 2).size(), 100u);
}

TEST_F(CompactionTest, CrashBetweenRenameAndDeletesKeepsEveryRowOnce) {
  FaultInjectionEnv env(Env::Default());
  auto store = Open(Options(&env));
  auto txs = FillHour(*store);
  const auto rows_before = ScanAll(*store, 1);
  const auto old_files = Files(".seg");
  ASSERT_EQ(old_files.size(), 5u);
  std::map<std::string, std::string> saved;
  for (const auto& f : old_files) {
    auto data = ReadFileToString(&env, dir_ + "/" + f);
    ASSERT_TRUE(data.ok());
    saved[f] = *data;
  }
  clock_.Set(kHourStart + 2 * kHour);
  ASSERT_TRUE(store->CompactClosedPartitions().ok());
  ASSERT_EQ(Files(".seg").size(), 1u);
  const std::string compacted = Files(".seg")[0];
  ASSERT_TRUE(store->Close().ok());

  // The disk as a crash after the rename, before (some of) the deletes,
  // leaves it: the new segment and old ones side by side.
  for (const auto& [f, data] : saved) {
    if (f == old_files[0] || f == old_files[3]) continue;  // two deletes made it
    ASSERT_TRUE(WriteFileAtomically(&env, dir_ + "/" + f, data).ok());
  }
  ASSERT_TRUE(env.DropUnsyncedData().ok());
  ASSERT_EQ(Files(".seg").size(), 4u);

  store = Open(Options(&env));
  EXPECT_EQ(Files(".seg"), std::vector<std::string>{compacted});
  EXPECT_EQ(ScanAll(*store, 1), rows_before);
  EXPECT_EQ(store->Stats().transactions, txs.size());
  EXPECT_EQ(store->embedded_stats().segments, 1u);
  auto late = store->Get(1, late_target_.id);
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late->steps.size(), late_target_.steps.size() + 1);  // not doubled
}

TEST_F(CompactionTest, CrashDuringTheWriteKeepsTheOldSegments) {
  FaultInjectionEnv env(Env::Default());
  auto store = Open(Options(&env));
  FillHour(*store);
  const auto rows_before = ScanAll(*store, 1);
  const auto old_files = Files(".seg");
  clock_.Set(kHourStart + 2 * kHour);

  // A full disk: the write fails, the old segments stay and serve reads.
  env.SetWriteBudget(2000);
  EXPECT_FALSE(store->CompactClosedPartitions().ok());
  EXPECT_EQ(store->embedded_stats().failed_compactions, 1u);
  EXPECT_EQ(Files(".seg"), old_files);
  EXPECT_TRUE(Files(".tmp").empty());
  EXPECT_EQ(ScanAll(*store, 1), rows_before);

  // A failed fsync: the same.
  env.SetWriteBudget(-1);
  env.SetSyncError(true);
  EXPECT_FALSE(store->CompactClosedPartitions().ok());
  EXPECT_EQ(Files(".seg"), old_files);
  EXPECT_EQ(ScanAll(*store, 1), rows_before);

  // A crash of the machine now: the unsynced temporary file is garbage that
  // Open removes; the old segments are intact.
  env.SetSyncError(false);
  ASSERT_TRUE(store->Close().ok());
  ASSERT_TRUE(env.DropUnsyncedData().ok());
  store = Open(Options(&env));
  EXPECT_EQ(Files(".seg"), old_files);
  EXPECT_EQ(ScanAll(*store, 1), rows_before);

  // The next pass succeeds.
  ASSERT_TRUE(store->CompactClosedPartitions().ok());
  EXPECT_EQ(Files(".seg").size(), 1u);
  EXPECT_EQ(ScanAll(*store, 1), rows_before);
}

TEST_F(CompactionTest, ConcurrentReadsAndAppendsSeeNoGapOrDuplicate) {
  auto store = Open(Options());
  auto txs = FillHour(*store);
  clock_.Set(kHourStart + 2 * kHour);
  std::atomic<bool> done{false};
  std::atomic<int> scans{0}, bad{0};
  std::thread reader([&] {
    while (!done.load()) {
      std::vector<model::TxId> ids;
      Status s = store->Scan(1, {}, ScanOrder::kAny, [&](std::span<const TxRow> rows) {
        for (const TxRow& r : rows) ids.push_back(r.id);
        return true;
      });
      std::sort(ids.begin(), ids.end());
      const bool dup = std::adjacent_find(ids.begin(), ids.end()) != ids.end();
      // Appends of the next hour may or may not be visible yet.
      if (!s.ok() || dup || ids.size() < txs.size()) bad.fetch_add(1);
      scans.fetch_add(1);
    }
  });
  std::thread writer([&] {
    auto more = Generate(300, kHourStart + kHour + kMinute, 17);
    for (size_t i = 0; i < more.size(); i += 30) {
      EXPECT_TRUE(AppendAll(*store, 1, {more.begin() + i, more.begin() + i + 30}).ok());
      EXPECT_TRUE(store->Flush().ok());
    }
  });
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(store->CompactClosedPartitions().ok());
  }
  writer.join();
  while (scans.load() < 5) std::this_thread::yield();
  done.store(true);
  reader.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(ScanAll(*store, 1).size(), txs.size() + 300);
}

}  // namespace
}  // namespace loupe::store

namespace loupe::store {
namespace {

// Every rollup cell of a project (all resolutions, histograms) and its user
// sketches, as comparable text.
std::vector<std::string> RollupText(const Store& s, ProjectId p) {
  std::vector<std::string> out;
  RollupFilter f;
  f.from_us = kHourStart;
  f.to_us = kHourStart + kHour;
  for (RollupResolution r : kRollupResolutions) {
    Status st = s.ScanRollups(p, r, f, [&](std::span<const RollupRow> rows) {
      for (const RollupRow& row : rows) {
        std::string t = std::to_string(static_cast<int>(r)) + " " + std::to_string(row.bucket_us) +
                        " " + std::string(row.service) + " " + std::string(row.instance) + " " +
                        std::string(row.endpoint) + " " + std::to_string(row.counts->count) + " " +
                        std::to_string(row.counts->errors) + " " +
                        std::to_string(row.counts->elapsed_sum_us) + " " +
                        std::to_string(row.counts->elapsed_max_us) + " " +
                        std::to_string(row.counts->sql_us) + " " +
                        std::to_string(row.counts->external_us) + " hist";
        for (const HistBin& b : row.hist) {
          t += " " + std::to_string(b.bin) + ":" + std::to_string(b.count) + "/" +
               std::to_string(b.errors);
        }
        out.push_back(std::move(t));
      }
      return true;
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
  }
  Status st = s.ScanUsers(p, f, [&](std::span<const UsersRow> rows) {
    for (const UsersRow& u : rows) {
      out.push_back("users " + std::string(u.service) + " " + std::to_string(u.users->Estimate()));
    }
    return true;
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  std::sort(out.begin(), out.end());
  return out;
}

// The rollup files a compaction writes while it merges (one-second cells a
// minute at a time) hold what a rebuild from the compacted segment's rows
// computes, late steps included.
TEST_F(CompactionTest, StreamedRollupsEqualThoseRebuiltFromTheSegment) {
  auto store = Open(Options());
  FillHour(*store);
  clock_.Set(kHourStart + kHour + 11 * kMinute);
  ASSERT_TRUE(store->CompactClosedPartitions().ok());
  ASSERT_EQ(store->embedded_stats().compactions, 1u);
  ASSERT_EQ(Files(".r1s").size(), 1u);
  const auto streamed = RollupText(*store, 1);
  ASSERT_GT(streamed.size(), 1000u);  // more than one minute's block of one-second cells
  ASSERT_TRUE(store->Close().ok());
  store.reset();
  for (const char* ext : {".r1s", ".r1m", ".rollup"}) {
    for (const std::string& f : Files(ext)) fs::remove(dir_ + "/" + f);
  }
  store = Open(Options());  // rebuilds them from the segment (BuildRollups)
  ASSERT_EQ(Files(".r1s").size(), 1u);
  EXPECT_EQ(RollupText(*store, 1), streamed);
}

// Peak bytes held while one closed hour of `rows` transactions in `segments`
// flushed segments, every transaction with its own user and client IP,
// is compacted.
int64_t CompactionPeakHeap(const std::string& dir, size_t rows, int segments) {
  ManualClock clock(kHourStart + 30 * kMinute);
  EmbeddedOptions o;
  o.dir = dir;
  o.clock = &clock;
  o.background_flush = false;
  o.background_maintenance = false;
  o.compaction_grace_us = 10 * kMinute;
  // Every input fills its row groups in both sizes measured: the merge holds
  // one decoded group per input, which is bounded by the group, not the hour.
  o.segment.rows_per_group = 1024;
  auto opened = EmbeddedStore::Open(o);
  EXPECT_TRUE(opened.ok());
  if (!opened.ok()) return 0;
  EmbeddedStore& store = **opened;
  SyntheticWorkload::Options wo;
  wo.tps = static_cast<double>(rows) / 3000;  // 50 minutes of the hour
  SyntheticWorkload w(wo, kHourStart + kMinute);
  uint64_t visitor = 0;
  for (int k = 0; k < segments; ++k) {
    WriteBatch b;
    for (size_t i = 0; i < rows / segments; ++i) {
      model::Transaction tx = w.Next();
      ++visitor;
      tx.user = "visitor-" + std::to_string(visitor);
      tx.client_ip = "10." + std::to_string(visitor >> 16 & 255) + "." +
                     std::to_string(visitor >> 8 & 255) + "." + std::to_string(visitor & 255);
      b.transactions.push_back(std::move(tx));
    }
    EXPECT_TRUE(store.Append(1, std::move(b)).ok());
    EXPECT_TRUE(store.Flush().ok());
  }
  clock.Set(kHourStart + kHour + 11 * kMinute);
  const int64_t before = heap_counter::live.load();
  heap_counter::peak.store(before);
  EXPECT_TRUE(store.CompactClosedPartitions().ok());
  EXPECT_EQ(store.embedded_stats().compactions, 1u);
  return heap_counter::peak.load() - before;
}

// What a compaction holds grows with the hour's rows only by the writer's
// ids and trace ids (24 bytes a row), the id sections it sorts at the end
// (20) and the rows' remapping into the union of the user and client-IP
// dictionaries (one of each a row here: 8): measured 56 bytes a row
// (2026-12-07). Holding the union of those dictionaries cost 112; before
// the one-second rollups were streamed and the union kept compactly, 371.
TEST_F(CompactionTest, HeapPeakGrowsByLessThan100BytesPerRowOfTheHour) {
  // Both sizes past the writer's 4 MiB write buffer, which the first ~25,000
  // rows fill.
  const int64_t small = CompactionPeakHeap(dir_ + "/small", 50'000, 10);
  const int64_t large = CompactionPeakHeap(dir_ + "/large", 150'000, 10);
  const double per_row = static_cast<double>(large - small) / 100'000;
  EXPECT_GT(per_row, 0);
  EXPECT_LT(per_row, 100) << "peak " << small << " bytes at 50,000 rows, " << large
                          << " at 150,000";
}

}  // namespace
}  // namespace loupe::store
