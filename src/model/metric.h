// Decoded OTLP metrics, as wire/ produces them from an
// ExportMetricsServiceRequest and as the host agent builds them to send.
//
// A MetricBatch is the decoded form of one export request, laid out like
// SpanBatch (model/span.h): strings are views into the request body the batch
// was decoded from (which the caller keeps alive) or into the batch's own arena
// (rendered values, and every string of a batch built in memory with Own());
// attributes, points, exemplars, bounds and bucket counts live in flat vectors
// that metrics and points refer to by range, so decoding allocates per batch.
//
// One Metric is one OTLP Metric message of one resource and scope; its points
// are MetricBatch::points[points_begin, points_begin + points_count). Which
// MetricPoint fields mean something depends on Metric::type (see each field).
//
// Thread-safety: a plain value; not shared between threads while mutated.
#ifndef LOUPE_MODEL_METRIC_H_
#define LOUPE_MODEL_METRIC_H_

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "model/span.h"

namespace loupe::model {

// The OTLP Metric.data oneof member present.
enum class MetricType : uint8_t { kGauge, kSum, kHistogram, kExponentialHistogram };

// OTLP AggregationTemporality values.
enum class Temporality : uint8_t { kUnspecified = 0, kDelta = 1, kCumulative = 2 };

// OTLP DataPointFlags: the point carries no value (e.g. the series went stale).
inline constexpr uint32_t kPointFlagNoRecordedValue = 1;

// A range of MetricBatch::bounds or MetricBatch::counts.
struct ValueRange {
  uint32_t begin = 0;
  uint32_t count = 0;
};

// A number in a NumberDataPoint or Exemplar: OTLP sends either an int or a double.
struct MetricValue {
  bool is_int = false;
  int64_t i = 0;
  double d = 0;

  double AsDouble() const { return is_int ? static_cast<double>(i) : d; }
};

struct Exemplar {
  uint64_t time_unix_nano = 0;
  MetricValue value;
  TraceId trace_id{};  // all zero when the exemplar has none (or a wrong-sized one)
  SpanId span_id = 0;  // 0 when none
  AttrRange attrs;     // filtered_attributes
};

// The buckets on one side of an exponential histogram: counts[k] counts the
// values in (base^(offset+k), base^(offset+k+1)], base = 2^(2^-scale).
struct ExpBuckets {
  int32_t offset = 0;
  ValueRange counts;  // into MetricBatch::counts
};

struct MetricPoint {
  AttrRange attrs;
  uint64_t start_unix_nano = 0;  // 0 when the sender did not set it
  uint64_t time_unix_nano = 0;
  uint32_t flags = 0;  // kPointFlag*

  // kGauge and kSum.
  MetricValue value;

  // kHistogram and kExponentialHistogram.
  uint64_t count = 0;
  bool has_sum = false, has_min = false, has_max = false;
  double sum = 0, min = 0, max = 0;
  // kHistogram: explicit_bounds (into MetricBatch::bounds) and bucket_counts
  // (into MetricBatch::counts); counts.count is bounds.count + 1, or both are 0.
  ValueRange bounds;
  ValueRange bucket_counts;
  // kExponentialHistogram.
  int32_t scale = 0;
  uint64_t zero_count = 0;
  double zero_threshold = 0;
  ExpBuckets positive, negative;

  uint32_t exemplars_begin = 0;  // index into MetricBatch::exemplars
  uint32_t exemplars_count = 0;
};

struct Metric {
  uint32_t resource = 0;  // index into MetricBatch::resources
  std::string_view scope_name;
  std::string_view scope_version;
  std::string_view name;
  std::string_view description;
  std::string_view unit;
  MetricType type = MetricType::kGauge;
  Temporality temporality = Temporality::kUnspecified;  // kSum and histograms
  bool monotonic = false;                               // kSum only
  uint32_t points_begin = 0;                            // index into MetricBatch::points
  uint32_t points_count = 0;
};

struct MetricBatch {
  std::vector<Resource> resources;
  std::vector<Metric> metrics;
  std::vector<MetricPoint> points;
  std::vector<KeyValue> attrs;
  std::vector<Exemplar> exemplars;
  std::vector<double> bounds;
  std::vector<uint64_t> counts;
  std::deque<std::string> arena;  // owns rendered strings; deque keeps addresses stable

  // What the decoder cut to stay within its limits or skipped as unusable
  // (counted, for /metrics).
  uint64_t truncated_values = 0;
  uint64_t dropped_attributes = 0;
  uint64_t dropped_exemplars = 0;
  // Points skipped: histogram bucket counts that do not match the bounds, or
  // more buckets than the limit allows.
  uint64_t invalid_points = 0;
  // Metrics skipped: no name, or a data kind Loupe does not read (Summary, none).
  uint64_t skipped_metrics = 0;

  std::string_view Own(std::string s) { return arena.emplace_back(std::move(s)); }

  const KeyValue* Find(AttrRange r, std::string_view key) const;
  double Bound(const MetricPoint& p, uint32_t k) const { return bounds[p.bounds.begin + k]; }
  uint64_t Count(ValueRange r, uint32_t k) const { return counts[r.begin + k]; }
  void Clear();
};

}  // namespace loupe::model

#endif  // LOUPE_MODEL_METRIC_H_
