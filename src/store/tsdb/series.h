// The data model of the time-series store (docs/design/tsdb.md): a series is
// a metric name plus a sorted set of string labels (resource and point
// attributes together) within one project, with a kind fixed by its first
// sample; a sample is (time in ms, double).
// Thread-safety: plain values.
#ifndef LOUPE_STORE_TSDB_SERIES_H_
#define LOUPE_STORE_TSDB_SERIES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace loupe::tsdb {

// name → value pairs. The store sorts them by name; a name appears once
// (the last of duplicates wins).
using Labels = std::vector<std::pair<std::string, std::string>>;

enum class SeriesKind : uint8_t {
  kGauge = 0,
  kCounter = 1,       // cumulative and monotonic; a decrease is a reset
  kDeltaCounter = 2,  // each sample is the increase since the previous one
};

struct Sample {
  int64_t time_ms = 0;
  double value = 0;
};

// One series' samples in one Append. Samples should be in time order; any
// older than the series' newest held sample are skipped (duplicates) or
// dropped (out of order), see TimeSeriesStore::Append.
struct SeriesSamples {
  std::string metric;
  Labels labels;
  SeriesKind kind = SeriesKind::kGauge;
  std::vector<Sample> samples;
};

// The label every overflow series carries (one per metric and project).
inline constexpr std::string_view kOverflowLabel = "loupe.overflow";

// Sorts labels by name and removes duplicate names (keeping the last given).
void NormalizeLabels(Labels* labels);

// True when labels are sorted by name with no duplicates.
bool LabelsNormalized(const Labels& labels) noexcept;

}  // namespace loupe::tsdb

#endif  // LOUPE_STORE_TSDB_SERIES_H_
