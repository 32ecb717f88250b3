// TimeSeriesStore: the embedded store of infrastructure and OTLP metrics
// (issue 13 §2; design in docs/design/tsdb.md, files in docs/format/tsdb.md).
//
// Layout. <dir>/<project>/ holds immutable block files, one per project,
// resolution and time window (TsdbOptions::block_ms, 2 h by default):
// raw-<start_ms>.tsb (samples) and agg-<start_ms>.tsb (1-minute and 1-hour
// aggregates: min, max, sum, count, last, and first and inc for exact
// counter rates), the latter merged per UTC day into day-<start_ms>.tsb once
// the day is sealed. Each block is self-contained: its own string table,
// series list (id, metric, labels, kind) and compressed columns, with one
// CRC32C over the file.
//
// Head. Samples of windows not yet sealed live in memory, per series and
// window, as streaming delta-of-delta / XOR chunks (chunk.h). Append is
// visible to every Query that starts after it returns.
//
// Durability. Append is not durable by itself: the ingest log in front of
// the store replays what it acknowledged after a crash. Flush() writes every
// head window changed since the last Flush as a whole raw block (temp file,
// fsync, rename, directory fsync), so after it returns OK everything
// appended before it survives a crash; the log's checkpoint calls it before
// deleting what it covers (the contract of store/store.h's Flush). The cost
// of a Flush is the size of the changed windows, not of the change.
//
// Idempotence. A sample whose (series, time) is already held — in the head
// or in a raw block — is skipped and counted (duplicates_skipped), so a
// replayed request changes nothing. A series accepts samples in time order
// only: a sample older than the series' newest held one and not a duplicate
// is dropped and counted (out_of_order_dropped), as is a sample whose
// window is already sealed or older than the raw retention horizon of the
// last Maintain. NaN and ±Inf values are dropped and counted
// (invalid_dropped): a stored value is always finite.
//
// Caps. A project holds at most max_series_per_project series and a metric
// at most max_series_per_metric; a new series past either cap goes to the
// metric's one overflow series (labels {"loupe.overflow": "true"}, counted
// in series_overflowed per SeriesSamples folded). The overflow series takes
// the first sample per timestamp; later ones count as duplicates.
//
// Sealing, downsampling, retention: Maintain(now_ms). A head window whose
// end is head_grace_ms or more before now is sealed: its raw block is
// written (if changed), its aggregate block computed, and it leaves memory.
// Then the aggregate blocks of every sealed UTC day are merged into one day
// block (the window blocks are deleted after it is durable; Open deletes
// any left by a crash in between). Raw blocks whose window ended
// raw_retention_days before now are deleted, aggregate blocks after the
// project's aggregate retention. Series stay in the index until a restart,
// which brings back only those some block holds.
//
// Corruption. Open() loads every block; a block that fails its checksum or
// parse is skipped and named in the returned status (kCorruption, the file
// name in the message) while the store opens with the others:
// Open returns the store, and open_status() says what was skipped. Verify()
// checks every file of a directory without opening a store.
//
// Thread-safety: all methods may be called concurrently. Append and Query
// take the project's lock (Append exclusively, Query shared); Flush and
// Maintain are serialized by their own mutex and hold a project's lock only
// to snapshot or swap its head windows, not while writing files.
#ifndef LOUPE_STORE_TSDB_TIME_SERIES_STORE_H_
#define LOUPE_STORE_TSDB_TIME_SERIES_STORE_H_

#include <atomic>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <vector>

#include "common/env.h"
#include "common/status.h"
#include "model/project.h"
#include "store/tsdb/series.h"

namespace loupe::tsdb {

using model::ProjectId;

struct TsdbOptions {
  std::string dir;          // created if missing
  Env* env = nullptr;       // null = Env::Default(); not owned
  int64_t block_ms = 2 * 3600 * 1000;  // window of a block; a multiple of 1 h
  int64_t head_grace_ms = 3600 * 1000;  // a window is sealed this long after its end
  uint32_t max_series_per_project = 200'000;
  uint32_t max_series_per_metric = 20'000;
  int raw_retention_days = 8;             // 0 keeps raw blocks for ever
  int aggregate_retention_days = 400;     // default for every project; 0 = for ever
  std::map<ProjectId, int> aggregate_retention_per_project;  // overrides
  // Maintain merges the aggregate blocks of each finished UTC day into one
  // day block (when block_ms divides a day). Off only in tests.
  bool compact_aggregate_days = true;
  // Query caps: series selected by one query, and output points (steps ×
  // output series). Past them Query fails with kResourceExhausted.
  size_t max_query_series = 20'000;
  size_t max_query_points = 10'000'000;
};

struct TsdbStats {
  uint64_t series = 0;            // all projects
  uint64_t samples_appended = 0;  // accepted since open
  uint64_t duplicates_skipped = 0;
  uint64_t out_of_order_dropped = 0;
  uint64_t invalid_dropped = 0;   // NaN, ±Inf
  uint64_t series_overflowed = 0; // SeriesSamples folded into an overflow series
  uint64_t head_windows = 0;      // windows in memory
  uint64_t head_bytes = 0;        // approximate memory of the head chunks
  uint64_t blocks = 0;            // block files loaded
  uint64_t block_bytes = 0;       // their size on disk
  uint64_t blocks_corrupt = 0;    // skipped at Open
  uint64_t blocks_deleted = 0;    // by retention since open
};

// How one step's samples of one series become one value.
enum class TimeAgg : uint8_t { kAvg, kMin, kMax, kSum, kLast, kCount, kRate };
// How series of one group_by group become one value per step.
enum class GroupAgg : uint8_t { kSum, kAvg, kMin, kMax, kCount, kP95 };

struct LabelMatcher {
  enum class Op : uint8_t { kEqual, kNotEqual, kRegex, kNotRegex };
  std::string name;
  Op op = Op::kEqual;
  std::string value;  // for kRegex/kNotRegex: an ECMAScript regex matching the whole value
};

// A query over [from_ms, to_ms) in steps of step_ms: output step i covers
// [from_ms + i·step_ms, from_ms + (i+1)·step_ms). A label absent from a
// series matches kEqual "" and kNotEqual anything non-empty.
struct MetricQuery {
  std::string metric;
  std::vector<LabelMatcher> matchers;
  int64_t from_ms = 0;
  int64_t to_ms = 0;
  int64_t step_ms = 60'000;
  TimeAgg agg = TimeAgg::kAvg;
  // Empty: one output series per stored series, labelled with all its
  // labels. Otherwise one per distinct combination of these labels' values
  // (a label a series lacks is left out of its group's labels), reduced
  // with group_agg.
  std::vector<std::string> group_by;
  GroupAgg group_agg = GroupAgg::kSum;
};

struct QuerySeries {
  Labels labels;
  std::vector<double> values;  // one per step; NaN where no data
};

// Columnar: every series has (to_ms - from_ms + step_ms - 1) / step_ms values.
struct QueryResult {
  int64_t from_ms = 0;
  int64_t step_ms = 0;
  std::vector<QuerySeries> series;  // sorted by labels
  // The data the query read: 0 = raw samples, 60000 or 3600000 = aggregates
  // (where present; windows without aggregates yet are read raw).
  int64_t resolution_ms = 0;
};

// Per-file outcome of Verify.
struct BlockCheck {
  std::string file;  // path
  Status status;     // OK or kCorruption/kIoError naming the problem
  uint64_t series = 0;
  uint64_t samples = 0;  // raw samples or aggregate buckets
};

// Checks every block file under dir (checksum, parse, every column decodes,
// time order): one entry per file. Fails only when dir cannot be listed.
Result<std::vector<BlockCheck>> Verify(Env* env, const std::string& dir);

class TimeSeriesStore {
 public:
  // Opens (creating) options.dir and loads its blocks. Blocks that fail
  // their checks are skipped and reported by open_status(); an unreadable
  // directory fails the Open.
  static Result<std::unique_ptr<TimeSeriesStore>> Open(TsdbOptions options);

  ~TimeSeriesStore();
  TimeSeriesStore(const TimeSeriesStore&) = delete;
  TimeSeriesStore& operator=(const TimeSeriesStore&) = delete;

  // OK, or kCorruption naming every block file Open skipped.
  const Status& open_status() const noexcept { return open_status_; }

  // Adds samples (see the header comment for duplicates, order, NaN and
  // caps, which are counted, not errors). Fails only with kInvalidArgument
  // for an entry with an empty metric name; entries before it are applied.
  Status Append(ProjectId project, std::span<const SeriesSamples> batch) noexcept;

  // Makes everything appended so far durable. On error nothing acknowledged
  // is lost from memory; a later Flush retries.
  Status Flush();

  // Seals head windows ending head_grace_ms before now_ms (writing raw and
  // aggregate blocks), then applies retention at now_ms.
  Status Maintain(int64_t now_ms);

  Result<QueryResult> Query(ProjectId project, const MetricQuery& query) const;
  // Metric names of the project, sorted.
  std::vector<std::string> MetricNames(ProjectId project) const;
  // Distinct values of label `name` among the series of `metric` (all
  // metrics if empty), sorted.
  std::vector<std::string> LabelValues(ProjectId project, const std::string& metric,
                                       const std::string& name) const;

  TsdbStats Stats() const;

  // Sets a project's aggregate retention in days (0 = for ever), replacing
  // TsdbOptions' value; the next Maintain applies it.
  void SetAggregateRetention(ProjectId project, int days);

  // Flushes; further Appends fail with kUnavailable.
  Status Close();

 private:
  struct Project;
  struct Window;
  explicit TimeSeriesStore(TsdbOptions options);

  Status LoadProject(ProjectId id, const std::string& path, std::string* corrupt);
  Project* GetProject(ProjectId id) const;
  Project* GetOrCreateProject(ProjectId id);
  Status WriteWindows(bool seal_before_set, int64_t seal_before);
  Status CompactDays(int64_t sealed_before);
  Status ApplyRetention(int64_t now_ms);
  int AggregateRetentionDays(ProjectId id) const;
  std::string ProjectDir(ProjectId id) const;

  const TsdbOptions options_;
  Env* const env_;
  Status open_status_;

  mutable std::shared_mutex projects_mu_;
  std::map<ProjectId, std::unique_ptr<Project>> projects_;  // GUARDED_BY(projects_mu_)

  std::mutex write_mu_;  // serializes Flush, Maintain and Close
  bool closed_ = false;  // GUARDED_BY(projects_mu_)
  // Samples older than this are dropped as out of order: their raw window
  // is past retention (set by Maintain).
  std::atomic<int64_t> horizon_ms_{std::numeric_limits<int64_t>::min()};

  mutable std::mutex retention_mu_;
  std::map<ProjectId, int> retention_per_project_;  // GUARDED_BY(retention_mu_)

  std::atomic<uint64_t> samples_appended_{0}, duplicates_skipped_{0}, out_of_order_dropped_{0},
      invalid_dropped_{0}, series_overflowed_{0}, blocks_corrupt_{0}, blocks_deleted_{0};

  friend class TsdbAccess;
};

}  // namespace loupe::tsdb

#endif  // LOUPE_STORE_TSDB_TIME_SERIES_STORE_H_
