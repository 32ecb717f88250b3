#include "ingest/agent_receiver.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>
#include <string>

#include "common/logging.h"
#include "common/memory.h"
#include "ingest/otlp_http_receiver.h"
#include "wire/gzip.h"

namespace loupe::ingest {
namespace {

constexpr std::string_view kActivePath = "/v1/loupe/active";
constexpr std::string_view kConfigPath = "/v1/loupe/config";
constexpr std::string_view kPrefix = "/v1/loupe/";

std::string_view IngestKey(const net::HttpRequest& req) {
  std::string_view key = BearerToken(req.Header("authorization"));
  return key.empty() ? req.Header("x-loupe-key") : key;
}

}  // namespace

AgentReceiver::AgentReceiver(auth::Registry* registry, live::ActiveRegistry* active,
                             control::AgentConfigStore* config, MetricsRegistry* metrics,
                             AgentReceiverOptions options)
    : registry_(registry), active_(active), config_(config), metrics_(metrics), options_(options) {
  snapshots_ok_ =
      metrics->GetCounter("loupe_agent_requests_total",
                          "Requests on the Loupe agent endpoints by result.", {{"result", "ok"}});
  config_requests_ = metrics->GetCounter("loupe_agent_config_requests_total",
                                         "Agent configuration requests answered.");
  const char* kDroppedHelp = "Stack samples of active snapshots not kept, by reason.";
  dropped_budget_ = metrics->GetCounter("loupe_agent_stack_samples_dropped_total", kDroppedHelp,
                                        {{"reason", "text_budget"}});
  dropped_cap_ = metrics->GetCounter("loupe_agent_stack_samples_dropped_total", kDroppedHelp,
                                     {{"reason", "sample_cap"}});
}

bool AgentReceiver::Handles(std::string_view path) { return path.rfind(kPrefix, 0) == 0; }

void AgentReceiver::Fail(int status, std::string_view code, std::string_view message,
                         const char* reason, net::HttpResponse* resp) {
  metrics_
      ->GetCounter("loupe_agent_requests_total", "Requests on the Loupe agent endpoints by result.",
                   {{"result", reason}})
      ->Inc();
  LogWarningRateLimited(std::string("agent ") + reason,
                        "agent request refused (" + std::string(reason) + ", HTTP " +
                            std::to_string(status) + "): " + std::string(message));
  resp->status = status;
  resp->content_type = "application/json";
  resp->headers.clear();
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  w.StartObject();
  w.Key("error");
  w.StartObject();
  w.Key("code");
  w.String(code.data(), static_cast<rapidjson::SizeType>(code.size()));
  w.Key("message");
  w.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
  w.EndObject();
  w.EndObject();
  resp->body.assign(sb.GetString(), sb.GetSize());
  if (status == 429 || status == 503) resp->headers.emplace_back("Retry-After", "1");
}

bool AgentReceiver::CheckHeaders(const net::HttpRequest& req, net::HttpResponse* resp) {
  const bool active = req.path == kActivePath;
  if (!active && req.path != kConfigPath) {
    Fail(404, "not_found",
         "unknown path " + req.path.substr(0, 64) + "; Loupe agents use " +
             std::string(kActivePath) + " and " + std::string(kConfigPath),
         "not_found", resp);
    return false;
  }
  const char* method = active ? "POST" : "GET";
  if (req.method != method) {
    Fail(405, "invalid_argument", std::string("use ") + method + " for " + req.path, "bad_method",
         resp);
    resp->headers.emplace_back("Allow", method);
    return false;
  }
  std::string_view key = IngestKey(req);
  if (key.empty()) {
    Fail(401, "unauthenticated", "missing ingest key: send 'Authorization: Bearer <ingest key>'",
         "unauthenticated", resp);
    return false;
  }
  if (!registry_->AuthenticateIngestKey(key).ok()) {
    Fail(401, "unauthenticated", "unknown ingest key", "unauthenticated", resp);
    return false;
  }
  if (std::string_view cl = req.Header("content-length"); active && !cl.empty()) {
    uint64_t n = 0;
    auto r = std::from_chars(cl.data(), cl.data() + cl.size(), n);
    if (r.ec == std::errc() && n > options_.max_body_bytes) {
      Fail(413, "resource_exhausted",
           "body of " + std::to_string(n) + " bytes exceeds the limit of " +
               std::to_string(options_.max_body_bytes),
           "too_large", resp);
      return false;
    }
  }
  return true;
}

void AgentReceiver::Handle(net::HttpRequest& req, net::HttpResponse* resp) {
  *resp = net::HttpResponse{};
  if (!CheckHeaders(req, resp)) return;
  auto project = registry_->AuthenticateIngestKey(IngestKey(req));
  if (!project.ok()) {
    Fail(401, "unauthenticated", "unknown ingest key", "unauthenticated", resp);
    return;
  }
  if (req.path == kActivePath) {
    PostActive(*project, req, resp);
  } else {
    GetConfig(*project, req, resp);
  }
}

void AgentReceiver::PostActive(auth::ProjectId project, net::HttpRequest& req,
                               net::HttpResponse* resp) {
  // A refused request that held a large body gives the memory back.
  ReleaseFreedMemoryIfRefused trim(&resp->status, req.body.size());
  const std::string media = net::MediaType(req.Header("content-type"));
  if (media != "application/json") {
    Fail(415, "invalid_argument",
         "unsupported Content-Type '" + media.substr(0, 64) + "': snapshots are application/json",
         "unsupported_media_type", resp);
    return;
  }
  if (req.body.size() > options_.max_body_bytes) {
    Fail(413, "resource_exhausted",
         "body of " + std::to_string(req.body.size()) + " bytes exceeds the limit of " +
             std::to_string(options_.max_body_bytes),
         "too_large", resp);
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
        Fail(413, "resource_exhausted", s.message(), "too_large", resp);
      } else {
        Fail(400, "invalid_argument", "bad gzip body: " + s.message(), "bad_gzip", resp);
      }
      return;
    }
    body = &inflated;
  } else if (!encoding.empty() && !net::TokenIs(encoding, "identity")) {
    Fail(415, "invalid_argument",
         "unsupported Content-Encoding '" + std::string(encoding.substr(0, 64)) +
             "': use gzip, deflate or none",
         "unsupported_encoding", resp);
    return;
  }

  model::ActiveSnapshot snap;
  Status s = wire::DecodeActiveSnapshotJson(body, options_.limits, &snap);
  if (!s.ok()) {
    if (s.code() == Status::Code::kInvalidArgument) {
      Fail(400, "invalid_argument", s.message(), "malformed", resp);
    } else {
      Fail(503, "unavailable", s.message(), "unavailable", resp);
    }
    return;
  }
  const std::string service = snap.service;
  Result<live::SubmitStats> r = active_->Submit(project, std::move(snap));
  if (!r.ok()) {
    if (r.status().code() == Status::Code::kResourceExhausted) {
      Fail(429, "resource_exhausted", r.status().message(), "too_many_instances", resp);
    } else {
      Fail(503, "unavailable", r.status().message(), "unavailable", resp);
    }
    return;
  }
  snapshots_ok_->Inc();
  if (r->stack_samples_dropped > 0) dropped_budget_->Inc(r->stack_samples_dropped);
  if (r->stack_samples_evicted > 0) dropped_cap_->Inc(r->stack_samples_evicted);
  resp->status = 200;
  resp->content_type = "application/json";
  resp->body = "{\"config_version\":" + std::to_string(config_->Version(project)) + "}";
}

void AgentReceiver::GetConfig(auth::ProjectId project, const net::HttpRequest& req,
                              net::HttpResponse* resp) {
  const std::string service = req.Param("service").value_or("");
  config_requests_->Inc();
  resp->status = 200;
  resp->content_type = "application/json";
  resp->headers.emplace_back("Cache-Control", "no-store");
  resp->body = control::EffectiveConfigJson(config_->Get(project, service), false);
}

}  // namespace loupe::ingest
