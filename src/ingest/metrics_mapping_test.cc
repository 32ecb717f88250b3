#include "ingest/metrics_mapping.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace loupe::ingest {
namespace {

using model::MetricBatch;
using model::MetricType;
using model::Temporality;
using tsdb::Labels;
using tsdb::SeriesKind;
using tsdb::SeriesSamples;

constexpr uint64_t kT = 1'700'000'000'123'456'789ull;  // ns
constexpr int64_t kMs = 1'700'000'000'123;

// Builds batches in memory: one resource {service.name=api, host=h1}.
class BatchBuilder {
 public:
  BatchBuilder() {
    model::Resource r;
    r.attrs = Attrs({{"service.name", "api"}, {"host", "h1"}});
    b_.resources.push_back(r);
  }

  model::AttrRange Attrs(std::vector<std::pair<std::string, std::string>> kvs) {
    model::AttrRange r{static_cast<uint32_t>(b_.attrs.size()), static_cast<uint32_t>(kvs.size())};
    for (auto& [k, v] : kvs) {
      model::KeyValue kv;
      kv.key = b_.Own(k);
      kv.value.type = model::AttrValue::Type::kString;
      kv.value.s = b_.Own(v);
      b_.attrs.push_back(kv);
    }
    return r;
  }

  model::Metric& AddMetric(std::string name, MetricType type,
                           Temporality t = Temporality::kCumulative, bool monotonic = false) {
    model::Metric& m = b_.metrics.emplace_back();
    m.name = b_.Own(std::move(name));
    m.type = type;
    m.temporality = t;
    m.monotonic = monotonic;
    m.points_begin = static_cast<uint32_t>(b_.points.size());
    return m;
  }

  // Adds a point to the last metric.
  model::MetricPoint& AddPoint(std::vector<std::pair<std::string, std::string>> attrs = {}) {
    model::MetricPoint& p = b_.points.emplace_back();
    p.attrs = Attrs(std::move(attrs));
    p.time_unix_nano = kT;
    ++b_.metrics.back().points_count;
    return p;
  }

  model::ValueRange Counts(std::vector<uint64_t> c) {
    model::ValueRange r{static_cast<uint32_t>(b_.counts.size()), static_cast<uint32_t>(c.size())};
    b_.counts.insert(b_.counts.end(), c.begin(), c.end());
    return r;
  }
  model::ValueRange Bounds(std::vector<double> v) {
    model::ValueRange r{static_cast<uint32_t>(b_.bounds.size()), static_cast<uint32_t>(v.size())};
    b_.bounds.insert(b_.bounds.end(), v.begin(), v.end());
    return r;
  }

  MetricBatch& batch() { return b_; }

 private:
  MetricBatch b_;
};

MappedMetrics Map(const MetricBatch& b, MetricsMappingOptions options = {}) {
  MappedMetrics out;
  MapMetrics(b, options, &out);
  return out;
}

// "name{labels} kind time=value" for compact exact comparisons.
std::vector<std::string> Render(const MappedMetrics& m) {
  std::vector<std::string> out;
  for (const SeriesSamples& s : m.series) {
    std::string line = s.metric + "{";
    for (size_t i = 0; i < s.labels.size(); ++i) {
      if (i > 0) line += ",";
      line += s.labels[i].first + "=" + s.labels[i].second;
    }
    line += "} " + std::to_string(static_cast<int>(s.kind));
    for (const auto& sample : s.samples) {
      line += " " + std::to_string(sample.time_ms) + "=";
      char buf[32];
      std::snprintf(buf, sizeof buf, "%g", sample.value);
      line += buf;
    }
    out.push_back(line);
  }
  return out;
}

TEST(MetricsMappingTest, GaugeLabelsAreResourceThenPointAttributesSortedPointWins) {
  BatchBuilder bb;
  bb.AddMetric("cpu", MetricType::kGauge);
  model::MetricPoint& p = bb.AddPoint({{"host", "h2"}, {"cpu", "0"}});
  p.value.is_int = true;
  p.value.i = 7;
  MappedMetrics m = Map(bb.batch());
  ASSERT_EQ(m.series.size(), 1u);
  EXPECT_EQ(m.series[0].metric, "cpu");
  EXPECT_EQ(m.series[0].labels, (Labels{{"cpu", "0"}, {"host", "h2"}, {"service.name", "api"}}));
  EXPECT_TRUE(tsdb::LabelsNormalized(m.series[0].labels));
  EXPECT_EQ(m.series[0].kind, SeriesKind::kGauge);
  ASSERT_EQ(m.series[0].samples.size(), 1u);
  EXPECT_EQ(m.series[0].samples[0].time_ms, kMs);
  EXPECT_EQ(m.series[0].samples[0].value, 7.0);
  EXPECT_EQ(m.points, 1u);
  EXPECT_EQ(m.samples, 1u);
}

TEST(MetricsMappingTest, SumKindsFollowMonotonicityAndTemporality) {
  BatchBuilder bb;
  bb.AddMetric("requests", MetricType::kSum, Temporality::kCumulative, true);
  bb.AddPoint().value.d = 10.5;
  bb.AddMetric("sent", MetricType::kSum, Temporality::kDelta, true);
  bb.AddPoint().value.d = 3;
  bb.AddMetric("queue", MetricType::kSum, Temporality::kCumulative, false);
  bb.AddPoint().value.d = -2;
  bb.AddMetric("legacy", MetricType::kSum, Temporality::kUnspecified, true);
  bb.AddPoint().value.d = 1;
  MappedMetrics m = Map(bb.batch());
  EXPECT_THAT(Render(m),
              testing::ElementsAre("requests{host=h1,service.name=api} 1 1700000000123=10.5",
                                   "sent{host=h1,service.name=api} 2 1700000000123=3",
                                   "queue{host=h1,service.name=api} 0 1700000000123=-2",
                                   "legacy{host=h1,service.name=api} 1 1700000000123=1"));
}

TEST(MetricsMappingTest, HistogramBecomesCumulativeBucketsSumAndCount) {
  BatchBuilder bb;
  bb.AddMetric("latency", MetricType::kHistogram, Temporality::kCumulative);
  model::MetricPoint& p = bb.AddPoint({{"route", "/a"}});
  p.bounds = bb.Bounds({0.005, 0.1, 1000000});
  p.bucket_counts = bb.Counts({1, 2, 0, 4});
  p.count = 7;
  p.has_sum = true;
  p.sum = 12.25;
  MappedMetrics m = Map(bb.batch());
  EXPECT_THAT(Render(m),
              testing::ElementsAre(
                  "latency_bucket{host=h1,le=0.005,route=/a,service.name=api} 1 1700000000123=1",
                  "latency_bucket{host=h1,le=0.1,route=/a,service.name=api} 1 1700000000123=3",
                  "latency_bucket{host=h1,le=1e+06,route=/a,service.name=api} 1 1700000000123=3",
                  "latency_bucket{host=h1,le=+Inf,route=/a,service.name=api} 1 1700000000123=7",
                  "latency_sum{host=h1,route=/a,service.name=api} 1 1700000000123=12.25",
                  "latency_count{host=h1,route=/a,service.name=api} 1 1700000000123=7"));
  EXPECT_EQ(m.samples, 6u);
}

TEST(MetricsMappingTest, DeltaHistogramWithoutSumOrBucketsMakesDeltaInfAndCount) {
  BatchBuilder bb;
  bb.AddMetric("jobs", MetricType::kHistogram, Temporality::kDelta);
  bb.AddPoint().count = 5;
  MappedMetrics m = Map(bb.batch());
  EXPECT_THAT(Render(m), testing::ElementsAre(
                             "jobs_bucket{host=h1,le=+Inf,service.name=api} 2 1700000000123=5",
                             "jobs_count{host=h1,service.name=api} 2 1700000000123=5"));
}

TEST(MetricsMappingTest, ExponentialHistogramBoundsFromScaleAndOffset) {
  BatchBuilder bb;
  bb.AddMetric("size", MetricType::kExponentialHistogram, Temporality::kCumulative);
  model::MetricPoint& p = bb.AddPoint();
  p.scale = 0;  // base 2
  p.zero_count = 1;
  p.positive.offset = 1;  // (2,4], (4,8]
  p.positive.counts = bb.Counts({2, 3});
  p.negative.offset = 0;  // [-2,-1)
  p.negative.counts = bb.Counts({4});
  p.count = 10;
  p.has_sum = true;
  p.sum = 20;
  MappedMetrics m = Map(bb.batch());
  EXPECT_THAT(Render(m), testing::ElementsAre(
                             "size_bucket{host=h1,le=-1,service.name=api} 1 1700000000123=4",
                             "size_bucket{host=h1,le=0,service.name=api} 1 1700000000123=5",
                             "size_bucket{host=h1,le=4,service.name=api} 1 1700000000123=7",
                             "size_bucket{host=h1,le=8,service.name=api} 1 1700000000123=10",
                             "size_bucket{host=h1,le=+Inf,service.name=api} 1 1700000000123=10",
                             "size_sum{host=h1,service.name=api} 1 1700000000123=20",
                             "size_count{host=h1,service.name=api} 1 1700000000123=10"));
  EXPECT_EQ(m.exp_points_downscaled, 0u);
}

TEST(MetricsMappingTest, ExponentialHistogramIsDownscaledToTheScaleCap) {
  BatchBuilder bb;
  bb.AddMetric("size", MetricType::kExponentialHistogram, Temporality::kDelta);
  model::MetricPoint& p = bb.AddPoint();
  p.scale = 2;  // base 2^(1/4); indexes 4..7 cover (2,4]
  p.positive.offset = 4;
  p.positive.counts = bb.Counts({1, 1, 1, 1});
  p.count = 4;
  MetricsMappingOptions options;
  options.max_exp_scale = 0;  // merged into index 1 at base 2: (2,4]
  MappedMetrics m = Map(bb.batch(), options);
  EXPECT_THAT(Render(m), testing::ElementsAre(
                             "size_bucket{host=h1,le=0,service.name=api} 2 1700000000123=0",
                             "size_bucket{host=h1,le=4,service.name=api} 2 1700000000123=4",
                             "size_bucket{host=h1,le=+Inf,service.name=api} 2 1700000000123=4",
                             "size_count{host=h1,service.name=api} 2 1700000000123=4"));
  EXPECT_EQ(m.exp_points_downscaled, 1u);
}

TEST(MetricsMappingTest, ExponentialHistogramIsDownscaledUntilTheBucketCapHolds) {
  BatchBuilder bb;
  bb.AddMetric("size", MetricType::kExponentialHistogram, Temporality::kCumulative);
  model::MetricPoint& p = bb.AddPoint();
  p.scale = 0;
  p.positive.offset = 0;  // (1,2] ... (8,16]; four buckets
  p.positive.counts = bb.Counts({1, 0, 0, 1});
  p.count = 2;
  MetricsMappingOptions options;
  options.max_exp_buckets = 2;  // scale -1 (base 4): (1,4], (4,16]
  MappedMetrics m = Map(bb.batch(), options);
  EXPECT_THAT(Render(m), testing::ElementsAre(
                             "size_bucket{host=h1,le=0,service.name=api} 1 1700000000123=0",
                             "size_bucket{host=h1,le=4,service.name=api} 1 1700000000123=1",
                             "size_bucket{host=h1,le=16,service.name=api} 1 1700000000123=2",
                             "size_bucket{host=h1,le=+Inf,service.name=api} 1 1700000000123=2",
                             "size_count{host=h1,service.name=api} 1 1700000000123=2"));
}

TEST(MetricsMappingTest, ExponentialBoundsOfFineScalesHaveSixDigits) {
  BatchBuilder bb;
  bb.AddMetric("size", MetricType::kExponentialHistogram, Temporality::kCumulative);
  model::MetricPoint& p = bb.AddPoint();
  p.scale = 3;  // base 2^(1/8) = 1.0905077...
  p.positive.offset = 0;
  p.positive.counts = bb.Counts({1});
  p.count = 1;
  MappedMetrics m = Map(bb.batch());
  ASSERT_GE(m.series.size(), 2u);
  EXPECT_EQ(m.series[1].labels[1], (std::pair<std::string, std::string>{"le", "1.09051"}));
}

TEST(MetricsMappingTest, PointsWithoutValueOrTimeAreSkippedAndExemplarsCounted) {
  BatchBuilder bb;
  bb.AddMetric("cpu", MetricType::kGauge);
  bb.AddPoint().flags = model::kPointFlagNoRecordedValue;
  bb.AddPoint().time_unix_nano = 0;
  model::MetricPoint& kept = bb.AddPoint();
  kept.value.d = 1;
  kept.exemplars_count = 2;
  MappedMetrics m = Map(bb.batch());
  EXPECT_EQ(m.points, 3u);
  EXPECT_EQ(m.skipped_points, 2u);
  EXPECT_EQ(m.samples, 1u);
  EXPECT_EQ(m.dropped_exemplars, 2u);
  EXPECT_EQ(m.series.size(), 1u);
}

}  // namespace
}  // namespace loupe::ingest
