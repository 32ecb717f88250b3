#include "model/metric.h"

namespace loupe::model {

const KeyValue* MetricBatch::Find(AttrRange r, std::string_view key) const {
  for (uint32_t i = r.begin; i < r.begin + r.count && i < attrs.size(); ++i) {
    if (attrs[i].key == key) return &attrs[i];
  }
  return nullptr;
}

void MetricBatch::Clear() {
  resources.clear();
  metrics.clear();
  points.clear();
  attrs.clear();
  exemplars.clear();
  bounds.clear();
  counts.clear();
  arena.clear();
  truncated_values = dropped_attributes = dropped_exemplars = invalid_points = skipped_metrics = 0;
}

}  // namespace loupe::model
