// Range queries over a Store: transaction lists, X-View scatter, time series,
// per-endpoint statistics, traces. Pure computations over Store::Scan/Get;
// api/ turns the results into JSON. Semantics are in docs/api.md.
//
// Thread-safety: stateless functions; safe to call concurrently.
#ifndef LOUPE_QUERY_QUERY_H_
#define LOUPE_QUERY_QUERY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "store/store.h"

namespace loupe::query {

// ---- transactions list ----
enum class TxSort { kNewest, kSlowest, kSqlTime, kExternalTime };

struct TxListRow {
  model::TxId id;
  model::TraceId trace_id;
  std::string service, instance, endpoint, user, client_ip, http_method, error_type;
  int64_t start_us, end_us;
  int32_t status;
  bool error;
  model::Summary summary;
};

struct TxList {
  std::vector<TxListRow> rows;
  bool truncated = false;  // more rows matched than `limit`
};

Result<TxList> ListTransactions(const store::Store& s, model::ProjectId p, const store::TxFilter& f,
                                size_t limit, TxSort sort);

// ---- X-View ----
// Exact points when at most max_points match; otherwise a density grid of
// x_bins (time) × y_bins (log-scaled elapsed) with counts and error counts.
struct XViewPoints {
  std::vector<model::TxId> id;
  std::vector<int64_t> end_us;
  std::vector<int64_t> elapsed_us;
  std::vector<uint8_t> error;
};

struct XViewBins {
  int64_t from_us = 0, to_us = 0;
  int x_bins = 0, y_bins = 0;
  double y_min_ms = 0, y_max_ms = 0;  // log scale between these
  std::vector<uint32_t> count;        // x_bins * y_bins, row-major by x
  std::vector<uint32_t> errors;
};

struct XView {
  bool binned = false;
  uint64_t total = 0;  // matching transactions
  XViewPoints points;  // when !binned, ordered by end_us
  XViewBins bins;      // when binned
};

struct XViewOptions {
  size_t max_points = 200'000;
  int x_bins = 600;
  int y_bins = 100;
};

Result<XView> ComputeXView(const store::Store& s, model::ProjectId p, const store::TxFilter& f,
                           const XViewOptions& o);

// ---- series ----
// Rollups answer whenever the store keeps them, the filter is on time,
// service, instance and endpoint only, and the step is a whole number of
// seconds (5-minute cells when it is a multiple of 5 minutes); the result is
// the same as from raw rows (docs/api.md).
// kUsers: distinct users (user id, else client IP) per bucket from the
// store's hourly sketches; the step must be a multiple of an hour.
enum class Metric { kTps, kResponseTime, kErrorRate, kCount, kErrors, kUsers };
enum class GroupBy { kNone, kService, kInstance, kEndpoint };

struct SeriesLine {
  std::string key;             // "" when not grouped
  std::vector<double> values;  // one per bucket; NaN where no data (response_time)
};

struct Series {
  int64_t from_us = 0;  // aligned down to step
  int64_t step_us = 0;
  size_t buckets = 0;
  std::vector<SeriesLine> lines;  // at most max_groups; the rest folded into "(other)"
  // What answered: "rollups", "raw" or "rollups+raw" (rollup buckets inside
  // the range, raw rows at its sub-second edges).
  std::string source;
  // Not part of the API answer: the most per-line bucket arrays (24 bytes a
  // bucket each) held at once while computing it — the working memory of a
  // grouped series, whatever the number of groups (kSeriesOnePassGroups).
  size_t peak_bucket_arrays = 0;
};

// A grouped series is made in one pass (a bucket array for every group met,
// then the max_groups largest kept and the rest folded into "(other)") only
// while it meets at most kSeriesOnePassGroups groups and groups × buckets
// stays within one_pass_cells; otherwise in two passes (totals per group
// first, then buckets for the max_groups winners and "(other)" only). So
// 10,000 instances cost max_groups + 1 arrays, not 10,000 (issue 10: five
// calls grouped by instance took the server from 187 to 436 MiB).
constexpr size_t kSeriesOnePassGroups = 256;
Result<Series> ComputeSeries(const store::Store& s, model::ProjectId p, const store::TxFilter& f,
                             Metric metric, int64_t step_us, GroupBy group_by,
                             size_t max_groups = 20, size_t one_pass_cells = 1'000'000);

// ---- endpoints (application status) ----
struct EndpointStats {
  std::string service;
  std::string endpoint;
  uint64_t count = 0;
  uint64_t errors = 0;
  double avg_ms = 0, max_ms = 0, p50_ms = 0, p95_ms = 0, p99_ms = 0;
  double avg_sql_count = 0, avg_sql_ms = 0, avg_external_count = 0, avg_external_ms = 0;
};

// Answered from rollups under the same conditions as series, with the
// range's edges from raw rows; then p50/p95/p99 come from the rollups'
// log-scaled histograms (within ±6.1 %, store/rollup.h) and everything else
// is exact. *source (optional) is set as Series::source.
Result<std::vector<EndpointStats>> ComputeEndpoints(const store::Store& s, model::ProjectId p,
                                                    const store::TxFilter& f,
                                                    std::string* source = nullptr);

// ---- hitmap ----
// The X-View as a density: transactions per (time bucket × elapsed bin),
// with errors, from the rollups' histograms (raw rows at the range's edges,
// or for filters rollups cannot answer). Elapsed bins are the rollups'
// (store/rollup.h: 8 per doubling); rows min_bin..max_bin are the ones that
// hold any transaction.
struct Hitmap {
  int64_t from_us = 0;  // aligned down to step
  int64_t step_us = 0;
  size_t x_bins = 0;
  uint16_t min_bin = 0, max_bin = 0;  // y row y is bin min_bin + y
  std::vector<uint32_t> count;        // x_bins × (max_bin − min_bin + 1), row-major by x
  std::vector<uint32_t> errors;
  std::string source;  // as Series::source
  size_t y_bins() const { return count.empty() ? 0 : max_bin - min_bin + 1; }
};

// REQUIRES: from and to set. InvalidArgument past max_x_bins buckets.
Result<Hitmap> ComputeHitmap(const store::Store& s, model::ProjectId p, const store::TxFilter& f,
                             int64_t step_us, size_t max_x_bins = 2000);

// ---- traces ----
struct TraceTx {
  model::Transaction tx;
  model::TxId parent_tx = 0;  // the transaction holding tx.parent_span_id; 0 if none
};

Result<std::vector<TraceTx>> GetTrace(const store::Store& s, model::ProjectId p,
                                      const model::TraceId& trace);

}  // namespace loupe::query

#endif  // LOUPE_QUERY_QUERY_H_
