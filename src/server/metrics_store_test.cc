#include "server/metrics_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

namespace loupe::server {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kDayMs = 86'400'000;
constexpr int64_t kNowMs = 1'763'700'000'000;

class MetricsStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loupe_metrics_store_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto reg = auth::Registry::Open("");
    ASSERT_TRUE(reg.ok());
    registry_ = std::move(*reg);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Block files under DATA_DIR/tsdb/<project>.
  size_t Files(model::ProjectId project) {
    const fs::path p = dir_ + "/tsdb/" + std::to_string(project);
    if (!fs::exists(p)) return 0;
    size_t n = 0;
    for (const auto& e : fs::directory_iterator(p)) n += e.path().extension() == ".tsb";
    return n;
  }

  std::string dir_;
  std::unique_ptr<auth::Registry> registry_;
};

TEST_F(MetricsStoreTest, MaintainerAppliesEachProjectsCurrentRollupRetention) {
  model::ProjectId short_lived = 0, kept = 0;
  ASSERT_TRUE(registry_->CreateProject("short", &short_lived).ok());
  ASSERT_TRUE(registry_->CreateProject("kept", &kept).ok());
  auto tsdb = OpenMetricsStore(dir_, *registry_);
  ASSERT_TRUE(tsdb.ok()) << tsdb.status().ToString();
  // 40 days old: past raw retention (8 days) for both, past the aggregate
  // retention of `short` (30) but not of `kept` (400).
  for (model::ProjectId p : {short_lived, kept}) {
    tsdb::SeriesSamples s{
        "temp", {{"host", "h"}}, tsdb::SeriesKind::kGauge, {{kNowMs - 40 * kDayMs, 1.0}}};
    ASSERT_TRUE((*tsdb)->Append(p, {&s, 1}).ok());
  }
  // Changed after the store opened (as through the API): the maintainer
  // picks it up.
  ASSERT_TRUE(registry_->SetRetention(short_lived, 10, 30).ok());
  ManualClock clock(kNowMs * 1000);
  MetricsMaintainer maintainer(tsdb->get(), registry_.get(), &clock, 5);
  maintainer.Start();
  for (int i = 0; i < 400 && (*tsdb)->Stats().head_windows > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  maintainer.Stop();
  EXPECT_EQ((*tsdb)->Stats().head_windows, 0u);
  EXPECT_EQ(Files(short_lived), 0u);
  EXPECT_EQ(Files(kept), 1u);  // the aggregates; the raw block is gone
  EXPECT_TRUE((*tsdb)->Close().ok());
}

TEST_F(MetricsStoreTest, StopWithoutStartAndTwiceIsHarmless) {
  auto tsdb = OpenMetricsStore(dir_, *registry_);
  ASSERT_TRUE(tsdb.ok());
  ManualClock clock(kNowMs * 1000);
  MetricsMaintainer maintainer(tsdb->get(), registry_.get(), &clock);
  maintainer.Stop();
  maintainer.Stop();
  EXPECT_TRUE(fs::is_directory(dir_ + "/tsdb"));
}

}  // namespace
}  // namespace loupe::server
