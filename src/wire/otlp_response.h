// Encoding of OTLP export responses and OTLP/HTTP error bodies.
//
// ExportTraceServiceResponse (opentelemetry-proto collector/trace/v1):
//   1 partial_success: ExportTracePartialSuccess
//       1 rejected_spans: int64, 2 error_message: string
// ExportMetricsServiceResponse (collector/metrics/v1) has the same layout
// (1 partial_success: 1 rejected_data_points, 2 error_message), so
// EncodeExportResponseProto serves it too; only the JSON names differ.
// google.rpc.Status: 1 code: int32, 2 message: string (details omitted).
// JSON forms follow the protobuf JSON mapping (int64 as a decimal string).
//
// Thread-safety: pure functions.
#ifndef LOUPE_WIRE_OTLP_RESPONSE_H_
#define LOUPE_WIRE_OTLP_RESPONSE_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace loupe::wire {

// ExportTraceServiceResponse as protobuf. Empty (a full success) when
// rejected_spans is 0 and error_message is empty; otherwise partial_success
// with the fields that are not their default.
std::string EncodeExportResponseProto(int64_t rejected_spans, std::string_view error_message);

// The same as JSON: "{}" or e.g.
// {"partialSuccess":{"rejectedSpans":"3","errorMessage":"..."}}.
// Strings are escaped so the result is valid JSON for any input bytes
// (invalid UTF-8 becomes U+FFFD).
std::string EncodeExportResponseJson(int64_t rejected_spans, std::string_view error_message);

// ExportMetricsServiceResponse as JSON: "{}" or
// {"partialSuccess":{"rejectedDataPoints":"3","errorMessage":"..."}}.
std::string EncodeMetricsExportResponseJson(int64_t rejected_data_points,
                                            std::string_view error_message);

// google.rpc.Status as protobuf, the body of an OTLP/HTTP error response.
// `code` is a google.rpc.Code (e.g. 3 INVALID_ARGUMENT).
std::string EncodeRpcStatusProto(int code, std::string_view message);

// google.rpc.Status as JSON: {"code":3,"message":"..."} (both always present).
std::string EncodeRpcStatusJson(int code, std::string_view message);

// google.rpc.Status with one google.rpc.RetryInfo detail (retry_delay =
// `retry_seconds`): per OTLP, RESOURCE_EXHAUSTED is retryable only with it.
// For grpc::Status's binary error details.
std::string EncodeRpcStatusWithRetryProto(int code, std::string_view message, int retry_seconds);

}  // namespace loupe::wire

#endif  // LOUPE_WIRE_OTLP_RESPONSE_H_
