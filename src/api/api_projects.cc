// Project endpoints of docs/api.md: POST /api/v1/projects (create, admin
// tokens) and GET /api/v1/projects. PATCH and storage: api_storage.cc.
#include "api/api_internal.h"
#include "rapidjson/document.h"

namespace loupe::api::internal {

Status CreateProject(const Env& env, const Call& call, net::HttpResponse* resp) {
  if (!call.who.admin) {
    return Status::PermissionDenied("creating projects needs an admin token");
  }
  rapidjson::Document d;
  d.Parse(call.http->body.data(), call.http->body.size());
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("name") || !d["name"].IsString()) {
    return Status::InvalidArgument("expected a JSON body {\"name\": \"...\"}");
  }
  std::string name(d["name"].GetString(), d["name"].GetStringLength());
  auth::ProjectId id = 0;
  Result<std::string> key = env.deps.registry->CreateProject(name, &id);
  if (!key.ok()) return key.status();
  Result<std::string> token = env.deps.registry->CreateToken(name, false, {id});
  if (!token.ok()) return token.status();
  LOUPE_RETURN_IF_ERROR(env.deps.store->SetRetention(
      id, store::Retention{auth::kDefaultRetentionDays, auth::kDefaultRollupRetentionDays}));
  std::string out;
  {
    JsonWriter w(&out);
    w.StartObject();
    w.Field("name", name);
    w.Field("ingest_key", *key);
    w.Field("api_token", *token);
    w.EndObject();
  }
  SetJson(resp, std::move(out), 201);
  return Status::OK();
}

Status GetProjects(const Env& env, const Call& call, net::HttpResponse* resp) {
  std::vector<auth::Project> projects = env.deps.registry->ListProjects(call.who);
  std::string body;
  JsonWriter w(&body);
  w.StartObject();
  w.Key("projects");
  w.StartArray();
  for (const auto& p : projects) {
    w.StartObject();
    w.Field("name", p.name);
    w.FieldInt("retention_days", p.retention_days);
    w.FieldInt("rollup_retention_days", p.rollup_retention_days);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  w.Finish();
  SetJson(resp, std::move(body));
  return Status::OK();
}

}  // namespace loupe::api::internal
