// OTLP/protobuf metrics: decoding of an ExportMetricsServiceRequest
// (opentelemetry.proto.collector.metrics.v1) into a model::MetricBatch without
// copying strings, and encoding a MetricBatch back into one (the host agent's
// exports, tests).
//
// Format: the public opentelemetry-proto definitions (metrics/v1/metrics.proto,
// common/v1/common.proto, resource/v1/resource.proto); field numbers are listed
// in otlp_metrics_proto.cc. Unknown fields of every wire type except groups are
// skipped. Repeated scalars (bucket counts, bounds) are read packed or not.
//
// Thread-safety: both functions are reentrant.
#ifndef LOUPE_WIRE_OTLP_METRICS_PROTO_H_
#define LOUPE_WIRE_OTLP_METRICS_PROTO_H_

#include <string>
#include <string_view>

#include "common/status.h"
#include "model/metric.h"
#include "wire/decode_limits.h"

namespace loupe::wire {

// Decodes the ExportMetricsServiceRequest in `body` into *out, which is
// cleared first.
//
// Ownership: as DecodeTracesProto (otlp_proto.h): strings in *out are views
// into `body`, which the caller keeps alive and unchanged while *out is used;
// rendered attribute values are owned by out->arena.
//
// Mapping: each ResourceMetrics becomes one model::Resource (even with no
// metric); each Metric with a Gauge, Sum, Histogram or ExponentialHistogram
// becomes one model::Metric with its scope's name and version. When a Metric
// holds several data members, the last one wins (protobuf oneof). Unknown
// temporality values become kUnspecified. Exemplar trace ids that are not 16
// bytes and span ids that are not 8 bytes are read as absent.
//
// Skipped and counted, never an error: metrics with an empty name or a data
// kind Loupe does not read (Summary, none) in skipped_metrics; histogram points
// whose bucket_counts are neither empty with empty bounds nor one longer than
// the bounds, whose bounds are not strictly increasing, whose exponential scale
// is outside [-10, 20], or with more than limits.max_buckets_per_point buckets
// on one side, in invalid_points. Attributes and exemplars over their caps are
// counted (DecodeLimits); long strings are cut as for spans.
//
// Returns OK, or InvalidArgument with the problem and its byte offset for
// malformed protobuf (as DecodeTracesProto; also a packed fixed64 field whose
// length is not a multiple of 8), AnyValue nesting deeper than
// limits.max_depth, more than limits.max_points data points, or a body of
// 4 GiB or more. On error *out holds a partial decode and must not be used.
//
// Reads only within body, whatever it contains; allocation failure terminates.
Status DecodeMetricsProto(std::string_view body, const DecodeLimits& limits,
                          model::MetricBatch* out) noexcept;

// Appends the encoding of `batch` as an ExportMetricsServiceRequest to *out.
// Metrics are grouped under their resource and then their scope (name and
// version), in first-seen order. What round-trips through DecodeMetricsProto:
// everything the decoder reads; attribute values it had rendered (bytes,
// arrays, key-value lists) come back as strings. Ints are written as as_int,
// doubles as as_double; has_sum/has_min/has_max decide whether those optional
// fields are written; a zero start time is left out.
void EncodeMetricsProto(const model::MetricBatch& batch, std::string* out);

}  // namespace loupe::wire

#endif  // LOUPE_WIRE_OTLP_METRICS_PROTO_H_
