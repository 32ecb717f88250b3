// Internal to api/: what api.cc (routing, auth, live), the JSON endpoints
// (one file per resource: api_projects.cc, api_storage.cc,
// api_transactions.cc, api_series.cc, api_live.cc, api_agent.cc,
// api_metrics.cc, api_hosts.cc),
// api_params.cc (parameter parsing, errors) and api_static.cc (dashboard
// files) share. Not a public interface.
#ifndef LOUPE_API_API_INTERNAL_H_
#define LOUPE_API_API_INTERNAL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "api/api.h"
#include "auth/registry.h"
#include "common/status.h"
#include "live/live_state.h"
#include "net/http_server.h"
#include "store/store.h"
#include "wire/json_writer.h"

namespace loupe::api::internal {

// Every endpoint writes its JSON with the project's one writer.
using wire::JsonWriter;

constexpr int64_t kMicrosPerMilli = 1000;
constexpr int64_t kMicrosPerSecond = 1'000'000;
constexpr int64_t kDefaultRangeUs = 3600 * kMicrosPerSecond;
// Instances that sent nothing for this long are shown as down (instances, hosts).
constexpr int64_t kInstanceUpWindowUs = 60 * kMicrosPerSecond;

// An authenticated API request.
struct Call {
  const net::HttpRequest* http;
  auth::Principal who;
  int64_t now_us;
};

struct Env {
  const ApiDeps& deps;
  const ApiOptions& options;
};

// ---- errors and output (api_params.cc) ----

// The one way the API answers with JSON, errors included: `status`, Content-Type
// application/json; charset=utf-8, and `body`.
void SetJson(net::HttpResponse* resp, std::string body, int status = 200);
// {"error":{"code","message"}} with that HTTP status (through SetJson).
void SetError(net::HttpResponse* resp, int status, std::string_view code, std::string_view message);
// Maps a Status to the contract's HTTP status and code.
void SetStatusError(net::HttpResponse* resp, const Status& s);

// The token of "Authorization: Bearer <token>"; empty if none.
std::string_view BearerToken(std::string_view authorization);

// ---- parameters (api_params.cc); errors are InvalidArgument ----

// Decimal milliseconds ("1700000000150", "12.5") to µs. Digits beyond the
// microsecond are truncated. No sign, no exponent.
bool ParseMillis(std::string_view s, int64_t* us);
// Integer parameter in [min, max]; *out unchanged when absent.
Status IntParam(const net::HttpRequest& req, std::string_view name, int64_t min, int64_t max,
                int64_t* out);
// from/to (defaults: to = now, from = to - 1 h), from < to, at most
// max_range_days long.
Status TimeRange(const net::HttpRequest& req, int64_t now_us, int max_range_days, int64_t* from_us,
                 int64_t* to_us);
// Range plus service, instance, endpoint, user, client_ip, min_ms, max_ms, error.
Status Filter(const net::HttpRequest& req, int64_t now_us, int max_range_days, store::TxFilter* f);
// The `project` parameter (default "default") as visible to the caller;
// NotFound otherwise.
Result<auth::Project> ResolveProject(const Env& env, const Call& call);

// What a read over a time range takes: the project (ResolveProject) and the
// range with the transaction filters (Filter). The project is checked first:
// NotFound, then InvalidArgument for the parameters.
struct RangeRequest {
  auth::Project project;
  store::TxFilter filter;
};
Result<RangeRequest> ParseRangeRequest(const Env& env, const Call& call);

// ---- endpoints; fill *resp or return an error ----

// Projects (api_projects.cc, api_storage.cc).
// POST /api/v1/projects {"name": "..."} (admin tokens only): creates the
// project with an ingest key and an API token that sees only it; 201
// {"name","ingest_key","api_token"}. The secrets are shown only in this answer.
Status CreateProject(const Env& env, const Call& call, net::HttpResponse* resp);
// GET /api/v1/projects: the caller's projects with their retention.
Status GetProjects(const Env& env, const Call& call, net::HttpResponse* resp);
// PATCH /api/v1/projects/{name} {"retention_days"?, "rollup_retention_days"?}
// (admin tokens only): validates (1..3650 days, rollups >= transactions),
// stores the setting in the registry and hands it to the store; 200 with the
// project as GET /api/v1/projects shows it.
Status PatchProject(const Env& env, const Call& call, std::string_view name,
                    net::HttpResponse* resp);
// GET /api/v1/storage[?project=]: disk use per project the caller sees.
Status GetStorage(const Env& env, const Call& call, net::HttpResponse* resp);
// Transactions (api_transactions.cc).
Status GetTransactions(const Env& env, const Call& call, net::HttpResponse* resp);
Status GetTransaction(const Env& env, const Call& call, std::string_view id,
                      net::HttpResponse* resp);
Status GetTrace(const Env& env, const Call& call, std::string_view id, net::HttpResponse* resp);
Status GetXView(const Env& env, const Call& call, net::HttpResponse* resp);
// Statistics over a range (api_series.cc).
Status GetSeries(const Env& env, const Call& call, net::HttpResponse* resp);
Status GetHitmap(const Env& env, const Call& call, net::HttpResponse* resp);
Status GetEndpoints(const Env& env, const Call& call, net::HttpResponse* resp);
// The present (api_live.cc).
Status GetInstances(const Env& env, const Call& call, net::HttpResponse* resp);
Status GetSummary(const Env& env, const Call& call, net::HttpResponse* resp);
// Agent extensions (api_agent.cc).
Status GetActive(const Env& env, const Call& call, net::HttpResponse* resp);
Status GetActiveStack(const Env& env, const Call& call, net::HttpResponse* resp);
Status GetEvents(const Env& env, const Call& call, net::HttpResponse* resp);
// GET, PUT or DELETE by call.http->method.
Status AgentConfig(const Env& env, const Call& call, net::HttpResponse* resp);

// Alerts (api_alerts.cc): alert-rules, alerts, alert-channels, silences and
// everything under them; `path` is the part after /api/v1/. Answers 405
// itself for methods a resource does not take.
Status Alerting(const Env& env, const Call& call, std::string_view path, net::HttpResponse* resp);

// Metrics (api_metrics.cc): GET /api/v1/metrics/names, /metrics/labels,
// /metrics/query.
Status GetMetricNames(const Env& env, const Call& call, net::HttpResponse* resp);
Status GetMetricLabels(const Env& env, const Call& call, net::HttpResponse* resp);
Status GetMetricQuery(const Env& env, const Call& call, net::HttpResponse* resp);
// Hosts (api_hosts.cc): GET /api/v1/hosts and /api/v1/hosts/{id}.
Status GetHosts(const Env& env, const Call& call, net::HttpResponse* resp);
Status GetHost(const Env& env, const Call& call, std::string_view id, net::HttpResponse* resp);

// The live tick frame of docs/api.md (api_live.cc).
std::string LiveFrameJson(const live::LiveFrame& frame);
// {"type":"points","t_ms",...,"points":{...},"points_dropped"}: dots between ticks.
std::string LivePointsJson(const live::LiveFrame& frame, int64_t now_us);

// ---- static files (api_static.cc) ----

// Serves GET/HEAD `path` from web_root (a realpath; empty: none).
void ServeStatic(const std::string& web_root, const net::HttpRequest& req, net::HttpResponse* resp);
// Content-Type for a file name by its extension.
std::string_view ContentTypeFor(std::string_view filename);

}  // namespace loupe::api::internal

#endif  // LOUPE_API_API_INTERNAL_H_
