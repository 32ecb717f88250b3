// The OTLP gRPC port (4317): the gRPC transport of the front door
// (ingest/otlp_front_door.h). It serves the methods receivers registered with
// OtlpFrontDoor::AddGrpcMethod (today
// opentelemetry.proto.collector.trace.v1.TraceService/Export, by
// ingest/trace_receiver.h), so HTTP and gRPC share authentication, in-flight
// limits, inflating, status mapping and the receivers' hand-written decoders.
//
// Implemented as a gRPC generic service over raw bytes. Metadata
// `authorization: Bearer <ingest key>` (or `x-loupe-key`) selects the project.
//
// Order of checks: the method and the ingest key are checked from the call's
// metadata before its message is read (a call without a valid key never has
// its message read). gRPC's own per-message decompression is off: a message
// sent with `grpc-encoding: gzip` or `deflate` arrives compressed and is
// inflated here, bounded by max_message_bytes (a gzip bomb is never inflated
// past it); gRPC's receive limit applies to the compressed size.
//
// Status codes follow the OTLP spec (ingest/status_mapping.h): INVALID_ARGUMENT
// malformed or bad compressed data, UNAUTHENTICATED bad key, UNAVAILABLE
// overloaded or a store error (retryable), RESOURCE_EXHAUSTED over the message
// size limit (before or after decompression; without RetryInfo, so not
// retried) or disk full (with RetryInfo), UNIMPLEMENTED other methods or an
// unknown grpc-encoding.
// Every outcome is counted in loupe_ingest_requests_total{transport="grpc",
// result}; the first refusal of each kind is logged at WARN (rate-limited).
// After a refused large message, freed memory is returned to the system
// (common/memory.h).
//
// Thread-safety: gRPC runs reactors on its own threads and hands each Export
// to a worker pool (it may block on the durable ingest log); the receiver is
// thread-safe.
#ifndef LOUPE_INGEST_OTLP_GRPC_RECEIVER_H_
#define LOUPE_INGEST_OTLP_GRPC_RECEIVER_H_

#include <memory>
#include <string>

#include "common/status.h"
#include "ingest/otlp_front_door.h"

namespace loupe::ingest {

struct OtlpGrpcOptions {
  std::string bind_address = "0.0.0.0";
  uint16_t port = 4317;
  size_t max_message_bytes = 20u << 20;  // after decompression (OTLP's 20 MiB)
  // Export calls run on this many threads (they wait for the ingest log's
  // fsync); at most max_queued_calls wait for a thread, the rest get
  // UNAVAILABLE.
  int worker_threads = 16;
  size_t max_queued_calls = 4096;
};

class OtlpGrpcReceiver {
 public:
  virtual ~OtlpGrpcReceiver() = default;
  virtual uint16_t port() const = 0;
  virtual void Stop() = 0;  // stops accepting; waits for in-flight calls

  // REQUIRES: the door's gRPC methods are added; the door outlives the receiver.
  static Result<std::unique_ptr<OtlpGrpcReceiver>> Start(OtlpFrontDoor* door,
                                                         OtlpGrpcOptions options);
};

}  // namespace loupe::ingest

#endif  // LOUPE_INGEST_OTLP_GRPC_RECEIVER_H_
