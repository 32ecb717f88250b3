// AgentReceiver: the Loupe agent extension endpoints on the OTLP HTTP port
// (docs/format/agent-protocol.md):
//  - POST /v1/loupe/active: an active snapshot (JSON, optionally gzip or
//    deflate), recorded in the ActiveRegistry; answers
//    200 {"config_version": N}.
//  - GET /v1/loupe/config?service=S: the effective agent configuration.
//  - POST /v1/loupe/crash: a crash report (model::CrashReport), recorded as
//    a FATAL NATIVE_CRITICAL_ERROR event and answered 200 {} once the store
//    holds it durably (the agent deletes its report file then).
// Served through the front door (ingest/otlp_front_door.h), which routes,
// authenticates (like OTLP ingest), limits (max_body_bytes before and after
// decompression) and inflates, and answers refusals as
// {"error":{"code","message"}} counted in loupe_agent_requests_total{result}.
// This class decodes and submits: 400 for a malformed snapshot or one over a
// count limit, 429 with Retry-After for a new instance past the project's
// cap, 503 when out of memory.
//
// Metrics: loupe_agent_requests_total{result="ok"} (accepted snapshots,
// counted by the door), loupe_agent_config_requests_total (configurations
// served), and loupe_agent_stack_samples_dropped_total{reason} (text_budget,
// sample_cap).
//
// Thread-safety: handlers may run on many threads at once.
// Ownership: pointers are borrowed and must outlive the receiver.
#ifndef LOUPE_INGEST_AGENT_RECEIVER_H_
#define LOUPE_INGEST_AGENT_RECEIVER_H_

#include <cstddef>

#include "common/metrics.h"
#include "control/agent_config.h"
#include "ingest/otlp_front_door.h"
#include "live/active_registry.h"
#include "live/event_log.h"
#include "store/store.h"
#include "wire/agent_json.h"

namespace loupe::ingest {

struct AgentReceiverOptions {
  size_t max_body_bytes = 1u << 20;  // before and after decompression
  wire::AgentLimits limits;
};

class AgentReceiver {
 public:
  // events and store (for crash reports) may be null: crash reports are then
  // refused with 503.
  AgentReceiver(live::ActiveRegistry* active, control::AgentConfigStore* config,
                MetricsRegistry* metrics, AgentReceiverOptions options = {},
                live::EventLog* events = nullptr, store::Store* store = nullptr);

  // Adds /v1/loupe/active, /v1/loupe/config and /v1/loupe/crash to the door.
  // REQUIRES: the receiver outlives the door's servers.
  void AddRoutes(OtlpFrontDoor* door);

  // RouteHandlers.
  IngestReply PostActive(IngestCall& call);
  IngestReply GetConfig(IngestCall& call);
  IngestReply PostCrash(IngestCall& call);

 private:
  live::ActiveRegistry* active_;
  control::AgentConfigStore* config_;
  const AgentReceiverOptions options_;
  live::EventLog* events_;
  store::Store* store_;
  Counter* crashes_;
  Counter* config_requests_;
  Counter* dropped_budget_;
  Counter* dropped_cap_;
};

}  // namespace loupe::ingest

#endif  // LOUPE_INGEST_AGENT_RECEIVER_H_
