// Metrics endpoints of docs/api.md "Metrics": metric names, label values and
// range queries over the time-series store, with the APM statistics of
// GET /api/v1/series offered under apm.* names so one chart can hold both.
#include <algorithm>
#include <cmath>
#include <regex>

#include "api/api_internal.h"
#include "query/query.h"

namespace loupe::api::internal {
namespace {

constexpr int64_t kMaxMetricRangeDays = 400;  // the tsdb's default aggregate retention
constexpr int64_t kDefaultSteps = 600;
constexpr int64_t kMaxMetricPoints = 11'000;  // per series

// The APM statistics answered from the transaction store, not the tsdb.
struct ApmName {
  std::string_view name;
  query::Metric metric;
};
constexpr ApmName kApmNames[] = {
    {"apm.count", query::Metric::kCount},   {"apm.error_rate", query::Metric::kErrorRate},
    {"apm.errors", query::Metric::kErrors}, {"apm.response_time", query::Metric::kResponseTime},
    {"apm.tps", query::Metric::kTps},
};
constexpr std::string_view kApmLabels[] = {"service", "instance", "endpoint"};

// Parameters of GET /metrics/query with a meaning of their own; any other
// name is an equality filter on that label.
constexpr std::string_view kReserved[] = {"project", "name", "group_by", "agg",   "group_agg",
                                          "step",    "from", "to",       "limit", "match[]"};

const ApmName* FindApm(std::string_view name) {
  for (const ApmName& a : kApmNames) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Query-string decoding as HttpRequest::Param does it ('+' is a space, a bad
// escape stays literal); repeated parameters (match[]) need every pair.
std::string Decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && HexDigit(s[i + 1]) >= 0 &&
               HexDigit(s[i + 2]) >= 0) {
      out += static_cast<char>(HexDigit(s[i + 1]) * 16 + HexDigit(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> AllParams(std::string_view q) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!q.empty()) {
    const size_t amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    out.emplace_back(Decode(pair.substr(0, eq)),
                     eq == std::string_view::npos ? std::string() : Decode(pair.substr(eq + 1)));
  }
  return out;
}

std::vector<std::string> SplitComma(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    const size_t c = s.find(',');
    std::string_view part = s.substr(0, c);
    if (!part.empty()) out.emplace_back(part);
    s = c == std::string_view::npos ? std::string_view() : s.substr(c + 1);
  }
  return out;
}

// "label=value", "label!=value", "label=~regex", "label!~regex".
Status ParseMatcher(std::string_view m, tsdb::LabelMatcher* out) {
  const size_t eq = m.find_first_of("=!");
  if (eq == std::string_view::npos || eq == 0) {
    return Status::InvalidArgument(
        "match[] must be label=value, label!=value, label=~regex or "
        "label!~regex");
  }
  out->name = std::string(m.substr(0, eq));
  std::string_view rest = m.substr(eq);
  using Op = tsdb::LabelMatcher::Op;
  if (rest.rfind("!=", 0) == 0) {
    out->op = Op::kNotEqual;
    rest.remove_prefix(2);
  } else if (rest.rfind("=~", 0) == 0) {
    out->op = Op::kRegex;
    rest.remove_prefix(2);
  } else if (rest.rfind("!~", 0) == 0) {
    out->op = Op::kNotRegex;
    rest.remove_prefix(2);
  } else if (rest.rfind('=', 0) == 0) {
    out->op = Op::kEqual;
    rest.remove_prefix(1);
  } else {
    return Status::InvalidArgument(
        "match[] must be label=value, label!=value, label=~regex or "
        "label!~regex");
  }
  out->value = std::string(rest);
  if (out->op == Op::kRegex || out->op == Op::kNotRegex) {
    // std::regex reports a bad pattern by throwing; convert here.
    try {
      std::regex re(out->value, std::regex::ECMAScript);
    } catch (const std::regex_error&) {
      return Status::InvalidArgument("match[] has an invalid regex for label " + out->name);
    }
  }
  return Status::OK();
}

Status ParseTimeAgg(std::string_view s, tsdb::TimeAgg* out) {
  using A = tsdb::TimeAgg;
  static constexpr std::pair<std::string_view, A> kAggs[] = {
      {"avg", A::kAvg},   {"min", A::kMin},     {"max", A::kMax},  {"sum", A::kSum},
      {"last", A::kLast}, {"count", A::kCount}, {"rate", A::kRate}};
  for (const auto& [n, a] : kAggs) {
    if (s == n) {
      *out = a;
      return Status::OK();
    }
  }
  return Status::InvalidArgument("agg must be avg, min, max, sum, last, count or rate");
}

Status ParseGroupAgg(std::string_view s, tsdb::GroupAgg* out) {
  using A = tsdb::GroupAgg;
  static constexpr std::pair<std::string_view, A> kAggs[] = {
      {"sum", A::kSum}, {"avg", A::kAvg},     {"min", A::kMin},
      {"max", A::kMax}, {"count", A::kCount}, {"p95", A::kP95}};
  for (const auto& [n, a] : kAggs) {
    if (s == n) {
      *out = a;
      return Status::OK();
    }
  }
  return Status::InvalidArgument("group_agg must be sum, avg, min, max, count or p95");
}

// from/to in ms (defaults: the last hour) and step in seconds (default: a
// round step giving at most 600 points; always at most kMaxMetricPoints).
struct Range {
  int64_t from_ms = 0;
  int64_t to_ms = 0;
  int64_t step_ms = 0;
};

int64_t DefaultStepSeconds(int64_t range_ms) {
  static constexpr int64_t kSteps[] = {10,   15,   30,   60,    120,   300,   600,  900,
                                       1800, 3600, 7200, 10800, 21600, 43200, 86400};
  for (int64_t s : kSteps) {
    if (range_ms <= s * 1000 * kDefaultSteps) return s;
  }
  return 86400;
}

Status ParseMetricRange(const Call& call, Range* r) {
  int64_t from_us = 0, to_us = 0;
  LOUPE_RETURN_IF_ERROR(TimeRange(*call.http, call.now_us, kMaxMetricRangeDays, &from_us, &to_us));
  int64_t step_s = DefaultStepSeconds((to_us - from_us) / kMicrosPerMilli);
  LOUPE_RETURN_IF_ERROR(IntParam(*call.http, "step", 1, 86400, &step_s));
  r->step_ms = step_s * 1000;
  // Steps on multiples of the step, so a minute step reads the 1-minute
  // aggregates and a refreshed chart keeps its buckets.
  r->from_ms = from_us / kMicrosPerMilli / r->step_ms * r->step_ms;
  r->to_ms = (to_us + kMicrosPerMilli - 1) / kMicrosPerMilli;
  if ((r->to_ms - r->from_ms + r->step_ms - 1) / r->step_ms > kMaxMetricPoints) {
    return Status::InvalidArgument("step too small for the range (over " +
                                   std::to_string(kMaxMetricPoints) + " points a series)");
  }
  return Status::OK();
}

void WriteLabels(JsonWriter* w, const tsdb::Labels& labels) {
  w->StartObject();
  for (const auto& [k, v] : labels) w->Field(k, v);
  w->EndObject();
}

Status NoMetrics() { return Status::NotFound("metrics are not kept by this server"); }

// apm.* through query::ComputeSeries (the rollups of GET /api/v1/series).
Status QueryApm(const Env& env, const Call& call, const auth::Project& project, const ApmName& apm,
                net::HttpResponse* resp) {
  store::TxFilter f;
  Range range;
  LOUPE_RETURN_IF_ERROR(ParseMetricRange(call, &range));
  if (range.to_ms - range.from_ms > int64_t{env.options.max_range_days} * 86'400'000) {
    return Status::InvalidArgument("the range from..to of apm.* may be at most " +
                                   std::to_string(env.options.max_range_days) + " days");
  }
  f.from_us = range.from_ms * kMicrosPerMilli;
  f.to_us = range.to_ms * kMicrosPerMilli;
  query::GroupBy group_by = query::GroupBy::kNone;
  std::string group_label;
  for (const auto& [k, v] : AllParams(call.http->query)) {
    if (k == "agg" || k == "group_agg" || k == "match[]") {
      return Status::InvalidArgument(k + " does not apply to " + std::string(apm.name));
    } else if (k == "group_by") {
      if (v.empty()) continue;
      if (v == "service") {
        group_by = query::GroupBy::kService;
      } else if (v == "instance") {
        group_by = query::GroupBy::kInstance;
      } else if (v == "endpoint") {
        group_by = query::GroupBy::kEndpoint;
      } else {
        return Status::InvalidArgument("group_by of apm.* must be service, instance or endpoint");
      }
      group_label = v;
    } else if (k == "service") {
      f.service = v;
    } else if (k == "instance") {
      f.instance = v;
    } else if (k == "endpoint") {
      f.endpoint = v;
    } else if (std::find(std::begin(kReserved), std::end(kReserved), k) == std::end(kReserved)) {
      return Status::InvalidArgument(k + ": apm.* filters on service, instance and endpoint only");
    }
  }
  int64_t limit = 20;
  LOUPE_RETURN_IF_ERROR(IntParam(*call.http, "limit", 1, 1000, &limit));
  Result<query::Series> s =
      query::ComputeSeries(*env.deps.store, project.id, f, apm.metric,
                           range.step_ms * kMicrosPerMilli, group_by, static_cast<size_t>(limit));
  if (!s.ok()) return s.status();
  std::string body;
  JsonWriter w(&body);
  w.StartObject();
  w.FieldMillis("from_ms", s->from_us);
  w.FieldMillis("step_ms", s->step_us);
  w.FieldInt("resolution_ms", 0);
  bool truncated = false;
  w.Key("series");
  w.StartArray();
  for (const auto& line : s->lines) {
    if (line.key == "(other)") truncated = true;
    w.StartObject();
    w.Key("labels");
    w.StartObject();
    if (!group_label.empty()) w.Field(group_label, line.key);
    w.EndObject();
    w.Key("values");
    w.StartArray();
    for (double v : line.values) {
      if (apm.metric == query::Metric::kResponseTime) {
        w.Ms(v);
      } else {
        w.Double(v);
      }
    }
    w.EndArray();
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

Status GetMetricNames(const Env& env, const Call& call, net::HttpResponse* resp) {
  Result<auth::Project> project = ResolveProject(env, call);
  if (!project.ok()) return project.status();
  if (env.deps.tsdb == nullptr) return NoMetrics();
  const std::string prefix = call.http->Param("prefix").value_or("");
  std::vector<std::string> names = env.deps.tsdb->MetricNames(project->id);
  for (const ApmName& a : kApmNames) names.emplace_back(a.name);
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::string body;
  JsonWriter w(&body);
  w.StartObject();
  w.Key("names");
  w.StartArray();
  for (const std::string& n : names) {
    if (n.rfind(prefix, 0) == 0) w.String(n);
  }
  w.EndArray();
  w.EndObject();
  w.Finish();
  SetJson(resp, std::move(body));
  return Status::OK();
}

Status GetMetricLabels(const Env& env, const Call& call, net::HttpResponse* resp) {
  Result<auth::Project> project = ResolveProject(env, call);
  if (!project.ok()) return project.status();
  if (env.deps.tsdb == nullptr) return NoMetrics();
  const std::string name = call.http->Param("name").value_or("");
  const std::string label = call.http->Param("label").value_or("");
  if (label.empty()) return Status::InvalidArgument("label is required");
  std::vector<std::string> values;
  if (FindApm(name) != nullptr) {
    if (std::find(std::begin(kApmLabels), std::end(kApmLabels), label) == std::end(kApmLabels)) {
      return Status::InvalidArgument("label of apm.* must be service, instance or endpoint");
    }
    if (label == "endpoint") {
      // Endpoints are not in the instance list: those of the last day.
      store::TxFilter f;
      f.to_us = call.now_us;
      f.from_us = call.now_us - 86400 * kMicrosPerSecond;
      std::string source;
      Result<std::vector<query::EndpointStats>> eps =
          query::ComputeEndpoints(*env.deps.store, project->id, f, &source);
      if (!eps.ok()) return eps.status();
      for (const auto& e : *eps) values.push_back(e.endpoint);
    } else {
      Result<std::vector<store::InstanceInfo>> list = env.deps.store->ListInstances(project->id);
      if (!list.ok()) return list.status();
      for (const auto& i : *list) values.push_back(label == "service" ? i.service : i.instance);
    }
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
  } else {
    values = env.deps.tsdb->LabelValues(project->id, name, label);
  }
  std::string body;
  JsonWriter w(&body);
  w.StartObject();
  w.Key("values");
  w.StartArray();
  for (const std::string& v : values) w.String(v);
  w.EndArray();
  w.EndObject();
  w.Finish();
  SetJson(resp, std::move(body));
  return Status::OK();
}

Status GetMetricQuery(const Env& env, const Call& call, net::HttpResponse* resp) {
  Result<auth::Project> project = ResolveProject(env, call);
  if (!project.ok()) return project.status();
  if (env.deps.tsdb == nullptr) return NoMetrics();
  tsdb::MetricQuery q;
  q.metric = call.http->Param("name").value_or("");
  if (q.metric.empty()) return Status::InvalidArgument("name is required");
  if (const ApmName* apm = FindApm(q.metric)) return QueryApm(env, call, *project, *apm, resp);

  Range range;
  LOUPE_RETURN_IF_ERROR(ParseMetricRange(call, &range));
  q.from_ms = range.from_ms;
  q.to_ms = range.to_ms;
  q.step_ms = range.step_ms;
  if (auto v = call.http->Param("agg"); v && !v->empty()) {
    LOUPE_RETURN_IF_ERROR(ParseTimeAgg(*v, &q.agg));
  }
  if (auto v = call.http->Param("group_agg"); v && !v->empty()) {
    LOUPE_RETURN_IF_ERROR(ParseGroupAgg(*v, &q.group_agg));
  }
  q.group_by = SplitComma(call.http->Param("group_by").value_or(""));
  // group_agg without group_by reduces every series to one line: grouping by
  // a label name no series has puts them all in the one group with no labels.
  if (q.group_by.empty() && call.http->Param("group_agg").has_value()) q.group_by = {""};
  if (q.group_by.size() > 8) return Status::InvalidArgument("group_by takes at most 8 labels");
  int64_t limit = 1000;
  LOUPE_RETURN_IF_ERROR(IntParam(*call.http, "limit", 1, 10000, &limit));
  for (const auto& [k, v] : AllParams(call.http->query)) {
    if (k == "match[]") {
      tsdb::LabelMatcher m;
      LOUPE_RETURN_IF_ERROR(ParseMatcher(v, &m));
      q.matchers.push_back(std::move(m));
    } else if (std::find(std::begin(kReserved), std::end(kReserved), k) == std::end(kReserved)) {
      if (k.empty()) return Status::InvalidArgument("a filter parameter has an empty name");
      q.matchers.push_back({k, tsdb::LabelMatcher::Op::kEqual, v});
    }
  }
  if (q.matchers.size() > 32) return Status::InvalidArgument("at most 32 label filters");

  Result<tsdb::QueryResult> r = env.deps.tsdb->Query(project->id, q);
  if (!r.ok()) {
    // The store's caps are the caller's to narrow, not a reason to retry.
    if (r.status().code() == Status::Code::kResourceExhausted) {
      return Status::InvalidArgument(std::string(r.status().message()));
    }
    return r.status();
  }
  std::string body;
  JsonWriter w(&body);
  w.StartObject();
  w.FieldInt("from_ms", r->from_ms);
  w.FieldInt("step_ms", r->step_ms);
  w.FieldInt("resolution_ms", r->resolution_ms);
  w.Key("series");
  w.StartArray();
  const size_t n = std::min(r->series.size(), static_cast<size_t>(limit));
  for (size_t i = 0; i < n; ++i) {
    const tsdb::QuerySeries& s = r->series[i];
    w.StartObject();
    w.Key("labels");
    WriteLabels(&w, s.labels);
    w.Key("values");
    w.StartArray();
    for (double v : s.values) w.Double(v);
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.FieldBool("truncated", r->series.size() > n);
  w.EndObject();
  w.Finish();
  SetJson(resp, std::move(body));
  return Status::OK();
}

}  // namespace loupe::api::internal
