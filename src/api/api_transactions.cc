// Transaction endpoints of docs/api.md: the transaction list, one
// transaction with its steps, a trace, and the X-View scatter.
#include <algorithm>
#include <unordered_map>

#include "api/api_internal.h"
#include "query/query.h"

namespace loupe::api::internal {
namespace {

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

}  // namespace

Status GetTransactions(const Env& env, const Call& call, net::HttpResponse* resp) {
  Result<RangeRequest> range = ParseRangeRequest(env, call);
  if (!range.ok()) return range.status();
  const auth::Project* project = &range->project;
  const store::TxFilter& f = range->filter;
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
  Result<RangeRequest> range = ParseRangeRequest(env, call);
  if (!range.ok()) return range.status();
  const auth::Project* project = &range->project;
  const store::TxFilter& f = range->filter;
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

}  // namespace loupe::api::internal
