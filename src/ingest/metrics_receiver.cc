#include "ingest/metrics_receiver.h"

#include "wire/otlp_metrics_json.h"
#include "wire/otlp_metrics_proto.h"
#include "wire/otlp_response.h"

namespace loupe::ingest {

MetricsReceiver::MetricsReceiver(Pipeline* pipeline, wire::DecodeLimits limits)
    : pipeline_(pipeline), limits_(limits) {}

void MetricsReceiver::AddRoutes(OtlpFrontDoor* door) {
  auto handler = [this](IngestCall& call) { return Export(call); };
  door->AddHttpRoute(HttpRoute{
      .path = kMetricsPath,
      .method = "POST",
      .family = RouteFamily::kOtlp,
      .media_types = {"application/x-protobuf", "application/protobuf", "application/json"},
      .media_hint = "use application/x-protobuf or application/json",
      .handler = handler});
  door->AddGrpcMethod(kMetricsExportMethod, handler);
}

IngestReply MetricsReceiver::Export(IngestCall& call) {
  std::string* body = call.body;
  const bool json = call.format == BodyFormat::kJson;

  // JSON is parsed in place; the log needs the original text.
  std::string json_text;
  if (json && pipeline_->durable()) {
    if (!call.inflight->Add(static_cast<int64_t>(body->size()))) {
      return IngestReply::Refused(Reason::kUnavailable, "ingest memory budget in use; retry later");
    }
    json_text = *body;
  }
  model::MetricBatch batch;
  Status s = json ? wire::DecodeMetricsJson(body, limits_, &batch)
                  : wire::DecodeMetricsProto(*body, limits_, &batch);
  if (!s.ok()) return IngestReply::Refused(Reason::kMalformed, s.message());

  LoggedRequest logged;
  logged.project = call.project;
  logged.format = json ? RequestFormat::kOtlpMetricsJson : RequestFormat::kOtlpMetricsProto;
  logged.body = json ? std::string_view(json_text) : std::string_view(*body);
  auto result = pipeline_->SubmitMetrics(logged, batch);
  if (!result.ok()) {
    IngestReply r;
    r.refusal = RefusalForSubmitError(result.status());
    return r;
  }
  const auto rejected = static_cast<int64_t>(result->rejected_points);
  IngestReply reply;
  if (json) {
    reply.content_type = "application/json";
    reply.body = wire::EncodeMetricsExportResponseJson(rejected, result->message);
  } else {
    reply.content_type = "application/x-protobuf";
    reply.body = wire::EncodeExportResponseProto(rejected, result->message);
  }
  return reply;
}

}  // namespace loupe::ingest
