#include "ingest/trace_receiver.h"

#include "wire/otlp_json.h"
#include "wire/otlp_proto.h"
#include "wire/otlp_response.h"

namespace loupe::ingest {

TraceReceiver::TraceReceiver(Pipeline* pipeline, MetricsRegistry* metrics,
                             wire::DecodeLimits limits)
    : pipeline_(pipeline), limits_(limits) {
  body_bytes_ = metrics->GetHistogram("loupe_ingest_request_bytes",
                                      "Decompressed OTLP/HTTP request body sizes.",
                                      {1 << 10, 16 << 10, 128 << 10, 1 << 20, 4 << 20, 20 << 20});
}

void TraceReceiver::AddRoutes(OtlpFrontDoor* door) {
  auto handler = [this](IngestCall& call) { return Export(call); };
  door->AddHttpRoute(HttpRoute{
      .path = kTracesPath,
      .method = "POST",
      .family = RouteFamily::kOtlp,
      .media_types = {"application/x-protobuf", "application/protobuf", "application/json"},
      .media_hint = "use application/x-protobuf or application/json",
      .handler = handler});
  door->AddGrpcMethod(kTraceExportMethod, handler);
}

IngestReply TraceReceiver::Export(IngestCall& call) {
  std::string* body = call.body;
  const bool json = call.format == BodyFormat::kJson;
  if (call.http != nullptr) body_bytes_->Observe(static_cast<double>(body->size()));

  // JSON is parsed in place; the log needs the original text.
  std::string json_text;
  if (json && pipeline_->durable()) {
    if (!call.inflight->Add(static_cast<int64_t>(body->size()))) {
      return IngestReply::Refused(Reason::kUnavailable, "ingest memory budget in use; retry later");
    }
    json_text = *body;
  }
  model::SpanBatch batch;
  Status s = json ? wire::DecodeTracesJson(body, limits_, &batch)
                  : wire::DecodeTracesProto(*body, limits_, &batch);
  if (!s.ok()) return IngestReply::Refused(Reason::kMalformed, s.message());

  LoggedRequest logged;
  logged.project = call.project;
  logged.format = json ? RequestFormat::kOtlpJson : RequestFormat::kOtlpProto;
  logged.body = json ? std::string_view(json_text) : std::string_view(*body);
  auto result = pipeline_->Submit(logged, batch);
  if (!result.ok()) {
    IngestReply r;
    r.refusal = RefusalForSubmitError(result.status());
    return r;
  }
  const auto rejected = static_cast<int64_t>(result->rejected_spans);
  IngestReply reply;
  if (json) {
    reply.content_type = "application/json";
    reply.body = wire::EncodeExportResponseJson(rejected, result->message);
  } else {
    reply.content_type = "application/x-protobuf";
    reply.body = wire::EncodeExportResponseProto(rejected, result->message);
  }
  return reply;
}

}  // namespace loupe::ingest
