// SeriesIndex: one project's series table and inverted index (metric name →
// series ids, label name=value → series ids) for selection by MetricQuery.
// Series ids are dense per project, assigned once and kept in the blocks
// (docs/format/tsdb.md), so they are stable for the life of the data.
//
// Lookup hashes the metric and labels in place (no key string is built:
// building and comparing one took a third of Append's time, measured by
// bench/tsdb_benchmark BM_TsdbAppend) and compares with the series found.
//
// Thread-safety: not thread-safe. The store holds the project's lock:
// exclusive for Add, shared for the readers.
#ifndef LOUPE_STORE_TSDB_SERIES_INDEX_H_
#define LOUPE_STORE_TSDB_SERIES_INDEX_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "store/tsdb/series.h"

namespace loupe::tsdb {

struct LabelMatcher;

struct SeriesInfo {
  uint32_t id = 0;
  std::string metric;
  Labels labels;  // normalized
  SeriesKind kind = SeriesKind::kGauge;
  bool overflow = false;
  uint32_t next_same_hash = UINT32_MAX;  // chain of series whose identity hashes collide
  // The value of label `name`, or "" when the series lacks it.
  std::string_view Label(std::string_view name) const noexcept;
};

class SeriesIndex {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  // The id of (metric, labels) or kNone. REQUIRES: labels normalized.
  uint32_t Find(std::string_view metric, const Labels& labels) const;
  // Adds a series not yet present, with id want_id if that id is free, else
  // the next free one; returns the id. REQUIRES: labels normalized.
  uint32_t Add(std::string_view metric, const Labels& labels, SeriesKind kind,
               uint32_t want_id = kNone);

  // REQUIRES: id was returned by Find or Add.
  const SeriesInfo& info(uint32_t id) const { return *by_id_[id]; }
  size_t size() const noexcept { return size_; }
  // One past the largest id.
  uint32_t id_limit() const noexcept { return static_cast<uint32_t>(by_id_.size()); }
  // Series of one metric (overflow series included).
  size_t MetricSeries(std::string_view metric) const;

  // Ids of the series of metric that satisfy every matcher, ascending.
  // kInvalidArgument for a regex that does not compile.
  Result<std::vector<uint32_t>> Select(std::string_view metric,
                                       const std::vector<LabelMatcher>& matchers) const;
  std::vector<std::string> MetricNames() const;
  // Distinct non-empty values of label name among metric's series (all
  // metrics when metric is empty), sorted.
  std::vector<std::string> LabelValues(std::string_view metric, std::string_view name) const;

 private:
  static uint64_t Hash(std::string_view metric, const Labels& labels) noexcept;

  size_t size_ = 0;
  std::unordered_map<uint64_t, uint32_t> by_hash_;  // first series of each hash
  std::vector<std::unique_ptr<SeriesInfo>> by_id_;  // null where no series has the id
  std::unordered_map<std::string, std::vector<uint32_t>> by_metric_;   // ascending ids
  std::unordered_map<std::string, std::vector<uint32_t>> postings_;    // "name\0value"
};

}  // namespace loupe::tsdb

#endif  // LOUPE_STORE_TSDB_SERIES_INDEX_H_
