// The engine's rollup files beside segments: rebuilt when missing, damage
// reported, replaced by compaction (embedded_store_rollup.cc). What rollups
// hold is pinned by the conformance suite (RollupsAddUpToTheRawRows).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/clock.h"
#include "store/embedded/embedded_store.h"
#include "store/embedded/synthetic_workload.h"

namespace loupe::store {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kHour = 3'600'000'000;
constexpr int64_t kT0 = 472'222 * kHour;  // an hour boundary

class EmbeddedRollupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loupe_embedded_rollup_test_XXXXXX";
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
    o.compaction_grace_us = 0;
    return o;
  }
  std::unique_ptr<EmbeddedStore> Open() {
    auto s = EmbeddedStore::Open(Options());
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }
  // 400 transactions within the first 20 minutes of hour `h` after kT0.
  void Fill(Store& s, int h, uint64_t seed) {
    SyntheticWorkload::Options o;
    o.seed = seed;
    o.tps = 20;
    SyntheticWorkload w(o, kT0 + h * kHour);
    WriteBatch b;
    for (int i = 0; i < 400; ++i) b.transactions.push_back(w.Next());
    ASSERT_TRUE(s.Append(1, std::move(b)).ok());
  }
  std::vector<std::string> Files(const std::string& ext) const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) {
      if (e.path().extension() == ext) out.push_back(e.path().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  // Transactions the rollups count in [kT0, kT0 + 3 h); the status too.
  uint64_t Counted(const Store& s, RollupResolution r, Status* status = nullptr) {
    RollupFilter f;
    f.from_us = kT0;
    f.to_us = kT0 + 3 * kHour;
    uint64_t n = 0;
    Status st = s.ScanRollups(1, r, f, [&](std::span<const RollupRow> rows) {
      for (const RollupRow& row : rows) n += row.counts->count;
      return true;
    });
    if (status != nullptr) {
      *status = st;
    } else {
      EXPECT_TRUE(st.ok()) << st.ToString();
    }
    return n;
  }

  std::string dir_;
  ManualClock clock_{kT0 + 10 * kHour};
};

TEST_F(EmbeddedRollupTest, EverySegmentGetsBothRollupFiles) {
  auto s = Open();
  Fill(*s, 0, 1);
  ASSERT_TRUE(s->Flush().ok());
  Fill(*s, 1, 2);
  ASSERT_TRUE(s->Flush().ok());
  EXPECT_EQ(Files(".seg").size(), 2u);
  EXPECT_EQ(Files(".r1s").size(), 2u);
  EXPECT_EQ(Files(".r1m").size(), 2u);
  EXPECT_EQ(Files(".rollup").size(), 2u);
  EXPECT_EQ(Counted(*s, RollupResolution::kSecond), 800u);
  EXPECT_EQ(Counted(*s, RollupResolution::kMinute), 800u);
  EXPECT_EQ(Counted(*s, RollupResolution::kFiveMinutes), 800u);
}

TEST_F(EmbeddedRollupTest, MissingRollupFilesAreRebuiltFromTheirSegmentAtOpen) {
  {
    auto s = Open();
    Fill(*s, 0, 1);
    ASSERT_TRUE(s->Flush().ok());
    Fill(*s, 1, 2);
    ASSERT_TRUE(s->Close().ok());
  }
  // As after a crash between a segment and its rollups, or a data directory
  // written before rollups existed.
  for (const std::string& f : Files(".r1s")) fs::remove(f);
  fs::remove(Files(".rollup").front());
  fs::remove(Files(".r1m").back());
  auto s = Open();
  EXPECT_EQ(Files(".r1s").size(), 2u);
  EXPECT_EQ(Files(".r1m").size(), 2u);
  EXPECT_EQ(Files(".rollup").size(), 2u);
  EXPECT_EQ(Counted(*s, RollupResolution::kMinute), 800u);
  EXPECT_EQ(Counted(*s, RollupResolution::kSecond), 800u);
  EXPECT_EQ(Counted(*s, RollupResolution::kFiveMinutes), 800u);
}

TEST_F(EmbeddedRollupTest, CompactionReplacesThePartitionsRollupFiles) {
  auto s = Open();
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    Fill(*s, 0, seed);
    ASSERT_TRUE(s->Flush().ok());
  }
  ASSERT_EQ(Files(".r1s").size(), 3u);
  ASSERT_TRUE(s->CompactClosedPartitions().ok());
  EXPECT_EQ(Files(".seg").size(), 1u);
  EXPECT_EQ(Files(".r1s").size(), 1u);
  EXPECT_EQ(Files(".rollup").size(), 1u);
  EXPECT_EQ(Counted(*s, RollupResolution::kSecond), 1200u);
  EXPECT_EQ(Counted(*s, RollupResolution::kFiveMinutes), 1200u);
  s.reset();
  s = Open();
  EXPECT_EQ(Counted(*s, RollupResolution::kFiveMinutes), 1200u);
}

// SQL sums of late steps merged into flushed rows live in the late records'
// segment and its rollup files: a rebuild from that segment alone, and a
// compaction that folds them into the rows, keep them.
TEST_F(EmbeddedRollupTest, LateStepSumsSurviveRebuildAndCompaction) {
  std::vector<model::TxId> ids;
  auto sql = [&](const Store& s, RollupResolution r) {
    RollupFilter f;
    f.from_us = kT0;
    f.to_us = kT0 + 3 * kHour;
    uint64_t n = 0;
    EXPECT_TRUE(s.ScanRollups(1, r, f, [&](std::span<const RollupRow> rows) {
                   for (const RollupRow& row : rows) n += row.counts->sql_count;
                   return true;
                 }).ok());
    return n;
  };
  auto raw_sql = [&](const Store& s) {
    uint64_t n = 0;
    TxFilter f;
    f.from_us = kT0;
    f.to_us = kT0 + 3 * kHour;
    EXPECT_TRUE(s.Scan(1, f, ScanOrder::kAny, [&](std::span<const TxRow> rows) {
                   for (const TxRow& r : rows) n += r.summary.sql_count;
                   return true;
                 }).ok());
    return n;
  };
  uint64_t want = 0;
  {
    auto s = Open();
    SyntheticWorkload w({}, kT0);
    WriteBatch b;
    for (int i = 0; i < 300; ++i) {
      b.transactions.push_back(w.Next());
      ids.push_back(b.transactions.back().id);
    }
    ASSERT_TRUE(s->Append(1, std::move(b)).ok());
    ASSERT_TRUE(s->Flush().ok());
    WriteBatch late;
    for (size_t i = 0; i < ids.size(); i += 2) {
      model::Step st;
      st.span_id = 0x7000'0000 + i;
      st.kind = model::StepKind::kSql;
      st.elapsed_us = 5;
      late.late_steps.push_back({ids[i], {st, st}});  // one kept: same span id
    }
    ASSERT_TRUE(s->Append(1, std::move(late)).ok());
    want = raw_sql(*s);
    EXPECT_EQ(sql(*s, RollupResolution::kFiveMinutes), want);
    ASSERT_TRUE(s->Close().ok());  // a second segment: late records only
  }
  ASSERT_EQ(Files(".seg").size(), 2u);
  ASSERT_EQ(Files(".r1s").size(), 2u) << "the late records' segment has its rollup files";
  for (const std::string& f : Files(".r1s")) fs::remove(f);
  for (const std::string& f : Files(".r1m")) fs::remove(f);
  for (const std::string& f : Files(".rollup")) fs::remove(f);
  auto s = Open();  // rebuilt from the segments
  EXPECT_EQ(raw_sql(*s), want);
  for (RollupResolution r : kRollupResolutions) EXPECT_EQ(sql(*s, r), want);
  ASSERT_TRUE(s->CompactClosedPartitions().ok());
  EXPECT_EQ(Files(".seg").size(), 1u);
  EXPECT_EQ(raw_sql(*s), want);
  for (RollupResolution r : kRollupResolutions) EXPECT_EQ(sql(*s, r), want);
}

TEST_F(EmbeddedRollupTest, DamagedRollupFileIsReportedAndTheOthersStillAnswer) {
  {
    auto s = Open();
    Fill(*s, 0, 1);
    ASSERT_TRUE(s->Flush().ok());
    Fill(*s, 1, 2);
    ASSERT_TRUE(s->Close().ok());
  }
  const std::string victim = Files(".rollup").front();
  {
    std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(10);
    f.put('\x7f');
  }
  auto s = Open();
  Status st;
  EXPECT_EQ(Counted(*s, RollupResolution::kFiveMinutes, &st), 400u);
  EXPECT_EQ(st.code(), Status::Code::kCorruption) << st.ToString();
  EXPECT_GT(s->embedded_stats().corrupt_chunks, 0u);
  EXPECT_EQ(Counted(*s, RollupResolution::kSecond), 800u);
}

}  // namespace
}  // namespace loupe::store
