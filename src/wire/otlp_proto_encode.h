// Encodes a decoded SpanBatch back into an OTLP ExportTraceServiceRequest
// (protobuf), for the ingest log's checkpoints: the spans the assembler holds
// pending are written as a request that replays through the same decoder
// (docs/format/wal.md, "Ingest log records").
//
// What round-trips through DecodeTracesProto: resources with their
// attributes, span ids, parent ids, flags, kind, status, name, times,
// attributes, events, dropped counts, scope names. Values the decoder had
// rendered as text (bytes as hex, arrays and key-value lists as JSON) are
// written as strings, which the assembler reads the same way.
//
// Not a hot path (checkpoints only). Thread-safety: pure function.
#ifndef LOUPE_WIRE_OTLP_PROTO_ENCODE_H_
#define LOUPE_WIRE_OTLP_PROTO_ENCODE_H_

#include <string>

#include "model/span.h"

namespace loupe::wire {

// Appends the encoding of `batch` to *out. Spans are grouped under their
// resource (batch.resources[span.resource]) and scope name.
void EncodeTracesProto(const model::SpanBatch& batch, std::string* out);

}  // namespace loupe::wire

#endif  // LOUPE_WIRE_OTLP_PROTO_ENCODE_H_
