#include "ingest/otlp_front_door.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <strings.h>

#include <algorithm>
#include <charconv>

#include "common/logging.h"
#include "common/memory.h"
#include "wire/gzip.h"
#include "wire/otlp_response.h"

namespace loupe::ingest {
namespace {

constexpr char kRequestsHelp[] = "OTLP export requests by transport and result.";
constexpr char kAgentRequestsHelp[] = "Requests on the Loupe agent endpoints by result.";

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && ::strncasecmp(s.data(), prefix.data(), prefix.size()) == 0;
}

// The error-body encoding of a request: JSON for a JSON request, protobuf for
// everything else (the OTLP/HTTP default).
BodyFormat ErrorFormat(const net::HttpRequest& req) {
  return net::MediaType(req.Header("content-type")) == "application/json" ? BodyFormat::kJson
                                                                          : BodyFormat::kProto;
}

std::string_view IngestKey(const net::HttpRequest& req) {
  std::string_view key = BearerToken(req.Header("authorization"));
  return key.empty() ? req.Header("x-loupe-key") : key;
}

void SetRpcStatusBody(BodyFormat format, int code, std::string_view message,
                      net::HttpResponse* resp) {
  if (format == BodyFormat::kJson) {
    resp->content_type = "application/json";
    resp->body = wire::EncodeRpcStatusJson(code, message);
  } else {
    resp->content_type = "application/x-protobuf";
    resp->body = wire::EncodeRpcStatusProto(code, message);
  }
}

void SetAgentErrorBody(int code, std::string_view message, net::HttpResponse* resp) {
  const std::string_view name = RpcCodeName(code);
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key("error");
  w.StartObject();
  w.Key("code");
  w.String(name.data(), static_cast<rapidjson::SizeType>(name.size()));
  w.Key("message");
  w.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
  w.EndObject();
  w.EndObject();
  resp->content_type = "application/json";
  resp->body.assign(sb.GetString(), sb.GetSize());
}

std::string OverLimit(const char* noun, size_t n, size_t limit) {
  return std::string(noun) + " of " + std::to_string(n) + " bytes exceeds the limit of " +
         std::to_string(limit);
}

}  // namespace

std::string_view BearerToken(std::string_view authorization) {
  if (!StartsWithNoCase(authorization, "bearer ")) return {};
  std::string_view t = authorization.substr(7);
  while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
  while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
  return t;
}

bool InflightBytes::Add(int64_t bytes) {
  if (!pipeline_->ReserveBytes(bytes)) return false;
  held_ += bytes;
  return true;
}

OtlpFrontDoor::OtlpFrontDoor(auth::Registry* registry, Pipeline* pipeline, MetricsRegistry* metrics,
                             OtlpFrontDoorOptions options)
    : registry_(registry), pipeline_(pipeline), metrics_(metrics), options_(std::move(options)) {
  http_ok_ = metrics->GetCounter("loupe_ingest_requests_total", kRequestsHelp,
                                 {{"transport", "http"}, {"result", "ok"}});
  agent_ok_ =
      metrics->GetCounter("loupe_agent_requests_total", kAgentRequestsHelp, {{"result", "ok"}});
  // Signals the OTLP spec defines that no receiver takes yet: a clear 404
  // rather than "unknown path".
  for (const char* path : {"/v1/metrics", "/v1/logs"}) {
    HttpRoute route;
    route.path = path;
    route.method = "POST";
    AddHttpRoute(std::move(route));
  }
}

void OtlpFrontDoor::AddHttpRoute(HttpRoute route) {
  std::string path = route.path;
  http_routes_.insert_or_assign(std::move(path), std::move(route));
  agent_paths_.clear();
  for (const auto& [p, r] : http_routes_) {
    if (r.family != RouteFamily::kAgent) continue;
    if (!agent_paths_.empty()) agent_paths_ += " and ";
    agent_paths_ += p;
  }
}

void OtlpFrontDoor::AddGrpcMethod(std::string method, RouteHandler handler) {
  grpc_methods_.insert_or_assign(std::move(method), std::move(handler));
}

Result<std::unique_ptr<net::HttpServer>> OtlpFrontDoor::ServeHttp(net::HttpServerOptions options) {
  options.error_hook = [this](const net::HttpRequest& head, net::HttpResponse* resp) {
    RewriteServerError(head, resp);
  };
  return net::HttpServer::Start(
      std::move(options),
      [this](net::HttpRequest& req, net::HttpResponse* resp) { Handle(req, resp); },
      [this](const net::HttpRequest& req, net::HttpResponse* resp) {
        return CheckHeaders(req, resp);
      });
}

const HttpRoute* OtlpFrontDoor::Lookup(std::string_view path) const {
  auto it = http_routes_.find(path);
  return it == http_routes_.end() ? nullptr : &it->second;
}

RouteFamily OtlpFrontDoor::FamilyOf(std::string_view path) const {
  if (const HttpRoute* r = Lookup(path)) return r->family;
  return path.rfind(options_.agent_prefix, 0) == 0 ? RouteFamily::kAgent : RouteFamily::kOtlp;
}

const RouteHandler* OtlpFrontDoor::GrpcMethod(std::string_view method) const {
  auto it = grpc_methods_.find(method);
  return it == grpc_methods_.end() ? nullptr : &it->second;
}

std::string OtlpFrontDoor::GrpcMethodNames() const {
  std::string names;
  for (const auto& [name, handler] : grpc_methods_) {
    if (!names.empty()) names += " and ";
    names += name;
  }
  return names;
}

Refusal OtlpFrontDoor::Authenticate(std::string_view key, bool grpc,
                                    auth::ProjectId* project) const {
  if (key.empty()) {
    return {Reason::kUnauthenticated,
            grpc ? "missing ingest key: send metadata 'authorization: Bearer <key>'"
                 : "missing ingest key: send 'Authorization: Bearer <ingest key>'"};
  }
  auto p = registry_->AuthenticateIngestKey(key);
  if (!p.ok()) return {Reason::kUnauthenticated, "unknown ingest key"};
  *project = *p;
  return {};
}

void OtlpFrontDoor::Refuse(RouteFamily family, BodyFormat format, const Refusal& refusal,
                           net::HttpResponse* resp) {
  const ReasonInfo& info = Describe(refusal.reason);
  const std::string status = std::to_string(info.http_status);
  if (family == RouteFamily::kAgent) {
    metrics_->GetCounter("loupe_agent_requests_total", kAgentRequestsHelp, {{"result", info.label}})
        ->Inc();
    LogWarningRateLimited(std::string("agent ") + info.label,
                          "agent request refused (" + std::string(info.label) + ", HTTP " + status +
                              "): " + refusal.message);
    SetAgentErrorBody(info.body_code, refusal.message, resp);
  } else {
    metrics_
        ->GetCounter("loupe_ingest_requests_total", kRequestsHelp,
                     {{"transport", "http"}, {"result", info.label}})
        ->Inc();
    LogWarningRateLimited(std::string("otlp_http ") + info.label,
                          "OTLP/HTTP export refused (" + std::string(info.label) + ", HTTP " +
                              status + "): " + refusal.message);
    SetRpcStatusBody(format, info.body_code, refusal.message, resp);
  }
  resp->status = info.http_status;
  resp->headers.clear();
  if (info.retry_after_seconds > 0) {
    resp->headers.emplace_back("Retry-After", std::to_string(info.retry_after_seconds));
  }
}

void OtlpFrontDoor::CountGrpc(const Refusal& refusal) {
  const char* label = refusal.refused() ? Describe(refusal.reason).label : "ok";
  metrics_
      ->GetCounter("loupe_ingest_requests_total", kRequestsHelp,
                   {{"transport", "grpc"}, {"result", label}})
      ->Inc();
  if (refusal.refused()) {
    LogWarningRateLimited(
        std::string("otlp_grpc ") + label,
        std::string("OTLP/gRPC export refused (") + label + "): " + refusal.message);
  }
}

const HttpRoute* OtlpFrontDoor::Check(const net::HttpRequest& req, auth::ProjectId* project,
                                      net::HttpResponse* resp) {
  const BodyFormat err = ErrorFormat(req);
  const HttpRoute* route = Lookup(req.path);
  if (route == nullptr) {
    if (FamilyOf(req.path) == RouteFamily::kAgent) {
      Refuse(RouteFamily::kAgent, err,
             {Reason::kNotFound,
              "unknown path " + req.path.substr(0, 64) + "; Loupe agents use " + agent_paths_},
             resp);
    } else {
      Refuse(RouteFamily::kOtlp, err,
             {Reason::kNotFound, "unknown path " + req.path + "; OTLP traces go to /v1/traces"},
             resp);
    }
    return nullptr;
  }
  if (!route->handler) {
    // Name what is taken, so a sender pointed at the wrong signal learns
    // where its data can go.
    std::string taken;
    for (const auto& [path, r] : http_routes_) {
      if (r.family != RouteFamily::kOtlp || !r.handler) continue;
      if (!taken.empty()) taken += " and ";
      taken += path;
    }
    Refuse(route->family, err,
           {Reason::kUnsupportedSignal, "this Loupe server accepts OTLP on " + taken + " only; " +
                                            req.path + " is not supported yet"},
           resp);
    return nullptr;
  }
  if (req.method != route->method) {
    Refuse(route->family, err, {Reason::kBadMethod, "use " + route->method + " for " + req.path},
           resp);
    resp->headers.emplace_back("Allow", route->method);
    return nullptr;
  }
  if (Refusal r = Authenticate(IngestKey(req), false, project); r.refused()) {
    Refuse(route->family, err, r, resp);
    return nullptr;
  }
  if (route->media_types.empty()) return route;
  // Refused before the body is read: a body that cannot be used is not read.
  const std::string media = net::MediaType(req.Header("content-type"));
  if (std::find(route->media_types.begin(), route->media_types.end(), media) ==
      route->media_types.end()) {
    Refuse(route->family, err,
           {Reason::kUnsupportedMediaType,
            "unsupported Content-Type '" + media.substr(0, 64) + "': " + route->media_hint},
           resp);
    return nullptr;
  }
  std::string_view encoding = req.Header("content-encoding");
  if (!encoding.empty() && !net::TokenIs(encoding, "gzip") && !net::TokenIs(encoding, "deflate") &&
      !net::TokenIs(encoding, "identity")) {
    Refuse(route->family, err,
           {Reason::kUnsupportedEncoding, "unsupported Content-Encoding '" +
                                              std::string(encoding.substr(0, 64)) +
                                              "': use gzip, deflate or none"},
           resp);
    return nullptr;
  }
  if (std::string_view cl = req.Header("content-length"); !cl.empty()) {
    uint64_t n = 0;
    auto r = std::from_chars(cl.data(), cl.data() + cl.size(), n);
    if (r.ec == std::errc() && n > route->max_body_bytes) {
      Refuse(route->family, err,
             {Reason::kTooLarge, OverLimit("body", static_cast<size_t>(n), route->max_body_bytes)},
             resp);
      return nullptr;
    }
  }
  return route;
}

bool OtlpFrontDoor::CheckHeaders(const net::HttpRequest& req, net::HttpResponse* resp) {
  auth::ProjectId project = 0;
  return Check(req, &project, resp) != nullptr;
}

void OtlpFrontDoor::Handle(net::HttpRequest& req, net::HttpResponse* resp) {
  auth::ProjectId project = 0;
  const HttpRoute* route = Check(req, &project, resp);
  if (route == nullptr) return;
  IngestReply reply;
  if (route->media_types.empty()) {
    IngestCall call{project, BodyFormat::kJson, &req.body, &req, nullptr};
    reply = route->handler(call);
  } else {
    // A refused large request (a bomb inflated to the limit) leaves its
    // buffers in glibc's heap: give them back once they are freed (declared
    // before Admit's buffers, so this runs after they are destroyed).
    ReleaseFreedMemoryIfRefused trim(&resp->status, 0);
    std::string_view encoding = req.Header("content-encoding");
    const Coding coding = net::TokenIs(encoding, "gzip")      ? Coding::kGzip
                          : net::TokenIs(encoding, "deflate") ? Coding::kDeflate
                                                              : Coding::kIdentity;
    const BodyFormat format = ErrorFormat(req);
    size_t held = 0;
    reply = Admit(project, &req.body, coding, format, route->max_body_bytes, &req, route->handler,
                  false, &held);
    trim.Add(held);
    // Refused inside the scope of `trim`, which reads the status.
    if (reply.refusal.refused()) {
      Refuse(route->family, format, reply.refusal, resp);
      return;
    }
  }
  if (reply.refusal.refused()) {
    Refuse(route->family, ErrorFormat(req), reply.refusal, resp);
    return;
  }
  if (route->count_ok) (route->family == RouteFamily::kAgent ? agent_ok_ : http_ok_)->Inc();
  resp->status = 200;
  resp->content_type = std::move(reply.content_type);
  resp->body = std::move(reply.body);
  for (auto& h : reply.headers) resp->headers.push_back(std::move(h));
}

IngestReply OtlpFrontDoor::Admit(auth::ProjectId project, std::string* raw, Coding coding,
                                 BodyFormat format, size_t max_bytes, const net::HttpRequest* http,
                                 const RouteHandler& handler, bool grpc, size_t* held) {
  const char* noun = grpc ? "message" : "body";
  *held = raw->size();
  if (raw->size() > max_bytes) {
    return IngestReply::Refused(Reason::kTooLarge, OverLimit(noun, raw->size(), max_bytes));
  }
  // Bound the memory of requests in flight: the body now, the inflated size
  // once known; released when the request is answered.
  InflightBytes inflight(pipeline_);
  if (!inflight.Add(static_cast<int64_t>(raw->size()))) {
    return IngestReply::Refused(Reason::kUnavailable, "ingest memory budget in use; retry later");
  }
  std::string inflated;
  std::string* body = raw;
  if (coding != Coding::kIdentity) {
    Status s = wire::Gunzip(*raw, max_bytes, &inflated);  // reads gzip and zlib (deflate)
    *held = raw->size() + inflated.capacity();
    if (!s.ok()) {
      if (s.code() == Status::Code::kResourceExhausted) {
        return IngestReply::Refused(Reason::kTooLarge,
                                    grpc ? "decompressed message exceeds the limit of " +
                                               std::to_string(max_bytes) + " bytes"
                                         : s.message());
      }
      return IngestReply::Refused(
          Reason::kBadGzip, (grpc ? "bad compressed message: " : "bad gzip body: ") + s.message());
    }
    // The compressed bytes are not needed any more; at 20 MiB they matter.
    std::string().swap(*raw);
    body = &inflated;
    if (!inflight.Add(static_cast<int64_t>(inflated.size()))) {
      return IngestReply::Refused(Reason::kUnavailable, "ingest memory budget in use; retry later");
    }
    if (body->size() > max_bytes) {
      return IngestReply::Refused(Reason::kTooLarge, OverLimit(noun, body->size(), max_bytes));
    }
  }
  IngestCall call{project, format, body, http, &inflight};
  return handler(call);
}

void OtlpFrontDoor::RewriteServerError(const net::HttpRequest& head, net::HttpResponse* resp) {
  // Agent paths keep the server's own JSON error; the server counts and logs
  // its refusals, so only the body changes.
  if (FamilyOf(head.path) == RouteFamily::kAgent) return;
  const HttpRoute* route = Lookup(head.path);
  const size_t limit = route != nullptr ? route->max_body_bytes : HttpRoute{}.max_body_bytes;
  std::string message = "bad request";
  switch (resp->status) {
    case 408:
      message = "request not received in time";
      break;
    case 413:
      message = "body exceeds the limit of " + std::to_string(limit) + " bytes";
      break;
    case 431:
      message = "request header too large";
      break;
    case 429:
    case 503:
      message = "too many connections; retry later";
      break;
    default:
      break;
  }
  SetRpcStatusBody(ErrorFormat(head), BodyCodeForServerError(resp->status), message, resp);
}

}  // namespace loupe::ingest
