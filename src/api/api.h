// Api: the HTTP JSON API of docs/api.md (the contract), the live WebSocket
// stream, GET /metrics, GET /healthz and the dashboard's static files, all on
// the UI port. Install Handle() and HandleWebSocket() on a net::HttpServer.
//
// Every response carries the security headers (CSP, nosniff, no referrer,
// no framing); API responses are never cached. /api/v1/* needs
// `Authorization: Bearer <token>` (the live stream also takes ?token=); a
// token asking for a project it may not see gets 404, as an unknown project.
// Errors are {"error":{"code","message"}} with the contract's statuses.
// Requests are counted per route in loupe_api_requests_total{route,code} and
// timed in loupe_api_request_seconds{route} (fixed route names, never paths).
//
// The live stream: Start() runs a thread that, once a second, takes a
// LiveState frame per project and sends it to that project's subscribers
// (WebSocketConnection queues are bounded: slow clients are dropped by net/).
//
// Thread-safety: Handle() and HandleWebSocket() may be called concurrently
// from any number of threads. Start()/Stop() from one thread.
// Ownership: ApiDeps pointers are borrowed and must outlive the Api.
#ifndef LOUPE_API_API_H_
#define LOUPE_API_API_H_

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "alert/alert_config.h"
#include "alert/alert_service.h"
#include "auth/registry.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "control/agent_config.h"
#include "live/active_registry.h"
#include "live/live_state.h"
#include "net/http_server.h"
#include "store/store.h"
#include "store/tsdb/time_series_store.h"

namespace loupe::api {

struct ApiOptions {
  std::string web_dir;            // built dashboard files; empty: none (GETs outside /api get 404)
  size_t max_list_limit = 10000;  // largest `limit` of GET /api/v1/transactions
  int max_range_days = 31;        // longest from..to of any query
  size_t max_live_subscribers = 1000;  // WebSockets past it are refused with 503
  // GET /api/v1/instances leaves out instances unseen for this long (ingest
  // stops counting them against the instance cap then too).
  int64_t instance_idle_us = 86'400'000'000;
};

// A project's instance cap as ingest applies it (GET /api/v1/instances).
struct InstanceCap {
  size_t cap = 0;         // real instances a project keeps by name
  size_t instances = 0;   // real instances counted against it now
  size_t overflowed = 0;  // instance ids seen recently but folded into "(overflow)"
};

// One attempt to deliver to an alert channel (POST .../test, the delivery log).
struct ChannelAttempt {
  int64_t at_us = 0;
  uint64_t alert_id = 0;  // 0: a test message
  std::string kind;       // what was sent: "firing", "resolved", "repeat", "level", "test"
  std::string result;     // "delivered", "retry", "failed", "expired", "dropped"; "" untried
  bool ok = false;
  int status = 0;         // HTTP status or SMTP reply code; 0 when none came
  double latency_ms = 0;
  std::string error;      // why it failed; never holds a secret
  int attempt = 1;
};

struct ApiDeps {
  store::Store* store;
  auth::Registry* registry;
  live::LiveState* live;
  MetricsRegistry* metrics;  // also rendered by GET /metrics
  Clock* clock;
  // Agent extensions (docs/api.md: active, active-stack, agent-config); when
  // null those endpoints answer as if no agent ever reported (and
  // agent-config is 503). Events come from live->events().
  live::ActiveRegistry* active = nullptr;
  control::AgentConfigStore* agent_config = nullptr;
  // The instance cap of a project; null: GET /api/v1/instances shows none.
  std::function<InstanceCap(model::ProjectId)> instance_cap;
  // Alerting (docs/api.md "Alerts"); when null those endpoints answer 503.
  alert::AlertConfig* alert_config = nullptr;
  alert::AlertService* alerts = nullptr;
  // A fresh signal source for rule tests (one per request: sources are not
  // thread-safe). REQUIRES: set when alerts is.
  std::function<std::unique_ptr<alert::SignalSource>()> alert_sources;
  // Notifications: send a test message now; the delivery log of a channel.
  std::function<ChannelAttempt(const alert::Channel&)> test_channel;
  std::function<std::vector<ChannelAttempt>(const alert::Channel&, size_t limit)> deliveries;
  // Infrastructure and OTLP metrics (docs/api.md "Metrics"); when null the
  // metrics and hosts endpoints answer 404 "metrics are not kept by this server".
  tsdb::TimeSeriesStore* tsdb = nullptr;
};

class Api {
 public:
  Api(ApiDeps deps, ApiOptions options);
  ~Api();  // Stop()s
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  // All HTTP routes of the UI port. Never throws; fills *resp in every case.
  void Handle(net::HttpRequest& req, net::HttpResponse* resp);

  // GET /api/v1/live upgrade requests: authenticates, resolves the project
  // and subscribes `conn` to the frames of that project. Returns false with
  // *reject filled (401, 404, 503) to refuse.
  bool HandleWebSocket(const net::HttpRequest& req, net::HttpResponse* reject,
                       std::shared_ptr<net::WebSocketConnection> conn);

  // Starts / stops the 1-second broadcast thread. Stop() also closes every
  // live connection and refuses new ones (503) until the next Start().
  // Both are idempotent.
  void Start();
  void Stop();

  // One broadcast: a frame per project (resetting LiveState's per-frame
  // buffers of every project, watched or not), sent to the project's
  // subscribers; closed connections are dropped. The broadcast thread calls
  // it once a second; tests call it directly.
  void BroadcastTick();
  // Sends the X-View points recorded since the last frame to subscribed
  // projects, between ticks (every 250 ms) so a dot shows well within a second.
  void BroadcastPoints();

  size_t live_subscribers() const;

 private:
  struct Routes;
  struct Subscriber {
    model::ProjectId project;
    std::shared_ptr<net::WebSocketConnection> conn;
  };

  void BroadcastLoop();

  const ApiDeps deps_;
  const ApiOptions options_;
  std::string web_root_;  // realpath of options_.web_dir; empty: no static files
  std::unique_ptr<Routes> routes_;

  mutable std::mutex subs_mu_;
  std::vector<Subscriber> subscribers_;  // guarded by subs_mu_

  std::mutex loop_mu_;
  std::condition_variable loop_cv_;
  bool stop_ = false;  // guarded by loop_mu_
  std::thread loop_;
};

}  // namespace loupe::api

#endif  // LOUPE_API_API_H_
