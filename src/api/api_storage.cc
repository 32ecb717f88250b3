// Project settings and storage endpoints of docs/api.md: PATCH
// /api/v1/projects/{name} (retention) and GET /api/v1/storage (disk use).
#include <algorithm>
#include <limits>

#include "api/api_internal.h"
#include "rapidjson/document.h"

namespace loupe::api::internal {
namespace {

void WriteProject(JsonWriter& w, const auth::Project& p) {
  w.StartObject();
  w.Field("name", p.name);
  w.FieldInt("retention_days", p.retention_days);
  w.FieldInt("rollup_retention_days", p.rollup_retention_days);
  w.EndObject();
}

// A whole number of days from a JSON member, if present.
Status DaysMember(const rapidjson::Document& d, const char* key, int* out) {
  if (!d.HasMember(key)) return Status::OK();
  const auto& v = d[key];
  if (!v.IsInt())
    return Status::InvalidArgument(std::string(key) + " must be a whole number of days");
  *out = v.GetInt();
  return Status::OK();
}

}  // namespace

Status PatchProject(const Env& env, const Call& call, std::string_view name,
                    net::HttpResponse* resp) {
  if (!call.who.admin) {
    return Status::PermissionDenied("changing project settings needs an admin token");
  }
  Result<auth::Project> project = env.deps.registry->FindProject(call.who, name);
  if (!project.ok()) return Status::NotFound("no project named '" + std::string(name) + "'");
  rapidjson::Document d;
  d.Parse(call.http->body.data(), call.http->body.size());
  if (d.HasParseError() || !d.IsObject()) {
    return Status::InvalidArgument(
        "expected a JSON body {\"retention_days\": N, \"rollup_retention_days\": M}");
  }
  for (auto it = d.MemberBegin(); it != d.MemberEnd(); ++it) {
    const std::string_view key(it->name.GetString(), it->name.GetStringLength());
    if (key != "retention_days" && key != "rollup_retention_days") {
      return Status::InvalidArgument("unknown setting; use retention_days, rollup_retention_days");
    }
  }
  int days = project->retention_days;
  int rollup_days = project->rollup_retention_days;
  LOUPE_RETURN_IF_ERROR(DaysMember(d, "retention_days", &days));
  LOUPE_RETURN_IF_ERROR(DaysMember(d, "rollup_retention_days", &rollup_days));
  Result<auth::Project> updated = env.deps.registry->SetRetention(project->id, days, rollup_days);
  if (!updated.ok()) return updated.status();
  // The registry is the durable record; the store applies it from now on
  // (and main hands every project's setting to the store at start).
  LOUPE_RETURN_IF_ERROR(env.deps.store->SetRetention(
      updated->id, store::Retention{updated->retention_days, updated->rollup_retention_days}));
  std::string body;
  JsonWriter w(&body);
  WriteProject(w, *updated);
  w.Finish();
  SetJson(resp, std::move(body));
  return Status::OK();
}

Status GetStorage(const Env& env, const Call& call, net::HttpResponse* resp) {
  std::vector<auth::Project> projects;
  if (call.http->Param("project").has_value()) {
    Result<auth::Project> p = ResolveProject(env, call);
    if (!p.ok()) return p.status();
    projects.push_back(*p);
  } else {
    projects = env.deps.registry->ListProjects(call.who);
  }
  const store::StorageUsage usage = env.deps.store->Usage();
  std::string body;
  JsonWriter w(&body);
  w.StartObject();
  w.Key("projects");
  w.StartArray();
  uint64_t total = 0;
  for (const auth::Project& p : projects) {
    store::ProjectUsage u;
    auto it = std::find_if(usage.projects.begin(), usage.projects.end(),
                           [&](const store::ProjectUsage& x) { return x.project == p.id; });
    if (it != usage.projects.end()) u = *it;
    total += u.disk_bytes();
    w.StartObject();
    w.Field("project", p.name);
    w.FieldUint("disk_bytes", u.disk_bytes());
    w.FieldUint("segment_bytes", u.segment_bytes);
    w.FieldUint("rollup_bytes", u.rollup_bytes);
    w.FieldUint("memtable_bytes", u.memtable_bytes);
    w.FieldUint("segments", u.segments);
    w.FieldUint("partitions", u.partitions);
    w.Key("oldest_ms");
    if (u.partitions == 0) {
      w.Null();
    } else {
      w.Millis(u.oldest_us);
    }
    w.Key("newest_ms");
    if (u.partitions == 0) {
      w.Null();
    } else {
      w.Millis(u.newest_us);
    }
    w.FieldInt("retention_days", p.retention_days);
    w.FieldInt("rollup_retention_days", p.rollup_retention_days);
    w.EndObject();
  }
  w.EndArray();
  w.FieldUint("total_disk_bytes", total);
  w.FieldUint("free_disk_bytes", usage.free_disk_bytes);
  w.EndObject();
  w.Finish();
  SetJson(resp, std::move(body));
  return Status::OK();
}

}  // namespace loupe::api::internal
