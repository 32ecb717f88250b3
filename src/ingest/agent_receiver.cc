#include "ingest/agent_receiver.h"

#include <string>

namespace loupe::ingest {

AgentReceiver::AgentReceiver(live::ActiveRegistry* active, control::AgentConfigStore* config,
                             MetricsRegistry* metrics, AgentReceiverOptions options,
                             live::EventLog* events, store::Store* store)
    : active_(active), config_(config), options_(options), events_(events), store_(store) {
  crashes_ = metrics->GetCounter("loupe_agent_crash_reports_total",
                                 "Crash reports of agents recorded as NATIVE_CRITICAL_ERROR events.");
  config_requests_ = metrics->GetCounter("loupe_agent_config_requests_total",
                                         "Agent configuration requests answered.");
  const char* kDroppedHelp = "Stack samples of active snapshots not kept, by reason.";
  dropped_budget_ = metrics->GetCounter("loupe_agent_stack_samples_dropped_total", kDroppedHelp,
                                        {{"reason", "text_budget"}});
  dropped_cap_ = metrics->GetCounter("loupe_agent_stack_samples_dropped_total", kDroppedHelp,
                                     {{"reason", "sample_cap"}});
}

void AgentReceiver::AddRoutes(OtlpFrontDoor* door) {
  door->AddHttpRoute(HttpRoute{.path = "/v1/loupe/active",
                               .method = "POST",
                               .family = RouteFamily::kAgent,
                               .media_types = {"application/json"},
                               .media_hint = "snapshots are application/json",
                               .max_body_bytes = options_.max_body_bytes,
                               .handler = [this](IngestCall& c) { return PostActive(c); }});
  HttpRoute config;  // no body; served configurations have their own counter
  config.path = "/v1/loupe/config";
  config.method = "GET";
  config.family = RouteFamily::kAgent;
  config.count_ok = false;
  config.handler = [this](IngestCall& c) { return GetConfig(c); };
  door->AddHttpRoute(std::move(config));
  door->AddHttpRoute(HttpRoute{.path = "/v1/loupe/crash",
                               .method = "POST",
                               .family = RouteFamily::kAgent,
                               .media_types = {"application/json"},
                               .media_hint = "crash reports are application/json",
                               .max_body_bytes = options_.max_body_bytes,
                               .handler = [this](IngestCall& c) { return PostCrash(c); }});
}

IngestReply AgentReceiver::PostCrash(IngestCall& call) {
  if (events_ == nullptr || store_ == nullptr) {
    return IngestReply::Refused(Reason::kUnavailable, "crash reports are not kept here");
  }
  model::CrashReport crash;
  Status s = wire::DecodeCrashReportJson(call.body, options_.limits, &crash);
  if (!s.ok()) {
    return IngestReply::Refused(
        s.code() == Status::Code::kInvalidArgument ? Reason::kMalformed : Reason::kUnavailable,
        s.message());
  }
  // The message: what a person reads first, then the stack a line a frame
  // (the Events page shows it as it is).
  model::Event e;
  e.time_us = crash.time_us;
  e.level = model::kLevelFatal;
  e.type = model::kEventNativeCriticalError;
  e.service = std::move(crash.service);
  e.instance = std::move(crash.instance);
  e.endpoint = std::move(crash.endpoint);
  e.tx_id = crash.tx_id;
  std::string& m = e.message;
  m = crash.signal.empty() ? "signal " + std::to_string(crash.signal_number) : crash.signal;
  if (!crash.signal.empty() && crash.signal_number != 0) {
    m += " (" + std::to_string(crash.signal_number) + ")";
  }
  if (!crash.address.empty()) m += " at " + crash.address;
  if (crash.pid != 0) m += ", pid " + std::to_string(crash.pid);
  if (!crash.message.empty()) m += ": " + crash.message;
  for (size_t i = 0; i < crash.frames.size(); ++i) {
    m += "\n#" + std::to_string(i) + " " + crash.frames[i];
  }
  events_->Append(call.project, e);
  // Acknowledged means kept: the agent deletes its report after a 200.
  s = store_->SyncEvents();
  if (!s.ok()) return IngestReply::Refused(Reason::kUnavailable, "storing the event: " + s.message());
  crashes_->Inc();
  IngestReply reply;
  reply.content_type = "application/json";
  reply.body = "{}";
  return reply;
}

IngestReply AgentReceiver::PostActive(IngestCall& call) {
  model::ActiveSnapshot snap;
  Status s = wire::DecodeActiveSnapshotJson(call.body, options_.limits, &snap);
  if (!s.ok()) {
    return IngestReply::Refused(
        s.code() == Status::Code::kInvalidArgument ? Reason::kMalformed : Reason::kUnavailable,
        s.message());
  }
  Result<live::SubmitStats> r = active_->Submit(call.project, std::move(snap));
  if (!r.ok()) {
    return IngestReply::Refused(r.status().code() == Status::Code::kResourceExhausted
                                    ? Reason::kTooManyInstances
                                    : Reason::kUnavailable,
                                r.status().message());
  }
  if (r->stack_samples_dropped > 0) dropped_budget_->Inc(r->stack_samples_dropped);
  if (r->stack_samples_evicted > 0) dropped_cap_->Inc(r->stack_samples_evicted);
  IngestReply reply;
  reply.content_type = "application/json";
  reply.body = "{\"config_version\":" + std::to_string(config_->Version(call.project)) + "}";
  return reply;
}

IngestReply AgentReceiver::GetConfig(IngestCall& call) {
  const std::string service = call.http->Param("service").value_or("");
  config_requests_->Inc();
  IngestReply reply;
  reply.content_type = "application/json";
  reply.headers.emplace_back("Cache-Control", "no-store");
  reply.body = control::EffectiveConfigJson(config_->Get(call.project, service), false);
  return reply;
}

}  // namespace loupe::ingest
