// MetricsReceiver: OTLP metrics, decoded and submitted. It serves
// POST /v1/metrics (OTLP/HTTP, port 4318: application/x-protobuf,
// application/protobuf or application/json) and the gRPC method
// opentelemetry.proto.collector.metrics.v1.MetricsService/Export (port 4317)
// through the front door (ingest/otlp_front_door.h), which authenticates,
// limits and inflates first — the same keys, limits and status codes as
// traces. This class decodes (wire/otlp_metrics_proto.h,
// wire/otlp_metrics_json.h) and submits to the pipeline
// (Pipeline::SubmitMetrics: logged before the answer, then mapped into the
// time-series store).
//
// Answers 200 with an ExportMetricsServiceResponse in the request's encoding
// (partial success with rejected_data_points when points were skipped);
// refusals: kMalformed for a body that does not decode, the pipeline's errors
// through RefusalForSubmitError (ingest/status_mapping.h).
//
// Thread-safety: handlers may run on many threads at once.
// Ownership: the pipeline is borrowed and must outlive the receiver.
#ifndef LOUPE_INGEST_METRICS_RECEIVER_H_
#define LOUPE_INGEST_METRICS_RECEIVER_H_

#include "ingest/otlp_front_door.h"
#include "ingest/pipeline.h"
#include "wire/decode_limits.h"

namespace loupe::ingest {

inline constexpr char kMetricsPath[] = "/v1/metrics";
inline constexpr char kMetricsExportMethod[] =
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

class MetricsReceiver {
 public:
  // REQUIRES: pipeline->has_metrics_store().
  explicit MetricsReceiver(Pipeline* pipeline, wire::DecodeLimits limits = {});

  // Adds /v1/metrics (replacing the door's "not supported yet" route) and the
  // gRPC MetricsService/Export. REQUIRES: the receiver outlives the door's servers.
  void AddRoutes(OtlpFrontDoor* door);

  // RouteHandler: decodes call.body and submits it.
  IngestReply Export(IngestCall& call);

 private:
  Pipeline* pipeline_;
  const wire::DecodeLimits limits_;
};

}  // namespace loupe::ingest

#endif  // LOUPE_INGEST_METRICS_RECEIVER_H_
