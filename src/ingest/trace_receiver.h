// TraceReceiver: OTLP traces, decoded and submitted. It serves
// POST /v1/traces (OTLP/HTTP, port 4318: application/x-protobuf,
// application/protobuf or application/json) and the gRPC method
// opentelemetry.proto.collector.trace.v1.TraceService/Export (port 4317)
// through the front door (ingest/otlp_front_door.h), which authenticates,
// limits and inflates first; this class only decodes (wire/otlp_proto.h,
// wire/otlp_json.h) and submits to the pipeline.
//
// Answers 200 with an ExportTraceServiceResponse in the request's encoding
// (partial success when spans were rejected); refusals: kMalformed for a body
// that does not decode, the pipeline's errors through RefusalForSubmitError
// (ingest/status_mapping.h).
//
// Metrics: loupe_ingest_request_bytes (decompressed OTLP/HTTP body sizes).
//
// Thread-safety: handlers may run on many threads at once.
// Ownership: the pipeline and metrics are borrowed and must outlive the receiver.
#ifndef LOUPE_INGEST_TRACE_RECEIVER_H_
#define LOUPE_INGEST_TRACE_RECEIVER_H_

#include "common/metrics.h"
#include "ingest/otlp_front_door.h"
#include "ingest/pipeline.h"
#include "wire/decode_limits.h"

namespace loupe::ingest {

inline constexpr char kTracesPath[] = "/v1/traces";
inline constexpr char kTraceExportMethod[] =
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

class TraceReceiver {
 public:
  TraceReceiver(Pipeline* pipeline, MetricsRegistry* metrics, wire::DecodeLimits limits = {});

  // Adds /v1/traces and the gRPC TraceService/Export to the door.
  // REQUIRES: the receiver outlives the door's servers.
  void AddRoutes(OtlpFrontDoor* door);

  // RouteHandler: decodes call.body and submits it.
  IngestReply Export(IngestCall& call);

 private:
  Pipeline* pipeline_;
  const wire::DecodeLimits limits_;
  Histogram* body_bytes_;
};

}  // namespace loupe::ingest

#endif  // LOUPE_INGEST_TRACE_RECEIVER_H_
