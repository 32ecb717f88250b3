// Api: routing, authentication, security headers, per-route metrics and the
// live broadcast. Endpoints are in one file per resource (api_internal.h
// lists them), parameters and errors in api_params.cc, static files in
// api_static.cc.
#include "api/api.h"

#include <limits.h>
#include <stdlib.h>

#include <array>
#include <chrono>
#include <exception>
#include <unordered_map>

#include "api/api_internal.h"
#include "common/logging.h"

namespace loupe::api {

using internal::Call;
using internal::Env;

namespace {

constexpr std::string_view kCsp =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'";

constexpr std::string_view kApiPrefix = "/api/";
constexpr std::string_view kV1 = "/api/v1/";

enum class Route : int {
  kProjects,
  kProject,
  kStorage,
  kInstances,
  kTransactions,
  kTransaction,
  kTrace,
  kXView,
  kSeries,
  kHitmap,
  kEndpoints,
  kSummary,
  kActive,
  kActiveStack,
  kEvents,
  kAgentConfig,
  kAlertRules,
  kAlerts,
  kAlertChannels,
  kSilences,
  kLive,
  kMetricNames,
  kMetricLabels,
  kMetricQuery,
  kHosts,
  kHost,
  kMetrics,
  kHealthz,
  kStatic,
  kNotFound,
  kCount,
};

constexpr const char* kRouteNames[] = {
    "projects",     "project", "storage",   "instances", "transactions", "transaction",  "trace",
    "xview",        "series",  "hitmap",    "endpoints", "summary",      "active",       "active_stack", "events",
    "agent_config", "alert_rules", "alerts", "alert_channels", "silences",
    "live", "metric_names", "metric_labels", "metric_query", "hosts", "host", "metrics",   "healthz",   "static",       "not_found",
};
static_assert(std::size(kRouteNames) == static_cast<size_t>(Route::kCount));

// Status classes counted per route: 2xx, 3xx, 4xx, 5xx.
constexpr const char* kCodeClasses[] = {"2xx", "3xx", "4xx", "5xx"};

void AddSecurityHeaders(net::HttpResponse* resp) {
  resp->headers.emplace_back("Content-Security-Policy", std::string(kCsp));
  resp->headers.emplace_back("X-Content-Type-Options", "nosniff");
  resp->headers.emplace_back("Referrer-Policy", "no-referrer");
  resp->headers.emplace_back("X-Frame-Options", "DENY");
}

// Route of an /api/v1/... path; *arg receives the id of /transactions/{id}
// and /traces/{id}.
Route MatchApi(std::string_view path, std::string_view* arg) {
  std::string_view rest = path.substr(kV1.size());
  static const std::unordered_map<std::string_view, Route> kExact = {
      {"projects", Route::kProjects},   {"storage", Route::kStorage},
      {"instances", Route::kInstances}, {"transactions", Route::kTransactions},
      {"xview", Route::kXView},         {"series", Route::kSeries},
      {"hitmap", Route::kHitmap},
      {"endpoints", Route::kEndpoints}, {"summary", Route::kSummary},
      {"active", Route::kActive},       {"active-stack", Route::kActiveStack},
      {"events", Route::kEvents},       {"agent-config", Route::kAgentConfig},
      {"live", Route::kLive},
      {"metrics/names", Route::kMetricNames}, {"metrics/labels", Route::kMetricLabels},
      {"metrics/query", Route::kMetricQuery}, {"hosts", Route::kHosts},
  };
  if (auto it = kExact.find(rest); it != kExact.end()) return it->second;
  // Alerting resources route by prefix; api_alerts.cc takes the rest.
  static constexpr std::pair<std::string_view, Route> kAlerting[] = {
      {"alert-rules", Route::kAlertRules},
      {"alert-channels", Route::kAlertChannels},
      {"silences", Route::kSilences},
      {"alerts", Route::kAlerts}};
  for (const auto& [prefix, route] : kAlerting) {
    if (rest == prefix || (rest.rfind(prefix, 0) == 0 && rest.size() > prefix.size() &&
                           rest[prefix.size()] == '/' && prefix != "alerts")) {
      *arg = rest;
      return route;
    }
  }
  constexpr std::string_view kTx = "transactions/", kTrace = "traces/", kProj = "projects/",
                             kHost = "hosts/";
  if (rest.rfind(kHost, 0) == 0 && rest.size() > kHost.size() &&
      rest.find('/', kHost.size()) == std::string_view::npos) {
    *arg = rest.substr(kHost.size());
    return Route::kHost;
  }
  if (rest.rfind(kProj, 0) == 0 && rest.size() > kProj.size() &&
      rest.find('/', kProj.size()) == std::string_view::npos) {
    *arg = rest.substr(kProj.size());
    return Route::kProject;
  }
  if (rest.rfind(kTx, 0) == 0 && rest.find('/', kTx.size()) == std::string_view::npos) {
    *arg = rest.substr(kTx.size());
    return Route::kTransaction;
  }
  if (rest.rfind(kTrace, 0) == 0 && rest.find('/', kTrace.size()) == std::string_view::npos) {
    *arg = rest.substr(kTrace.size());
    return Route::kTrace;
  }
  return Route::kNotFound;
}

}  // namespace

struct Api::Routes {
  struct PerRoute {
    std::array<Counter*, 4> requests{};
    Histogram* seconds = nullptr;
  };
  std::array<PerRoute, static_cast<size_t>(Route::kCount)> by_route;
  Counter* live_frames = nullptr;
  Counter* live_refused = nullptr;
  Gauge* live_subscribers = nullptr;

  explicit Routes(MetricsRegistry* m) {
    for (size_t r = 0; r < by_route.size(); ++r) {
      for (size_t c = 0; c < 4; ++c) {
        by_route[r].requests[c] =
            m->GetCounter("loupe_api_requests_total",
                          "HTTP requests on the UI/API port by route and status class.",
                          {{"route", kRouteNames[r]}, {"code", kCodeClasses[c]}});
      }
      by_route[r].seconds = m->GetHistogram(
          "loupe_api_request_seconds", "Time to answer HTTP requests on the UI/API port.",
          {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
          {{"route", kRouteNames[r]}});
    }
    live_frames =
        m->GetCounter("loupe_api_live_frames_total", "Live frames sent to WebSocket subscribers.");
    live_refused = m->GetCounter("loupe_api_live_refused_total",
                                 "Live WebSocket upgrades refused (auth, project, limit).");
    live_subscribers =
        m->GetGauge("loupe_api_live_subscribers", "Open live WebSocket connections.");
  }

  void Count(Route r, int status, double seconds) {
    const int cls = std::clamp(status / 100, 2, 5) - 2;
    auto& pr = by_route[static_cast<size_t>(r)];
    pr.requests[static_cast<size_t>(cls)]->Inc();
    pr.seconds->Observe(seconds);
  }
};

Api::Api(ApiDeps deps, ApiOptions options)
    : deps_(deps),
      options_(std::move(options)),
      routes_(std::make_unique<Routes>(deps.metrics != nullptr ? deps.metrics
                                                               : MetricsRegistry::Default())) {
  if (!options_.web_dir.empty()) {
    char resolved[PATH_MAX];
    if (::realpath(options_.web_dir.c_str(), resolved) != nullptr) {
      web_root_ = resolved;
    } else {
      LogWarning("dashboard directory " + options_.web_dir + " not found; serving the API only");
    }
  }
}

Api::~Api() { Stop(); }

void Api::Handle(net::HttpRequest& req, net::HttpResponse* resp) {
  const auto t0 = std::chrono::steady_clock::now();
  Route route = Route::kNotFound;
  *resp = net::HttpResponse{};
  try {
    const std::string_view path = req.path;
    const bool is_get = req.method == "GET";
    if (path == "/healthz") {
      route = Route::kHealthz;
      if (!is_get) {
        internal::SetError(resp, 405, "invalid_argument", "use GET");
      } else {
        resp->content_type = "text/plain; charset=utf-8";
        resp->body = "ok\n";
      }
      resp->headers.emplace_back("Cache-Control", "no-store");
    } else if (path == "/metrics") {
      route = Route::kMetrics;
      if (!is_get) {
        internal::SetError(resp, 405, "invalid_argument", "use GET");
      } else {
        resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
        resp->body = (deps_.metrics ? deps_.metrics : MetricsRegistry::Default())->Render();
      }
      resp->headers.emplace_back("Cache-Control", "no-store");
    } else if (path.rfind(kApiPrefix, 0) == 0 || path == "/api") {
      resp->headers.emplace_back("Cache-Control", "no-store");
      std::string_view arg;
      route = path.rfind(kV1, 0) == 0 ? MatchApi(path, &arg) : Route::kNotFound;
      if (route == Route::kNotFound) {
        internal::SetError(resp, 404, "not_found", "no such API endpoint");
      } else if (route != Route::kAlertRules && route != Route::kAlerts &&
                 route != Route::kAlertChannels && route != Route::kSilences &&
                 (route == Route::kProject
                     ? req.method != "PATCH"
                     : !is_get && !(route == Route::kProjects && req.method == "POST") &&
                           !(route == Route::kAgentConfig &&
                             (req.method == "PUT" || req.method == "DELETE")))) {
        internal::SetError(resp, 405, "invalid_argument",
                           route == Route::kProject ? "use PATCH" : "use GET");
        resp->headers.emplace_back("Allow", route == Route::kProjects      ? "GET, POST"
                                            : route == Route::kProject     ? "PATCH"
                                            : route == Route::kAgentConfig ? "GET, PUT, DELETE"
                                                                           : "GET");
      } else {
        Call call{&req, {}, deps_.clock->NowMicros()};
        Result<auth::Principal> who =
            deps_.registry->AuthenticateToken(internal::BearerToken(req.Header("authorization")));
        Status st;
        if (!who.ok()) {
          st = Status::Unauthenticated("missing or unknown API token");
        } else {
          call.who = std::move(*who);
          const Env env{deps_, options_};
          switch (route) {
            case Route::kProjects:
              st = is_get ? internal::GetProjects(env, call, resp)
                          : internal::CreateProject(env, call, resp);
              break;
            case Route::kProject:
              st = internal::PatchProject(env, call, arg, resp);
              break;
            case Route::kStorage:
              st = internal::GetStorage(env, call, resp);
              break;
            case Route::kInstances:
              st = internal::GetInstances(env, call, resp);
              break;
            case Route::kTransactions:
              st = internal::GetTransactions(env, call, resp);
              break;
            case Route::kTransaction:
              st = internal::GetTransaction(env, call, arg, resp);
              break;
            case Route::kTrace:
              st = internal::GetTrace(env, call, arg, resp);
              break;
            case Route::kXView:
              st = internal::GetXView(env, call, resp);
              break;
            case Route::kSeries:
              st = internal::GetSeries(env, call, resp);
              break;
            case Route::kHitmap:
              st = internal::GetHitmap(env, call, resp);
              break;
            case Route::kEndpoints:
              st = internal::GetEndpoints(env, call, resp);
              break;
            case Route::kSummary:
              st = internal::GetSummary(env, call, resp);
              break;
            case Route::kActive:
              st = internal::GetActive(env, call, resp);
              break;
            case Route::kActiveStack:
              st = internal::GetActiveStack(env, call, resp);
              break;
            case Route::kEvents:
              st = internal::GetEvents(env, call, resp);
              break;
            case Route::kAgentConfig:
              st = internal::AgentConfig(env, call, resp);
              break;
            case Route::kAlertRules:
            case Route::kAlerts:
            case Route::kAlertChannels:
            case Route::kSilences:
              st = internal::Alerting(env, call, arg, resp);
              break;
            case Route::kMetricNames:
              st = internal::GetMetricNames(env, call, resp);
              break;
            case Route::kMetricLabels:
              st = internal::GetMetricLabels(env, call, resp);
              break;
            case Route::kMetricQuery:
              st = internal::GetMetricQuery(env, call, resp);
              break;
            case Route::kHosts:
              st = internal::GetHosts(env, call, resp);
              break;
            case Route::kHost:
              st = internal::GetHost(env, call, arg, resp);
              break;
            case Route::kLive:
              st = Status::InvalidArgument("the live stream needs a WebSocket upgrade");
              break;
            default:
              st = Status::Internal("unrouted");
              break;
          }
        }
        if (!st.ok()) internal::SetStatusError(resp, st);
      }
    } else {
      route = Route::kStatic;
      if (!is_get && req.method != "HEAD") {
        internal::SetError(resp, 405, "invalid_argument", "use GET");
        resp->headers.emplace_back("Allow", "GET, HEAD");
      } else {
        internal::ServeStatic(web_root_, req, resp);
      }
    }
  } catch (const std::exception& e) {
    // Our functions do not throw; this is bad_alloc or a library's exception.
    *resp = net::HttpResponse{};
    internal::SetError(resp, 500, "internal", "internal error");
    LogError(std::string("api: ") + kRouteNames[static_cast<int>(route)] + ": " + e.what());
  }
  AddSecurityHeaders(resp);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  routes_->Count(route, resp->status, seconds);
}

bool Api::HandleWebSocket(const net::HttpRequest& req, net::HttpResponse* reject,
                          std::shared_ptr<net::WebSocketConnection> conn) {
  const auto t0 = std::chrono::steady_clock::now();
  *reject = net::HttpResponse{};
  bool accepted = false;
  try {
    if (req.path != "/api/v1/live") {
      internal::SetError(reject, 404, "not_found", "no WebSocket endpoint here");
    } else {
      std::string_view token = internal::BearerToken(req.Header("authorization"));
      std::optional<std::string> query_token;
      if (token.empty()) {
        query_token = req.Param("token");
        if (query_token) token = *query_token;
      }
      Result<auth::Principal> who = deps_.registry->AuthenticateToken(token);
      if (!who.ok()) {
        internal::SetStatusError(reject, Status::Unauthenticated("missing or unknown API token"));
      } else {
        Call call{&req, std::move(*who), deps_.clock->NowMicros()};
        Result<auth::Project> project = internal::ResolveProject(Env{deps_, options_}, call);
        if (!project.ok()) {
          internal::SetStatusError(reject, project.status());
        } else {
          bool stopped;
          {
            std::lock_guard<std::mutex> l(loop_mu_);
            stopped = stop_;
          }
          std::lock_guard<std::mutex> l(subs_mu_);
          if (stopped) {
            internal::SetStatusError(reject, Status::Unavailable("server stopping"));
          } else if (subscribers_.size() >= options_.max_live_subscribers) {
            internal::SetStatusError(reject, Status::Unavailable("too many live connections"));
          } else {
            subscribers_.push_back({project->id, std::move(conn)});
            routes_->live_subscribers->Set(static_cast<double>(subscribers_.size()));
            accepted = true;
          }
        }
      }
    }
  } catch (const std::exception& e) {
    *reject = net::HttpResponse{};
    internal::SetError(reject, 500, "internal", "internal error");
    LogError(std::string("api: live: ") + e.what());
  }
  if (!accepted) {
    reject->headers.emplace_back("Cache-Control", "no-store");
    AddSecurityHeaders(reject);
    routes_->live_refused->Inc();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  routes_->Count(Route::kLive, accepted ? 101 : reject->status, seconds);
  return accepted;
}

void Api::BroadcastTick() {
  const int64_t now_us = deps_.clock->NowMicros();
  // Subscribers by project, dropping the closed ones.
  std::unordered_map<model::ProjectId, std::vector<std::shared_ptr<net::WebSocketConnection>>>
      by_project;
  {
    std::lock_guard<std::mutex> l(subs_mu_);
    std::erase_if(subscribers_, [](const Subscriber& s) { return s.conn->closed(); });
    for (const auto& s : subscribers_) by_project[s.project].push_back(s.conn);
    routes_->live_subscribers->Set(static_cast<double>(subscribers_.size()));
  }
  // Every project's frame is taken, watched or not, so that a new subscriber
  // gets only points from the last second.
  std::vector<model::ProjectId> projects = deps_.live->Projects();
  for (const auto& [p, conns] : by_project) {
    if (std::find(projects.begin(), projects.end(), p) == projects.end()) projects.push_back(p);
  }
  live::LiveFrame frame;
  for (model::ProjectId p : projects) {
    deps_.live->TakeFrame(p, now_us, &frame);
    auto it = by_project.find(p);
    if (it == by_project.end()) continue;
    auto text = std::make_shared<const std::string>(internal::LiveFrameJson(frame));
    for (const auto& c : it->second) c->Send(text);
    routes_->live_frames->Inc(it->second.size());
  }
}

void Api::BroadcastPoints() {
  std::unordered_map<model::ProjectId, std::vector<std::shared_ptr<net::WebSocketConnection>>>
      by_project;
  {
    std::lock_guard<std::mutex> l(subs_mu_);
    for (const auto& s : subscribers_) {
      if (!s.conn->closed()) by_project[s.project].push_back(s.conn);
    }
  }
  const int64_t now_us = deps_.clock->NowMicros();
  live::LiveFrame frame;
  for (const auto& [p, conns] : by_project) {
    if (!deps_.live->TakePoints(p, &frame)) continue;
    auto text = std::make_shared<const std::string>(internal::LivePointsJson(frame, now_us));
    for (const auto& c : conns) c->Send(text);
    routes_->live_frames->Inc(conns.size());
  }
}

size_t Api::live_subscribers() const {
  std::lock_guard<std::mutex> l(subs_mu_);
  return subscribers_.size();
}

void Api::BroadcastLoop() {
  using std::chrono::system_clock;
  std::unique_lock<std::mutex> l(loop_mu_);
  while (!stop_) {
    // Tick just after each wall-clock second, so "the last whole second" is
    // complete (give or take ingest delay); between ticks, every 250 ms, send
    // the new X-View points alone, so a dot is on screen well within a second
    // of its acknowledgement (a 1 Hz stream alone puts the p99 at ~1 s).
    const auto now = system_clock::now();
    const auto second = std::chrono::time_point_cast<std::chrono::seconds>(now);
    const auto into = now - second;
    const auto quarter = std::chrono::milliseconds(250);
    const bool tick = into >= 3 * quarter;
    const auto next = tick ? second + std::chrono::seconds(1) + std::chrono::milliseconds(5)
                           : second + quarter * (into / quarter + 1) + std::chrono::milliseconds(5);
    if (loop_cv_.wait_until(l, next, [&] { return stop_; })) break;
    l.unlock();
    try {
      if (tick) {
        BroadcastTick();
      } else {
        BroadcastPoints();
      }
    } catch (const std::exception& e) {
      LogError(std::string("api: live broadcast: ") + e.what());
    }
    l.lock();
  }
}

void Api::Start() {
  std::lock_guard<std::mutex> l(loop_mu_);
  if (loop_.joinable()) return;
  stop_ = false;
  loop_ = std::thread([this] { BroadcastLoop(); });
}

void Api::Stop() {
  {
    std::lock_guard<std::mutex> l(loop_mu_);
    stop_ = true;
  }
  loop_cv_.notify_all();
  if (loop_.joinable()) loop_.join();
  std::vector<Subscriber> subs;
  {
    std::lock_guard<std::mutex> l(subs_mu_);
    subs.swap(subscribers_);
    routes_->live_subscribers->Set(0);
  }
  for (auto& s : subs) s.conn->Close();
}

}  // namespace loupe::api
