// EncodeMetricsProto (declared in otlp_metrics_proto.h).
#include <algorithm>
#include <bit>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "wire/otlp_metrics_proto.h"
#include "wire/proto_writer.h"

namespace loupe::wire {
namespace {

using namespace internal::pb;  // NOLINT: the field writers
using model::MetricBatch;
using model::MetricPoint;
using model::MetricType;

void NumberValue(uint32_t double_field, uint32_t int_field, const model::MetricValue& v,
                 std::string* out) {
  if (v.is_int) {
    Fixed64(int_field, static_cast<uint64_t>(v.i), out);
  } else {
    Double(double_field, v.d, out);
  }
}

void Exemplars(uint32_t field, const MetricBatch& b, const MetricPoint& p, std::string* out) {
  const size_t end =
      std::min<size_t>(size_t{p.exemplars_begin} + p.exemplars_count, b.exemplars.size());
  for (size_t i = p.exemplars_begin; i < end; ++i) {
    const model::Exemplar& e = b.exemplars[i];
    std::string ex;
    if (e.time_unix_nano != 0) Fixed64(2, e.time_unix_nano, &ex);
    NumberValue(3, 6, e.value, &ex);
    if (e.span_id != 0) {
      char id[8];
      for (int k = 0; k < 8; ++k) id[k] = static_cast<char>(e.span_id >> (56 - 8 * k));
      Bytes(4, {id, 8}, &ex);
    }
    if (e.trace_id != model::TraceId{}) {
      Bytes(5, {reinterpret_cast<const char*>(e.trace_id.data()), e.trace_id.size()}, &ex);
    }
    EncodeAttrs(7, b.attrs, e.attrs, &ex);
    Bytes(field, ex, out);
  }
}

void PackedFixed64(uint32_t field, const uint64_t* v, uint32_t n, std::string* out) {
  if (n == 0) return;
  Tag(field, kLen, out);
  Varint(uint64_t{n} * 8, out);
  for (uint32_t k = 0; k < n; ++k) Fixed64Raw(v[k], out);
}

void Buckets(uint32_t field, const MetricBatch& b, const model::ExpBuckets& side,
             std::string* out) {
  if (side.counts.count == 0 && side.offset == 0) return;
  std::string s, packed;
  if (side.offset != 0) VarintField(1, ZigZag32(side.offset), &s);
  for (uint32_t k = 0; k < side.counts.count; ++k) Varint(b.Count(side.counts, k), &packed);
  if (!packed.empty()) Bytes(2, packed, &s);
  Bytes(field, s, out);
}

void Point(const MetricBatch& b, MetricType type, const MetricPoint& p, std::string* out) {
  switch (type) {
    case MetricType::kGauge:
    case MetricType::kSum:
      if (p.start_unix_nano != 0) Fixed64(2, p.start_unix_nano, out);
      Fixed64(3, p.time_unix_nano, out);
      NumberValue(4, 6, p.value, out);
      Exemplars(5, b, p, out);
      EncodeAttrs(7, b.attrs, p.attrs, out);
      if (p.flags != 0) VarintField(8, p.flags, out);
      return;
    case MetricType::kHistogram: {
      if (p.start_unix_nano != 0) Fixed64(2, p.start_unix_nano, out);
      Fixed64(3, p.time_unix_nano, out);
      Fixed64(4, p.count, out);
      if (p.has_sum) Double(5, p.sum, out);
      std::vector<uint64_t> bits(p.bounds.count);
      for (uint32_t k = 0; k < p.bounds.count; ++k)
        bits[k] = std::bit_cast<uint64_t>(b.Bound(p, k));
      if (p.bucket_counts.count > 0) {
        PackedFixed64(6, &b.counts[p.bucket_counts.begin], p.bucket_counts.count, out);
      }
      PackedFixed64(7, bits.data(), p.bounds.count, out);
      Exemplars(8, b, p, out);
      EncodeAttrs(9, b.attrs, p.attrs, out);
      if (p.flags != 0) VarintField(10, p.flags, out);
      if (p.has_min) Double(11, p.min, out);
      if (p.has_max) Double(12, p.max, out);
      return;
    }
    case MetricType::kExponentialHistogram:
      EncodeAttrs(1, b.attrs, p.attrs, out);
      if (p.start_unix_nano != 0) Fixed64(2, p.start_unix_nano, out);
      Fixed64(3, p.time_unix_nano, out);
      Fixed64(4, p.count, out);
      if (p.has_sum) Double(5, p.sum, out);
      if (p.scale != 0) VarintField(6, ZigZag32(p.scale), out);
      if (p.zero_count != 0) Fixed64(7, p.zero_count, out);
      Buckets(8, b, p.positive, out);
      Buckets(9, b, p.negative, out);
      if (p.flags != 0) VarintField(10, p.flags, out);
      Exemplars(11, b, p, out);
      if (p.has_min) Double(12, p.min, out);
      if (p.has_max) Double(13, p.max, out);
      if (p.zero_threshold != 0) Double(14, p.zero_threshold, out);
      return;
  }
}

void EncodeMetric(const MetricBatch& b, const model::Metric& m, std::string* out) {
  Bytes(1, m.name, out);
  if (!m.description.empty()) Bytes(2, m.description, out);
  if (!m.unit.empty()) Bytes(3, m.unit, out);
  std::string data;
  const size_t end = std::min<size_t>(size_t{m.points_begin} + m.points_count, b.points.size());
  for (size_t i = m.points_begin; i < end; ++i) {
    std::string point;
    Point(b, m.type, b.points[i], &point);
    Bytes(1, point, &data);
  }
  if (m.type != MetricType::kGauge && m.temporality != model::Temporality::kUnspecified) {
    VarintField(2, static_cast<uint64_t>(m.temporality), &data);
  }
  if (m.type == MetricType::kSum && m.monotonic) VarintField(3, 1, &data);
  const uint32_t field = m.type == MetricType::kGauge       ? 5
                         : m.type == MetricType::kSum       ? 7
                         : m.type == MetricType::kHistogram ? 9
                                                            : 10;
  Bytes(field, data, out);
}

}  // namespace

void EncodeMetricsProto(const MetricBatch& batch, std::string* out) {
  // (resource, scope name, scope version) groups in first-seen order.
  using Key = std::tuple<uint32_t, std::string_view, std::string_view>;
  std::vector<std::pair<Key, std::vector<size_t>>> groups;
  for (size_t i = 0; i < batch.metrics.size(); ++i) {
    const model::Metric& m = batch.metrics[i];
    const Key key{m.resource, m.scope_name, m.scope_version};
    auto it =
        std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == key; });
    if (it == groups.end()) {
      groups.emplace_back(key, std::vector<size_t>{});
      it = groups.end() - 1;
    }
    it->second.push_back(i);
  }
  // Resources with no metric are written too, so the resource count round-trips.
  for (uint32_t r = 0; r < std::max<size_t>(batch.resources.size(), 1); ++r) {
    std::string rm;
    if (r < batch.resources.size()) {
      std::string resource;
      EncodeAttrs(1, batch.attrs, batch.resources[r].attrs, &resource);
      Bytes(1, resource, &rm);
    }
    bool any = false;
    for (const auto& [key, metrics] : groups) {
      if (std::get<0>(key) != r) continue;
      any = true;
      std::string sm, scope;
      if (!std::get<1>(key).empty()) Bytes(1, std::get<1>(key), &scope);
      if (!std::get<2>(key).empty()) Bytes(2, std::get<2>(key), &scope);
      if (!scope.empty()) Bytes(1, scope, &sm);
      for (size_t i : metrics) {
        std::string metric;
        EncodeMetric(batch, batch.metrics[i], &metric);
        Bytes(2, metric, &sm);
      }
      Bytes(2, sm, &rm);
    }
    if (r < batch.resources.size() || any) Bytes(1, rm, out);
  }
}

}  // namespace loupe::wire
