// Decoding of OTLP/JSON metrics export requests (ExportMetricsServiceRequest
// in the protobuf JSON mapping with the OTLP rules, as otlp_json.h describes
// for traces: hex trace/span ids, 64-bit integers as decimal strings or
// numbers, enums as numbers or names such as
// "AGGREGATION_TEMPORALITY_CUMULATIVE", lowerCamelCase or proto field names,
// null for absent) into a model::MetricBatch.
//
// Thread-safety: DecodeMetricsJson is reentrant.
#ifndef LOUPE_WIRE_OTLP_METRICS_JSON_H_
#define LOUPE_WIRE_OTLP_METRICS_JSON_H_

#include <string>

#include "common/status.h"
#include "model/metric.h"
#include "wire/decode_limits.h"

namespace loupe::wire {

// Decodes the OTLP/JSON ExportMetricsServiceRequest in *body into *out, which
// is cleared first. The result is what DecodeMetricsProto gives for the same
// request (otlp_metrics_proto.h: mapping, what is skipped and counted,
// limits).
//
// Parses in situ: *body is overwritten and strings in *out are views into it,
// so the caller keeps *body alive and unchanged while *out is used.
//
// Returns OK, or InvalidArgument for text that is not JSON, invalid UTF-8 or
// a NUL byte, a root that is not an object, a field of the wrong JSON type or
// out of range (the message names its path, e.g.
// "resourceMetrics[0].scopeMetrics[0].metrics[2].sum.dataPoints[1].asInt"),
// AnyValue nesting deeper than limits.max_depth, or more than
// limits.max_points data points. On error *out must not be used.
Status DecodeMetricsJson(std::string* body, const DecodeLimits& limits,
                         model::MetricBatch* out) noexcept;

}  // namespace loupe::wire

#endif  // LOUPE_WIRE_OTLP_METRICS_JSON_H_
