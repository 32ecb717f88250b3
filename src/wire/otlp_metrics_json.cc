#include "wire/otlp_metrics_json.h"

#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "wire/json_reader.h"
#include "wire/metric_rules.h"

namespace loupe::wire {
namespace {

using namespace internal::json;  // NOLINT: the reader's types and helpers
using internal::DiscardInvalidPoint;
using internal::MarkPoint;
using internal::PointMark;
using model::MetricBatch;
using model::MetricPoint;
using model::MetricType;

constexpr std::string_view kTemporalityNames[] = {
    "AGGREGATION_TEMPORALITY_UNSPECIFIED",
    "AGGREGATION_TEMPORALITY_DELTA",
    "AGGREGATION_TEMPORALITY_CUMULATIVE",
};

class MetricsJsonDecoder : public JsonReader<MetricBatch> {
 public:
  MetricsJsonDecoder(const DecodeLimits& limits, MetricBatch* out) : JsonReader(limits, out) {}

  Status Decode(std::string* body) {
    out_->Clear();
    rapidjson::Document doc;
    if (!Parse(body, &doc)) return status_;
    Path root;
    if (!doc.IsObject()) {
      Fail(root, "expected an object");
      return status_;
    }
    for (const auto& m : doc.GetObject()) {
      std::string_view name = Str(m.name);
      if (!Is(name, "resourceMetrics", "resource_metrics")) continue;
      Path p{&root, name};
      if (!ForEach(m.value, p, [this](const Value& v, const Path& vp) {
            return DecodeResourceMetrics(v, vp);
          })) {
        break;
      }
    }
    return status_;
  }

 private:
  // The resource first, so that its attributes are contiguous whatever the
  // member order.
  bool DecodeResourceMetrics(const Value& v, const Path& path) {
    if (!ExpectObject(v, path)) return false;
    const auto index = static_cast<uint32_t>(out_->resources.size());
    const auto attrs_begin = static_cast<uint32_t>(out_->attrs.size());
    uint32_t dropped = 0;
    for (const auto& m : v.GetObject()) {
      std::string_view name = Str(m.name);
      if (name != "resource" || m.value.IsNull()) continue;
      Path p{&path, name};
      if (!ExpectObject(m.value, p)) return false;
      for (const auto& r : m.value.GetObject()) {
        if (Str(r.name) != "attributes") continue;
        Path ap{&p, "attributes"};
        if (!DecodeAttributes(r.value, ap, attrs_begin, limits_.max_attributes_per_resource,
                              &dropped)) {
          return false;
        }
      }
    }
    out_->dropped_attributes += dropped;
    model::Resource& resource = out_->resources.emplace_back();
    resource.attrs = {attrs_begin, static_cast<uint32_t>(out_->attrs.size()) - attrs_begin};
    for (const auto& m : v.GetObject()) {
      std::string_view name = Str(m.name);
      if (!Is(name, "scopeMetrics", "scope_metrics")) continue;
      Path p{&path, name};
      if (!ForEach(m.value, p, [&](const Value& e, const Path& ep) {
            return DecodeScopeMetrics(e, ep, index);
          })) {
        return false;
      }
    }
    return true;
  }

  bool DecodeScopeMetrics(const Value& v, const Path& path, uint32_t resource) {
    if (!ExpectObject(v, path)) return false;
    model::Metric proto;
    proto.resource = resource;
    for (const auto& m : v.GetObject()) {
      std::string_view name = Str(m.name);
      if (name != "scope" || m.value.IsNull()) continue;
      Path p{&path, name};
      if (!ExpectObject(m.value, p)) return false;
      for (const auto& s : m.value.GetObject()) {
        std::string_view sname = Str(s.name);
        Path sp{&p, sname};
        if (sname == "name" && !GetString(s.value, sp, &proto.scope_name)) return false;
        if (sname == "version" && !GetString(s.value, sp, &proto.scope_version)) return false;
      }
    }
    proto.scope_name = LimitString(proto.scope_name);
    proto.scope_version = LimitString(proto.scope_version);
    for (const auto& m : v.GetObject()) {
      std::string_view name = Str(m.name);
      if (name != "metrics") continue;
      Path p{&path, name};
      if (!ForEach(m.value, p, [&](const Value& e, const Path& ep) {
            model::Metric metric = proto;
            return DecodeMetric(e, ep, &metric);
          })) {
        return false;
      }
    }
    return true;
  }

  bool DecodeMetric(const Value& v, const Path& path, model::Metric* m) {
    if (!ExpectObject(v, path)) return false;
    const Value* data = nullptr;
    std::string_view data_name;
    for (const auto& f : v.GetObject()) {
      std::string_view name = Str(f.name);
      Path p{&path, name};
      bool ok = true;
      if (name == "name") {
        ok = GetString(f.value, p, &m->name);
      } else if (name == "description") {
        ok = GetString(f.value, p, &m->description);
      } else if (name == "unit") {
        ok = GetString(f.value, p, &m->unit);
      } else if (!f.value.IsNull() &&
                 (name == "gauge" || name == "sum" || name == "histogram" || name == "summary" ||
                  Is(name, "exponentialHistogram", "exponential_histogram"))) {
        data = &f.value;
        data_name = name;
      }
      if (!ok) return false;
    }
    m->name = LimitString(m->name);
    m->description = LimitString(m->description);
    m->unit = LimitString(m->unit);
    if (data == nullptr || data_name == "summary" || m->name.empty()) {
      ++out_->skipped_metrics;
      return true;
    }
    m->type = data_name == "gauge"       ? MetricType::kGauge
              : data_name == "sum"       ? MetricType::kSum
              : data_name == "histogram" ? MetricType::kHistogram
                                         : MetricType::kExponentialHistogram;
    Path dp{&path, data_name};
    if (!ExpectObject(*data, dp)) return false;
    const Value* points = nullptr;
    Path points_path;
    for (const auto& f : data->GetObject()) {
      std::string_view name = Str(f.name);
      Path p{&dp, name};
      if (Is(name, "aggregationTemporality", "aggregation_temporality") &&
          m->type != MetricType::kGauge) {
        int t = 0;
        if (!GetEnum(f.value, p, kTemporalityNames, &t)) return false;
        m->temporality =
            t < 0 ? model::Temporality::kUnspecified : static_cast<model::Temporality>(t);
      } else if (Is(name, "isMonotonic", "is_monotonic") && m->type == MetricType::kSum) {
        if (!f.value.IsNull() && !f.value.IsBool()) return Fail(p, "expected true or false");
        m->monotonic = f.value.IsBool() && f.value.GetBool();
      } else if (Is(name, "dataPoints", "data_points")) {
        points = &f.value;
        points_path = p;
      }
    }
    m->points_begin = static_cast<uint32_t>(out_->points.size());
    if (points != nullptr && !ForEach(*points, points_path, [&](const Value& e, const Path& ep) {
          if (points_seen_ >= limits_.max_points) {
            return Fail(
                ep, "request has more than " + std::to_string(limits_.max_points) + " data points");
          }
          ++points_seen_;
          return DecodePoint(e, ep, m->type);
        })) {
      return false;
    }
    m->points_count = static_cast<uint32_t>(out_->points.size()) - m->points_begin;
    out_->metrics.push_back(*m);
    return true;
  }

  // A repeated number member (bucketCounts, explicitBounds) appended to *dst;
  // sets *over past limits_.max_buckets_per_point.
  template <typename T, typename Get>
  bool Numbers(const Value& v, const Path& path, std::vector<T>* dst, bool* over, Get get) {
    const size_t begin = dst->size();
    return ForEach(v, path, [&](const Value& e, const Path& ep) {
      T x{};
      if (!get(e, ep, &x)) return false;
      if (dst->size() - begin >= limits_.max_buckets_per_point) {
        *over = true;
      } else {
        dst->push_back(x);
      }
      return true;
    });
  }

  bool Counts(const Value& v, const Path& path, bool* over) {
    return Numbers<uint64_t>(
        v, path, &out_->counts, over,
        [this](const Value& e, const Path& ep, uint64_t* x) { return GetUint64(e, ep, x); });
  }

  bool DecodeBuckets(const Value& v, const Path& path, model::ExpBuckets* side, bool* over) {
    if (v.IsNull()) return true;
    if (!ExpectObject(v, path)) return false;
    side->offset = 0;
    side->counts = {static_cast<uint32_t>(out_->counts.size()), 0};
    for (const auto& f : v.GetObject()) {
      std::string_view name = Str(f.name);
      Path p{&path, name};
      if (name == "offset") {
        int64_t offset = 0;
        if (!GetInt64(f.value, p, &offset)) return false;
        if (offset < std::numeric_limits<int32_t>::min() ||
            offset > std::numeric_limits<int32_t>::max()) {
          return Fail(p, "exceeds 32 bits");
        }
        side->offset = static_cast<int32_t>(offset);
      } else if (Is(name, "bucketCounts", "bucket_counts")) {
        side->counts.begin = static_cast<uint32_t>(out_->counts.size());
        if (!Counts(f.value, p, over)) return false;
      }
    }
    side->counts.count = static_cast<uint32_t>(out_->counts.size()) - side->counts.begin;
    return true;
  }

  bool GetValue(const Value& v, const Path& path, bool is_int, model::MetricValue* out) {
    *out = {};
    out->is_int = is_int;
    return is_int ? GetInt64(v, path, &out->i) : GetDouble(v, path, &out->d);
  }

  bool OptionalDouble(const Value& v, const Path& path, bool* has, double* out) {
    if (v.IsNull()) return true;
    *has = true;
    return GetDouble(v, path, out);
  }

  // Pass 1: everything but the exemplars, whose attributes must follow the
  // point's own; pass 2: the exemplars.
  bool DecodePoint(const Value& v, const Path& path, MetricType type) {
    if (!ExpectObject(v, path)) return false;
    const PointMark mark = MarkPoint(*out_);
    MetricPoint pt;
    pt.attrs.begin = static_cast<uint32_t>(out_->attrs.size());
    pt.bounds.begin = static_cast<uint32_t>(out_->bounds.size());
    pt.bucket_counts.begin = static_cast<uint32_t>(out_->counts.size());
    const bool histogram = type == MetricType::kHistogram;
    const bool exp = type == MetricType::kExponentialHistogram;
    uint32_t dropped = 0;
    bool over = false;
    const Value* exemplars = nullptr;
    Path exemplars_path;
    for (const auto& f : v.GetObject()) {
      std::string_view name = Str(f.name);
      Path p{&path, name};
      const Value& value = f.value;
      bool ok = true;
      if (name == "attributes") {
        ok = DecodeAttributes(value, p, pt.attrs.begin, limits_.max_attributes_per_point, &dropped);
      } else if (Is(name, "startTimeUnixNano", "start_time_unix_nano")) {
        ok = GetUint64(value, p, &pt.start_unix_nano);
      } else if (Is(name, "timeUnixNano", "time_unix_nano")) {
        ok = GetUint64(value, p, &pt.time_unix_nano);
      } else if (name == "flags") {
        ok = GetUint32(value, p, &pt.flags);
      } else if (name == "exemplars") {
        if (!value.IsNull() && !value.IsArray()) return Fail(p, "expected an array");
        exemplars = &value;
        exemplars_path = p;
      } else if (!histogram && !exp) {
        if (Is(name, "asDouble", "as_double") && !value.IsNull()) {
          ok = GetValue(value, p, false, &pt.value);
        } else if (Is(name, "asInt", "as_int") && !value.IsNull()) {
          ok = GetValue(value, p, true, &pt.value);
        }
      } else if (name == "count") {
        ok = GetUint64(value, p, &pt.count);
      } else if (name == "sum") {
        ok = OptionalDouble(value, p, &pt.has_sum, &pt.sum);
      } else if (name == "min") {
        ok = OptionalDouble(value, p, &pt.has_min, &pt.min);
      } else if (name == "max") {
        ok = OptionalDouble(value, p, &pt.has_max, &pt.max);
      } else if (histogram && Is(name, "bucketCounts", "bucket_counts")) {
        ok = Counts(value, p, &over);
      } else if (histogram && Is(name, "explicitBounds", "explicit_bounds")) {
        ok = Numbers<double>(
            value, p, &out_->bounds, &over,
            [this](const Value& e, const Path& ep, double* x) { return GetDouble(e, ep, x); });
      } else if (exp && name == "scale") {
        int64_t scale = 0;
        ok = GetInt64(value, p, &scale);
        // Out of int32 range is out of the allowed scales too.
        pt.scale = scale < -1000 ? -1000 : scale > 1000 ? 1000 : static_cast<int32_t>(scale);
      } else if (exp && Is(name, "zeroCount", "zero_count")) {
        ok = GetUint64(value, p, &pt.zero_count);
      } else if (exp && Is(name, "zeroThreshold", "zero_threshold")) {
        ok = GetDouble(value, p, &pt.zero_threshold);
      } else if (exp && (name == "positive" || name == "negative")) {
        ok = DecodeBuckets(value, p, name == "positive" ? &pt.positive : &pt.negative, &over);
      }
      if (!ok) return false;
    }
    pt.bounds.count = static_cast<uint32_t>(out_->bounds.size()) - pt.bounds.begin;
    pt.bucket_counts.count = static_cast<uint32_t>(out_->counts.size()) - pt.bucket_counts.begin;
    if (exp) pt.bounds = pt.bucket_counts = {};
    if (over || (histogram && !internal::HistogramPointValid(*out_, pt)) ||
        (exp && !internal::ExpHistogramPointValid(pt))) {
      DiscardInvalidPoint(out_, mark);
      return true;
    }
    pt.attrs.count = static_cast<uint32_t>(out_->attrs.size()) - pt.attrs.begin;
    out_->dropped_attributes += dropped;
    pt.exemplars_begin = static_cast<uint32_t>(out_->exemplars.size());
    if (exemplars != nullptr &&
        !ForEach(*exemplars, exemplars_path, [&](const Value& e, const Path& ep) {
          if (out_->exemplars.size() - pt.exemplars_begin >= limits_.max_exemplars_per_point) {
            ++out_->dropped_exemplars;
            return true;
          }
          return DecodeExemplar(e, ep);
        })) {
      return false;
    }
    pt.exemplars_count = static_cast<uint32_t>(out_->exemplars.size()) - pt.exemplars_begin;
    out_->points.push_back(pt);
    return true;
  }

  bool DecodeExemplar(const Value& v, const Path& path) {
    if (!ExpectObject(v, path)) return false;
    model::Exemplar ex;
    ex.attrs.begin = static_cast<uint32_t>(out_->attrs.size());
    uint32_t dropped = 0;
    for (const auto& f : v.GetObject()) {
      std::string_view name = Str(f.name);
      Path p{&path, name};
      const Value& value = f.value;
      bool ok = true;
      if (Is(name, "timeUnixNano", "time_unix_nano")) {
        ok = GetUint64(value, p, &ex.time_unix_nano);
      } else if (Is(name, "asDouble", "as_double") && !value.IsNull()) {
        ok = GetValue(value, p, false, &ex.value);
      } else if (Is(name, "asInt", "as_int") && !value.IsNull()) {
        ok = GetValue(value, p, true, &ex.value);
      } else if (Is(name, "traceId", "trace_id") || Is(name, "spanId", "span_id")) {
        if (value.IsNull()) continue;
        if (!value.IsString()) return Fail(p, "expected a hex string");
        uint8_t id[16] = {};
        if (name[0] == 't') {
          if (!HexToBytes(Str(value), id, 16)) std::memset(id, 0, sizeof id);
          std::memcpy(ex.trace_id.data(), id, 16);
        } else {
          ex.span_id = 0;
          if (HexToBytes(Str(value), id, 8)) {
            for (int i = 0; i < 8; ++i) ex.span_id = ex.span_id << 8 | id[i];
          }
        }
      } else if (Is(name, "filteredAttributes", "filtered_attributes")) {
        ok = DecodeAttributes(value, p, ex.attrs.begin, limits_.max_attributes_per_point, &dropped);
      }
      if (!ok) return false;
    }
    ex.attrs.count = static_cast<uint32_t>(out_->attrs.size()) - ex.attrs.begin;
    out_->dropped_attributes += dropped;
    out_->exemplars.push_back(ex);
    return true;
  }

  size_t points_seen_ = 0;
};

}  // namespace

Status DecodeMetricsJson(std::string* body, const DecodeLimits& limits,
                         model::MetricBatch* out) noexcept {
  return MetricsJsonDecoder(limits, out).Decode(body);
}

}  // namespace loupe::wire
