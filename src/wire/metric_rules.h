// The checks and the undo shared by the OTLP metrics decoders
// (otlp_metrics_proto.cc, otlp_metrics_json.cc), so that protobuf and JSON
// requests map to the same MetricBatch and count the same things.
//
// Internal to wire/. Thread-safety: pure functions over the caller's batch.
#ifndef LOUPE_WIRE_METRIC_RULES_H_
#define LOUPE_WIRE_METRIC_RULES_H_

#include <cmath>
#include <cstdint>
#include <limits>

#include "model/metric.h"

namespace loupe::wire::internal {

// Exponential histogram scales the data model allows.
inline constexpr int32_t kMinExpScale = -10;
inline constexpr int32_t kMaxExpScale = 20;

// A histogram point is usable when its bucket counts are one more than its
// bounds (or both are empty) and the bounds strictly increase (no NaN).
inline bool HistogramPointValid(const model::MetricBatch& b, const model::MetricPoint& p) {
  if (p.bucket_counts.count == 0 ? p.bounds.count != 0
                                 : p.bucket_counts.count != p.bounds.count + 1) {
    return false;
  }
  for (uint32_t k = 0; k < p.bounds.count; ++k) {
    if (std::isnan(b.Bound(p, k))) return false;
    if (k > 0 && !(b.Bound(p, k - 1) < b.Bound(p, k))) return false;
  }
  return true;
}

// An exponential histogram point is usable when its scale is in range and the
// index of each side's last bucket fits an int32.
inline bool ExpHistogramPointValid(const model::MetricPoint& p) {
  if (p.scale < kMinExpScale || p.scale > kMaxExpScale) return false;
  for (const model::ExpBuckets* side : {&p.positive, &p.negative}) {
    if (side->counts.count > 0 &&
        int64_t{side->offset} + side->counts.count - 1 > std::numeric_limits<int32_t>::max()) {
      return false;
    }
  }
  return true;
}

// What a point's decoding added to a batch, to take back when the point
// turns out unusable.
struct PointMark {
  size_t attrs, exemplars, bounds, counts, arena;
  uint64_t truncated_values;
};

inline PointMark MarkPoint(const model::MetricBatch& b) {
  return {b.attrs.size(),  b.exemplars.size(), b.bounds.size(),
          b.counts.size(), b.arena.size(),     b.truncated_values};
}

// Undoes everything added since `m` and counts the point as invalid.
inline void DiscardInvalidPoint(model::MetricBatch* b, const PointMark& m) {
  b->attrs.resize(m.attrs);
  b->exemplars.resize(m.exemplars);
  b->bounds.resize(m.bounds);
  b->counts.resize(m.counts);
  while (b->arena.size() > m.arena) b->arena.pop_back();
  b->truncated_values = m.truncated_values;
  ++b->invalid_points;
}

}  // namespace loupe::wire::internal

#endif  // LOUPE_WIRE_METRIC_RULES_H_
