// Hosts endpoints of docs/api.md "Metrics": the servers `loupe agent` (or
// any OTLP source with host.* resource attributes and system.* metrics)
// reports, their latest figures, charts and top processes, all read from the
// time-series store.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <unordered_map>

#include "api/api_internal.h"

namespace loupe::api::internal {
namespace {

using tsdb::GroupAgg;
using tsdb::LabelMatcher;
using tsdb::TimeAgg;
using Op = LabelMatcher::Op;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Latest figures come from this window in steps of kRecentStepMs (agg last);
// a host is up when the step holding its newest sample overlaps the last 30 s.
constexpr int64_t kRecentMs = 300'000;
constexpr int64_t kRecentStepMs = 10'000;
constexpr int64_t kUpMs = 30'000;
// A host is listed (up or down) when it sent memory figures within a day.
constexpr int64_t kListedMs = 86'400'000;
constexpr int64_t kHourMs = 3'600'000;
// Processes at `time` are the last samples within this window before it.
constexpr int64_t kProcessWindowMs = 60'000;
constexpr int64_t kMaxChartPoints = 11'000;

const char* const kHostId = "host.id";
const char* const kHostName = "host.name";

// One figure of a host: a metric, its filters, how series of one host
// combine, and the scale to the API's unit.
struct Figure {
  const char* key;  // JSON field
  const char* metric;
  std::vector<LabelMatcher> matchers;
  GroupAgg group_agg;
  double scale;
  bool one_minus;  // cpu: 1 - idle share
};

const std::vector<Figure>& Figures() {
  static const std::vector<Figure> kFigures = {
      {"cpu_pct",
       "system.cpu.utilization",
       {{"cpu.mode", Op::kEqual, "idle"}},
       GroupAgg::kSum,
       100,
       true},
      {"mem_pct",
       "system.memory.utilization",
       {{"system.memory.state", Op::kEqual, "used"}},
       GroupAgg::kSum,
       100,
       false},
      {"disk_pct", "system.filesystem.utilization", {}, GroupAgg::kMax, 100, false},
      {"net_rx_bps",
       "system.network.io.rate",
       {{"network.io.direction", Op::kEqual, "receive"}},
       GroupAgg::kSum,
       1,
       false},
      {"net_tx_bps",
       "system.network.io.rate",
       {{"network.io.direction", Op::kEqual, "transmit"}},
       GroupAgg::kSum,
       1,
       false},
      {"load_1m", "system.cpu.load_average.1m", {}, GroupAgg::kSum, 1, false},
  };
  return kFigures;
}

double Scale(const Figure& f, double v) {
  if (std::isnan(v)) return v;
  return f.scale * (f.one_minus ? 1.0 - v : v);
}

struct HostRow {
  std::string id;
  std::string name;
  int64_t last_seen_ms = std::numeric_limits<int64_t>::min();
  std::vector<double> figures = std::vector<double>(Figures().size(), kNaN);
};

std::string_view LabelOf(const tsdb::Labels& labels, std::string_view name) {
  for (const auto& [k, v] : labels) {
    if (k == name) return v;
  }
  return {};
}

// host.id, else host.name (OTLP sources without a machine id).
std::string HostKey(const tsdb::Labels& labels) {
  std::string_view id = LabelOf(labels, kHostId);
  return std::string(id.empty() ? LabelOf(labels, kHostName) : id);
}

struct HostTable {
  std::map<std::string, HostRow> rows;  // by key, so the answer is sorted by id
  bool partial = false;

  HostRow* Row(const tsdb::Labels& labels) {
    std::string key = HostKey(labels);
    if (key.empty()) return nullptr;
    HostRow& r = rows[key];
    if (r.id.empty()) {
      r.id = key;
      r.name = std::string(LabelOf(labels, kHostName));
      if (r.name.empty()) r.name = key;
    }
    return &r;
  }
};

// Runs a query narrowed by `extra`; a query past the store's caps leaves the
// figure out (the table is then partial) rather than failing the list. The
// list does not group in the store: a host's series are combined here, as
// the store's grouping by label sets cost most of the list's time at 10,000
// hosts (bench/api_hosts_benchmark.cc: median 219 ms grouped, 135 ms so).
Result<tsdb::QueryResult> QueryHosts(const tsdb::TimeSeriesStore& db, model::ProjectId project,
                                     tsdb::MetricQuery q, const std::vector<LabelMatcher>& extra,
                                     bool* partial) {
  q.matchers.insert(q.matchers.end(), extra.begin(), extra.end());
  Result<tsdb::QueryResult> r = db.Query(project, q);
  if (!r.ok() && r.status().code() == Status::Code::kResourceExhausted) {
    *partial = true;
    return tsdb::QueryResult{};
  }
  return r;
}

// Fills the table: hosts with memory figures in the last day, then each
// figure's newest value in the last five minutes. `extra` narrows to one host.
Status BuildHosts(const tsdb::TimeSeriesStore& db, model::ProjectId project, int64_t now_ms,
                  const std::vector<LabelMatcher>& extra, HostTable* table) {
  // The end of the newest step of s with data (capped at now), or min().
  const auto last_seen = [now_ms](const tsdb::QuerySeries& s, int64_t from_ms, int64_t step_ms,
                                  double* value) {
    for (size_t i = s.values.size(); i-- > 0;) {
      if (std::isnan(s.values[i])) continue;
      *value = s.values[i];
      return std::min(now_ms, from_ms + static_cast<int64_t>(i + 1) * step_ms);
    }
    return std::numeric_limits<int64_t>::min();
  };
  {
    tsdb::MetricQuery q;
    q.metric = "system.memory.usage";
    q.matchers = {{"system.memory.state", Op::kEqual, "used"}};
    // Whole hours on hour edges read the hourly aggregates.
    q.from_ms = (now_ms - kListedMs) / kHourMs * kHourMs;
    q.to_ms = now_ms + 1;
    q.step_ms = kHourMs;
    q.agg = TimeAgg::kCount;
    Result<tsdb::QueryResult> r = QueryHosts(db, project, q, extra, &table->partial);
    if (!r.ok()) return r.status();
    for (const tsdb::QuerySeries& s : r->series) {
      HostRow* row = table->Row(s.labels);
      if (row == nullptr) continue;
      // To the hour here; the recent window below makes it exact to 10 s.
      double unused;
      row->last_seen_ms = std::max(row->last_seen_ms, last_seen(s, q.from_ms, q.step_ms, &unused));
    }
  }
  for (size_t f = 0; f < Figures().size(); ++f) {
    const Figure& figure = Figures()[f];
    tsdb::MetricQuery q;
    q.metric = figure.metric;
    q.matchers = figure.matchers;
    q.from_ms = now_ms + 1 - kRecentMs;
    q.to_ms = now_ms + 1;
    q.step_ms = kRecentStepMs;
    q.agg = TimeAgg::kLast;
    Result<tsdb::QueryResult> r = QueryHosts(db, project, q, extra, &table->partial);
    if (!r.ok()) return r.status();
    for (const tsdb::QuerySeries& s : r->series) {
      HostRow* row = table->Row(s.labels);
      if (row == nullptr) continue;
      double v = kNaN;
      row->last_seen_ms = std::max(row->last_seen_ms, last_seen(s, q.from_ms, q.step_ms, &v));
      if (std::isnan(v)) continue;
      double& acc = row->figures[f];
      if (std::isnan(acc)) {
        acc = v;
      } else if (figure.group_agg == GroupAgg::kMax) {
        acc = std::max(acc, v);
      } else {
        acc += v;
      }
    }
  }
  for (auto& [key, row] : table->rows) {
    for (size_t f = 0; f < Figures().size(); ++f) {
      row.figures[f] = Scale(Figures()[f], row.figures[f]);
    }
  }
  return Status::OK();
}

void WriteHost(JsonWriter* w, const HostRow& h, int64_t now_ms,
               const std::vector<const store::InstanceInfo*>& instances, int64_t now_us) {
  w->StartObject();
  w->Field("id", h.id);
  w->Field("name", h.name);
  const bool seen = h.last_seen_ms != std::numeric_limits<int64_t>::min();
  w->FieldBool("up", seen && h.last_seen_ms > now_ms - kUpMs);
  w->Key("last_seen_ms");
  if (seen) {
    w->Int(h.last_seen_ms);
  } else {
    w->Null();
  }
  for (size_t f = 0; f < Figures().size(); ++f) w->FieldDouble(Figures()[f].key, h.figures[f]);
  w->Key("instances");
  w->StartArray();
  for (const store::InstanceInfo* i : instances) {
    w->StartObject();
    w->Field("service", i->service);
    w->Field("instance", i->instance);
    w->Field("kind", i->kind);
    w->FieldBool("up", now_us - i->last_seen_us < kInstanceUpWindowUs);
    w->EndObject();
  }
  w->EndArray();
  w->EndObject();
}

// Instances by the host they run on (InstanceInfo::host is the host.name
// their SDK sent, which may be the id).
std::unordered_map<std::string, std::vector<const store::InstanceInfo*>> InstancesByHost(
    const std::vector<store::InstanceInfo>& all) {
  std::unordered_map<std::string, std::vector<const store::InstanceInfo*>> out;
  for (const auto& i : all) {
    if (!i.host.empty()) out[i.host].push_back(&i);
  }
  return out;
}

std::vector<const store::InstanceInfo*> InstancesOf(
    const std::unordered_map<std::string, std::vector<const store::InstanceInfo*>>& by_host,
    const HostRow& h) {
  std::vector<const store::InstanceInfo*> out;
  if (auto it = by_host.find(h.name); it != by_host.end()) out = it->second;
  if (h.id != h.name) {
    if (auto it = by_host.find(h.id); it != by_host.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
    }
  }
  return out;
}

}  // namespace

Status GetHosts(const Env& env, const Call& call, net::HttpResponse* resp) {
  Result<auth::Project> project = ResolveProject(env, call);
  if (!project.ok()) return project.status();
  if (env.deps.tsdb == nullptr) return Status::NotFound("metrics are not kept by this server");
  const int64_t now_ms = call.now_us / kMicrosPerMilli;
  HostTable table;
  LOUPE_RETURN_IF_ERROR(BuildHosts(*env.deps.tsdb, project->id, now_ms, {}, &table));
  Result<std::vector<store::InstanceInfo>> instances = env.deps.store->ListInstances(project->id);
  if (!instances.ok()) return instances.status();
  const auto by_host = InstancesByHost(*instances);
  std::string body;
  JsonWriter w(&body);
  w.StartObject();
  w.Key("hosts");
  w.StartArray();
  for (const auto& [key, h] : table.rows) {
    WriteHost(&w, h, now_ms, InstancesOf(by_host, h), call.now_us);
  }
  w.EndArray();
  w.FieldBool("partial", table.partial);
  w.EndObject();
  w.Finish();
  SetJson(resp, std::move(body));
  return Status::OK();
}

Status GetHost(const Env& env, const Call& call, std::string_view id, net::HttpResponse* resp) {
  Result<auth::Project> project = ResolveProject(env, call);
  if (!project.ok()) return project.status();
  if (env.deps.tsdb == nullptr) return Status::NotFound("metrics are not kept by this server");
  const tsdb::TimeSeriesStore& db = *env.deps.tsdb;
  const int64_t now_ms = call.now_us / kMicrosPerMilli;

  // The id is a host.id, or a host.name for sources that send no id.
  const std::vector<std::string> ids = db.LabelValues(project->id, "system.memory.usage", kHostId);
  const bool by_id = std::binary_search(ids.begin(), ids.end(), std::string(id));
  const std::vector<LabelMatcher> host = {
      {by_id ? kHostId : kHostName, Op::kEqual, std::string(id)}};

  int64_t from_us = 0, to_us = 0;
  LOUPE_RETURN_IF_ERROR(TimeRange(*call.http, call.now_us, 400, &from_us, &to_us));
  int64_t step_s = std::max<int64_t>(10, (to_us - from_us) / kMicrosPerSecond / 600);
  LOUPE_RETURN_IF_ERROR(IntParam(*call.http, "step", 1, 86400, &step_s));
  const int64_t step_ms = step_s * 1000;
  const int64_t from_ms = from_us / kMicrosPerMilli / step_ms * step_ms;
  const int64_t to_ms = (to_us + kMicrosPerMilli - 1) / kMicrosPerMilli;
  if ((to_ms - from_ms + step_ms - 1) / step_ms > kMaxChartPoints) {
    return Status::InvalidArgument("step too small for the range (over " +
                                   std::to_string(kMaxChartPoints) + " points a series)");
  }
  int64_t time_ms = now_ms;
  if (auto v = call.http->Param("time")) {
    int64_t t_us = 0;
    if (!ParseMillis(*v, &t_us)) return Status::InvalidArgument("time must be Unix milliseconds");
    time_ms = t_us / kMicrosPerMilli;
  }

  HostTable table;
  LOUPE_RETURN_IF_ERROR(BuildHosts(db, project->id, now_ms, host, &table));
  if (table.rows.empty()) {
    return Status::NotFound("no host '" + std::string(id) + "' reported in the last day");
  }
  const HostRow& row = table.rows.begin()->second;
  Result<std::vector<store::InstanceInfo>> instances = env.deps.store->ListInstances(project->id);
  if (!instances.ok()) return instances.status();
  const auto by_host = InstancesByHost(*instances);

  std::string body;
  JsonWriter w(&body);
  w.StartObject();
  w.Key("host");
  WriteHost(&w, row, now_ms, InstancesOf(by_host, row), call.now_us);
  w.FieldInt("from_ms", from_ms);
  w.FieldInt("step_ms", step_ms);
  w.Key("series");
  w.StartObject();
  const size_t steps = static_cast<size_t>((to_ms - from_ms + step_ms - 1) / step_ms);
  for (const Figure& f : Figures()) {
    tsdb::MetricQuery q;
    q.metric = f.metric;
    q.matchers = f.matchers;
    q.matchers.insert(q.matchers.end(), host.begin(), host.end());
    q.from_ms = from_ms;
    q.to_ms = to_ms;
    q.step_ms = step_ms;
    q.agg = TimeAgg::kAvg;
    q.group_by = {host[0].name};
    q.group_agg = f.group_agg;
    Result<tsdb::QueryResult> r = db.Query(project->id, q);
    if (!r.ok()) return r.status();
    w.Key(f.key);
    w.StartArray();
    for (size_t i = 0; i < steps; ++i) {
      w.Double(r->series.empty() ? kNaN : Scale(f, r->series[0].values[i]));
    }
    w.EndArray();
  }
  w.EndObject();

  // Processes: point attributes of the process.* series of this host.
  struct Proc {
    tsdb::Labels labels;
    double cpu = kNaN, memory = kNaN, threads = kNaN;
  };
  std::map<std::string, Proc> procs;  // by pid
  static constexpr std::pair<const char*, double Proc::*> kProcMetrics[] = {
      {"process.cpu.utilization", &Proc::cpu},
      {"process.memory.usage", &Proc::memory},
      {"process.thread.count", &Proc::threads}};
  for (const auto& [metric, field] : kProcMetrics) {
    tsdb::MetricQuery q;
    q.metric = metric;
    q.matchers = host;
    q.from_ms = time_ms + 1 - kProcessWindowMs;
    q.to_ms = time_ms + 1;
    q.step_ms = kProcessWindowMs;
    q.agg = TimeAgg::kLast;
    Result<tsdb::QueryResult> r = db.Query(project->id, q);
    if (!r.ok()) return r.status();
    for (const tsdb::QuerySeries& s : r->series) {
      if (s.values.empty() || std::isnan(s.values[0])) continue;
      std::string pid(LabelOf(s.labels, "process.pid"));
      if (pid.empty()) continue;
      Proc& p = procs[pid];
      if (p.labels.empty()) p.labels = s.labels;
      p.*field = s.values[0];
    }
  }
  std::vector<const Proc*> order;
  for (const auto& [pid, p] : procs) order.push_back(&p);
  std::stable_sort(order.begin(), order.end(), [](const Proc* a, const Proc* b) {
    const double ca = std::isnan(a->cpu) ? -1 : a->cpu, cb = std::isnan(b->cpu) ? -1 : b->cpu;
    if (ca != cb) return ca > cb;
    const double ma = std::isnan(a->memory) ? -1 : a->memory;
    const double mb = std::isnan(b->memory) ? -1 : b->memory;
    return ma > mb;
  });
  w.FieldInt("processes_time_ms", time_ms);
  w.Key("processes");
  w.StartArray();
  for (const Proc* p : order) {
    w.StartObject();
    w.Field("pid", LabelOf(p->labels, "process.pid"));
    w.Field("name", LabelOf(p->labels, "process.executable.name"));
    w.Field("command_line", LabelOf(p->labels, "process.command_line"));
    w.Field("owner", LabelOf(p->labels, "process.owner"));
    w.FieldDouble("cpu_pct", std::isnan(p->cpu) ? p->cpu : 100 * p->cpu);
    w.FieldDouble("memory_bytes", p->memory);
    w.FieldDouble("threads", p->threads);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  w.Finish();
  SetJson(resp, std::move(body));
  return Status::OK();
}

}  // namespace loupe::api::internal
