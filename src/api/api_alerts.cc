// The alerts API of docs/api.md ("Alerts"): alert-rules, alerts,
// alert-channels, silences.
#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <string_view>

#include "alert/alert_config.h"
#include "alert/alert_service.h"
#include "api/api_internal.h"

namespace loupe::api::internal {
namespace {

constexpr int64_t kMaxTestSteps = 2000;
constexpr int64_t kMaxTestRangeUs = 86'400 * kMicrosPerSecond;
constexpr size_t kMaxTestSeries = 20;

Status NeedAlerts(const Env& env) {
  if (env.deps.alert_config == nullptr || env.deps.alerts == nullptr) {
    return Status::Unavailable("alerting is not running on this server");
  }
  return Status::OK();
}

Result<uint64_t> ParseId(std::string_view s, std::string_view what) {
  uint64_t v = 0;
  if (s.empty() || s.size() > 19) return Status::InvalidArgument(std::string(what) + " id must be a number");
  for (char c : s) {
    if (c < '0' || c > '9') return Status::InvalidArgument(std::string(what) + " id must be a number");
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

void Method405(net::HttpResponse* resp, std::string_view allow) {
  SetError(resp, 405, "invalid_argument", "use " + std::string(allow));
  resp->headers.emplace_back("Allow", std::string(allow));
}

void Created(net::HttpResponse* resp, std::string body) { SetJson(resp, std::move(body), 201); }

void NoContent(net::HttpResponse* resp) { SetJson(resp, "", 204); }

}  // namespace

namespace {

void WriteScope(JsonWriter& w, const alert::ScopeKey& s) {
  w.Key("scope").StartObject();
  w.Field("service", s.service);
  w.Field("instance", s.instance);
  w.Field("endpoint", s.endpoint);
  w.EndObject();
}

void WriteValue(JsonWriter& w, std::string_view key, double v) {
  w.Key(key);
  if (std::isnan(v)) {
    w.Null();
  } else {
    w.Double(v);
  }
}

Status Rules(const Env& env, const Call& call, const auth::Project& project,
             std::string_view rest, net::HttpResponse* resp);
Status RuleTest(const Env& env, const Call& call, const auth::Project& project,
                const alert::AlertRule& rule, net::HttpResponse* resp);

std::string RuleWithState(const alert::AlertRule& r, const std::vector<alert::Alert>& current) {
  std::string json = alert::RuleToJson(r);
  size_t firing = 0, pending = 0;
  for (const alert::Alert& a : current) {
    if (a.rule_id != r.id) continue;
    firing += a.state == alert::AlertState::kFiring;
    pending += a.state == alert::AlertState::kPending;
  }
  json.pop_back();  // '}'
  json += ",\"firing\":" + std::to_string(firing) + ",\"pending\":" + std::to_string(pending) + "}";
  return json;
}

Status Rules(const Env& env, const Call& call, const auth::Project& project,
             std::string_view rest, net::HttpResponse* resp) {
  alert::AlertConfig* config = env.deps.alert_config;
  const std::string& method = call.http->method;
  if (rest.empty()) {
    if (method == "GET") {
      auto current = env.deps.alerts->Current(project.id);
      std::string body = "{\"rules\":[";
      bool first = true;
      for (const alert::AlertRule& r : config->Rules(project.id)) {
        if (!first) body += ',';
        first = false;
        body += RuleWithState(r, current);
      }
      body += "]}";
      SetJson(resp, std::move(body));
      return Status::OK();
    }
    if (method != "POST") return Method405(resp, "GET, POST"), Status::OK();
    Result<alert::AlertRule> rule = alert::ParseRule(call.http->body);
    if (!rule.ok()) return rule.status();
    Result<alert::AlertRule> added = config->AddRule(project.id, std::move(*rule));
    if (!added.ok()) return added.status();
    Created(resp, alert::RuleToJson(*added));
    return Status::OK();
  }
  if (rest == "test") {
    if (method != "POST") return Method405(resp, "POST"), Status::OK();
    Result<alert::AlertRule> rule = alert::ParseRule(call.http->body);
    if (!rule.ok()) return rule.status();
    rule->project = project.id;
    return RuleTest(env, call, project, *rule, resp);
  }
  size_t slash = rest.find('/');
  Result<uint64_t> id = ParseId(rest.substr(0, slash), "rule");
  if (!id.ok()) return id.status();
  if (slash != std::string_view::npos) {
    if (rest.substr(slash + 1) != "test") return Status::NotFound("no such API endpoint");
    if (method != "POST") return Method405(resp, "POST"), Status::OK();
    Result<alert::AlertRule> rule = config->GetRule(project.id, *id);
    if (!rule.ok()) return rule.status();
    return RuleTest(env, call, project, *rule, resp);
  }
  if (method == "GET") {
    Result<alert::AlertRule> rule = config->GetRule(project.id, *id);
    if (!rule.ok()) return rule.status();
    SetJson(resp, RuleWithState(*rule, env.deps.alerts->Current(project.id)));
    return Status::OK();
  }
  if (method == "PUT") {
    Result<alert::AlertRule> rule = alert::ParseRule(call.http->body);
    if (!rule.ok()) return rule.status();
    Result<alert::AlertRule> updated = config->UpdateRule(project.id, *id, std::move(*rule));
    if (!updated.ok()) return updated.status();
    SetJson(resp, alert::RuleToJson(*updated));
    return Status::OK();
  }
  if (method == "DELETE") {
    LOUPE_RETURN_IF_ERROR(config->DeleteRule(project.id, *id));
    NoContent(resp);
    return Status::OK();
  }
  Method405(resp, "GET, PUT, DELETE");
  return Status::OK();
}

// Records what the replayed rule saw at each step, for the editor's chart.
class RecordingSource final : public alert::SignalSource {
 public:
  explicit RecordingSource(alert::SignalSource* inner) : inner_(inner) {}
  void BeginTick(int64_t now_us, const std::vector<alert::AlertRule>& rules) override {
    now_us_ = now_us;
    inner_->BeginTick(now_us, rules);
  }
  void Read(const alert::AlertRule& rule, int64_t end_us,
            std::vector<alert::ScopeSample>* out) override {
    size_t first = out->size();
    inner_->Read(rule, end_us, out);
    if (end_us != now_us_) return;  // a baseline read
    for (size_t i = first; i < out->size(); ++i) {
      const alert::ScopeSample& s = (*out)[i];
      std::string key = s.scope.service + '\x1f' + s.scope.instance + '\x1f' + s.scope.endpoint;
      auto it = series_.find(key);
      if (it == series_.end()) {
        if (series_.size() >= kMaxTestSeries) continue;
        it = series_.emplace(key, Line{s.scope, {}}).first;
      }
      it->second.points.emplace_back(end_us, s.value);
    }
  }
  struct Line {
    alert::ScopeKey scope;
    std::vector<std::pair<int64_t, double>> points;
  };
  const std::map<std::string, Line>& series() const { return series_; }

 private:
  alert::SignalSource* inner_;
  int64_t now_us_ = 0;
  std::map<std::string, Line> series_;
};

Status RuleTest(const Env& env, const Call& call, const auth::Project& project,
                const alert::AlertRule& rule, net::HttpResponse* resp) {
  int64_t to = call.now_us;
  int64_t from = to - 3600 * kMicrosPerSecond;
  if (call.http->Param("from") || call.http->Param("to")) {
    LOUPE_RETURN_IF_ERROR(TimeRange(*call.http, call.now_us, env.options.max_range_days, &from, &to));
  }
  if (to - from > kMaxTestRangeUs) return Status::InvalidArgument("from: a test spans at most 24 h");
  int64_t step_s = 5;
  LOUPE_RETURN_IF_ERROR(IntParam(*call.http, "step_s", 5, 86'400, &step_s));
  int64_t step = step_s * kMicrosPerSecond;
  if ((to - from) / step > kMaxTestSteps) {
    return Status::InvalidArgument("step_s: at most 2000 steps; use a step of at least " +
                                   std::to_string((to - from) / kMaxTestSteps / kMicrosPerSecond + 1) +
                                   " s");
  }
  std::unique_ptr<alert::SignalSource> inner = env.deps.alert_sources();
  RecordingSource source(inner.get());
  std::vector<alert::AlertChange> changes = alert::Backtest(rule, &source, from, to, step);

  std::string body;
  JsonWriter w(&body);
  w.StartObject();
  w.Key("changes").StartArray();
  for (const alert::AlertChange& c : changes) {
    if (!c.state_changed) continue;
    w.StartObject();
    w.Field("kind", alert::ChangeKindName(c.kind));
    w.Field("level", alert::LevelName(c.alert.level));
    w.FieldInt("at_ms", c.at_us / kMicrosPerMilli);
    w.FieldInt("since_ms", c.alert.since_us / kMicrosPerMilli);
    WriteValue(w, "value", c.alert.value);
    w.FieldDouble("threshold", c.alert.threshold);
    WriteScope(w, c.alert.scope);
    w.EndObject();
  }
  w.EndArray();
  w.Key("series").StartArray();
  for (const auto& [key, line] : source.series()) {
    w.StartObject();
    WriteScope(w, line.scope);
    w.Key("points").StartArray();
    for (const auto& [t, v] : line.points) {
      w.StartArray();
      w.Int(t / kMicrosPerMilli);
      w.Double(v);
      w.EndArray();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  w.Finish();
  SetJson(resp, std::move(body));
  return Status::OK();
}

Status Alerts(const Env& env, const Call& call, const auth::Project& project,
              net::HttpResponse* resp) {
  if (call.http->method != "GET") return Method405(resp, "GET"), Status::OK();
  int64_t to = call.now_us, from = call.now_us - 86'400 * kMicrosPerSecond;
  if (call.http->Param("from") || call.http->Param("to")) {
    LOUPE_RETURN_IF_ERROR(TimeRange(*call.http, call.now_us, env.options.max_range_days, &from, &to));
  }
  int64_t limit = 500;
  LOUPE_RETURN_IF_ERROR(IntParam(*call.http, "limit", 1, 10'000, &limit));
  std::map<uint64_t, alert::AlertRule> rules;
  for (alert::AlertRule& r : env.deps.alert_config->Rules(project.id)) rules[r.id] = std::move(r);
  auto rule_name = [&](uint64_t id) -> std::string {
    auto it = rules.find(id);
    return it == rules.end() ? "(deleted rule)" : it->second.name;
  };

  std::string body;
  JsonWriter w(&body);
  w.StartObject();
  w.Key("alerts").StartArray();
  for (const alert::Alert& a : env.deps.alerts->Current(project.id)) {
    w.StartObject();
    w.FieldUint("id", a.alert_id);
    w.FieldUint("rule_id", a.rule_id);
    w.Field("rule_name", rule_name(a.rule_id));
    w.Field("state", alert::AlertStateName(a.state));
    w.Field("level", alert::LevelName(a.level));
    WriteValue(w, "value", a.value);
    w.FieldDouble("threshold", a.threshold);
    w.FieldInt("since_ms", a.since_us / kMicrosPerMilli);
    WriteScope(w, a.scope);
    w.FieldBool("muted", a.muted);
    auto r = rules.find(a.rule_id);
    if (r != rules.end()) w.Field("link", alert::AlertLink(project.name, r->second, a.scope, a.since_us, call.now_us));
    w.EndObject();
  }
  w.EndArray();
  w.Key("history").StartArray();
  for (const alert::AlertChange& c :
       env.deps.alerts->History(project.id, from, to, static_cast<size_t>(limit))) {
    w.StartObject();
    w.FieldUint("id", c.alert.alert_id);
    w.FieldUint("rule_id", c.alert.rule_id);
    w.Field("rule_name", rule_name(c.alert.rule_id));
    w.Field("kind", alert::ChangeKindName(c.kind));
    w.Field("level", alert::LevelName(c.alert.level));
    WriteValue(w, "value", c.alert.value);
    w.FieldDouble("threshold", c.alert.threshold);
    w.FieldInt("at_ms", c.at_us / kMicrosPerMilli);
    w.FieldInt("since_ms", c.alert.since_us / kMicrosPerMilli);
    WriteScope(w, c.alert.scope);
    w.FieldBool("notified", c.notify);
    auto r = rules.find(c.alert.rule_id);
    if (r != rules.end()) w.Field("link", alert::AlertLink(project.name, r->second, c.alert.scope, c.alert.since_us, c.at_us));
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  w.Finish();
  SetJson(resp, std::move(body));
  return Status::OK();
}

Status Channels(const Env& env, const Call& call, const auth::Project& project,
                std::string_view rest, net::HttpResponse* resp) {
  alert::AlertConfig* config = env.deps.alert_config;
  const std::string& method = call.http->method;
  if (rest.empty()) {
    if (method == "GET") {
      std::string body = "{\"channels\":[";
      bool first = true;
      for (const alert::Channel& c : config->Channels(project.id)) {
        if (!first) body += ',';
        first = false;
        body += alert::ChannelToJson(c);
      }
      body += "]}";
      SetJson(resp, std::move(body));
      return Status::OK();
    }
    if (method != "POST") return Method405(resp, "GET, POST"), Status::OK();
    Result<alert::Channel> c = alert::ParseChannel(call.http->body);
    if (!c.ok()) return c.status();
    Result<alert::Channel> added = config->AddChannel(project.id, std::move(*c));
    if (!added.ok()) return added.status();
    Created(resp, alert::ChannelToJson(*added));
    return Status::OK();
  }
  size_t slash = rest.find('/');
  Result<uint64_t> id = ParseId(rest.substr(0, slash), "channel");
  if (!id.ok()) return id.status();
  Result<alert::Channel> existing = config->GetChannel(project.id, *id);
  if (!existing.ok()) return existing.status();
  if (slash != std::string_view::npos) {
    std::string_view sub = rest.substr(slash + 1);
    if (sub == "test") {
      if (method != "POST") return Method405(resp, "POST"), Status::OK();
      if (!env.deps.test_channel) return Status::Unavailable("notifications are not running");
      ChannelAttempt a = env.deps.test_channel(*existing);
      std::string body;
      JsonWriter w(&body);
      w.StartObject();
      w.FieldBool("ok", a.ok);
      w.Field("result", a.result);
      w.FieldInt("status", a.status);
      w.FieldDouble("latency_ms", a.latency_ms);
      if (!a.ok) w.Field("error", a.error);
      w.EndObject();
      w.Finish();
      SetJson(resp, std::move(body));
      return Status::OK();
    }
    if (sub == "deliveries") {
      if (method != "GET") return Method405(resp, "GET"), Status::OK();
      int64_t limit = 1000;
      LOUPE_RETURN_IF_ERROR(IntParam(*call.http, "limit", 1, 1000, &limit));
      std::string body;
      JsonWriter w(&body);
      w.StartObject();
      w.Key("deliveries").StartArray();
      if (env.deps.deliveries) {
        for (const ChannelAttempt& a : env.deps.deliveries(*existing, static_cast<size_t>(limit))) {
          w.StartObject();
          w.FieldInt("at_ms", a.at_us / kMicrosPerMilli);
          w.FieldUint("alert_id", a.alert_id);
          w.Field("kind", a.kind);
          w.Field("result", a.result);
          w.FieldBool("ok", a.ok);
          w.FieldInt("status", a.status);
          w.FieldDouble("latency_ms", a.latency_ms);
          w.Field("error", a.error);
          w.FieldInt("attempt", a.attempt);
          w.EndObject();
        }
      }
      w.EndArray();
      w.EndObject();
      w.Finish();
      SetJson(resp, std::move(body));
      return Status::OK();
    }
    return Status::NotFound("no such API endpoint");
  }
  if (method == "GET") {
    SetJson(resp, alert::ChannelToJson(*existing));
    return Status::OK();
  }
  if (method == "PUT") {
    Result<alert::Channel> c = alert::ParseChannel(call.http->body, &*existing);
    if (!c.ok()) return c.status();
    Result<alert::Channel> updated = config->UpdateChannel(project.id, *id, std::move(*c));
    if (!updated.ok()) return updated.status();
    SetJson(resp, alert::ChannelToJson(*updated));
    return Status::OK();
  }
  if (method == "DELETE") {
    LOUPE_RETURN_IF_ERROR(config->DeleteChannel(project.id, *id));
    NoContent(resp);
    return Status::OK();
  }
  Method405(resp, "GET, PUT, DELETE");
  return Status::OK();
}

Status Silences(const Env& env, const Call& call, const auth::Project& project,
                std::string_view rest, net::HttpResponse* resp) {
  alert::AlertConfig* config = env.deps.alert_config;
  const std::string& method = call.http->method;
  if (rest.empty()) {
    if (method == "GET") {
      std::string body = "{\"silences\":[";
      bool first = true;
      for (const alert::Silence& s : config->Silences(project.id)) {
        if (s.end_us <= call.now_us) continue;
        if (!first) body += ',';
        first = false;
        body += alert::SilenceToJson(s);
      }
      body += "]}";
      SetJson(resp, std::move(body));
      return Status::OK();
    }
    if (method != "POST") return Method405(resp, "GET, POST"), Status::OK();
    Result<alert::Silence> s = alert::ParseSilence(call.http->body, call.now_us);
    if (!s.ok()) return s.status();
    Result<alert::Silence> added = config->AddSilence(project.id, std::move(*s), call.now_us);
    if (!added.ok()) return added.status();
    Created(resp, alert::SilenceToJson(*added));
    return Status::OK();
  }
  Result<uint64_t> id = ParseId(rest, "silence");
  if (!id.ok()) return id.status();
  if (method != "DELETE") return Method405(resp, "DELETE"), Status::OK();
  LOUPE_RETURN_IF_ERROR(config->DeleteSilence(project.id, *id));
  NoContent(resp);
  return Status::OK();
}

}  // namespace

Status Alerting(const Env& env, const Call& call, std::string_view path, net::HttpResponse* resp) {
  LOUPE_RETURN_IF_ERROR(NeedAlerts(env));
  Result<auth::Project> project = ResolveProject(env, call);
  if (!project.ok()) return project.status();
  auto under = [&](std::string_view prefix, std::string_view* rest) {
    if (path == prefix) {
      *rest = {};
      return true;
    }
    if (path.size() > prefix.size() + 1 && path.rfind(prefix, 0) == 0 && path[prefix.size()] == '/') {
      *rest = path.substr(prefix.size() + 1);
      return true;
    }
    return false;
  };
  std::string_view rest;
  if (under("alert-rules", &rest)) return Rules(env, call, *project, rest, resp);
  if (under("alert-channels", &rest)) return Channels(env, call, *project, rest, resp);
  if (under("silences", &rest)) return Silences(env, call, *project, rest, resp);
  if (path == "alerts") return Alerts(env, call, *project, resp);
  return Status::NotFound("no such API endpoint");
}

}  // namespace loupe::api::internal
