// MapMetrics: a decoded OTLP metrics request (model/metric.h) becomes series
// samples for the time-series store (store/tsdb/series.h), following the
// Prometheus conventions so rates and percentiles can be computed at query
// time (docs/design/tsdb.md, "From OTLP").
//
// Series. One sample per data point, at time_unix_nano truncated to ms. The
// labels are the resource attributes and then the point attributes (a point
// attribute wins over a resource attribute of the same key), values rendered
// as text (AttrValue::AppendText), sorted by name. The scope name is not a
// label: two instrumentation scopes emitting the same metric name with the
// same attributes is rare, and the label would ride on every series.
//
// Kinds. Gauge → kGauge. Sum: monotonic and cumulative (or unspecified
// temporality) → kCounter; monotonic delta → kDeltaCounter; non-monotonic →
// kGauge. Histogram → `<name>_bucket` with an `le` label per bucket (counts
// made cumulative, the last bucket le="+Inf"), `<name>_sum` (when the point
// has a sum) and `<name>_count`, all kCounter (kDeltaCounter for delta
// temporality). ExponentialHistogram → the same series, with le bounds
// computed from scale and offset: negative buckets (le = -base^index), the
// zero bucket (le = zero_threshold), positive buckets (le = base^(index+1)),
// +Inf. To bound the series a histogram makes, points are first downscaled to
// at most max_exp_scale and then until each side spans at most
// max_exp_buckets buckets (adjacent buckets merged, counted in
// exp_points_downscaled); le texts carry 6 significant digits.
//
// Skipped and counted (not errors): points flagged "no recorded value" and
// points with time 0 (skipped_points). Exemplars are not kept: the store holds
// (time, value) samples only (dropped_exemplars). NaN, caps and duplicates
// are the store's to handle (TimeSeriesStore::Append).
//
// Thread-safety: a pure function.
#ifndef LOUPE_INGEST_METRICS_MAPPING_H_
#define LOUPE_INGEST_METRICS_MAPPING_H_

#include <cstdint>
#include <vector>

#include "model/metric.h"
#include "store/tsdb/series.h"

namespace loupe::ingest {

struct MetricsMappingOptions {
  int max_exp_scale = 3;           // base 2^(1/8): bounds ~9% apart
  uint32_t max_exp_buckets = 160;  // per side, after downscaling
};

struct MappedMetrics {
  std::vector<tsdb::SeriesSamples> series;
  uint64_t points = 0;          // data points read
  uint64_t samples = 0;         // samples produced (over all series)
  uint64_t skipped_points = 0;  // no recorded value, or no time
  uint64_t dropped_exemplars = 0;
  uint64_t exp_points_downscaled = 0;
};

// Appends the series of `batch` to out->series and adds to its counters.
void MapMetrics(const model::MetricBatch& batch, const MetricsMappingOptions& options,
                MappedMetrics* out);

}  // namespace loupe::ingest

#endif  // LOUPE_INGEST_METRICS_MAPPING_H_
