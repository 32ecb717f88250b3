#include "store/tsdb/time_series_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <tuple>
#include <thread>
#include <atomic>

namespace loupe::tsdb {
namespace {

constexpr int64_t kMin = 60'000;
constexpr int64_t kHour = 3'600'000;
constexpr int64_t kDay = 24 * kHour;
constexpr int64_t kT0 = 1'700'006'400'000;  // a day boundary (UTC)
const double kNaN = std::numeric_limits<double>::quiet_NaN();

class TsdbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loupe_tsdb_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    options_.dir = dir_;
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Reopen() {
    store_.reset();
    auto s = TimeSeriesStore::Open(options_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s.value());
  }
  static SeriesSamples Series(std::string metric, Labels labels, std::vector<Sample> samples,
                              SeriesKind kind = SeriesKind::kGauge) {
    return SeriesSamples{std::move(metric), std::move(labels), kind, std::move(samples)};
  }
  void Append(ProjectId p, const SeriesSamples& s) {
    ASSERT_TRUE(store_->Append(p, std::span(&s, 1)).ok());
  }
  QueryResult Query(MetricQuery q, ProjectId p = 1) {
    auto r = store_->Query(p, q);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r.value()) : QueryResult{};
  }
  static MetricQuery Q(std::string metric, int64_t from, int64_t to, int64_t step,
                       TimeAgg agg = TimeAgg::kAvg) {
    MetricQuery q;
    q.metric = std::move(metric);
    q.from_ms = from;
    q.to_ms = to;
    q.step_ms = step;
    q.agg = agg;
    return q;
  }
  // Gauge samples every `every` ms from `from` for `count` samples, value i.
  static std::vector<Sample> Ramp(int64_t from, int64_t every, int count, double base = 0) {
    std::vector<Sample> v;
    for (int i = 0; i < count; ++i) v.push_back({from + i * every, base + i});
    return v;
  }
  std::vector<std::string> BlockFiles() {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_)) {
      if (e.path().extension() == ".tsb") out.push_back(e.path().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  std::string dir_;
  TsdbOptions options_;
  std::unique_ptr<TimeSeriesStore> store_;
};

TEST_F(TsdbTest, AppendedSamplesAreQueryableAtOnce) {
  Append(1, Series("cpu", {{"host", "a"}}, Ramp(kT0, 10'000, 6)));
  auto r = Query(Q("cpu", kT0, kT0 + kMin, 30'000));
  ASSERT_EQ(r.series.size(), 1u);
  EXPECT_EQ(r.series[0].labels, (Labels{{"host", "a"}}));
  EXPECT_EQ(r.series[0].values, (std::vector<double>{1, 4}));  // avg(0,1,2), avg(3,4,5)
  EXPECT_EQ(r.resolution_ms, 0);
  EXPECT_EQ(Query(Q("cpu", kT0, kT0 + kMin, 30'000), 2).series.size(), 0u);  // other project
}

TEST_F(TsdbTest, ReAppendingTheSameRequestIsSkippedAndCounted) {
  const auto s = Series("cpu", {{"host", "a"}}, Ramp(kT0, 10'000, 6));
  Append(1, s);
  Append(1, s);
  EXPECT_EQ(store_->Stats().samples_appended, 6u);
  EXPECT_EQ(store_->Stats().duplicates_skipped, 6u);
  EXPECT_EQ(store_->Stats().out_of_order_dropped, 0u);
  auto r = Query(Q("cpu", kT0, kT0 + kMin, kMin, TimeAgg::kCount));
  EXPECT_EQ(r.series[0].values, (std::vector<double>{6}));
}

TEST_F(TsdbTest, ReplayAfterFlushAndReopenIsSkipped) {
  const auto s = Series("cpu", {{"host", "a"}}, Ramp(kT0, 10'000, 6));
  Append(1, s);
  ASSERT_TRUE(store_->Flush().ok());
  Reopen();
  Append(1, s);
  EXPECT_EQ(store_->Stats().duplicates_skipped, 6u);
  EXPECT_EQ(store_->Stats().samples_appended, 0u);
}

TEST_F(TsdbTest, OlderSamplesNotHeldAreDroppedAsOutOfOrder) {
  Append(1, Series("cpu", {}, {{kT0 + 20'000, 1}, {kT0 + 10'000, 2}, {kT0 + 20'000, 3}}));
  const TsdbStats st = store_->Stats();
  EXPECT_EQ(st.samples_appended, 1u);
  EXPECT_EQ(st.out_of_order_dropped, 1u);
  EXPECT_EQ(st.duplicates_skipped, 1u);
  EXPECT_EQ(Query(Q("cpu", kT0, kT0 + kMin, kMin, TimeAgg::kLast)).series[0].values[0], 1);
}

TEST_F(TsdbTest, NaNAndInfinitiesAreDroppedAndCounted) {
  const double inf = std::numeric_limits<double>::infinity();
  Append(1, Series("cpu", {}, {{kT0, kNaN}, {kT0 + 1, inf}, {kT0 + 2, -inf}, {kT0 + 3, 7}}));
  EXPECT_EQ(store_->Stats().invalid_dropped, 3u);
  EXPECT_EQ(Query(Q("cpu", kT0, kT0 + kMin, kMin, TimeAgg::kMax)).series[0].values[0], 7);
}

TEST_F(TsdbTest, LabelsAreSortedAndOrderDoesNotMakeANewSeries) {
  Append(1, Series("m", {{"b", "2"}, {"a", "1"}}, {{kT0, 1}}));
  Append(1, Series("m", {{"a", "1"}, {"b", "2"}}, {{kT0 + 1, 2}}));
  EXPECT_EQ(store_->Stats().series, 1u);
}

TEST_F(TsdbTest, SeriesPastTheMetricCapFoldIntoOneOverflowSeries) {
  options_.max_series_per_metric = 2;
  Reopen();
  for (int i = 0; i < 5; ++i) {
    Append(1, Series("cpu", {{"host", std::to_string(i)}}, {{kT0 + i, 1.0}}));
  }
  Append(1, Series("mem", {{"host", "9"}}, {{kT0, 1.0}}));  // another metric is not capped
  EXPECT_EQ(store_->Stats().series_overflowed, 3u);
  EXPECT_EQ(store_->Stats().series, 4u);  // 2 + overflow + mem
  auto r = Query(Q("cpu", kT0, kT0 + kMin, kMin, TimeAgg::kCount));
  ASSERT_EQ(r.series.size(), 3u);
  EXPECT_EQ(r.series[2].labels, (Labels{{"loupe.overflow", "true"}}));
  EXPECT_EQ(r.series[2].values[0], 3);
}

TEST_F(TsdbTest, SeriesPastTheProjectCapFoldIntoOverflow) {
  options_.max_series_per_project = 3;
  Reopen();
  for (int i = 0; i < 4; ++i) Append(1, Series("m" + std::to_string(i), {}, {{kT0, 1.0}}));
  EXPECT_EQ(store_->Stats().series_overflowed, 1u);
  EXPECT_EQ(store_->LabelValues(1, "m3", "loupe.overflow"), std::vector<std::string>{"true"});
  Append(2, Series("m9", {}, {{kT0, 1.0}}));  // per project
  EXPECT_EQ(store_->Stats().series_overflowed, 1u);
}

TEST_F(TsdbTest, FlushThenReopenKeepsEverythingAndTheWindowStaysOpen) {
  Append(1, Series("cpu", {{"host", "a"}}, Ramp(kT0, 10'000, 6)));
  Append(1, Series("net", {{"if", "eth0"}}, Ramp(kT0 + 3 * kHour, kMin, 3), SeriesKind::kCounter));
  ASSERT_TRUE(store_->Flush().ok());
  Reopen();
  EXPECT_TRUE(store_->open_status().ok());
  EXPECT_EQ(store_->Stats().series, 2u);
  Append(1, Series("cpu", {{"host", "a"}}, {{kT0 + kMin, 100}}));  // same window, after reopen
  EXPECT_EQ(store_->Stats().samples_appended, 1u);
  auto r = Query(Q("cpu", kT0, kT0 + 2 * kMin, kMin, TimeAgg::kLast));
  EXPECT_EQ(r.series[0].values, (std::vector<double>{5, 100}));
  EXPECT_EQ(store_->MetricNames(1), (std::vector<std::string>{"cpu", "net"}));
}

TEST_F(TsdbTest, FlushSurvivesACrashThatDropsUnsyncedData) {
  FaultInjectionEnv env(Env::Default());
  options_.env = &env;
  Reopen();
  Append(1, Series("cpu", {}, Ramp(kT0, 1000, 100)));
  env.SetSyncError(true);
  EXPECT_FALSE(store_->Flush().ok());
  env.SetSyncError(false);
  ASSERT_TRUE(store_->Flush().ok());
  Append(1, Series("cpu", {}, Ramp(kT0 + 100'000, 1000, 10)));  // not flushed
  store_.reset();
  ASSERT_TRUE(env.DropUnsyncedData().ok());
  Reopen();
  auto r = Query(Q("cpu", kT0, kT0 + 200'000, 200'000, TimeAgg::kCount));
  ASSERT_EQ(r.series.size(), 1u);
  EXPECT_EQ(r.series[0].values[0], 100);
}

TEST_F(TsdbTest, AFullDiskFailsFlushAndALaterFlushWritesEverything) {
  FaultInjectionEnv env(Env::Default());
  options_.env = &env;
  Reopen();
  Append(1, Series("cpu", {}, Ramp(kT0, 1000, 500)));
  env.SetWriteBudget(100);
  const Status st = store_->Flush();
  EXPECT_EQ(st.code(), Status::Code::kResourceExhausted) << st.ToString();
  EXPECT_TRUE(BlockFiles().empty());  // no partial block under a final name
  Append(1, Series("cpu", {}, Ramp(kT0 + 500'000, 1000, 10)));  // still accepted
  env.SetWriteBudget(-1);
  ASSERT_TRUE(store_->Flush().ok());
  store_.reset();
  ASSERT_TRUE(env.DropUnsyncedData().ok());
  Reopen();
  EXPECT_TRUE(store_->open_status().ok());
  EXPECT_EQ(Query(Q("cpu", kT0, kT0 + kHour, kHour, TimeAgg::kCount)).series[0].values[0], 510);
}

TEST_F(TsdbTest, AFailedSealLeavesTheWindowInTheHeadAndWritable) {
  FaultInjectionEnv env(Env::Default());
  options_.env = &env;
  Reopen();
  Append(1, Series("cpu", {}, {{kT0, 1}}));
  env.SetSyncError(true);
  EXPECT_FALSE(store_->Maintain(kT0 + 2 * kHour + options_.head_grace_ms).ok());
  EXPECT_EQ(store_->Stats().head_windows, 1u);
  Append(1, Series("cpu", {}, {{kT0 + 1, 2}}));
  EXPECT_EQ(store_->Stats().samples_appended, 2u);
  env.SetSyncError(false);
  ASSERT_TRUE(store_->Maintain(kT0 + 2 * kHour + options_.head_grace_ms).ok());
  EXPECT_EQ(store_->Stats().head_windows, 0u);
  auto r = Query(Q("cpu", kT0, kT0 + kMin, kMin, TimeAgg::kSum));
  EXPECT_EQ(r.resolution_ms, kMin);
  EXPECT_EQ(r.series[0].values[0], 3);
}

TEST_F(TsdbTest, ACorruptBlockIsSkippedAndReportedOthersLoad) {
  Append(1, Series("cpu", {}, Ramp(kT0, kMin, 10)));
  Append(1, Series("cpu", {}, Ramp(kT0 + 4 * kHour, kMin, 10)));
  ASSERT_TRUE(store_->Flush().ok());
  store_.reset();
  const auto files = BlockFiles();
  ASSERT_EQ(files.size(), 2u);
  {
    std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(40);
    char c;
    f.read(&c, 1);
    f.seekp(40);
    c ^= 0x10;
    f.write(&c, 1);
  }
  Reopen();
  EXPECT_EQ(store_->open_status().code(), Status::Code::kCorruption);
  EXPECT_NE(store_->open_status().message().find(files[0]), std::string::npos);
  EXPECT_EQ(store_->Stats().blocks_corrupt, 1u);
  auto r = Query(Q("cpu", kT0, kT0 + 6 * kHour, kHour, TimeAgg::kCount));
  ASSERT_EQ(r.series.size(), 1u);
  EXPECT_TRUE(std::isnan(r.series[0].values[0]));
  EXPECT_EQ(r.series[0].values[4], 10);

  auto checks = Verify(Env::Default(), dir_);
  ASSERT_TRUE(checks.ok());
  ASSERT_EQ(checks->size(), 2u);
  EXPECT_EQ((*checks)[0].file, files[0]);
  EXPECT_EQ((*checks)[0].status.code(), Status::Code::kCorruption);
  EXPECT_TRUE((*checks)[1].status.ok());
  EXPECT_EQ((*checks)[1].samples, 10u);
}

TEST_F(TsdbTest, DownsamplingPutsMinuteAndHourEdgesInTheirOwnBuckets) {
  // Samples just before and exactly on minute and hour edges.
  std::vector<Sample> s = {{kT0, 1},           {kT0 + kMin - 1, 3}, {kT0 + kMin, 10},
                           {kT0 + kHour - 1, 5}, {kT0 + kHour, 20},   {kT0 + kHour + 1, 30}};
  Append(1, Series("g", {}, s));
  const auto raw_min = Query(Q("g", kT0, kT0 + 2 * kHour, kMin, TimeAgg::kSum));
  const auto raw_hour = Query(Q("g", kT0, kT0 + 2 * kHour, kHour, TimeAgg::kMax));
  ASSERT_TRUE(store_->Maintain(kT0 + 2 * kHour + options_.head_grace_ms).ok());
  EXPECT_EQ(store_->Stats().head_windows, 0u);
  const auto agg_min = Query(Q("g", kT0, kT0 + 2 * kHour, kMin, TimeAgg::kSum));
  EXPECT_EQ(agg_min.resolution_ms, kMin);
  ASSERT_EQ(agg_min.series.size(), 1u);
  const auto& v = agg_min.series[0].values;
  EXPECT_EQ(v[0], 4);
  EXPECT_EQ(v[1], 10);
  EXPECT_EQ(v[59], 5);
  EXPECT_EQ(v[60], 50);
  for (size_t i = 0; i < v.size(); ++i) {
    if (std::isnan(raw_min.series[0].values[i])) {
      EXPECT_TRUE(std::isnan(v[i])) << i;
    } else {
      EXPECT_EQ(v[i], raw_min.series[0].values[i]) << i;
    }
  }
  const auto agg_hour = Query(Q("g", kT0, kT0 + 2 * kHour, kHour, TimeAgg::kMax));
  EXPECT_EQ(agg_hour.resolution_ms, kHour);
  EXPECT_EQ(agg_hour.series[0].values, raw_hour.series[0].values);
  EXPECT_EQ(agg_hour.series[0].values, (std::vector<double>{10, 30}));
  const auto avg = Query(Q("g", kT0, kT0 + 2 * kHour, kHour, TimeAgg::kAvg));
  EXPECT_EQ(avg.series[0].values, (std::vector<double>{19.0 / 4, 25}));
}

TEST_F(TsdbTest, ASealedWindowRefusesNewSamples) {
  Append(1, Series("g", {}, {{kT0, 1}}));
  ASSERT_TRUE(store_->Maintain(kT0 + 2 * kHour + options_.head_grace_ms).ok());
  Append(1, Series("h", {}, {{kT0 + 5, 1}}));  // a new series in the sealed window
  Append(1, Series("g", {}, {{kT0, 1}}));      // replayed: still a duplicate
  EXPECT_EQ(store_->Stats().out_of_order_dropped, 1u);
  EXPECT_EQ(store_->Stats().duplicates_skipped, 1u);
}

TEST_F(TsdbTest, NotSealedBeforeTheGraceHasPassed) {
  Append(1, Series("g", {}, {{kT0, 1}}));
  ASSERT_TRUE(store_->Maintain(kT0 + 2 * kHour + options_.head_grace_ms - 1).ok());
  EXPECT_EQ(store_->Stats().head_windows, 1u);
}

TEST_F(TsdbTest, RetentionDropsWholeBlocksAtTheirEdge) {
  options_.raw_retention_days = 1;
  options_.aggregate_retention_days = 2;
  options_.compact_aggregate_days = false;  // window blocks here; day blocks below
  Reopen();
  Append(1, Series("g", {}, {{kT0, 1}, {kT0 + kMin, 2}}));             // window [0, 2h)
  Append(1, Series("g", {}, {{kT0 + 2 * kHour, 3}}));                  // window [2h, 4h)
  ASSERT_TRUE(store_->Maintain(kT0 + 6 * kHour).ok());
  EXPECT_EQ(BlockFiles().size(), 4u);
  // Raw [0, 2h) ends exactly at the horizon: deleted; [2h, 4h) stays.
  ASSERT_TRUE(store_->Maintain(kT0 + 2 * kHour + kDay).ok());
  EXPECT_EQ(store_->Stats().blocks_deleted, 1u);
  EXPECT_EQ(BlockFiles().size(), 3u);
  // A raw-step query falls back to the minute aggregates.
  auto r = Query(Q("g", kT0, kT0 + 2 * kMin, 30'000, TimeAgg::kMax));
  ASSERT_EQ(r.series.size(), 1u);
  EXPECT_EQ(r.series[0].values[0], 1);
  EXPECT_EQ(r.series[0].values[2], 2);
  // Samples older than raw retention are refused.
  Append(1, Series("old", {}, {{kT0, 1}}));
  EXPECT_EQ(store_->Stats().out_of_order_dropped, 1u);
  ASSERT_TRUE(store_->Maintain(kT0 + 2 * kHour + 2 * kDay).ok());
  EXPECT_EQ(BlockFiles().size(), 1u);  // aggregate [0, 2h) and raw [2h, 4h) gone
  ASSERT_TRUE(store_->Maintain(kT0 + 4 * kHour + 2 * kDay + 1).ok());
  EXPECT_EQ(BlockFiles().size(), 0u);
}

TEST_F(TsdbTest, PerProjectAggregateRetention) {
  options_.raw_retention_days = 1;
  options_.aggregate_retention_days = 0;  // for ever
  options_.aggregate_retention_per_project[2] = 1;
  Reopen();
  Append(1, Series("g", {}, {{kT0, 1}}));
  Append(2, Series("g", {}, {{kT0, 1}}));
  ASSERT_TRUE(store_->Maintain(kT0 + 3 * kDay).ok());
  EXPECT_EQ(BlockFiles().size(), 1u);
  EXPECT_NE(BlockFiles()[0].find("/1/day-"), std::string::npos);
}

TEST_F(TsdbTest, AggregateRetentionSetLaterAppliesAtTheNextMaintain) {
  options_.raw_retention_days = 1;
  options_.aggregate_retention_days = 0;  // for ever
  Reopen();
  Append(1, Series("g", {}, {{kT0, 1}}));
  Append(2, Series("g", {}, {{kT0, 1}}));
  store_->SetAggregateRetention(1, 1);
  ASSERT_TRUE(store_->Maintain(kT0 + 3 * kDay).ok());
  EXPECT_EQ(BlockFiles().size(), 1u);
  EXPECT_NE(BlockFiles()[0].find("/2/day-"), std::string::npos);
}

// A day of a gauge and a counter (one sample a minute, values i and 2i),
// plus the first window of the next day.
void AppendDay(TimeSeriesStore* store) {
  std::vector<Sample> g, c;
  for (int i = 0; i < 26 * 60; ++i) {
    g.push_back({kT0 + i * kMin, static_cast<double>(i % 100)});
    c.push_back({kT0 + i * kMin + 30'000, 2.0 * i});
  }
  const SeriesSamples batch[2] = {{"g", {{"h", "a"}}, SeriesKind::kGauge, g},
                                  {"c", {{"h", "a"}}, SeriesKind::kCounter, c}};
  ASSERT_TRUE(store->Append(1, batch).ok());
}

TEST_F(TsdbTest, AFinishedDayIsCompactedIntoOneBlockAndReadsTheSame) {
  const int64_t now = kT0 + kDay + options_.head_grace_ms;
  options_.compact_aggregate_days = false;
  Reopen();
  AppendDay(store_.get());
  ASSERT_TRUE(store_->Maintain(now).ok());
  std::vector<QueryResult> before;
  for (auto [metric, step, agg] : {std::tuple{"g", kMin, TimeAgg::kMax}, {"g", kHour, TimeAgg::kAvg},
                                   {"c", kMin, TimeAgg::kRate}, {"c", kHour, TimeAgg::kRate}}) {
    before.push_back(Query(Q(metric, kT0 + kHour, kT0 + kDay + kHour, step, agg)));
  }
  EXPECT_EQ(BlockFiles().size(), 12u * 2 + 1);  // 12 raw + 12 agg windows, the next day's raw
  options_.compact_aggregate_days = true;
  Reopen();
  ASSERT_TRUE(store_->Maintain(now).ok());
  auto files = BlockFiles();
  EXPECT_EQ(files.size(), 12u + 1 + 1);
  EXPECT_EQ(std::count_if(files.begin(), files.end(),
                          [](const std::string& f) { return f.find("/day-") != std::string::npos; }),
            1);
  size_t k = 0;
  for (auto [metric, step, agg] : {std::tuple{"g", kMin, TimeAgg::kMax}, {"g", kHour, TimeAgg::kAvg},
                                   {"c", kMin, TimeAgg::kRate}, {"c", kHour, TimeAgg::kRate}}) {
    const auto r = Query(Q(metric, kT0 + kHour, kT0 + kDay + kHour, step, agg));
    ASSERT_EQ(r.series.size(), 1u);
    const auto& a = r.series[0].values;
    const auto& b = before[k++].series[0].values;
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      if (std::isnan(b[i])) {
        EXPECT_TRUE(std::isnan(a[i])) << metric << " " << i;
      } else {
        EXPECT_DOUBLE_EQ(a[i], b[i]) << metric << " " << i;
      }
    }
  }
  // The counter's rate is 2 per minute throughout, across the day's windows.
  EXPECT_DOUBLE_EQ(before[2].series[0].values[100], 2.0 / 60);
  // The sealed day refuses samples; a replay is still a duplicate.
  Append(1, Series("g", {{"h", "a"}}, {{kT0 + 5 * kHour, 1}}));
  EXPECT_EQ(store_->Stats().duplicates_skipped, 1u);
  Append(1, Series("new", {}, {{kT0 + 5 * kHour, 1}}));
  EXPECT_EQ(store_->Stats().out_of_order_dropped, 1u);
  auto checks = Verify(Env::Default(), dir_);
  ASSERT_TRUE(checks.ok());
  for (const auto& c : *checks) EXPECT_TRUE(c.status.ok()) << c.file << c.status.ToString();
}

TEST_F(TsdbTest, WindowBlocksLeftByACrashDuringCompactionAreDeletedAtOpen) {
  options_.compact_aggregate_days = false;
  Reopen();
  AppendDay(store_.get());
  ASSERT_TRUE(store_->Maintain(kT0 + kDay + options_.head_grace_ms).ok());
  const std::string saved = dir_ + "_saved";
  std::filesystem::copy(dir_ + "/1", saved);
  options_.compact_aggregate_days = true;
  Reopen();
  ASSERT_TRUE(store_->Maintain(kT0 + kDay + options_.head_grace_ms).ok());
  const auto sum_before = Query(Q("g", kT0, kT0 + kDay, kDay, TimeAgg::kSum)).series[0].values[0];
  store_.reset();
  for (const auto& e : std::filesystem::directory_iterator(saved)) {  // as if never deleted
    if (e.path().filename().string().starts_with("agg-")) {
      std::filesystem::copy(e.path(), dir_ + "/1/" + e.path().filename().string());
    }
  }
  std::filesystem::remove_all(saved);
  Reopen();
  EXPECT_TRUE(store_->open_status().ok());
  EXPECT_EQ(Query(Q("g", kT0, kT0 + kDay, kDay, TimeAgg::kSum)).series[0].values[0], sum_before);
  for (const auto& f : BlockFiles()) EXPECT_EQ(f.find("/agg-"), std::string::npos) << f;
}

TEST_F(TsdbTest, RateOfACounterDetectsResets) {
  // 0, 60, 120 then a restart: 30, 90 (one sample every 30 s).
  Append(1, Series("req", {}, {{kT0, 0}, {kT0 + 30'000, 60}, {kT0 + 60'000, 120},
                               {kT0 + 90'000, 30}, {kT0 + 120'000, 90}},
                   SeriesKind::kCounter));
  auto r = Query(Q("req", kT0 + kMin, kT0 + 3 * kMin, kMin, TimeAgg::kRate));
  ASSERT_EQ(r.series.size(), 1u);
  // Minute 1: +60 (60→120) and +30 (reset, counted from 0) = 90 / 60 s.
  EXPECT_DOUBLE_EQ(r.series[0].values[0], 1.5);
  EXPECT_DOUBLE_EQ(r.series[0].values[1], 1.0);  // 30 → 90
  ASSERT_TRUE(store_->Maintain(kT0 + 2 * kHour + options_.head_grace_ms).ok());
  auto agg = Query(Q("req", kT0 + kMin, kT0 + 3 * kMin, kMin, TimeAgg::kRate));
  EXPECT_EQ(agg.resolution_ms, kMin);
  EXPECT_DOUBLE_EQ(agg.series[0].values[0], 1.5);  // 60 → 120 across, 120 → 30 within
  EXPECT_DOUBLE_EQ(agg.series[0].values[1], 1.0);
}

TEST_F(TsdbTest, RateOfADeltaCounterSumsItsSamples) {
  Append(1, Series("d", {}, {{kT0, 30}, {kT0 + 20'000, 30}, {kT0 + kMin, 6}},
                   SeriesKind::kDeltaCounter));
  auto r = Query(Q("d", kT0, kT0 + 2 * kMin, kMin, TimeAgg::kRate));
  EXPECT_EQ(r.series[0].values, (std::vector<double>{1.0, 0.1}));
}

TEST_F(TsdbTest, GroupByReducesAcrossSeries) {
  for (int i = 0; i < 20; ++i) {
    Append(1, Series("cpu", {{"host", "h" + std::to_string(i)}, {"pod", i < 10 ? "a" : "b"}},
                     {{kT0, static_cast<double>(i + 1)}}));
  }
  Append(1, Series("cpu", {{"host", "x"}}, {{kT0, 1000}}));  // no pod label
  MetricQuery q = Q("cpu", kT0, kT0 + kMin, kMin, TimeAgg::kLast);
  q.group_by = {"pod"};
  auto r = Query(q);
  ASSERT_EQ(r.series.size(), 3u);
  EXPECT_EQ(r.series[0].labels, Labels{});  // the series without the label
  EXPECT_EQ(r.series[0].values[0], 1000);
  EXPECT_EQ(r.series[1].labels, (Labels{{"pod", "a"}}));
  EXPECT_EQ(r.series[1].values[0], 55);
  EXPECT_EQ(r.series[2].values[0], 155);
  q.group_agg = GroupAgg::kAvg;
  EXPECT_EQ(Query(q).series[1].values[0], 5.5);
  q.group_agg = GroupAgg::kMax;
  EXPECT_EQ(Query(q).series[2].values[0], 20);
  q.group_agg = GroupAgg::kP95;
  q.group_by.clear();
  q.group_by = {"nothing"};  // one group of all 21
  EXPECT_EQ(Query(q).series[0].values[0], 20);  // rank ceil(0.95·21) = 20
}

TEST_F(TsdbTest, MatchersSelectSeries) {
  Append(1, Series("cpu", {{"host", "web-1"}, {"env", "prod"}}, {{kT0, 1}}));
  Append(1, Series("cpu", {{"host", "web-2"}, {"env", "dev"}}, {{kT0, 2}}));
  Append(1, Series("cpu", {{"host", "db-1"}}, {{kT0, 3}}));
  auto count = [&](std::vector<LabelMatcher> m) {
    MetricQuery q = Q("cpu", kT0, kT0 + kMin, kMin);
    q.matchers = std::move(m);
    return Query(q).series.size();
  };
  using Op = LabelMatcher::Op;
  EXPECT_EQ(count({{"env", Op::kEqual, "prod"}}), 1u);
  EXPECT_EQ(count({{"env", Op::kNotEqual, "prod"}}), 2u);
  EXPECT_EQ(count({{"env", Op::kEqual, ""}}), 1u);
  EXPECT_EQ(count({{"host", Op::kRegex, "web-.*"}}), 2u);
  EXPECT_EQ(count({{"host", Op::kNotRegex, "web-.*"}, {"host", Op::kNotEqual, "x"}}), 1u);
  MetricQuery bad = Q("cpu", kT0, kT0 + kMin, kMin);
  bad.matchers = {{"host", Op::kRegex, "(("}};
  EXPECT_EQ(store_->Query(1, bad).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store_->LabelValues(1, "cpu", "host"),
            (std::vector<std::string>{"db-1", "web-1", "web-2"}));
  EXPECT_EQ(store_->LabelValues(1, "", "env"), (std::vector<std::string>{"dev", "prod"}));
}

TEST_F(TsdbTest, QueryCapsFailWithAClearError) {
  options_.max_query_series = 2;
  options_.max_query_points = 100;
  Reopen();
  for (int i = 0; i < 3; ++i) Append(1, Series("m", {{"i", std::to_string(i)}}, {{kT0, 1}}));
  auto r = store_->Query(1, Q("m", kT0, kT0 + kMin, kMin));
  EXPECT_EQ(r.status().code(), Status::Code::kResourceExhausted);
  EXPECT_NE(r.status().message().find("cap of 2"), std::string::npos);
  MetricQuery q = Q("m", kT0, kT0 + 101 * kMin, kMin);
  q.matchers = {{"i", LabelMatcher::Op::kEqual, "1"}};
  EXPECT_EQ(store_->Query(1, q).status().code(), Status::Code::kResourceExhausted);
  q.to_ms = kT0 + 100 * kMin;
  EXPECT_TRUE(store_->Query(1, q).ok());
  EXPECT_EQ(store_->Query(1, Q("m", kT0, kT0, kMin)).status().code(),
            Status::Code::kInvalidArgument);
}

TEST_F(TsdbTest, AggregateColumnsStoredAsReferencesReadBack) {
  // A counter without resets: min is first and max is last in every bucket.
  std::vector<Sample> s;
  for (int i = 0; i < 240; ++i) s.push_back({kT0 + i * 15'000, 100.0 + i * 2.5});
  Append(1, Series("c", {}, s, SeriesKind::kCounter));
  ASSERT_TRUE(store_->Maintain(kT0 + 2 * kHour + options_.head_grace_ms).ok());
  for (TimeAgg agg : {TimeAgg::kMin, TimeAgg::kMax, TimeAgg::kCount, TimeAgg::kRate}) {
    const auto r = Query(Q("c", kT0 + kMin, kT0 + kHour, kMin, agg));
    EXPECT_EQ(r.resolution_ms, kMin);
    ASSERT_EQ(r.series.size(), 1u);
    for (size_t i = 0; i < r.series[0].values.size(); ++i) {
      const double first = 100.0 + (i + 1) * 4 * 2.5;  // four samples a minute
      const double want = agg == TimeAgg::kMin   ? first
                          : agg == TimeAgg::kMax ? first + 7.5
                          : agg == TimeAgg::kCount ? 4
                                                   : 10.0 / 60;
      EXPECT_DOUBLE_EQ(r.series[0].values[i], want) << i;
    }
  }
  auto checks = Verify(Env::Default(), dir_);
  ASSERT_TRUE(checks.ok());
  ASSERT_EQ(checks->size(), 2u);
  for (const auto& c : *checks) EXPECT_TRUE(c.status.ok()) << c.file << c.status.ToString();
}

TEST_F(TsdbTest, FlushAndQueryWhileAppendingLoseNothing) {
  constexpr int kSamples = 20'000;
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < kSamples; i += 100) {
      const auto batch = Series("g", {{"t", "w"}}, Ramp(kT0 + i * 1000LL, 1000, 100, i));
      ASSERT_TRUE(store_->Append(1, std::span(&batch, 1)).ok());
    }
    done = true;
  });
  while (!done) {
    ASSERT_TRUE(store_->Flush().ok());
    auto r = store_->Query(1, Q("g", kT0, kT0 + kSamples * 1000LL, kDay, TimeAgg::kCount));
    ASSERT_TRUE(r.ok());
  }
  writer.join();
  ASSERT_TRUE(store_->Flush().ok());
  Reopen();
  auto r = Query(Q("g", kT0, kT0 + kSamples * 1000LL, kDay, TimeAgg::kCount));
  ASSERT_EQ(r.series.size(), 1u);
  EXPECT_EQ(r.series[0].values[0], kSamples);
  EXPECT_EQ(store_->Stats().duplicates_skipped + store_->Stats().out_of_order_dropped, 0u);
}

}  // namespace
}  // namespace loupe::tsdb
