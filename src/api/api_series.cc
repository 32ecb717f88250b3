// Statistics endpoints of docs/api.md over a time range: series, the
// hitmap and the per-endpoint table.
#include <algorithm>
#include <cmath>

#include "api/api_internal.h"
#include "query/query.h"

namespace loupe::api::internal {
namespace {

// Series: at most this many buckets per line (a chart is a few thousand pixels wide).
constexpr int64_t kMaxSeriesBuckets = 100'000;

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

Status GetSeries(const Env& env, const Call& call, net::HttpResponse* resp) {
  Result<RangeRequest> range = ParseRangeRequest(env, call);
  if (!range.ok()) return range.status();
  const auth::Project* project = &range->project;
  const store::TxFilter& f = range->filter;

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
  Result<RangeRequest> range = ParseRangeRequest(env, call);
  if (!range.ok()) return range.status();
  const auth::Project* project = &range->project;
  const store::TxFilter& f = range->filter;
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
  Result<RangeRequest> range = ParseRangeRequest(env, call);
  if (!range.ok()) return range.status();
  const auth::Project* project = &range->project;
  const store::TxFilter& f = range->filter;
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

}  // namespace loupe::api::internal
