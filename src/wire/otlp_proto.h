// Decoding of OTLP/protobuf trace export requests
// (opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest) into a
// model::SpanBatch, without copying strings.
//
// Format: the public opentelemetry-proto definitions (trace/v1/trace.proto,
// common/v1/common.proto, resource/v1/resource.proto); field numbers are
// listed in otlp_proto.cc. Unknown fields of every wire type except groups are
// skipped. The deprecated ResourceSpans.instrumentation_library_spans (1000)
// is read like scope_spans (2).
//
// Thread-safety: DecodeTracesProto is reentrant; different threads may decode
// into different batches concurrently.
#ifndef LOUPE_WIRE_OTLP_PROTO_H_
#define LOUPE_WIRE_OTLP_PROTO_H_

#include <string_view>

#include "common/status.h"
#include "model/span.h"
#include "wire/decode_limits.h"

namespace loupe::wire {

// Decodes the ExportTraceServiceRequest in `body` into *out, which is cleared
// first.
//
// Ownership: strings in *out (names, keys, string values, scope names) are
// views into `body`, so the caller must keep body's bytes alive and unchanged
// while *out is used. Values the decoder renders are owned by out->arena:
// array and kvlist values as compact JSON (bytes inside them as hex strings,
// NaN/Infinity as strings), bytes values as lowercase hex (type kBytes).
// String contents are not checked to be UTF-8.
//
// Mapping: each ResourceSpans becomes one model::Resource (even if it has no
// valid span) and Span::resource indexes it; Span::scope_name is the
// InstrumentationScope name. Span ids are read big-endian; an empty
// parent_span_id is 0. Unknown SpanKind / StatusCode values become
// kUnspecified / kUnset. Span links, trace_state, schema URLs and scope
// versions are skipped.
//
// Invalid spans (trace_id not 16 bytes or all zero, span_id not 8 bytes or
// zero, parent_span_id neither empty nor 8 bytes) are skipped and counted in
// out->invalid_spans; they do not fail the request. Attributes with an empty
// key or one longer than limits.max_key_bytes are dropped and counted. See
// DecodeLimits for what else is cut and counted.
//
// Returns OK, or InvalidArgument with the problem and its byte offset in body
// for malformed protobuf (truncated or overlong varint, length past the end
// of the enclosing message, field number 0, wire type 6/7 or a group, a known
// field with an unexpected wire type), AnyValue nesting deeper than
// limits.max_depth, more than limits.max_spans spans, or a body of 4 GiB or
// more. On error *out holds a partial decode and must not be used.
//
// Reads only within body, whatever it contains; allocation failure terminates.
Status DecodeTracesProto(std::string_view body, const DecodeLimits& limits,
                         model::SpanBatch* out) noexcept;

}  // namespace loupe::wire

#endif  // LOUPE_WIRE_OTLP_PROTO_H_
