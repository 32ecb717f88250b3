// AgentReceiver: the Loupe agent extension endpoints on the OTLP HTTP port
// (docs/format/agent-protocol.md):
//  - POST /v1/loupe/active: an active snapshot (JSON, optionally gzip or
//    deflate), recorded in the ActiveRegistry; answers
//    200 {"config_version": N}.
//  - GET /v1/loupe/config?service=S: the effective agent configuration.
// Authenticated like OTLP ingest (`Authorization: Bearer <ingest key>` or
// `x-loupe-key`). Errors are {"error":{"code","message"}} with 400 (malformed
// or over a count limit), 401 (key), 404/405 (path, method), 413 (body over
// max_body_bytes before or after decompression; a gzip bomb is never inflated
// past it), 415 (content type or encoding), 429 with Retry-After (a new
// instance past the project's cap), 503 (out of memory). Media types and
// content codings are matched case-insensitively, parameters ignored. The
// first refusal of each kind is logged at WARN (rate-limited); after a
// refused large request freed memory is returned to the system.
//
// Metrics: loupe_agent_requests_total{result} (ok for accepted snapshots, or
// a fixed rejection reason of either endpoint), loupe_agent_config_requests_total
// (configurations served), and
// loupe_agent_stack_samples_dropped_total{reason} (text_budget, sample_cap).
//
// Thread-safety: Handle/CheckHeaders may run on many threads at once.
// Ownership: pointers are borrowed and must outlive the receiver.
#ifndef LOUPE_INGEST_AGENT_RECEIVER_H_
#define LOUPE_INGEST_AGENT_RECEIVER_H_

#include <cstddef>
#include <string_view>

#include "auth/registry.h"
#include "common/metrics.h"
#include "control/agent_config.h"
#include "live/active_registry.h"
#include "net/http_server.h"
#include "wire/agent_json.h"

namespace loupe::ingest {

struct AgentReceiverOptions {
  size_t max_body_bytes = 1u << 20;  // before and after decompression
  wire::AgentLimits limits;
};

class AgentReceiver {
 public:
  AgentReceiver(auth::Registry* registry, live::ActiveRegistry* active,
                control::AgentConfigStore* config, MetricsRegistry* metrics,
                AgentReceiverOptions options = {});

  // True for the paths this receiver serves (/v1/loupe/...); the OTLP HTTP
  // server routes those here and everything else to OtlpHttpReceiver.
  static bool Handles(std::string_view path);

  // net::HeaderCheck: rejects bad paths, methods, keys and declared sizes
  // before the body is read.
  bool CheckHeaders(const net::HttpRequest& req, net::HttpResponse* resp);
  // net::HttpHandler.
  void Handle(net::HttpRequest& req, net::HttpResponse* resp);

 private:
  void Fail(int status, std::string_view code, std::string_view message, const char* reason,
            net::HttpResponse* resp);
  void PostActive(auth::ProjectId project, net::HttpRequest& req, net::HttpResponse* resp);
  void GetConfig(auth::ProjectId project, const net::HttpRequest& req, net::HttpResponse* resp);

  auth::Registry* registry_;
  live::ActiveRegistry* active_;
  control::AgentConfigStore* config_;
  MetricsRegistry* metrics_;
  const AgentReceiverOptions options_;
  Counter* snapshots_ok_;
  Counter* config_requests_;
  Counter* dropped_budget_;
  Counter* dropped_cap_;
};

}  // namespace loupe::ingest

#endif  // LOUPE_INGEST_AGENT_RECEIVER_H_
