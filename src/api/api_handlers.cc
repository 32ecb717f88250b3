// The JSON endpoints of docs/api.md. Each parses its parameters, runs a
// query, and writes the response with JsonWriter.
#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "api/api_internal.h"
#include "query/query.h"
#include "rapidjson/document.h"

namespace loupe::api::internal {
namespace {

// Instances that sent nothing for this long are shown as down.
constexpr int64_t kInstanceUpWindowUs = 60 * kMicrosPerSecond;
// Series: at most this many buckets per line (a chart is a few thousand pixels wide).
constexpr int64_t kMaxSeriesBuckets = 100'000;
constexpr int kMaxXBins = 4000;
constexpr int kMaxYBins = 1000;
constexpr int64_t kMaxXViewCells = 1'000'000;

// The fields every transaction list shares (docs/api.md), for
// query::TxListRow and model::Transaction alike.
template <typename Row>
void WriteListFields(JsonWriter& w, const Row& r) {
  w.Key("id").Hex64(r.id);
  w.Key("trace_id").Hex(r.trace_id.data(), r.trace_id.size());
  w.Field("service", r.service);
  w.Field("instance", r.instance);
  w.Field("endpoint", r.endpoint);
  w.Field("method", r.http_method);
  w.FieldMillis("start_ms", r.start_us);
  w.FieldMillis("end_ms", r.end_us);
  w.FieldMillis("elapsed_ms", r.end_us - r.start_us);
  w.FieldBool("error", r.error);
  w.Field("error_type", r.error_type);
  w.FieldInt("status", r.status);
  w.Field("client_ip", r.client_ip);
  w.Field("user", r.user);
  w.FieldUint("sql_count", r.summary.sql_count);
  w.FieldMillis("sql_ms", r.summary.sql_us);
  w.FieldUint("external_count", r.summary.external_count);
  w.FieldMillis("external_ms", r.summary.external_us);
  w.Key("cpu_ms");
  if (r.summary.cpu_us < 0) {
    w.Null();
  } else {
    w.Millis(r.summary.cpu_us);
  }
}

void WriteTxId(JsonWriter& w, model::TxId id) {
  w.Key("tx_id");
  if (id == 0) {
    w.String("");  // an event without a transaction (agent start/stop, throttling)
  } else {
    w.Hex64(id);
  }
}

void WriteSpanId(JsonWriter& w, std::string_view key, model::SpanId id) {
  w.Key(key);
  if (id == 0) {
    w.String("");
  } else {
    w.Hex64(id);
  }
}

// Depth of each step in the profile tree: 1 for children of the root span,
// parent's + 1 below. Steps whose parent is unknown hang under the root.
std::vector<int> StepDepths(const model::Transaction& tx) {
  const size_t n = tx.steps.size();
  std::unordered_map<model::SpanId, size_t> index;
  index.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (tx.steps[i].span_id != 0) index.emplace(tx.steps[i].span_id, i);
  }
  std::vector<int> depth(n, 0);
  std::vector<size_t> chain;
  for (size_t i = 0; i < n; ++i) {
    if (depth[i] != 0) continue;
    chain.clear();
    size_t cur = i;
    int base = 0;  // depth of the first known ancestor
    for (;;) {
      chain.push_back(cur);
      const model::SpanId parent = tx.steps[cur].parent_span_id;
      if (parent == 0 || parent == tx.span_id || chain.size() > n) break;
      auto it = index.find(parent);
      if (it == index.end() || it->second == cur) break;
      if (depth[it->second] != 0) {
        base = depth[it->second];
        break;
      }
      cur = it->second;
    }
    // chain.back() hangs under `base`; assign downwards.
    int d = base;
    for (size_t k = chain.size(); k-- > 0;) depth[chain[k]] = ++d;
  }
  return depth;
}

void WriteSteps(JsonWriter& w, const model::Transaction& tx) {
  const std::vector<int> depth = StepDepths(tx);
  w.Key("steps");
  w.StartArray();
  for (size_t i = 0; i < tx.steps.size(); ++i) {
    const model::Step& s = tx.steps[i];
    w.StartObject();
    WriteSpanId(w, "span_id", s.span_id);
    WriteSpanId(w, "parent_span_id", s.parent_span_id);
    w.FieldInt("depth", depth[i]);
    w.Field("kind", model::StepKindName(s.kind));
    w.Field("name", s.name);
    w.FieldMillis("start_ms", s.start_us);
    w.FieldMillis("offset_ms", s.start_us - tx.start_us);
    w.FieldMillis("elapsed_ms", s.elapsed_us);
    w.FieldBool("error", s.error);
    w.Field("sql", s.sql);
    w.Field("db_system", s.db_system);
    w.Key("binds");
    w.StartArray();
    for (const auto& b : s.binds) w.String(b);
    w.EndArray();
    w.Key("rows");
    if (s.rows < 0) {
      w.Null();
    } else {
      w.Int(s.rows);
    }
    w.Field("url", s.url);
    w.Field("host", s.host);
    w.FieldInt("http_status", s.http_status);
    w.Field("message", s.message);
    w.Field("stack", s.stack);
    w.Key("attributes");
    w.StartObject();
    for (const auto& [k, v] : s.attributes) w.Field(k, v);
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
}

// Series step when none is given: the smallest "round" step with at most
// 600 buckets. Past 25 days that exceeds the 1 h limit of an explicit step.
int64_t DefaultStepSeconds(int64_t range_us) {
  static constexpr int64_t kSteps[] = {1,   2,   5,    10,   15,   30,    60,    120,   300,
                                       600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400};
  const int64_t range_s = (range_us + kMicrosPerSecond - 1) / kMicrosPerSecond;
  for (int64_t s : kSteps) {
    if (range_s <= s * 600) return s;
  }
  return 86400;
}

}  // namespace

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
  SetJson(resp, std::move(out));
  resp->status = 201;
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

Status GetTransactions(const Env& env, const Call& call, net::HttpResponse* resp) {
  Result<auth::Project> project = ResolveProject(env, call);
  if (!project.ok()) return project.status();
  store::TxFilter f;
  LOUPE_RETURN_IF_ERROR(Filter(*call.http, call.now_us, env.options.max_range_days, &f));
  int64_t limit = 100;
  LOUPE_RETURN_IF_ERROR(
      IntParam(*call.http, "limit", 1, static_cast<int64_t>(env.options.max_list_limit), &limit));
  query::TxSort sort = query::TxSort::kNewest;
  if (auto v = call.http->Param("sort"); v && !v->empty()) {
    if (*v == "newest") {
      sort = query::TxSort::kNewest;
    } else if (*v == "slowest") {
      sort = query::TxSort::kSlowest;
    } else if (*v == "sql") {
      sort = query::TxSort::kSqlTime;
    } else if (*v == "external") {
      sort = query::TxSort::kExternalTime;
    } else {
      return Status::InvalidArgument("sort must be newest, slowest, sql or external");
    }
  }
  Result<query::TxList> list =
      query::ListTransactions(*env.deps.store, project->id, f, static_cast<size_t>(limit), sort);
  if (!list.ok()) return list.status();
  std::string body;
  body.reserve(list->rows.size() * 512 + 64);
  JsonWriter w(&body);
  w.StartObject();
  w.Key("transactions");
  w.StartArray();
  for (const auto& r : list->rows) {
    w.StartObject();
    WriteListFields(w, r);
    w.EndObject();
  }
  w.EndArray();
  w.FieldBool("truncated", list->truncated);
  w.EndObject();
  w.Finish();
  SetJson(resp, std::move(body));
  return Status::OK();
}

Status GetTransaction(const Env& env, const Call& call, std::string_view id,
                      net::HttpResponse* resp) {
  model::TxId tx_id;
  if (!model::TxIdFromHex(id, &tx_id)) {
    return Status::InvalidArgument("transaction ids are 16 hex digits");
  }
  Result<auth::Project> project = ResolveProject(env, call);
  if (!project.ok()) return project.status();
  Result<model::Transaction> tx = env.deps.store->Get(project->id, tx_id);
  if (!tx.ok()) {
    if (tx.status().code() == Status::Code::kNotFound) {
      return Status::NotFound("no transaction " + model::TxIdToHex(tx_id));
    }
    return tx.status();
  }
  std::string body;
  JsonWriter w(&body);
  w.StartObject();
  WriteListFields(w, *tx);
  w.Field("url", tx->url);
  w.Field("host", tx->host);
  WriteSpanId(w, "span_id", tx->span_id);
  WriteSpanId(w, "parent_span_id", tx->parent_span_id);
  w.FieldUint("dropped_steps", tx->dropped_steps);
  WriteSteps(w, *tx);
  w.EndObject();
  w.Finish();
  SetJson(resp, std::move(body));
  return Status::OK();
}

Status GetTrace(const Env& env, const Call& call, std::string_view id, net::HttpResponse* resp) {
  model::TraceId trace{};
  if (!model::TraceIdFromHex(id, &trace) ||
      std::all_of(trace.begin(), trace.end(), [](uint8_t b) { return b == 0; })) {
    return Status::InvalidArgument("trace ids are 32 hex digits, not all zero");
  }
  Result<auth::Project> project = ResolveProject(env, call);
  if (!project.ok()) return project.status();
  Result<std::vector<query::TraceTx>> txs = query::GetTrace(*env.deps.store, project->id, trace);
  if (!txs.ok()) {
    if (txs.status().code() != Status::Code::kNotFound) return txs.status();
  }
  if (!txs.ok() || txs->empty()) return Status::NotFound("no trace " + model::TraceIdToHex(trace));
  std::string body;
  JsonWriter w(&body);
  w.StartObject();
  w.Key("trace_id").Hex(trace.data(), trace.size());
  w.Key("transactions");
  w.StartArray();
  for (const auto& t : *txs) {
    w.StartObject();
    WriteListFields(w, t.tx);
    w.Key("parent_id");
    if (t.parent_tx == 0) {
      w.Null();
    } else {
      w.Hex64(t.parent_tx);
    }
    WriteSpanId(w, "span_id", t.tx.span_id);
    WriteSpanId(w, "parent_span_id", t.tx.parent_span_id);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  w.Finish();
  SetJson(resp, std::move(body));
  return Status::OK();
}

Status GetXView(const Env& env, const Call& call, net::HttpResponse* resp) {
  Result<auth::Project> project = ResolveProject(env, call);
  if (!project.ok()) return project.status();
  store::TxFilter f;
  LOUPE_RETURN_IF_ERROR(Filter(*call.http, call.now_us, env.options.max_range_days, &f));
  int64_t max_points = 200'000, x_bins = 600, y_bins = 100;
  LOUPE_RETURN_IF_ERROR(IntParam(*call.http, "max_points", 1, 1'000'000, &max_points));
  LOUPE_RETURN_IF_ERROR(IntParam(*call.http, "x_bins", 1, kMaxXBins, &x_bins));
  LOUPE_RETURN_IF_ERROR(IntParam(*call.http, "y_bins", 1, kMaxYBins, &y_bins));
  if (x_bins * y_bins > kMaxXViewCells) {
    return Status::InvalidArgument("x_bins * y_bins may be at most 1000000");
  }
  // ids=0 leaves the id column out (a million 16-hex ids are ~19 MB of the ~40 MB answer);
  // clients then look ids up through /transactions when they need one.
  bool with_ids = true;
  if (auto v = call.http->Param("ids")) {
    if (*v == "0" || *v == "false") {
      with_ids = false;
    } else if (!(*v == "1" || *v == "true" || v->empty())) {
      return Status::InvalidArgument("ids must be 1 or 0, got \"" + std::string(*v) + "\"");
    }
  }
  query::XViewOptions o;
  o.max_points = static_cast<size_t>(max_points);
  o.x_bins = static_cast<int>(x_bins);
  o.y_bins = static_cast<int>(y_bins);
  Result<query::XView> xv = query::ComputeXView(*env.deps.store, project->id, f, o);
  if (!xv.ok()) return xv.status();

  std::string body;
  JsonWriter w(&body);
  w.StartObject();
  w.FieldUint("total", xv->total);
  w.FieldBool("binned", xv->binned);
  if (!xv->binned) {
    const query::XViewPoints& p = xv->points;
    // ~19 bytes an id, ~16 an end time, ~8 an elapsed time, 2 an error flag.
    w.Reserve(p.end_us.size() * (with_ids ? 48 : 29) + 128);
    w.Key("points");
    w.StartObject();
    if (with_ids) {
      w.Key("id");
      w.StartArray();
      for (model::TxId id : p.id) w.Hex64(id);
      w.EndArray();
    }
    w.Key("end_ms");
    w.StartArray();
    for (int64_t t : p.end_us) w.Millis(t);
    w.EndArray();
    w.Key("elapsed_ms");
    w.StartArray();
    for (int64_t e : p.elapsed_us) w.Millis(e);
    w.EndArray();
    w.Key("error");
    w.StartArray();
    for (uint8_t e : p.error) w.Uint(e);
    w.EndArray();
    w.EndObject();
  } else {
    const query::XViewBins& b = xv->bins;
    w.Key("bins");
    w.StartObject();
    w.FieldMillis("from_ms", b.from_us);
    w.FieldMillis("to_ms", b.to_us);
    w.FieldInt("x_bins", b.x_bins);
    w.FieldInt("y_bins", b.y_bins);
    w.FieldMs("y_min_ms", b.y_min_ms);
    w.FieldMs("y_max_ms", b.y_max_ms);
    w.Key("count");
    w.StartArray();
    for (uint32_t c : b.count) w.Uint(c);
    w.EndArray();
    w.Key("errors");
    w.StartArray();
    for (uint32_t c : b.errors) w.Uint(c);
    w.EndArray();
    w.EndObject();
  }
  w.EndObject();
  w.Finish();
  SetJson(resp, std::move(body));
  return Status::OK();
}

Status GetSeries(const Env& env, const Call& call, net::HttpResponse* resp) {
  Result<auth::Project> project = ResolveProject(env, call);
  if (!project.ok()) return project.status();
  store::TxFilter f;
  LOUPE_RETURN_IF_ERROR(Filter(*call.http, call.now_us, env.options.max_range_days, &f));

  std::string metric_name = call.http->Param("metric").value_or("tps");
  query::Metric metric;
  if (metric_name == "tps") {
    metric = query::Metric::kTps;
  } else if (metric_name == "response_time") {
    metric = query::Metric::kResponseTime;
  } else if (metric_name == "error_rate") {
    metric = query::Metric::kErrorRate;
  } else if (metric_name == "count") {
    metric = query::Metric::kCount;
  } else if (metric_name == "errors") {
    metric = query::Metric::kErrors;
  } else if (metric_name == "users") {
    metric = query::Metric::kUsers;
  } else {
    return Status::InvalidArgument(
        "metric must be tps, response_time, error_rate, count, errors or users");
  }

  query::GroupBy group_by = query::GroupBy::kNone;
  if (auto v = call.http->Param("group_by"); v && !v->empty()) {
    if (*v == "service") {
      group_by = query::GroupBy::kService;
    } else if (*v == "instance") {
      group_by = query::GroupBy::kInstance;
    } else if (*v == "endpoint") {
      group_by = query::GroupBy::kEndpoint;
    } else {
      return Status::InvalidArgument("group_by must be service, instance or endpoint");
    }
  }

  int64_t step_s = metric == query::Metric::kUsers
                       ? 3600
                       : DefaultStepSeconds(f.to_us - f.from_us);
  LOUPE_RETURN_IF_ERROR(IntParam(*call.http, "step", 1, 86400, &step_s));
  const int64_t step_us = step_s * kMicrosPerSecond;
  if ((f.to_us - f.from_us) / step_us + 2 > kMaxSeriesBuckets) {
    return Status::InvalidArgument("step too small for the range (over " +
                                   std::to_string(kMaxSeriesBuckets) + " buckets)");
  }
  Result<query::Series> series =
      query::ComputeSeries(*env.deps.store, project->id, f, metric, step_us, group_by);
  if (!series.ok()) return series.status();

  std::string body;
  JsonWriter w(&body);
  w.StartObject();
  w.Field("metric", metric_name);
  w.FieldMillis("from_ms", series->from_us);
  w.FieldMillis("step_ms", series->step_us);
  w.Field("source", series->source);
  w.Key("series");
  w.StartArray();
  for (const auto& line : series->lines) {
    w.StartObject();
    w.Field("key", line.key);
    w.Key("values");
    w.StartArray();
    for (double v : line.values) {
      if (metric == query::Metric::kResponseTime) {
        w.Ms(v);
      } else {
        w.Double(v);
      }
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

Status GetHitmap(const Env& env, const Call& call, net::HttpResponse* resp) {
  Result<auth::Project> project = ResolveProject(env, call);
  if (!project.ok()) return project.status();
  store::TxFilter f;
  LOUPE_RETURN_IF_ERROR(Filter(*call.http, call.now_us, env.options.max_range_days, &f));
  int64_t step_s = DefaultStepSeconds(f.to_us - f.from_us);
  LOUPE_RETURN_IF_ERROR(IntParam(*call.http, "step", 1, 86400, &step_s));
  Result<query::Hitmap> h =
      query::ComputeHitmap(*env.deps.store, project->id, f, step_s * kMicrosPerSecond);
  if (!h.ok()) return h.status();
  std::string body;
  JsonWriter w(&body);
  w.StartObject();
  w.FieldMillis("from_ms", h->from_us);
  w.FieldMillis("step_ms", h->step_us);
  w.FieldUint("x_bins", h->x_bins);
  w.FieldUint("y_bins", h->y_bins());
  // Row y covers elapsed [y_lower_ms[y], y_lower_ms[y + 1]).
  w.Key("y_lower_ms");
  w.StartArray();
  for (size_t y = 0; y <= h->y_bins() && h->y_bins() > 0; ++y) {
    w.Ms(store::BinLowerUs(static_cast<uint16_t>(h->min_bin + y)) / 1000.0);
  }
  w.EndArray();
  w.Key("count");
  w.StartArray();
  for (uint32_t c : h->count) w.Uint(c);
  w.EndArray();
  w.Key("errors");
  w.StartArray();
  for (uint32_t c : h->errors) w.Uint(c);
  w.EndArray();
  w.Field("source", h->source);
  w.EndObject();
  w.Finish();
  SetJson(resp, std::move(body));
  return Status::OK();
}

Status GetEndpoints(const Env& env, const Call& call, net::HttpResponse* resp) {
  Result<auth::Project> project = ResolveProject(env, call);
  if (!project.ok()) return project.status();
  store::TxFilter f;
  LOUPE_RETURN_IF_ERROR(Filter(*call.http, call.now_us, env.options.max_range_days, &f));
  std::string source;
  Result<std::vector<query::EndpointStats>> stats =
      query::ComputeEndpoints(*env.deps.store, project->id, f, &source);
  if (!stats.ok()) return stats.status();
  std::stable_sort(stats->begin(), stats->end(),
                   [](const auto& a, const auto& b) { return a.count > b.count; });
  std::string body;
  JsonWriter w(&body);
  w.StartObject();
  w.Key("endpoints");
  w.StartArray();
  for (const auto& e : *stats) {
    w.StartObject();
    w.Field("service", e.service);
    w.Field("endpoint", e.endpoint);
    w.FieldUint("count", e.count);
    w.FieldUint("errors", e.errors);
    w.FieldDouble("error_rate", e.count ? 100.0 * static_cast<double>(e.errors) / e.count : NAN);
    w.FieldMs("avg_ms", e.avg_ms);
    w.FieldMs("max_ms", e.max_ms);
    w.FieldMs("p50_ms", e.p50_ms);
    w.FieldMs("p95_ms", e.p95_ms);
    w.FieldMs("p99_ms", e.p99_ms);
    w.FieldDouble("avg_sql_count", e.avg_sql_count);
    w.FieldMs("avg_sql_ms", e.avg_sql_ms);
    w.FieldDouble("avg_external_count", e.avg_external_count);
    w.FieldMs("avg_external_ms", e.avg_external_ms);
    w.EndObject();
  }
  w.EndArray();
  w.Field("source", source);
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

namespace {
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
