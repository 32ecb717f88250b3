// Decoding of OTLP/JSON trace export requests into a model::SpanBatch.
//
// Format: the protobuf JSON mapping of ExportTraceServiceRequest with the
// OTLP-specific rules (OTLP/HTTP "JSON Protobuf Encoding"): trace and span ids
// are hex strings (any case), not base64; enums are integers (their names,
// e.g. "SPAN_KIND_SERVER", "STATUS_CODE_ERROR", are accepted too); int64 and
// fixed64 values are decimal strings or JSON numbers; bytesValue is base64
// (standard or URL-safe alphabet, padding optional). Keys are lowerCamelCase;
// the proto field names (snake_case) are accepted too. Unknown keys are
// ignored and null stands for an absent field. The deprecated
// instrumentationLibrarySpans / instrumentationLibrary are read like
// scopeSpans / scope.
//
// Thread-safety: DecodeTracesJson is reentrant.
#ifndef LOUPE_WIRE_OTLP_JSON_H_
#define LOUPE_WIRE_OTLP_JSON_H_

#include <string>

#include "common/status.h"
#include "model/span.h"
#include "wire/decode_limits.h"

namespace loupe::wire {

// Decodes the OTLP/JSON ExportTraceServiceRequest in *body into *out, which is
// cleared first. The result maps to the model exactly as DecodeTracesProto's
// does (see otlp_proto.h: resources, invalid spans, limits, rendering of
// array/kvlist/bytes values into out->arena).
//
// Parses in situ: *body is overwritten (strings are unescaped in place) and
// strings in *out are views into it, so the caller must keep *body alive and
// must not modify or reallocate it while *out is used. An id that is not a
// hex string of the right length makes its span invalid (counted in
// out->invalid_spans), not the request.
//
// Returns OK, or InvalidArgument for text that is not JSON (RapidJSON's
// message and the byte offset), invalid UTF-8 or a NUL byte (anywhere), a root
// that is not an object, a field of the wrong JSON type or out of range
// (message names the field's path, e.g. "resourceSpans[0].scopeSpans[1]
// .spans[2].kind"), invalid base64, AnyValue nesting deeper than
// limits.max_depth, or more than limits.max_spans spans. On error *out holds a
// partial decode and must not be used.
//
// Parsing is iterative, so deeply nested input cannot overflow the stack.
// Memory: the parsed document takes up to about 8x the body size while
// decoding. Allocation failure terminates.
Status DecodeTracesJson(std::string* body, const DecodeLimits& limits,
                        model::SpanBatch* out) noexcept;

}  // namespace loupe::wire

#endif  // LOUPE_WIRE_OTLP_JSON_H_
