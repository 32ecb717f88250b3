// The agent-extension endpoints of docs/api.md: active transactions, active
// stacks, events and the agent configuration.
#include <algorithm>
#include <set>
#include <string_view>
#include <tuple>
#include <unordered_map>

#include "api/api_internal.h"

namespace loupe::api::internal {
namespace {

constexpr int64_t kMaxLimit = 10000;

double Percent(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

void WriteBandsMs(JsonWriter& w, const std::vector<int64_t>& bands_ms) {
  w.Key("bands_ms");
  w.StartArray();
  for (int64_t b : bands_ms) w.Int(b);
  w.EndArray();
}

Status NeedAgentConfig(const Env& env) {
  if (env.deps.agent_config == nullptr) {
    return Status::Unavailable("agent configuration is not available on this server");
  }
  return Status::OK();
}

}  // namespace

Status GetActive(const Env& env, const Call& call, net::HttpResponse* resp) {
  Result<auth::Project> project = ResolveProject(env, call);
  if (!project.ok()) return project.status();
  live::ActiveQuery q;
  int64_t limit = 1000;
  LOUPE_RETURN_IF_ERROR(IntParam(*call.http, "limit", 0, kMaxLimit, &limit));
  q.limit = static_cast<size_t>(limit);
  q.service = call.http->Param("service").value_or("");
  q.instance = call.http->Param("instance").value_or("");
  control::AgentConfigStore* configs = env.deps.agent_config;
  const std::vector<int64_t> default_bands = configs != nullptr
                                                 ? configs->Get(project->id, "").config.bands_ms
                                                 : control::AgentConfig().bands_ms;
  std::unordered_map<std::string, std::vector<int64_t>> bands_ms;  // per service
  auto service_bands = [&](const std::string& service) -> const std::vector<int64_t>& {
    auto it = bands_ms.find(service);
    if (it == bands_ms.end()) {
      it = bands_ms
               .emplace(service, configs != nullptr
                                     ? configs->Get(project->id, service).config.bands_ms
                                     : default_bands)
               .first;
    }
    return it->second;
  };
  q.thresholds = [&](const std::string& service) {
    std::vector<int64_t> us;
    for (int64_t ms : service_bands(service)) us.push_back(ms * kMicrosPerMilli);
    return us;
  };
  std::vector<live::InstanceActive> list;
  if (env.deps.active != nullptr) list = env.deps.active->Active(project->id, q);
  // Instances that send transactions but never an active snapshot (a plain
  // OpenTelemetry SDK): listed as not reported, so a client can tell "no
  // data" from "0 active". Seen within the same horizon as reporters.
  const int64_t horizon = env.deps.active != nullptr ? env.deps.active->options().omit_after_us
                                                     : 600 * kMicrosPerSecond;
  std::vector<store::InstanceInfo> silent;
  if (auto known = env.deps.store->ListInstances(project->id); known.ok()) {
    std::set<std::pair<std::string_view, std::string_view>> reporting;
    for (const auto& i : list) reporting.emplace(i.service, i.instance);
    for (auto& i : *known) {
      if (call.now_us - i.last_seen_us >= horizon || i.instance == "(overflow)") continue;
      if ((!q.service.empty() && i.service != q.service) ||
          (!q.instance.empty() && i.instance != q.instance)) {
        continue;
      }
      if (reporting.contains({i.service, i.instance})) continue;
      silent.push_back(std::move(i));
    }
  }

  std::string body;
  JsonWriter w(&body);
  w.StartObject();
  WriteBandsMs(w, default_bands);
  w.Key("instances");
  w.StartArray();
  auto write_reporting = [&](const live::InstanceActive& i) {
    w.StartObject();
    w.Field("service", i.service);
    w.Field("instance", i.instance);
    w.Field("host", i.host);
    w.Field("agent", i.agent);
    w.FieldMillis("time_ms", i.time_us);
    w.FieldMillis("received_ms", i.received_us);
    w.FieldMillis("started_ms", i.started_us);
    w.FieldBool("reported", true);
    w.FieldBool("stale", i.stale);
    WriteBandsMs(w, service_bands(i.service));
    w.Key("bands");
    w.StartArray();
    if (i.stale) {
      for (size_t b = 0; b <= service_bands(i.service).size(); ++b) w.Uint(0);
    } else {
      for (uint64_t n : i.bands) w.Uint(n);
    }
    w.EndArray();
    w.FieldInt("throttled_total", i.throttled_total);
    w.FieldUint("active_total", i.active_total);
    w.Key("active");
    w.StartArray();
    for (const auto& a : i.active) {
      w.StartObject();
      w.Field("id", a.id);
      w.Field("trace_id", a.trace_id);
      {
        // The id the transaction will be stored under (Hash64 of trace id and
        // root span id), so a client can open it once it has finished.
        model::TraceId trace;
        model::SpanId span = 0;
        if (model::TraceIdFromHex(a.trace_id, &trace) && model::TxIdFromHex(a.id, &span) &&
            span != 0) {
          w.Field("tx_id", model::TxIdToHex(model::MakeTxId(trace, span)));
        } else {
          w.Field("tx_id", "");
        }
      }
      w.Field("endpoint", a.endpoint);
      w.FieldMillis("start_ms", a.start_us);
      w.FieldMillis("elapsed_ms", a.elapsed_us);
      w.Field("step", a.step);
      w.Field("step_kind", a.step_kind);
      w.Field("thread", a.thread);
      w.Field("user", a.user);
      w.Field("client_ip", a.client_ip);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  };
  auto write_silent = [&](const store::InstanceInfo& i) {
    w.StartObject();
    w.Field("service", i.service);
    w.Field("instance", i.instance);
    w.Field("host", i.host);
    w.FieldBool("reported", false);
    w.FieldBool("stale", false);
    WriteBandsMs(w, service_bands(i.service));
    w.Key("bands");
    w.StartArray();
    w.EndArray();
    w.FieldUint("active_total", 0);
    w.Key("active");
    w.StartArray();
    w.EndArray();
    w.EndObject();
  };
  // Both lists are sorted by (service, instance): merge them.
  size_t a = 0, b = 0;
  while (a < list.size() || b < silent.size()) {
    if (b == silent.size() ||
        (a < list.size() && std::tie(list[a].service, list[a].instance) <
                                std::tie(silent[b].service, silent[b].instance))) {
      write_reporting(list[a++]);
    } else {
      write_silent(silent[b++]);
    }
  }
  w.EndArray();
  w.EndObject();
  w.Finish();
  SetJson(resp, std::move(body));
  return Status::OK();
}

Status GetActiveStack(const Env& env, const Call& call, net::HttpResponse* resp) {
  Result<auth::Project> project = ResolveProject(env, call);
  if (!project.ok()) return project.status();
  live::StackQuery q;
  LOUPE_RETURN_IF_ERROR(
      TimeRange(*call.http, call.now_us, env.options.max_range_days, &q.from_us, &q.to_us));
  int64_t limit = 100;
  LOUPE_RETURN_IF_ERROR(IntParam(*call.http, "limit", 1, kMaxLimit, &limit));
  q.limit = static_cast<size_t>(limit);
  q.service = call.http->Param("service").value_or("");
  q.instance = call.http->Param("instance").value_or("");
  q.endpoint = call.http->Param("endpoint").value_or("");
  live::StackAggregate agg;
  if (env.deps.active != nullptr) agg = env.deps.active->Stacks(project->id, q);

  std::string body;
  JsonWriter w(&body);
  w.StartObject();
  w.FieldUint("samples", agg.samples);
  w.Key("frames");
  w.StartArray();
  for (const auto& f : agg.frames) {
    w.StartObject();
    w.Field("frame", f.frame);
    w.FieldUint("samples", f.samples);
    w.FieldDouble("share", Percent(f.samples, agg.samples));
    w.FieldUint("self_samples", f.self_samples);
    w.FieldDouble("self_share", Percent(f.self_samples, agg.samples));
    w.EndObject();
  }
  w.EndArray();
  w.Key("endpoints");
  w.StartArray();
  for (const auto& [endpoint, n] : agg.endpoints) {
    w.StartObject();
    w.Field("endpoint", endpoint);
    w.FieldUint("samples", n);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  w.Finish();
  SetJson(resp, std::move(body));
  return Status::OK();
}

namespace {

// Events a grouped request reads at most; past it the answer says truncated.
constexpr size_t kMaxGroupedEvents = 1'000'000;

// GET /api/v1/events?group_by=: one row per key over every matching event
// the store holds (up to kMaxGroupedEvents of the newest), largest count
// first; `limit` caps the groups.
Status GroupEvents(const Env& env, const auth::Project& project, const store::EventFilter& f,
                   size_t max_groups, const std::string& by, net::HttpResponse* resp) {
  struct Group {
    model::Event latest;  // events come newest first
    uint64_t count = 0;
    int64_t first_us = 0, last_us = 0;
    model::TxId example_tx = 0;
    int level = 0;  // 0 NORMAL, 1 WARNING, 2 FATAL: the worst seen
  };
  auto rank = [](const char* level) {
    std::string_view l(level);
    return l == model::kLevelFatal ? 2 : l == model::kLevelWarning ? 1 : 0;
  };
  // Key: the grouped field; message groups also keep type and service apart.
  std::unordered_map<std::string, Group> groups;
  size_t seen = 0;
  bool scan_truncated = false;
  std::string key;
  LOUPE_RETURN_IF_ERROR(env.deps.store->ScanEvents(project.id, f, [&](const model::Event& e) {
    if (++seen > kMaxGroupedEvents) {
      scan_truncated = true;
      return false;
    }
    key.clear();
    if (by == "type") {
      key = e.type;
    } else if (by == "service") {
      key = e.service;
    } else if (by == "endpoint") {
      key.append(e.service).push_back('\x1f');
      key.append(e.endpoint);
    } else {
      key.append(e.type).push_back('\x1f');
      key.append(e.service).push_back('\x1f');
      key.append(e.message);
    }
    auto [it, fresh] = groups.try_emplace(key);
    Group& g = it->second;
    if (fresh) {
      g.latest = e;
      g.first_us = g.last_us = e.time_us;
    }
    g.count += static_cast<uint64_t>(std::max<int64_t>(e.count, 1));
    g.first_us = std::min(g.first_us, e.time_us);
    g.last_us = std::max(g.last_us, e.time_us);
    if (g.example_tx == 0) g.example_tx = e.tx_id;  // the newest event with a transaction
    g.level = std::max(g.level, rank(e.level));
    return true;
  }));
  std::vector<const Group*> order;
  order.reserve(groups.size());
  for (const auto& [k, g] : groups) order.push_back(&g);
  std::sort(order.begin(), order.end(), [](const Group* a, const Group* b) {
    return a->count != b->count ? a->count > b->count : a->last_us > b->last_us;
  });
  const bool truncated = order.size() > max_groups || scan_truncated;
  if (order.size() > max_groups) order.resize(max_groups);
  constexpr const char* kLevels[] = {model::kLevelNormal, model::kLevelWarning, model::kLevelFatal};

  std::string body;
  JsonWriter w(&body);
  w.StartObject();
  w.Key("groups").StartArray();
  for (const Group* g : order) {
    const model::Event& e = g->latest;
    w.StartObject();
    w.Field("key", by == "type"      ? std::string(e.type)
                   : by == "service" ? e.service
                   : by == "endpoint" ? e.endpoint
                                      : e.message);
    w.FieldUint("count", g->count);
    w.FieldMillis("first_ms", g->first_us);
    w.FieldMillis("last_ms", g->last_us);
    w.Key("example_tx_id");
    if (g->example_tx == 0) {
      w.String("");
    } else {
      w.Hex64(g->example_tx);
    }
    w.Field("level", kLevels[g->level]);
    w.Field("type", e.type);
    w.Field("service", e.service);
    w.Field("endpoint", e.endpoint);
    w.Field("message", e.message);
    w.EndObject();
  }
  w.EndArray();
  w.FieldBool("truncated", truncated);
  w.EndObject();
  w.Finish();
  SetJson(resp, std::move(body));
  return Status::OK();
}

}  // namespace

Status GetEvents(const Env& env, const Call& call, net::HttpResponse* resp) {
  Result<auth::Project> project = ResolveProject(env, call);
  if (!project.ok()) return project.status();
  store::EventFilter f;
  LOUPE_RETURN_IF_ERROR(
      TimeRange(*call.http, call.now_us, env.options.max_range_days, &f.from_us, &f.to_us));
  int64_t limit = 100;
  LOUPE_RETURN_IF_ERROR(IntParam(*call.http, "limit", 1, kMaxLimit, &limit));
  f.level = call.http->Param("level").value_or("");
  if (!f.level.empty() && f.level != model::kLevelNormal && f.level != model::kLevelWarning &&
      f.level != model::kLevelFatal) {
    return Status::InvalidArgument("level must be NORMAL, WARNING or FATAL");
  }
  f.type = call.http->Param("type").value_or("");
  if (!f.type.empty() &&
      std::none_of(std::begin(model::kEventTypes), std::end(model::kEventTypes),
                   [&](const char* t) { return f.type == t; })) {
    std::string all;
    for (const char* t : model::kEventTypes) all += (all.empty() ? "" : ", ") + std::string(t);
    return Status::InvalidArgument("type must be one of " + all);
  }
  f.service = call.http->Param("service").value_or("");
  const std::string group_by = call.http->Param("group_by").value_or("");
  if (!group_by.empty()) {
    if (group_by != "type" && group_by != "service" && group_by != "endpoint" &&
        group_by != "message") {
      return Status::InvalidArgument("group_by must be type, service, endpoint or message");
    }
    return GroupEvents(env, *project, f, static_cast<size_t>(limit), group_by, resp);
  }

  std::string body;
  JsonWriter w(&body);
  w.StartObject();
  w.Key("events");
  w.StartArray();
  size_t n = 0;
  bool truncated = false;
  LOUPE_RETURN_IF_ERROR(env.deps.store->ScanEvents(project->id, f, [&](const model::Event& e) {
    if (n == static_cast<size_t>(limit)) {
      truncated = true;
      return false;
    }
    ++n;
    w.StartObject();
    w.FieldMillis("time_ms", e.time_us);
    w.Field("level", e.level);
    w.Field("type", e.type);
    w.Field("message", e.message);
    w.Field("service", e.service);
    w.Field("instance", e.instance);
    w.Field("endpoint", e.endpoint);
    w.Key("tx_id");
    if (e.tx_id == 0) {
      w.String("");
    } else {
      w.Hex64(e.tx_id);
    }
    w.EndObject();
    return true;
  }));
  w.EndArray();
  w.FieldBool("truncated", truncated);
  w.EndObject();
  w.Finish();
  SetJson(resp, std::move(body));
  return Status::OK();
}

Status AgentConfig(const Env& env, const Call& call, net::HttpResponse* resp) {
  Result<auth::Project> project = ResolveProject(env, call);
  if (!project.ok()) return project.status();
  LOUPE_RETURN_IF_ERROR(NeedAgentConfig(env));
  control::AgentConfigStore* configs = env.deps.agent_config;
  const std::string service = call.http->Param("service").value_or("");
  const std::string& method = call.http->method;
  control::EffectiveConfig effective;
  if (method == "GET") {
    effective = configs->Get(project->id, service);
  } else if (method == "PUT") {
    Result<control::AgentConfig> c = control::ParseAgentConfigJson(call.http->body);
    if (!c.ok()) return c.status().Annotate("agent configuration");
    Result<control::EffectiveConfig> r = configs->Put(project->id, service, std::move(*c));
    if (!r.ok()) return r.status();
    effective = std::move(*r);
  } else {  // DELETE
    if (service.empty()) {
      return Status::InvalidArgument("DELETE removes a service override: give service=");
    }
    Result<control::EffectiveConfig> r = configs->Remove(project->id, service);
    if (!r.ok()) return r.status();
    effective = std::move(*r);
  }
  SetJson(resp, control::EffectiveConfigJson(effective, /*with_overridden=*/true));
  return Status::OK();
}

}  // namespace loupe::api::internal
