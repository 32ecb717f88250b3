#include "log/wal.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace loupe::log {
namespace {

namespace fs = std::filesystem;

class WalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loupe_wal_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/wal";
  }
  void TearDown() override { fs::remove_all(root_); }

  WalOptions Options(Env* env = Env::Default()) const {
    WalOptions o;
    o.env = env;
    o.dir = dir_;
    return o;
  }

  std::unique_ptr<Wal> OpenWal(const WalOptions& o) {
    auto wal = Wal::Open(o);
    EXPECT_TRUE(wal.ok()) << wal.status().ToString();
    return wal.ok() ? std::move(*wal) : nullptr;
  }

  // Reads all records of `dir`; *status gets the reader's final status.
  static std::vector<std::string> ReadAll(const std::string& dir, Status* status = nullptr,
                                          WalReadStats* stats = nullptr, WalPosition from = {}) {
    std::vector<std::string> out;
    auto reader = WalReader::Open(Env::Default(), dir, from);
    EXPECT_TRUE(reader.ok());
    std::string_view rec;
    WalPosition pos;
    while ((*reader)->Next(&rec, &pos)) out.emplace_back(rec);
    if (status) *status = (*reader)->status();
    if (stats) *stats = (*reader)->stats();
    return out;
  }

  static std::string ReadFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static void WriteFile(const std::string& path, const std::string& data) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << data;
  }
  std::vector<std::string> SegmentPaths() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.push_back(e.path().string());
    std::sort(out.begin(), out.end());
    return out;
  }

  std::string root_, dir_;
};

std::string Record(int i, size_t size) {
  std::string s = "record-" + std::to_string(i) + ":";
  while (s.size() < size) s.push_back(static_cast<char>('a' + (s.size() * 7 + i) % 26));
  return s;
}

TEST_F(WalTest, RecordsRoundTripInOrderWithPositions) {
  auto wal = OpenWal(Options());
  std::vector<std::string> want;
  std::vector<WalPosition> positions;
  for (int i = 0; i < 200; ++i) {
    want.push_back(i == 5 ? std::string() : Record(i, static_cast<size_t>(i * 37 % 5000)));
    auto pos = wal->Append(want.back());
    ASSERT_TRUE(pos.ok()) << pos.status().ToString();
    if (!positions.empty()) {
      EXPECT_LT(positions.back(), *pos);
    }
    positions.push_back(*pos);
  }
  ASSERT_TRUE(wal->Close().ok());
  EXPECT_EQ(wal->Append("late").status().code(), Status::Code::kUnavailable);

  Status st;
  EXPECT_EQ(ReadAll(dir_, &st), want);
  EXPECT_TRUE(st.ok()) << st.ToString();

  // Replay from a position returns that record and the ones after it.
  auto tail = ReadAll(dir_, &st, nullptr, positions[150]);
  EXPECT_EQ(tail, std::vector<std::string>(want.begin() + 150, want.end()));
}

TEST_F(WalTest, SegmentsRollOverAtTheConfiguredSize) {
  WalOptions o = Options();
  o.segment_bytes = 4096;
  auto wal = OpenWal(o);
  std::vector<std::string> want;
  for (int i = 0; i < 100; ++i) {
    want.push_back(Record(i, 500));
    ASSERT_TRUE(wal->Append(want.back()).ok());
  }
  EXPECT_GT(wal->stats().segment, 10u);
  wal.reset();
  EXPECT_EQ(ReadAll(dir_), want);
  // Reopening starts a new segment after the old ones and keeps the records.
  wal = OpenWal(o);
  ASSERT_TRUE(wal->Append("after reopen").ok());
  wal.reset();
  want.push_back("after reopen");
  EXPECT_EQ(ReadAll(dir_), want);
}

TEST_F(WalTest, GroupCommitSharesFsyncsAcrossThreads) {
  FaultInjectionEnv env(Env::Default());
  WalOptions o = Options(&env);
  o.commit_delay_us = 2000;
  auto wal = OpenWal(o);
  const uint64_t syncs_before = env.syncs();
  constexpr int kThreads = 8, kPerThread = 50;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (!wal->Append("t" + std::to_string(t) + "-" + std::to_string(i)).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  WalStats st = wal->stats();
  EXPECT_EQ(st.records, uint64_t{kThreads * kPerThread});
  EXPECT_LT(st.commits, st.records / 2) << "commits were not shared";
  EXPECT_EQ(env.syncs() - syncs_before, st.commits);
  wal.reset();

  // Every record is there once, and each thread's records are in its order.
  std::vector<int> next(kThreads, 0);
  for (const std::string& r : ReadAll(dir_)) {
    int t = std::stoi(r.substr(1));
    int i = std::stoi(r.substr(r.find('-') + 1));
    EXPECT_EQ(i, next[t]++);
  }
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(next[t], kPerThread);
}

TEST_F(WalTest, TornTailIsCutAtEveryByteOffsetOfTheLastRecord) {
  WalOptions o = Options();
  o.sync = false;
  std::vector<std::string> want;
  WalPosition last;
  {
    auto wal = OpenWal(o);
    for (int i = 0; i < 4; ++i) {
      want.push_back(Record(i, 100));
      auto pos = wal->Append(want.back());
      ASSERT_TRUE(pos.ok());
      last = *pos;
    }
  }
  const std::string path = dir_ + "/" + WalSegmentName(last.segment);
  const std::string full = ReadFile(path);
  const std::vector<std::string> prefix(want.begin(), want.end() - 1);

  for (size_t cut = last.offset; cut < full.size(); ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    WriteFile(path, full.substr(0, cut));
    Status st;
    WalReadStats stats;
    EXPECT_EQ(ReadAll(dir_, &st, &stats), prefix);
    EXPECT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(stats.torn_tail, cut > last.offset);
  }
  for (size_t flip = last.offset; flip < full.size(); ++flip) {
    SCOPED_TRACE("flipped byte " + std::to_string(flip));
    std::string bad = full;
    bad[flip] ^= 0x20;
    WriteFile(path, bad);
    Status st;
    WalReadStats stats;
    EXPECT_EQ(ReadAll(dir_, &st, &stats), prefix);
    EXPECT_TRUE(st.ok()) << st.ToString();
    EXPECT_TRUE(stats.torn_tail);
  }

  // A writer reopening after the crash continues after the valid prefix, and
  // the cut tail no longer confuses the reader.
  WriteFile(path, full.substr(0, full.size() - 3));
  {
    auto wal = OpenWal(o);
    ASSERT_TRUE(wal->Append("after crash").ok());
  }
  std::vector<std::string> expect = prefix;
  expect.push_back("after crash");
  Status st;
  EXPECT_EQ(ReadAll(dir_, &st), expect);
  EXPECT_TRUE(st.ok()) << st.ToString();
}

TEST_F(WalTest, CorruptionInTheMiddleIsReportedWithFileAndOffset) {
  WalOptions o = Options();
  o.sync = false;
  std::vector<WalPosition> pos;
  {
    auto wal = OpenWal(o);
    for (int i = 0; i < 4; ++i) pos.push_back(*wal->Append(Record(i, 100)));
  }
  const std::string path = dir_ + "/" + WalSegmentName(pos[1].segment);
  std::string data = ReadFile(path);
  data[pos[1].offset + 20] ^= 1;
  WriteFile(path, data);

  Status st;
  auto got = ReadAll(dir_, &st);
  EXPECT_EQ(got.size(), 1u);
  EXPECT_EQ(st.code(), Status::Code::kCorruption);
  EXPECT_NE(st.message().find(WalSegmentName(pos[1].segment)), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find(std::to_string(pos[1].offset)), std::string::npos) << st.ToString();

  auto reopened = Wal::Open(o);
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.status().code(), Status::Code::kCorruption);
}

TEST_F(WalTest, DiskFullFailsAppendsAndLaterAppendsWorkOnceSpaceReturns) {
  FaultInjectionEnv env(Env::Default());
  auto wal = OpenWal(Options(&env));
  ASSERT_TRUE(wal->Append("before").ok());

  env.SetWriteBudget(10);  // part of the next commit fits
  auto r = wal->Append(Record(1, 300));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kResourceExhausted) << r.status().ToString();
  // Still full: starting a new segment fails too.
  auto r2 = wal->Append("still full");
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.status().code(), Status::Code::kResourceExhausted);

  env.SetWriteBudget(-1);
  ASSERT_TRUE(wal->Append("after").ok());
  ASSERT_TRUE(wal->Append("and more").ok());
  wal.reset();

  Status st;
  WalReadStats stats;
  EXPECT_EQ(ReadAll(dir_, &st, &stats), (std::vector<std::string>{"before", "after", "and more"}));
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_GT(stats.abandoned_bytes, 0u);
  EXPECT_FALSE(stats.torn_tail);
}

TEST_F(WalTest, FailedFsyncAbandonsTheSegmentAndHidesTheUnacknowledgedRecord) {
  FaultInjectionEnv env(Env::Default());
  auto wal = OpenWal(Options(&env));
  ASSERT_TRUE(wal->Append("one").ok());
  env.SetSyncError(true);
  EXPECT_EQ(wal->Append("not acknowledged").status().code(), Status::Code::kIoError);
  env.SetSyncError(false);
  ASSERT_TRUE(wal->Append("two").ok());
  wal.reset();
  Status st;
  EXPECT_EQ(ReadAll(dir_, &st), (std::vector<std::string>{"one", "two"}));
  EXPECT_TRUE(st.ok()) << st.ToString();
}

TEST_F(WalTest, ShortWritesFailTheCommitWithoutDamagingTheLog) {
  FaultInjectionEnv env(Env::Default());
  auto wal = OpenWal(Options(&env));
  ASSERT_TRUE(wal->Append("one").ok());
  env.SetShortWrites(true);
  EXPECT_FALSE(wal->Append(Record(2, 1000)).ok());
  env.SetShortWrites(false);
  ASSERT_TRUE(wal->Append("three").ok());
  wal.reset();
  Status st;
  EXPECT_EQ(ReadAll(dir_, &st), (std::vector<std::string>{"one", "three"}));
  EXPECT_TRUE(st.ok()) << st.ToString();
}

TEST_F(WalTest, AcknowledgedRecordsSurviveACrash) {
  FaultInjectionEnv env(Env::Default());
  std::vector<std::string> want;
  {
    auto wal = OpenWal(Options(&env));
    for (int i = 0; i < 20; ++i) {
      want.push_back(Record(i, 64));
      ASSERT_TRUE(wal->Append(want.back()).ok());
    }
    ASSERT_TRUE(env.DropUnsyncedData().ok());
    // The machine crashes here; the old file handle is dead, so destroying
    // the Wal afterwards writes nothing.
  }
  auto wal = OpenWal(Options(&env));
  ASSERT_TRUE(wal->Append("after").ok());
  wal.reset();
  want.push_back("after");
  Status st;
  EXPECT_EQ(ReadAll(dir_, &st), want);
  EXPECT_TRUE(st.ok()) << st.ToString();
}

TEST_F(WalTest, CheckpointDeletesOlderSegmentsAndStartsReplay) {
  auto wal = OpenWal(Options());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(wal->Append(Record(i, 50)).ok());
  auto cp = wal->Checkpoint("CHECKPOINT");
  ASSERT_TRUE(cp.ok()) << cp.status().ToString();
  EXPECT_EQ(cp->index, 0u);
  ASSERT_TRUE(wal->Append("x").ok());
  wal.reset();
  EXPECT_EQ(SegmentPaths().size(), 1u);
  EXPECT_EQ(ReadAll(dir_), (std::vector<std::string>{"CHECKPOINT", "x"}));
}

TEST_F(WalTest, OversizedRecordIsRejected) {
  WalOptions o = Options();
  o.max_record_bytes = 10;
  auto wal = OpenWal(o);
  EXPECT_EQ(wal->Append(std::string(11, 'x')).status().code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(wal->Append(std::string(10, 'x')).ok());
}

TEST_F(WalTest, RolloverForCheckpointNamesTheSegmentOfEveryLaterRecord) {
  auto wal = OpenWal(Options());
  // A fresh log's first segment is empty: it is kept and named.
  const uint64_t first = wal->RolloverForCheckpoint();
  ASSERT_TRUE(wal->Append("a").ok());
  EXPECT_EQ(wal->stats().segment, first);
  // With records in it, the next record starts a new segment.
  const uint64_t next = wal->RolloverForCheckpoint();
  EXPECT_EQ(next, first + 1);
  auto pos = wal->Append("b");
  ASSERT_TRUE(pos.ok());
  EXPECT_EQ(pos->segment, next);
  ASSERT_TRUE(wal->Append("c").ok());
  ASSERT_TRUE(wal->DeleteSegmentsBefore(next).ok());
  wal.reset();
  EXPECT_EQ(ReadAll(dir_, nullptr, nullptr, WalPosition{next, 0, 0}),
            (std::vector<std::string>{"b", "c"}));
}

}  // namespace
}  // namespace loupe::log
