#include "wire/otlp_metrics_json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <deque>
#include <fstream>
#include <sstream>
#include <string>

#include "wire/otlp_metrics_proto.h"

namespace loupe::wire {
namespace {

using model::MetricBatch;
using model::MetricType;

std::string ReadFixture(const char* name) {
  std::ifstream in(std::string(LOUPE_SOURCE_DIR "/tests/fixtures/otlp/") + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Decodes a copy of json that lives until the program ends (the batch views into it).
Status Decode(std::string json, MetricBatch* out, DecodeLimits limits = {}) {
  static std::deque<std::string> bodies;
  return DecodeMetricsJson(&bodies.emplace_back(std::move(json)), limits, out);
}

std::string Wrap(std::string_view metrics) {
  return R"({"resourceMetrics":[{"resource":{"attributes":[{"key":"host.name","value":{"stringValue":"h1"}}]},"scopeMetrics":[{"scope":{"name":"s","version":"2"},"metrics":[)" +
         std::string(metrics) + "]}]}]}";
}

// The OpenTelemetry JS SDK sent the same metrics once as protobuf and once as
// JSON (tests/integration/capture_metrics_golden.mjs): both decode alike.
TEST(OtlpMetricsJson, DecodesWhatTheJsSdkSendsLikeItsProtobuf) {
  const std::string pb = ReadFixture("js_sdk_metrics.pb");
  const std::string json = ReadFixture("js_sdk_metrics.json");
  ASSERT_FALSE(pb.empty());
  ASSERT_FALSE(json.empty());
  MetricBatch a, b;
  ASSERT_TRUE(DecodeMetricsProto(pb, DecodeLimits{}, &a).ok());
  Status st = Decode(json, &b);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(a.metrics.size(), b.metrics.size());
  ASSERT_EQ(a.points.size(), b.points.size());
  EXPECT_EQ(b.skipped_metrics + b.invalid_points, 0u);
  for (size_t i = 0; i < a.metrics.size(); ++i) {
    const model::Metric& x = a.metrics[i];
    const model::Metric& y = b.metrics[i];
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.unit, y.unit);
    EXPECT_EQ(x.description, y.description);
    EXPECT_EQ(x.scope_name, y.scope_name);
    EXPECT_EQ(x.scope_version, y.scope_version);
    EXPECT_EQ(x.type, y.type);
    EXPECT_EQ(x.temporality, y.temporality);
    EXPECT_EQ(x.monotonic, y.monotonic);
    ASSERT_EQ(x.points_count, y.points_count);
    for (uint32_t k = 0; k < x.points_count; ++k) {
      const model::MetricPoint& p = a.points[x.points_begin + k];
      const model::MetricPoint& q = b.points[y.points_begin + k];
      EXPECT_EQ(p.value.is_int, q.value.is_int) << x.name;
      EXPECT_EQ(p.value.AsDouble(), q.value.AsDouble()) << x.name;
      EXPECT_EQ(p.count, q.count);
      EXPECT_EQ(p.sum, q.sum);
      EXPECT_EQ(p.has_min, q.has_min);
      EXPECT_EQ(p.min, q.min);
      EXPECT_EQ(p.max, q.max);
      EXPECT_EQ(p.scale, q.scale);
      EXPECT_EQ(p.zero_count, q.zero_count);
      EXPECT_EQ(p.positive.offset, q.positive.offset);
      ASSERT_EQ(p.positive.counts.count, q.positive.counts.count);
      for (uint32_t j = 0; j < p.positive.counts.count; ++j) {
        EXPECT_EQ(a.Count(p.positive.counts, j), b.Count(q.positive.counts, j));
      }
      ASSERT_EQ(p.bounds.count, q.bounds.count);
      for (uint32_t j = 0; j < p.bounds.count; ++j) EXPECT_EQ(a.Bound(p, j), b.Bound(q, j));
      ASSERT_EQ(p.bucket_counts.count, q.bucket_counts.count);
      for (uint32_t j = 0; j < p.bucket_counts.count; ++j) {
        EXPECT_EQ(a.Count(p.bucket_counts, j), b.Count(q.bucket_counts, j));
      }
      ASSERT_EQ(p.attrs.count, q.attrs.count);
      for (uint32_t j = 0; j < p.attrs.count; ++j) {
        EXPECT_EQ(a.attrs[p.attrs.begin + j].key, b.attrs[q.attrs.begin + j].key);
        EXPECT_EQ(a.attrs[p.attrs.begin + j].value.s, b.attrs[q.attrs.begin + j].value.s);
      }
      // Two captures, two clocks: only the times' presence compares.
      EXPECT_GT(q.time_unix_nano, 0u);
      EXPECT_GT(q.start_unix_nano, 0u);
    }
  }
}

TEST(OtlpMetricsJson, ReadsStringsAndNamesForNumbersAndEnums) {
  MetricBatch b;
  Status st = Decode(
      Wrap(
          R"({"name":"c","sum":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_DELTA","isMonotonic":true,
              "dataPoints":[{"timeUnixNano":"1700000000000000001","asInt":"-9007199254740993","flags":1},
                            {"time_unix_nano":5,"as_double":"NaN"}]}})"),
      &b);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(b.metrics.size(), 1u);
  EXPECT_EQ(b.metrics[0].temporality, model::Temporality::kDelta);
  EXPECT_TRUE(b.metrics[0].monotonic);
  ASSERT_EQ(b.points.size(), 2u);
  EXPECT_EQ(b.points[0].time_unix_nano, 1700000000000000001u);
  EXPECT_TRUE(b.points[0].value.is_int);
  EXPECT_EQ(b.points[0].value.i, -9007199254740993);
  EXPECT_EQ(b.points[0].flags, 1u);
  EXPECT_TRUE(std::isnan(b.points[1].value.d));
  EXPECT_EQ(b.metrics[0].scope_version, "2");
}

TEST(OtlpMetricsJson, DecodesExemplarsAfterThePointsAttributes) {
  MetricBatch b;
  Status st = Decode(Wrap(R"({"name":"g","gauge":{"dataPoints":[{"exemplars":[
      {"timeUnixNano":"7","asDouble":1.5,"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0000000000000009",
       "filteredAttributes":[{"key":"u","value":{"stringValue":"x"}}]},
      {"asInt":"3","traceId":"zz","spanId":"12"}],
      "attributes":[{"key":"a","value":{"intValue":"5"}}],"asDouble":2}]}})"),
                     &b);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(b.points.size(), 1u);
  const model::MetricPoint& p = b.points[0];
  ASSERT_EQ(p.attrs.count, 1u);
  EXPECT_EQ(b.attrs[p.attrs.begin].key, "a");
  EXPECT_EQ(b.attrs[p.attrs.begin].value.i, 5);
  ASSERT_EQ(p.exemplars_count, 2u);
  const model::Exemplar& e = b.exemplars[p.exemplars_begin];
  EXPECT_EQ(e.span_id, 9u);
  EXPECT_EQ(e.trace_id[15], 0x10);
  EXPECT_EQ(b.Find(e.attrs, "u")->value.s, "x");
  const model::Exemplar& f = b.exemplars[p.exemplars_begin + 1];
  EXPECT_EQ(f.value.i, 3);
  EXPECT_EQ(f.trace_id, model::TraceId{});
  EXPECT_EQ(f.span_id, 0u);
}

TEST(OtlpMetricsJson, InvalidHistogramsAndSkippedMetricsAreCountedAsForProtobuf) {
  MetricBatch b;
  Status st = Decode(Wrap(R"(
      {"name":"h","histogram":{"dataPoints":[
        {"bucketCounts":["1","2"],"explicitBounds":[1,2],"attributes":[{"key":"a","value":{"stringValue":"b"}}]},
        {"bucketCounts":[1,2,3],"explicitBounds":[2,1]},
        {"bucketCounts":[4],"count":4}]}},
      {"name":"e","exponentialHistogram":{"dataPoints":[{"scale":21},{"scale":-3,"positive":{"offset":-2,"bucketCounts":[1,"2"]}}]}},
      {"name":"s","summary":{"dataPoints":[{}]}},
      {"gauge":{"dataPoints":[{}]}})"),
                     &b);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(b.invalid_points, 3u);
  EXPECT_EQ(b.skipped_metrics, 2u);
  ASSERT_EQ(b.metrics.size(), 2u);
  ASSERT_EQ(b.points.size(), 2u);
  EXPECT_EQ(b.points[0].count, 4u);
  EXPECT_EQ(b.points[1].scale, -3);
  EXPECT_EQ(b.points[1].positive.offset, -2);
  ASSERT_EQ(b.points[1].positive.counts.count, 2u);
  EXPECT_EQ(b.Count(b.points[1].positive.counts, 1), 2u);
  EXPECT_EQ(b.attrs.size(), 1u);  // host.name only: the invalid point's attribute is gone
}

TEST(OtlpMetricsJson, ErrorsNameThePathOfTheBadField) {
  MetricBatch b;
  Status st = Decode(Wrap(R"({"name":"g","gauge":{"dataPoints":[{"asInt":"x"}]}})"), &b);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(
      st.message().find("resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0].asInt"),
      std::string::npos)
      << st.ToString();
  EXPECT_EQ(Decode("[1]", &b).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(Decode("{\"resourceMetrics\":", &b).code(), Status::Code::kInvalidArgument);
  DecodeLimits limits;
  limits.max_points = 1;
  st = Decode(Wrap(R"({"name":"g","gauge":{"dataPoints":[{},{}]}})"), &b, limits);
  EXPECT_NE(st.message().find("more than 1 data points"), std::string::npos) << st.ToString();
}

}  // namespace
}  // namespace loupe::wire
