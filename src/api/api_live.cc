// Endpoints of docs/api.md that show the present: instances that are
// sending, today's summary, and the live stream's frames (api.cc sends them).
#include "api/api_internal.h"

namespace loupe::api::internal {
namespace {

void WriteTxId(JsonWriter& w, model::TxId id) {
  w.Key("tx_id");
  if (id == 0) {
    w.String("");  // an event without a transaction (agent start/stop, throttling)
  } else {
    w.Hex64(id);
  }
}

void WriteLivePoints(const live::LiveFrame& f, JsonWriter& w) {
  w.Key("points");
  w.StartObject();
  w.Key("id");
  w.StartArray();
  for (const auto& p : f.points) w.Hex64(p.id);
  w.EndArray();
  w.Key("end_ms");
  w.StartArray();
  for (const auto& p : f.points) w.Millis(p.end_us);
  w.EndArray();
  w.Key("elapsed_ms");
  w.StartArray();
  for (const auto& p : f.points) w.Millis(p.elapsed_us);
  w.EndArray();
  w.Key("error");
  w.StartArray();
  for (const auto& p : f.points) w.Uint(p.error ? 1 : 0);
  w.EndArray();
  w.EndObject();
  w.FieldUint("points_dropped", f.points_dropped);
}

}  // namespace

Status GetInstances(const Env& env, const Call& call, net::HttpResponse* resp) {
  Result<auth::Project> project = ResolveProject(env, call);
  if (!project.ok()) return project.status();
  Result<std::vector<store::InstanceInfo>> list = env.deps.store->ListInstances(project->id);
  if (!list.ok()) return list.status();
  std::string body;
  JsonWriter w(&body);
  w.StartObject();
  w.Key("instances");
  w.StartArray();
  for (const auto& i : *list) {
    // Instances idle past instance_idle leave the live list (their data stays).
    if (call.now_us - i.last_seen_us >= env.options.instance_idle_us) continue;
    w.StartObject();
    w.Field("service", i.service);
    w.Field("instance", i.instance);
    w.Field("host", i.host);
    w.Field("kind", i.kind);
    w.Field("sdk", i.sdk);
    w.FieldMillis("first_seen_ms", i.first_seen_us);
    w.FieldMillis("last_seen_ms", i.last_seen_us);
    w.FieldBool("up", call.now_us - i.last_seen_us < kInstanceUpWindowUs);
    w.EndObject();
  }
  w.EndArray();
  if (env.deps.instance_cap) {
    const InstanceCap cap = env.deps.instance_cap(project->id);
    w.Key("cap");
    w.StartObject();
    w.FieldUint("max_instances", cap.cap);
    w.FieldUint("instances", cap.instances);
    w.FieldUint("overflowed", cap.overflowed);
    w.EndObject();
  }
  w.EndObject();
  w.Finish();
  SetJson(resp, std::move(body));
  return Status::OK();
}

Status GetSummary(const Env& env, const Call& call, net::HttpResponse* resp) {
  Result<auth::Project> project = ResolveProject(env, call);
  if (!project.ok()) return project.status();
  const live::LiveSummary s = env.deps.live->Summary(project->id, call.now_us);
  std::string body;
  JsonWriter w(&body);
  w.StartObject();
  w.FieldUint("today_calls", s.today_calls);
  w.FieldDouble("tps", s.tps);
  w.FieldMs("avg_ms", s.avg_ms);
  w.FieldDouble("error_rate", s.error_rate);
  w.FieldUint("concurrent_users", s.concurrent_users);
  w.EndObject();
  w.Finish();
  SetJson(resp, std::move(body));
  return Status::OK();
}

std::string LivePointsJson(const live::LiveFrame& f, int64_t now_us) {
  std::string body;
  body.reserve(64 + f.points.size() * 48);
  JsonWriter w(&body);
  w.StartObject();
  w.Field("type", "points");
  w.FieldMillis("t_ms", now_us);
  WriteLivePoints(f, w);
  w.EndObject();
  w.Finish();
  return body;
}

std::string LiveFrameJson(const live::LiveFrame& f) {
  std::string body;
  body.reserve(256 + f.points.size() * 48 + f.events.size() * 160);
  JsonWriter w(&body);
  w.StartObject();
  w.Field("type", "tick");
  w.FieldMillis("t_ms", f.t_us);
  w.FieldUint("tps", f.tps);
  w.FieldMs("avg_ms", f.avg_ms);
  w.FieldUint("errors", f.errors);
  w.FieldUint("today_calls", f.today_calls);
  w.FieldUint("concurrent_users", f.concurrent_users);
  WriteLivePoints(f, w);
  w.Key("events");
  w.StartArray();
  for (const auto& e : f.events) {
    w.StartObject();
    w.FieldMillis("time_ms", e.time_us);
    w.Field("level", e.level);
    w.Field("type", e.type);
    w.Field("message", e.message);
    WriteTxId(w, e.tx_id);
    w.Field("service", e.service);
    w.Field("instance", e.instance);
    w.Field("endpoint", e.endpoint);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  w.Finish();
  return body;
}

}  // namespace loupe::api::internal
