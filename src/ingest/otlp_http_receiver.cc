#include "ingest/otlp_http_receiver.h"

#include <strings.h>

#include <charconv>

#include "common/logging.h"
#include "common/memory.h"
#include "wire/gzip.h"
#include "wire/otlp_json.h"
#include "wire/otlp_proto.h"
#include "wire/otlp_response.h"

namespace loupe::ingest {
namespace {

constexpr std::string_view kTracesPath = "/v1/traces";

// gRPC status codes used in google.rpc.Status bodies.
constexpr int kGrpcInvalidArgument = 3;
constexpr int kGrpcNotFound = 5;
constexpr int kGrpcResourceExhausted = 8;
constexpr int kGrpcUnimplemented = 12;
constexpr int kGrpcUnavailable = 14;
constexpr int kGrpcUnauthenticated = 16;

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && ::strncasecmp(s.data(), prefix.data(), prefix.size()) == 0;
}

constexpr int kGrpcDeadlineExceeded = 4;

// The error-body encoding for a request: JSON for a JSON request, protobuf
// for everything else (the OTLP/HTTP default).
bool IsJson(const net::HttpRequest& req) {
  return net::MediaType(req.Header("content-type")) == "application/json";
}

}  // namespace

std::string_view BearerToken(std::string_view authorization) {
  if (!StartsWithNoCase(authorization, "bearer ")) return {};
  std::string_view t = authorization.substr(7);
  while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
  while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
  return t;
}

OtlpHttpReceiver::OtlpHttpReceiver(auth::Registry* registry, Pipeline* pipeline,
                                   MetricsRegistry* metrics, OtlpHttpOptions options)
    : registry_(registry), pipeline_(pipeline), options_(options), metrics_(metrics) {
  requests_ok_ = metrics->GetCounter("loupe_ingest_requests_total",
                                     "OTLP export requests by transport and result.",
                                     {{"transport", "http"}, {"result", "ok"}});
  body_bytes_ = metrics->GetHistogram("loupe_ingest_request_bytes",
                                      "Decompressed OTLP/HTTP request body sizes.",
                                      {1 << 10, 16 << 10, 128 << 10, 1 << 20, 4 << 20, 20 << 20});
}

void OtlpHttpReceiver::Fail(Encoding enc, int http_status, int grpc_code,
                            const std::string& message, const char* reason,
                            net::HttpResponse* resp) {
  metrics_
      ->GetCounter("loupe_ingest_requests_total", "OTLP export requests by transport and result.",
                   {{"transport", "http"}, {"result", reason}})
      ->Inc();
  LogWarningRateLimited(std::string("otlp_http ") + reason,
                        "OTLP/HTTP export refused (" + std::string(reason) + ", HTTP " +
                            std::to_string(http_status) + "): " + message);
  resp->status = http_status;
  if (enc == Encoding::kJson) {
    resp->content_type = "application/json";
    resp->body = wire::EncodeRpcStatusJson(grpc_code, message);
  } else {
    resp->content_type = "application/x-protobuf";
    resp->body = wire::EncodeRpcStatusProto(grpc_code, message);
  }
  if (http_status == 429 || http_status == 503) {
    // A full disk takes longer to clear than a busy moment.
    resp->headers.emplace_back("Retry-After", grpc_code == kGrpcResourceExhausted ? "5" : "1");
  }
}

bool OtlpHttpReceiver::CheckHeaders(const net::HttpRequest& req, net::HttpResponse* resp) {
  Encoding enc = IsJson(req) ? Encoding::kJson : Encoding::kProto;
  if (req.path != kTracesPath) {
    if (req.path == "/v1/metrics" || req.path == "/v1/logs") {
      Fail(enc, 404, kGrpcUnimplemented,
           "this Loupe server accepts traces only (POST /v1/traces); " + req.path +
               " is not supported yet",
           "unsupported_signal", resp);
    } else {
      Fail(enc, 404, kGrpcNotFound, "unknown path " + req.path + "; OTLP traces go to /v1/traces",
           "not_found", resp);
    }
    return false;
  }
  if (req.method != "POST") {
    Fail(enc, 405, kGrpcInvalidArgument, "use POST for /v1/traces", "bad_method", resp);
    resp->headers.emplace_back("Allow", "POST");
    return false;
  }
  std::string_view key = BearerToken(req.Header("authorization"));
  if (key.empty()) key = req.Header("x-loupe-key");
  if (key.empty()) {
    Fail(enc, 401, kGrpcUnauthenticated,
         "missing ingest key: send 'Authorization: Bearer <ingest key>'", "unauthenticated", resp);
    return false;
  }
  if (!registry_->AuthenticateIngestKey(key).ok()) {
    Fail(enc, 401, kGrpcUnauthenticated, "unknown ingest key", "unauthenticated", resp);
    return false;
  }
  // Refused before the body is read: a body that cannot be used is not read.
  const std::string media = net::MediaType(req.Header("content-type"));
  if (media != "application/x-protobuf" && media != "application/protobuf" &&
      media != "application/json") {
    Fail(Encoding::kProto, 415, kGrpcInvalidArgument,
         "unsupported Content-Type '" + media.substr(0, 64) +
             "': use application/x-protobuf or application/json",
         "unsupported_media_type", resp);
    return false;
  }
  std::string_view encoding = req.Header("content-encoding");
  if (!encoding.empty() && !net::TokenIs(encoding, "gzip") && !net::TokenIs(encoding, "deflate") &&
      !net::TokenIs(encoding, "identity")) {
    Fail(enc, 415, kGrpcInvalidArgument,
         "unsupported Content-Encoding '" + std::string(encoding.substr(0, 64)) +
             "': use gzip, deflate or none",
         "unsupported_encoding", resp);
    return false;
  }
  if (std::string_view cl = req.Header("content-length"); !cl.empty()) {
    uint64_t n = 0;
    auto r = std::from_chars(cl.data(), cl.data() + cl.size(), n);
    if (r.ec == std::errc() && n > options_.max_body_bytes) {
      Fail(enc, 413, kGrpcResourceExhausted,
           "body of " + std::to_string(n) + " bytes exceeds the limit of " +
               std::to_string(options_.max_body_bytes),
           "too_large", resp);
      return false;
    }
  }
  return true;
}

void OtlpHttpReceiver::RewriteServerError(const net::HttpRequest& head, net::HttpResponse* resp) {
  // The HTTP server counts and logs its own refusals; only the body changes.
  const Encoding enc = IsJson(head) ? Encoding::kJson : Encoding::kProto;
  int code = kGrpcInvalidArgument;
  std::string message = "bad request";
  switch (resp->status) {
    case 408:
      code = kGrpcDeadlineExceeded;
      message = "request not received in time";
      break;
    case 413:
      code = kGrpcResourceExhausted;
      message = "body exceeds the limit of " + std::to_string(options_.max_body_bytes) + " bytes";
      break;
    case 431:
      code = kGrpcResourceExhausted;
      message = "request header too large";
      break;
    case 429:
    case 503:
      code = kGrpcUnavailable;
      message = "too many connections; retry later";
      break;
    default:
      break;
  }
  if (enc == Encoding::kJson) {
    resp->content_type = "application/json";
    resp->body = wire::EncodeRpcStatusJson(code, message);
  } else {
    resp->content_type = "application/x-protobuf";
    resp->body = wire::EncodeRpcStatusProto(code, message);
  }
}

void OtlpHttpReceiver::Handle(net::HttpRequest& req, net::HttpResponse* resp) {
  if (!CheckHeaders(req, resp)) return;
  std::string_view key = BearerToken(req.Header("authorization"));
  if (key.empty()) key = req.Header("x-loupe-key");
  auto project = registry_->AuthenticateIngestKey(key);
  const Encoding enc = IsJson(req) ? Encoding::kJson : Encoding::kProto;
  // A refused large request (a bomb inflated to the limit) leaves its buffers
  // in glibc's heap: give them back once they are freed (declared first, so
  // this runs after every buffer below is destroyed).
  ReleaseFreedMemoryIfRefused trim(&resp->status, req.body.size());

  // Bound the memory of requests in flight: reserve the body now and the
  // inflated size once known; released when the request is answered.
  struct Reservation {
    Pipeline* p;
    int64_t n = 0;
    bool Add(int64_t more) {
      if (!p->ReserveBytes(more)) return false;
      n += more;
      return true;
    }
    ~Reservation() { p->ReleaseBytes(n); }
  } reservation{pipeline_};
  if (!reservation.Add(static_cast<int64_t>(req.body.size()))) {
    Fail(enc, 503, kGrpcUnavailable, "ingest memory budget in use; retry later", "unavailable",
         resp);
    return;
  }

  std::string inflated;
  std::string* body = &req.body;
  std::string_view encoding = req.Header("content-encoding");
  if (net::TokenIs(encoding, "gzip") || net::TokenIs(encoding, "deflate")) {
    Status s = wire::Gunzip(req.body, options_.max_body_bytes, &inflated);
    trim.Add(inflated.capacity());
    if (!s.ok()) {
      if (s.code() == Status::Code::kResourceExhausted) {
        Fail(enc, 413, kGrpcResourceExhausted, s.message(), "too_large", resp);
      } else {
        Fail(enc, 400, kGrpcInvalidArgument, "bad gzip body: " + s.message(), "bad_gzip", resp);
      }
      return;
    }
    body = &inflated;
    if (!reservation.Add(static_cast<int64_t>(inflated.size()))) {
      Fail(enc, 503, kGrpcUnavailable, "ingest memory budget in use; retry later", "unavailable",
           resp);
      return;
    }
  }
  if (body->size() > options_.max_body_bytes) {
    Fail(enc, 413, kGrpcResourceExhausted,
         "body of " + std::to_string(body->size()) + " bytes exceeds the limit of " +
             std::to_string(options_.max_body_bytes),
         "too_large", resp);
    return;
  }
  body_bytes_->Observe(static_cast<double>(body->size()));

  // JSON is parsed in place; the log needs the original text.
  std::string json_text;
  if (enc == Encoding::kJson && pipeline_->durable()) {
    if (!reservation.Add(static_cast<int64_t>(body->size()))) {
      Fail(enc, 503, kGrpcUnavailable, "ingest memory budget in use; retry later", "unavailable",
           resp);
      return;
    }
    json_text = *body;
  }
  model::SpanBatch batch;
  Status s = enc == Encoding::kProto ? wire::DecodeTracesProto(*body, options_.limits, &batch)
                                     : wire::DecodeTracesJson(body, options_.limits, &batch);
  if (!s.ok()) {
    Fail(enc, 400, kGrpcInvalidArgument, s.message(), "malformed", resp);
    return;
  }

  LoggedRequest logged;
  logged.project = *project;
  logged.format = enc == Encoding::kProto ? RequestFormat::kOtlpProto : RequestFormat::kOtlpJson;
  logged.body = enc == Encoding::kProto ? std::string_view(*body) : std::string_view(json_text);
  auto result = pipeline_->Submit(logged, batch);
  if (!result.ok()) {
    const Status& e = result.status();
    if (e.code() == Status::Code::kUnavailable) {
      Fail(enc, 503, kGrpcUnavailable, e.message(), "unavailable", resp);
    } else if (e.code() == Status::Code::kResourceExhausted) {
      Fail(enc, 503, kGrpcResourceExhausted, e.message(), "disk_full", resp);
    } else {
      Fail(enc, 500, 13, "internal error storing spans", "internal", resp);
    }
    return;
  }
  requests_ok_->Inc();
  const uint64_t rejected = result->rejected_spans;
  const std::string& message = result->message;
  resp->status = 200;
  if (enc == Encoding::kJson) {
    resp->content_type = "application/json";
    resp->body = wire::EncodeExportResponseJson(static_cast<int64_t>(rejected), message);
  } else {
    resp->content_type = "application/x-protobuf";
    resp->body = wire::EncodeExportResponseProto(static_cast<int64_t>(rejected), message);
  }
}

}  // namespace loupe::ingest
