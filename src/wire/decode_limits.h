// Limits that bound what an OTLP decoder keeps from one export request.
//
// The decoders in wire/ apply these to hostile input so that one request can
// cost at most a bounded amount of memory per span. What a limit cuts is not an
// error: it is counted in the SpanBatch counters (truncated_values,
// dropped_attributes, dropped_events) and, per span, in Span::dropped_*.
// Only max_spans, max_points and max_depth reject the whole request
// (InvalidArgument). Metric decoders count in MetricBatch instead.
//
// Thread-safety: a plain value.
#ifndef LOUPE_WIRE_DECODE_LIMITS_H_
#define LOUPE_WIRE_DECODE_LIMITS_H_

#include <cstddef>
#include <string_view>

namespace loupe::wire {

struct DecodeLimits {
  // Attributes kept per span; the rest are counted in Span::dropped_attributes
  // and SpanBatch::dropped_attributes.
  size_t max_attributes_per_span = 128;
  // Attributes kept per resource; the rest are counted in
  // SpanBatch::dropped_attributes.
  size_t max_attributes_per_resource = 128;
  // Events kept per span; the rest are counted in Span::dropped_events and
  // SpanBatch::dropped_events.
  size_t max_events_per_span = 128;
  // Attributes kept per span event; the rest are counted in
  // SpanBatch::dropped_attributes (a SpanEvent has no counter of its own).
  size_t max_attributes_per_event = 32;
  // Longest string kept for an attribute value, span/event name, status
  // message or scope name, in bytes. Longer strings are cut at a UTF-8
  // character boundary (never inside a multibyte sequence); bytes values are
  // cut so that their hex rendering fits; array/kvlist renderings keep the
  // leading elements that fit and stay valid JSON. Each cut value counts once
  // in SpanBatch::truncated_values.
  size_t max_value_bytes = 8192;
  // The same for the string values of the attributes that carry long texts
  // (IsLongTextKey: SQL statements and exception stack traces), which the
  // span mapping keeps up to 16 KiB (ingest/semconv.h MappingLimits,
  // docs/design/ingest.md §2.4). Never below max_value_bytes.
  size_t max_text_value_bytes = 16384;
  // Attributes whose key is longer than this (or empty) are dropped and
  // counted as dropped attributes.
  size_t max_key_bytes = 256;
  // More span messages than this in one request -> InvalidArgument.
  size_t max_spans = 1000000;
  // Deepest AnyValue nesting accepted: an attribute's value is level 1, the
  // elements of an array or kvlist value at level n are at level n + 1.
  // Deeper -> InvalidArgument. Values above 64 are treated as 64.
  int max_depth = 8;

  // Metrics (otlp_metrics_proto.h). Attributes kept per data point or
  // exemplar, the rest counted in MetricBatch::dropped_attributes.
  size_t max_attributes_per_point = 128;
  // More data points than this in one request -> InvalidArgument.
  size_t max_points = 1000000;
  // A histogram point with more buckets than this (explicit or one side of an
  // exponential histogram) is skipped and counted in MetricBatch::invalid_points.
  size_t max_buckets_per_point = 4096;
  // Exemplars kept per point; the rest are counted in
  // MetricBatch::dropped_exemplars.
  size_t max_exemplars_per_point = 16;
};

// Attributes whose string values are cut at max_text_value_bytes rather than
// max_value_bytes.
inline bool IsLongTextKey(std::string_view key) {
  return key == "db.query.text" || key == "db.statement" || key == "exception.stacktrace";
}

// The byte limit for a string value of attribute `key`.
inline size_t StringValueLimit(const DecodeLimits& limits, std::string_view key) {
  return IsLongTextKey(key) && limits.max_text_value_bytes > limits.max_value_bytes
             ? limits.max_text_value_bytes
             : limits.max_value_bytes;
}

}  // namespace loupe::wire

#endif  // LOUPE_WIRE_DECODE_LIMITS_H_
