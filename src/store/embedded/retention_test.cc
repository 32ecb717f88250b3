// Retention by whole partitions, late old data, rollup files, disk use
// (retention.cc).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "store/embedded/embedded_store.h"
#include "store/embedded/segment.h"
#include "store/embedded/synthetic_workload.h"

namespace loupe::store {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kHour = 3'600'000'000;
constexpr int64_t kDay = 24 * kHour;
constexpr int64_t kNowHour = 472'222;  // partition of "now" (2023-11-14 22:00 UTC)
constexpr int64_t kNow = kNowHour * kHour + 30 * 60'000'000;

std::vector<model::Transaction> Generate(size_t n, int64_t start, uint64_t seed) {
  SyntheticWorkload::Options o;
  o.seed = seed;
  o.tps = 100;
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

size_t Count(const Store& s, ProjectId p, int64_t from = 0,
             int64_t to = std::numeric_limits<int64_t>::max()) {
  TxFilter f;
  f.from_us = from;
  f.to_us = to;
  size_t n = 0;
  EXPECT_TRUE(s.Scan(p, f, ScanOrder::kAny, [&](std::span<const TxRow> rows) {
                 n += rows.size();
                 return true;
               }).ok());
  return n;
}

const ProjectUsage* UsageOf(const StorageUsage& u, ProjectId p) {
  for (const ProjectUsage& x : u.projects) {
    if (x.project == p) return &x;
  }
  return nullptr;
}

class RetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loupe_retention_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  EmbeddedOptions Options() {
    EmbeddedOptions o;
    o.dir = dir_;
    o.clock = &clock_;
    o.background_flush = false;
    o.background_maintenance = false;
    o.segment.rows_per_group = 64;
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
  uint64_t Bytes(const std::string& prefix, const std::string& ext) const {
    uint64_t n = 0;
    for (const auto& e : fs::directory_iterator(dir_)) {
      const std::string name = e.path().filename().string();
      if (e.path().extension() == ext && name.rfind(prefix, 0) == 0) n += e.file_size();
    }
    return n;
  }
  void Touch(const std::string& name, size_t bytes) {
    std::ofstream(dir_ + "/" + name) << std::string(bytes, 'r');
  }

  // 100 transactions in each of the partitions `hours_ago` hours before now,
  // project 1; each partition flushed except the newest (memtable).
  void Fill(EmbeddedStore& s, const std::vector<int>& hours_ago) {
    uint64_t seed = 1;
    for (int h : hours_ago) {
      const int64_t start = (kNowHour - h) * kHour + 60'000'000;
      ASSERT_TRUE(AppendAll(s, 1, Generate(100, start, seed++)).ok());
      if (h != 0) {
        ASSERT_TRUE(s.Flush().ok());
      }
    }
  }

  std::string dir_;
  ManualClock clock_{kNow};
};

TEST_F(RetentionTest, DropsOnlyWholeExpiredPartitions) {
  auto store = Open(Options());
  // 72, 30 and 25 hours ago are older than one day; 23 hours ago and now are not.
  Fill(*store, {72, 30, 25, 23, 0});
  ASSERT_TRUE(AppendAll(*store, 2, Generate(50, (kNowHour - 72) * kHour, 99)).ok());
  ASSERT_EQ(Count(*store, 1), 500u);
  ASSERT_TRUE(store->SetRetention(1, Retention{1, 400}).ok());
  const auto files_before = Files(".seg");
  ASSERT_EQ(files_before.size(), 4u);

  ASSERT_TRUE(store->ApplyRetention().ok());
  EmbeddedStats es = store->embedded_stats();
  EXPECT_EQ(es.partitions_dropped, 3u);
  EXPECT_EQ(es.segments_dropped, 3u);
  EXPECT_EQ(es.transactions_dropped, 300u);
  EXPECT_EQ(Count(*store, 1), 200u);
  EXPECT_EQ(Count(*store, 1, 0, (kNowHour - 24) * kHour), 0u);
  // Exactly the partition files of the dropped hours went.
  const std::vector<std::string> left = Files(".seg");
  ASSERT_EQ(left.size(), 1u);
  uint32_t project;
  int64_t partition;
  uint64_t seq;
  ASSERT_TRUE(ParseSegmentFileName(left[0], &project, &partition, &seq));
  EXPECT_EQ(partition, kNowHour - 23);
  // Project 2 keeps everything (no retention set).
  EXPECT_EQ(Count(*store, 2), 50u);
  EXPECT_EQ(store->Stats().transactions, 250u);

  // A second pass finds nothing more.
  ASSERT_TRUE(store->ApplyRetention().ok());
  EXPECT_EQ(store->embedded_stats().partitions_dropped, 3u);
  // An hour later the 23-hour-old partition has not expired yet (its end is
  // 22 hours ago + 1 h); 2 hours later it has.
  clock_.Set(kNow + kHour);
  ASSERT_TRUE(store->ApplyRetention().ok());
  EXPECT_EQ(Count(*store, 1), 200u);
  clock_.Set(kNow + 2 * kHour);
  ASSERT_TRUE(store->ApplyRetention().ok());
  EXPECT_EQ(Count(*store, 1), 100u);
  EXPECT_TRUE(Files(".seg").empty());

  // Survives a reopen.
  ASSERT_TRUE(store->Close().ok());
  store = Open(Options());
  EXPECT_EQ(Count(*store, 1), 100u);  // the memtable was flushed by Close
}

TEST_F(RetentionTest, LateOldTransactionsAreRejectedAndDoNotResurrectAPartition) {
  auto store = Open(Options());
  Fill(*store, {72, 0});
  ASSERT_TRUE(store->SetRetention(1, Retention{2, 400}).ok());
  ASSERT_TRUE(store->ApplyRetention().ok());
  EXPECT_EQ(Count(*store, 1), 100u);
  const uint64_t partitions = UsageOf(store->Usage(), 1)->partitions;

  // A late batch: 10 from the dropped hour, 10 from 49 hours ago (expired,
  // never stored), 10 from 47 hours ago (kept).
  std::vector<model::Transaction> late = Generate(10, (kNowHour - 72) * kHour + 5'000'000, 5);
  auto older = Generate(10, (kNowHour - 49) * kHour + 5'000'000, 6);
  auto fresh = Generate(10, (kNowHour - 47) * kHour + 5'000'000, 7);
  late.insert(late.end(), older.begin(), older.end());
  late.insert(late.end(), fresh.begin(), fresh.end());
  ASSERT_TRUE(AppendAll(*store, 1, late).ok());
  EXPECT_EQ(store->embedded_stats().expired_rejected, 20u);
  EXPECT_EQ(Count(*store, 1), 110u);
  EXPECT_EQ(Count(*store, 1, 0, (kNowHour - 48) * kHour), 0u);
  EXPECT_EQ(UsageOf(store->Usage(), 1)->partitions, partitions + 1);
  ASSERT_TRUE(store->Flush().ok());
  for (const std::string& f : Files(".seg")) {
    uint32_t project;
    int64_t partition;
    uint64_t seq;
    ASSERT_TRUE(ParseSegmentFileName(f, &project, &partition, &seq));
    EXPECT_GE(partition, kNowHour - 48) << f;
  }
}

TEST_F(RetentionTest, ExpiredMemtableRowsAreDroppedToo) {
  auto store = Open(Options());
  // Appended while retention was long, not flushed yet.
  ASSERT_TRUE(AppendAll(*store, 1, Generate(100, (kNowHour - 72) * kHour, 1)).ok());
  ASSERT_TRUE(AppendAll(*store, 1, Generate(100, kNowHour * kHour, 2)).ok());
  ASSERT_GT(store->embedded_stats().memtable_rows, 0u);
  ASSERT_TRUE(store->SetRetention(1, Retention{1, 400}).ok());
  ASSERT_TRUE(store->ApplyRetention().ok());
  EXPECT_EQ(Count(*store, 1), 100u);
  EXPECT_EQ(store->embedded_stats().memtable_rows, 100u);
  ASSERT_TRUE(store->Flush().ok());
  EXPECT_EQ(Files(".seg").size(), 1u);
}

TEST_F(RetentionTest, OpenDeletesExpiredSegmentsWithoutReadingThem) {
  {
    auto store = Open(Options());
    Fill(*store, {72, 30, 1});
    ASSERT_TRUE(store->Close().ok());
  }
  ASSERT_EQ(Files(".seg").size(), 3u);
  // Damage the oldest: it must be deleted, not reported as corrupt.
  const std::string oldest = Files(".seg")[0];
  fs::resize_file(dir_ + "/" + oldest, 10);
  EmbeddedOptions o = Options();
  o.retention[1] = Retention{2, 400};
  auto store = Open(o);
  EXPECT_EQ(store->embedded_stats().corrupt_segments, 0u);
  EXPECT_EQ(store->embedded_stats().segments_dropped, 1u);
  EXPECT_EQ(Files(".seg").size(), 2u);
  EXPECT_EQ(Count(*store, 1), 200u);
}

TEST_F(RetentionTest, RollupFilesFollowTheirOwnRetention) {
  auto store = Open(Options());
  // Flushed partitions 5 days, 3 days and 1 hour old: each segment has a
  // one-second (.r1s) and a five-minute (.rollup) file beside it.
  Fill(*store, {120, 72, 1});
  ASSERT_TRUE(AppendAll(*store, 2, Generate(50, (kNowHour - 120) * kHour, 9)).ok());
  ASSERT_TRUE(store->Flush().ok());
  Touch("1_notarollup.rollup", 5);  // not a name the store writes: left alone
  ASSERT_EQ(Files(".r1s").size(), 4u);
  ASSERT_EQ(Files(".rollup").size(), 5u);
  ASSERT_TRUE(store->SetRetention(1, Retention{1, 4}).ok());
  ASSERT_TRUE(store->ApplyRetention().ok());
  // Transactions and one-second cells of project 1 are kept one day, its
  // five-minute cells four: the 3-day-old ones stay although their
  // transactions are gone. Project 2 keeps everything.
  EXPECT_EQ(Count(*store, 1), 100u);
  const std::string h1 = "1_" + std::to_string(kNowHour - 1) + "_";
  const std::string h72 = "1_" + std::to_string(kNowHour - 72) + "_";
  const std::string p2 = "2_" + std::to_string(kNowHour - 120) + "_";
  auto prefixes = [](const std::vector<std::string>& names) {
    std::vector<std::string> out;
    for (const std::string& n : names) out.push_back(n.substr(0, n.rfind('_') + 1));
    return out;
  };
  std::vector<std::string> want_r1s = {h1, p2};
  std::sort(want_r1s.begin(), want_r1s.end());
  EXPECT_EQ(prefixes(Files(".r1s")), want_r1s);
  std::vector<std::string> want_rollup = {"1_notarollup_", h1, h72, p2};
  std::sort(want_rollup.begin(), want_rollup.end());
  auto got = prefixes(Files(".rollup"));
  for (std::string& g : got) {
    if (g == "1_") g = "1_notarollup_";  // "1_notarollup.rollup" has one underscore
  }
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, want_rollup);
  EXPECT_EQ(store->embedded_stats().rollup_files_dropped, 4u);  // 2 × .r1s, 1 × .r1m, 1 × .rollup
  const StorageUsage u = store->Usage();
  EXPECT_EQ(UsageOf(u, 1)->rollup_bytes,
            Bytes("1_", ".r1s") + Bytes("1_", ".r1m") + Bytes("1_", ".rollup") - 5);
  // The 3-day-old hour still answers from its five-minute cells.
  RollupFilter f;
  f.from_us = (kNowHour - 72) * kHour;
  f.to_us = f.from_us + kHour;
  auto count = [&] {
    uint64_t n = 0;
    EXPECT_TRUE(store
                    ->ScanRollups(1, RollupResolution::kFiveMinutes, f,
                                  [&](std::span<const RollupRow> rows) {
                                    for (const RollupRow& r : rows) n += r.counts->count;
                                    return true;
                                  })
                    .ok());
    return n;
  };
  EXPECT_EQ(count(), 100u);
  // And after a restart (the store finds its files by name).
  store.reset();
  store = Open(Options());
  EXPECT_EQ(count(), 100u);
}

TEST_F(RetentionTest, UsageMatchesTheFiles) {
  auto store = Open(Options());
  Fill(*store, {30, 5, 0});
  ASSERT_TRUE(AppendAll(*store, 2, Generate(40, (kNowHour - 2) * kHour, 42)).ok());
  ASSERT_TRUE(store->Flush().ok());
  ASSERT_TRUE(AppendAll(*store, 1, Generate(10, kNowHour * kHour + 20 * 60'000'000, 43)).ok());
  const StorageUsage u = store->Usage();
  ASSERT_EQ(u.projects.size(), 2u);
  const ProjectUsage* p1 = UsageOf(u, 1);
  const ProjectUsage* p2 = UsageOf(u, 2);
  EXPECT_EQ(p1->segment_bytes, Bytes("1_", ".seg"));
  EXPECT_EQ(p2->segment_bytes, Bytes("2_", ".seg"));
  EXPECT_EQ(p1->rollup_bytes, Bytes("1_", ".r1s") + Bytes("1_", ".r1m") + Bytes("1_", ".rollup"));
  EXPECT_EQ(p1->disk_bytes(), p1->segment_bytes + p1->rollup_bytes);
  EXPECT_EQ(p1->segments, 3u);
  EXPECT_EQ(p1->partitions, 3u);
  EXPECT_GT(p1->memtable_bytes, 0u);
  EXPECT_EQ(p2->memtable_bytes, 0u);
  EXPECT_EQ(p1->oldest_us / kHour, kNowHour - 30);
  EXPECT_EQ(p1->newest_us / kHour, kNowHour);
  EXPECT_LE(p1->oldest_us, p1->newest_us);
  EXPECT_GT(u.free_disk_bytes, 0u);
  const EmbeddedStats es = store->embedded_stats();
  EXPECT_EQ(es.segment_bytes, p1->segment_bytes + p2->segment_bytes);
}

TEST_F(RetentionTest, BackgroundPassDropsExpiredPartitions) {
  EmbeddedOptions o = Options();
  o.background_maintenance = true;
  o.maintenance_interval_us = 20'000;
  o.retention[1] = Retention{1, 400};
  auto store = Open(o);
  Fill(*store, {1});
  ASSERT_TRUE(AppendAll(*store, 1, Generate(100, (kNowHour - 3) * kHour, 8)).ok());
  EXPECT_EQ(Count(*store, 1), 200u);
  clock_.Set(kNow + 2 * kDay);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (Count(*store, 1) != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(Count(*store, 1), 0u);
  EXPECT_EQ(store->embedded_stats().partitions_dropped, 2u);
  ASSERT_TRUE(store->Close().ok());
}

}  // namespace
}  // namespace loupe::store
