#include "server/store_verify.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ingest/ingest_log.h"
#include "store/embedded/embedded_store.h"
#include "store/embedded/synthetic_workload.h"
#include "store/tsdb/time_series_store.h"
#include "testing/otlp_builder.h"

namespace loupe::server {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kT0 = 1'763'700'000'000'000;
constexpr int64_t kHour = 3'600'000'000;

class StoreVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loupe_verify_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // Two partitions (two segments) and an ingest log with two requests.
    store::EmbeddedOptions eo;
    eo.dir = dir_ + "/store";
    eo.background_flush = false;
    auto st = store::EmbeddedStore::Open(eo);
    ASSERT_TRUE(st.ok());
    for (int part = 0; part < 2; ++part) {
      store::SyntheticWorkload::Options o;
      o.seed = 5 + part;
      store::SyntheticWorkload w(o, kT0 + part * kHour);
      store::WriteBatch b;
      for (int i = 0; i < 500; ++i) b.transactions.push_back(w.Next());
      ASSERT_TRUE((*st)->Append(1, std::move(b)).ok());
    }
    ASSERT_TRUE((*st)->Close().ok());

    ingest::IngestLogOptions lo;
    lo.dir = dir_ + "/wal";
    auto log = ingest::IngestLog::Open(lo, [](const ingest::LoggedRequest&) { return Status::OK(); });
    ASSERT_TRUE(log.ok());
    testing::SpanSpec s;
    s.trace_id = testing::TraceIdBytes(1, 2);
    s.span_id = testing::SpanIdBytes(3);
    s.start_time_unix_nano = 1;
    s.end_time_unix_nano = 2;
    body_ = testing::EncodeTraceRequest(
        {testing::MakeResource({{"service.name", "a"}}, {testing::MakeScope("x", {s})})});
    ASSERT_TRUE((*log)->Append({1, ingest::RequestFormat::kOtlpProto, body_}).ok());
    ASSERT_TRUE((*log)->Append({1, ingest::RequestFormat::kOtlpProto, body_}).ok());
    ASSERT_TRUE((*log)->Close().ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::vector<std::string> Segments() {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_ + "/store")) {
      if (e.path().extension() == ".seg") out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  std::string dir_;
  std::string body_;
};

TEST_F(StoreVerifyTest, AHealthyDirectoryIsReportedOk) {
  VerifyReport r = VerifyDataDir(Env::Default(), dir_);
  EXPECT_EQ(r.problems, 0u) << r.text;
  EXPECT_EQ(r.segments, 2u);
  EXPECT_EQ(r.transactions, 1000u);
  EXPECT_EQ(r.log_records, 2u);
  EXPECT_EQ(r.rollup_files, 6u);  // .r1s, .r1m and .rollup beside each segment
  EXPECT_GT(r.rollup_cells, 0u);
  EXPECT_NE(r.text.find("result: ok"), std::string::npos);
}

TEST_F(StoreVerifyTest, ADamagedRollupFileIsNamedWithTheRepair) {
  std::string victim;
  for (const auto& e : fs::directory_iterator(dir_ + "/store")) {
    if (e.path().extension() == ".rollup") victim = e.path();
  }
  ASSERT_FALSE(victim.empty());
  {
    std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(8);
    f.put('\x55');
  }
  VerifyReport r = VerifyDataDir(Env::Default(), dir_);
  EXPECT_EQ(r.problems, 1u) << r.text;
  EXPECT_NE(r.text.find("DAMAGED " + fs::path(victim).filename().string()), std::string::npos)
      << r.text;
  EXPECT_NE(r.text.find("rebuilds it"), std::string::npos) << r.text;
}

TEST_F(StoreVerifyTest, ADamagedSegmentIsNamedAndTheOthersStillCheck) {
  auto segs = Segments();
  ASSERT_EQ(segs.size(), 2u);
  {
    // Flip a byte in the middle of the first segment (row groups / profiles).
    std::fstream f(segs[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(0, std::ios::end);
    const auto size = static_cast<std::streamoff>(f.tellg());
    f.seekp(size / 3);
    char c;
    f.seekg(size / 3);
    f.get(c);
    f.seekp(size / 3);
    f.put(static_cast<char>(c ^ 0x5a));
  }
  VerifyReport r = VerifyDataDir(Env::Default(), dir_);
  EXPECT_EQ(r.problems, 1u) << r.text;
  EXPECT_NE(r.text.find("DAMAGED " + fs::path(segs[0]).filename().string()), std::string::npos)
      << r.text;
  EXPECT_NE(r.text.find("ok      " + fs::path(segs[1]).filename().string()), std::string::npos)
      << r.text;
  // The engine opens the store anyway and serves the rest.
  store::EmbeddedOptions eo;
  eo.dir = dir_ + "/store";
  eo.background_flush = false;
  auto st = store::EmbeddedStore::Open(eo);
  ASSERT_TRUE(st.ok()) << st.status().ToString();
}

TEST_F(StoreVerifyTest, ADamagedLogRecordIsReported) {
  // Corrupt the payload of the only log segment's commit: CRC mismatch.
  std::string seg;
  for (const auto& e : fs::directory_iterator(dir_ + "/wal")) {
    if (e.path().extension() == ".wal" && fs::file_size(e.path()) > 36) seg = e.path();
  }
  ASSERT_FALSE(seg.empty());
  {
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(36 + 12 + 5);
    f.put('\x7f');
  }
  VerifyReport r = VerifyDataDir(Env::Default(), dir_);
  EXPECT_GE(r.problems, 1u) << r.text;
  EXPECT_NE(r.text.find("DAMAGED"), std::string::npos) << r.text;
}

// Two flushed windows of one gauge series in DIR/tsdb; returns the block files.
std::vector<std::string> WriteTsdb(const std::string& dir) {
  tsdb::TsdbOptions o;
  o.dir = dir + "/tsdb";
  auto ts = tsdb::TimeSeriesStore::Open(o);
  EXPECT_TRUE(ts.ok());
  const int64_t t0_ms = kT0 / 1000;
  for (int w = 0; w < 2; ++w) {
    tsdb::SeriesSamples s{"temp", {{"host", "h1"}}, tsdb::SeriesKind::kGauge, {}};
    for (int i = 0; i < 3; ++i) s.samples.push_back({t0_ms + w * 2 * kHour / 1000 + i * 1000, 1.5});
    EXPECT_TRUE((*ts)->Append(1, {&s, 1}).ok());
  }
  EXPECT_TRUE((*ts)->Close().ok());
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(o.dir)) {
    if (e.is_regular_file() && e.path().extension() == ".tsb") files.push_back(e.path());
  }
  return files;
}

TEST_F(StoreVerifyTest, TimeSeriesBlocksAreVerified) {
  ASSERT_EQ(WriteTsdb(dir_).size(), 2u);
  VerifyReport r = VerifyDataDir(Env::Default(), dir_);
  EXPECT_EQ(r.problems, 0u) << r.text;
  EXPECT_EQ(r.tsdb_blocks, 2u);
  EXPECT_EQ(r.tsdb_samples, 6u);
  EXPECT_NE(r.text.find("2 blocks ok"), std::string::npos) << r.text;
}

TEST_F(StoreVerifyTest, ADamagedTimeSeriesBlockIsReported) {
  std::vector<std::string> files = WriteTsdb(dir_);
  ASSERT_EQ(files.size(), 2u);
  {
    std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(10);
    f.put('\x7f');
  }
  VerifyReport r = VerifyDataDir(Env::Default(), dir_);
  EXPECT_EQ(r.problems, 1u) << r.text;
  EXPECT_EQ(r.tsdb_blocks, 1u);
  EXPECT_NE(r.text.find("DAMAGED " + files[0]), std::string::npos) << r.text;
}

TEST_F(StoreVerifyTest, MetricsLogRecordsAreDecodedAndCounted) {
  ingest::IngestLogOptions lo;
  lo.dir = dir_ + "/wal";
  auto log = ingest::IngestLog::Open(lo, [](const ingest::LoggedRequest&) { return Status::OK(); });
  ASSERT_TRUE(log.ok());
  const std::string json =
      R"({"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"temp","gauge":)"
      R"({"dataPoints":[{"timeUnixNano":"1","asDouble":1},{"timeUnixNano":"2","asDouble":2}]}}]}]}]})";
  ASSERT_TRUE((*log)->Append({1, ingest::RequestFormat::kOtlpMetricsJson, json}).ok());
  ASSERT_TRUE((*log)->Close().ok());
  VerifyReport r = VerifyDataDir(Env::Default(), dir_);
  EXPECT_EQ(r.problems, 0u) << r.text;
  EXPECT_EQ(r.log_records, 3u);
  EXPECT_NE(r.text.find("2 metric points"), std::string::npos) << r.text;
}

}  // namespace
}  // namespace loupe::server
