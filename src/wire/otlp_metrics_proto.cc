#include "wire/otlp_metrics_proto.h"

#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include "wire/metric_rules.h"
#include "wire/proto_reader.h"

namespace loupe::wire {
namespace {

using namespace internal;  // NOLINT: the reader's wire types, fields and helpers
using model::MetricBatch;
using model::MetricPoint;
using model::MetricType;

// Field numbers, opentelemetry-proto metrics v1, common v1 and resource v1.
constexpr uint32_t kRequestResourceMetrics = 1;   // ExportMetricsServiceRequest
constexpr uint32_t kResourceMetricsResource = 1;  // ResourceMetrics
constexpr uint32_t kResourceMetricsScopeMetrics = 2;
constexpr uint32_t kResourceAttributes = 1;  // Resource
constexpr uint32_t kScopeMetricsScope = 1;   // ScopeMetrics
constexpr uint32_t kScopeMetricsMetrics = 2;
constexpr uint32_t kScopeName = 1;  // InstrumentationScope
constexpr uint32_t kScopeVersion = 2;
enum MetricField : uint32_t {
  kMetricName = 1,
  kMetricDescription = 2,
  kMetricUnit = 3,
  kMetricGauge = 5,
  kMetricSum = 7,
  kMetricHistogram = 9,
  kMetricExpHistogram = 10,
  kMetricSummary = 11,
};
// Gauge, Sum, Histogram, ExponentialHistogram.
constexpr uint32_t kDataPoints = 1;
constexpr uint32_t kDataTemporality = 2;
constexpr uint32_t kSumMonotonic = 3;
enum NumberPointField : uint32_t {
  kNumStart = 2,
  kNumTime = 3,
  kNumAsDouble = 4,
  kNumExemplars = 5,
  kNumAsInt = 6,
  kNumAttributes = 7,
  kNumFlags = 8,
};
enum HistogramPointField : uint32_t {
  kHistStart = 2,
  kHistTime = 3,
  kHistCount = 4,
  kHistSum = 5,
  kHistBucketCounts = 6,
  kHistBounds = 7,
  kHistExemplars = 8,
  kHistAttributes = 9,
  kHistFlags = 10,
  kHistMin = 11,
  kHistMax = 12,
};
enum ExpHistogramPointField : uint32_t {
  kExpAttributes = 1,
  kExpStart = 2,
  kExpTime = 3,
  kExpCount = 4,
  kExpSum = 5,
  kExpScale = 6,
  kExpZeroCount = 7,
  kExpPositive = 8,
  kExpNegative = 9,
  kExpFlags = 10,
  kExpExemplars = 11,
  kExpMin = 12,
  kExpMax = 13,
  kExpZeroThreshold = 14,
};
constexpr uint32_t kBucketsOffset = 1;  // ExponentialHistogramDataPoint.Buckets
constexpr uint32_t kBucketsCounts = 2;
enum ExemplarField : uint32_t {
  kExTime = 2,
  kExAsDouble = 3,
  kExSpanId = 4,
  kExTraceId = 5,
  kExAsInt = 6,
  kExAttributes = 7,
};

inline int32_t ZigZagDecode32(uint64_t v) {
  const auto u = static_cast<uint32_t>(v);  // protobuf keeps the low 32 bits
  return static_cast<int32_t>((u >> 1) ^ (~(u & 1) + 1));
}

class MetricsDecoder : public ProtoReader<MetricBatch> {
 public:
  MetricsDecoder(std::string_view body, const DecodeLimits& limits, MetricBatch* out)
      : ProtoReader(body, limits, out) {}

  Status Decode() {
    out_->Clear();
    if (size_ >= std::numeric_limits<uint32_t>::max()) {
      return Status::InvalidArgument("OTLP protobuf body of 4 GiB or more");
    }
    Field f;
    for (const uint8_t* p = base_; p < base_ + size_;) {
      if (!ReadField(&p, base_ + size_, "ExportMetricsServiceRequest", &f)) return status_;
      if (f.number == kRequestResourceMetrics) {
        if (!Expect(f, kLen, "ExportMetricsServiceRequest.resource_metrics")) return status_;
        if (!DecodeResourceMetrics(f.begin, f.end)) return status_;
      }
    }
    return status_;
  }

 private:
  // Two passes so that the resource's attributes are contiguous and known
  // before its metrics, whatever the field order.
  bool DecodeResourceMetrics(const uint8_t* begin, const uint8_t* end) {
    const auto index = static_cast<uint32_t>(out_->resources.size());
    const auto attrs_begin = static_cast<uint32_t>(out_->attrs.size());
    uint32_t dropped = 0;
    Field f, g;
    for (const uint8_t* p = begin; p < end;) {
      if (!ReadField(&p, end, "ResourceMetrics", &f)) return false;
      if (f.number == kResourceMetricsResource) {
        if (!Expect(f, kLen, "ResourceMetrics.resource")) return false;
        for (const uint8_t* q = f.begin; q < f.end;) {
          if (!ReadField(&q, f.end, "Resource", &g)) return false;
          if (g.number != kResourceAttributes) continue;
          if (!Expect(g, kLen, "Resource.attributes")) return false;
          if (!AddAttribute(g, attrs_begin, limits_.max_attributes_per_resource, &dropped)) {
            return false;
          }
        }
      } else if (f.number == kResourceMetricsScopeMetrics) {
        if (!Expect(f, kLen, "ResourceMetrics.scope_metrics")) return false;
      }
    }
    out_->dropped_attributes += dropped;
    model::Resource& resource = out_->resources.emplace_back();
    resource.attrs = {attrs_begin, static_cast<uint32_t>(out_->attrs.size()) - attrs_begin};
    for (const uint8_t* p = begin; p < end;) {
      if (!ReadField(&p, end, "ResourceMetrics", &f)) return false;
      if (f.number == kResourceMetricsScopeMetrics && !DecodeScopeMetrics(f.begin, f.end, index)) {
        return false;
      }
    }
    return true;
  }

  bool DecodeScopeMetrics(const uint8_t* begin, const uint8_t* end, uint32_t resource) {
    std::string_view scope_name, scope_version;
    Field f, g;
    for (const uint8_t* p = begin; p < end;) {
      if (!ReadField(&p, end, "ScopeMetrics", &f)) return false;
      if (f.number == kScopeMetricsScope) {
        if (!Expect(f, kLen, "ScopeMetrics.scope")) return false;
        for (const uint8_t* q = f.begin; q < f.end;) {
          if (!ReadField(&q, f.end, "InstrumentationScope", &g)) return false;
          if (g.number == kScopeName) {
            if (!Expect(g, kLen, "InstrumentationScope.name")) return false;
            scope_name = LimitString(g.view());
          } else if (g.number == kScopeVersion) {
            if (!Expect(g, kLen, "InstrumentationScope.version")) return false;
            scope_version = LimitString(g.view());
          }
        }
      } else if (f.number == kScopeMetricsMetrics) {
        if (!Expect(f, kLen, "ScopeMetrics.metrics")) return false;
      }
    }
    for (const uint8_t* p = begin; p < end;) {
      if (!ReadField(&p, end, "ScopeMetrics", &f)) return false;
      if (f.number != kScopeMetricsMetrics) continue;
      model::Metric m;
      m.resource = resource;
      m.scope_name = scope_name;
      m.scope_version = scope_version;
      if (!DecodeMetric(f.begin, f.end, &m)) return false;
    }
    return true;
  }

  bool DecodeMetric(const uint8_t* begin, const uint8_t* end, model::Metric* m) {
    Field f, data;
    for (const uint8_t* p = begin; p < end;) {
      if (!ReadField(&p, end, "Metric", &f)) return false;
      switch (f.number) {
        case kMetricName:
          if (!Expect(f, kLen, "Metric.name")) return false;
          m->name = LimitString(f.view());
          break;
        case kMetricDescription:
          if (!Expect(f, kLen, "Metric.description")) return false;
          m->description = LimitString(f.view());
          break;
        case kMetricUnit:
          if (!Expect(f, kLen, "Metric.unit")) return false;
          m->unit = LimitString(f.view());
          break;
        case kMetricGauge:
        case kMetricSum:
        case kMetricHistogram:
        case kMetricExpHistogram:
        case kMetricSummary:
          if (!Expect(f, kLen, "Metric.data")) return false;
          data = f;
          break;
        default:
          break;
      }
    }
    switch (data.number) {
      case kMetricGauge:
        m->type = MetricType::kGauge;
        break;
      case kMetricSum:
        m->type = MetricType::kSum;
        break;
      case kMetricHistogram:
        m->type = MetricType::kHistogram;
        break;
      case kMetricExpHistogram:
        m->type = MetricType::kExponentialHistogram;
        break;
      default:  // Summary or no data
        ++out_->skipped_metrics;
        return true;
    }
    if (m->name.empty()) {
      ++out_->skipped_metrics;
      return true;
    }
    const char* message = data.number == kMetricGauge       ? "Gauge"
                          : data.number == kMetricSum       ? "Sum"
                          : data.number == kMetricHistogram ? "Histogram"
                                                            : "ExponentialHistogram";
    // Pass 1: temporality and monotonicity; pass 2: the points.
    for (const uint8_t* p = data.begin; p < data.end;) {
      if (!ReadField(&p, data.end, message, &f)) return false;
      if (f.number == kDataTemporality && data.number != kMetricGauge) {
        if (!Expect(f, kVarint, "aggregation_temporality")) return false;
        m->temporality = f.value <= 2 ? static_cast<model::Temporality>(f.value)
                                      : model::Temporality::kUnspecified;
      } else if (f.number == kSumMonotonic && data.number == kMetricSum) {
        if (!Expect(f, kVarint, "Sum.is_monotonic")) return false;
        m->monotonic = f.value != 0;
      } else if (f.number == kDataPoints) {
        if (!Expect(f, kLen, "data_points")) return false;
      }
    }
    m->points_begin = static_cast<uint32_t>(out_->points.size());
    for (const uint8_t* p = data.begin; p < data.end;) {
      if (!ReadField(&p, data.end, message, &f)) return false;
      if (f.number != kDataPoints) continue;
      if (points_seen_ >= limits_.max_points) {
        status_ = Status::InvalidArgument(
            "OTLP request has more than " + std::to_string(limits_.max_points) +
            " data points (at byte " + std::to_string(f.begin - base_) + ")");
        return false;
      }
      ++points_seen_;
      bool ok = m->type == MetricType::kHistogram              ? DecodeHistogramPoint(f)
                : m->type == MetricType::kExponentialHistogram ? DecodeExpHistogramPoint(f)
                                                               : DecodeNumberPoint(f);
      if (!ok) return false;
    }
    m->points_count = static_cast<uint32_t>(out_->points.size()) - m->points_begin;
    out_->metrics.push_back(*m);
    return true;
  }

  // The attributes of a point (pass 1 of a point's decoding).
  bool PointAttribute(const Field& f, MetricPoint* pt, uint32_t* dropped) {
    if (!Expect(f, kLen, "data point attributes")) return false;
    return AddAttribute(f, pt->attrs.begin, limits_.max_attributes_per_point, dropped);
  }

  // Pass 2 of a point: its exemplars (field `field`), after its attributes.
  bool PointExemplars(const Field& point, uint32_t field, MetricPoint* pt) {
    pt->exemplars_begin = static_cast<uint32_t>(out_->exemplars.size());
    Field f;
    for (const uint8_t* p = point.begin; p < point.end;) {
      if (!ReadField(&p, point.end, "data point", &f)) return false;
      if (f.number != field) continue;
      if (!Expect(f, kLen, "data point exemplars")) return false;
      if (out_->exemplars.size() - pt->exemplars_begin >= limits_.max_exemplars_per_point) {
        ++out_->dropped_exemplars;
        continue;
      }
      if (!DecodeExemplar(f.begin, f.end)) return false;
    }
    pt->exemplars_count = static_cast<uint32_t>(out_->exemplars.size()) - pt->exemplars_begin;
    return true;
  }

  bool DecodeExemplar(const uint8_t* p, const uint8_t* end) {
    model::Exemplar ex;
    ex.attrs.begin = static_cast<uint32_t>(out_->attrs.size());
    uint32_t dropped = 0;
    Field f;
    while (p < end) {
      if (!ReadField(&p, end, "Exemplar", &f)) return false;
      switch (f.number) {
        case kExTime:
          if (!Expect(f, kFixed64, "Exemplar.time_unix_nano")) return false;
          ex.time_unix_nano = f.value;
          break;
        case kExAsDouble:
          if (!Expect(f, kFixed64, "Exemplar.as_double")) return false;
          ex.value = {false, 0, std::bit_cast<double>(f.value)};
          break;
        case kExAsInt:
          if (!Expect(f, kFixed64, "Exemplar.as_int")) return false;
          ex.value = {true, static_cast<int64_t>(f.value), 0};
          break;
        case kExSpanId:
          if (!Expect(f, kLen, "Exemplar.span_id")) return false;
          ex.span_id = f.size() == 8 ? LoadBig64(f.begin) : 0;
          break;
        case kExTraceId:
          if (!Expect(f, kLen, "Exemplar.trace_id")) return false;
          if (f.size() == ex.trace_id.size()) {
            std::memcpy(ex.trace_id.data(), f.begin, ex.trace_id.size());
          } else {
            ex.trace_id = {};
          }
          break;
        case kExAttributes:
          if (!Expect(f, kLen, "Exemplar.filtered_attributes")) return false;
          if (!AddAttribute(f, ex.attrs.begin, limits_.max_attributes_per_point, &dropped)) {
            return false;
          }
          break;
        default:
          break;
      }
    }
    ex.attrs.count = static_cast<uint32_t>(out_->attrs.size()) - ex.attrs.begin;
    out_->dropped_attributes += dropped;
    out_->exemplars.push_back(ex);
    return true;
  }

  bool DecodeNumberPoint(const Field& point) {
    MetricPoint pt;
    pt.attrs.begin = static_cast<uint32_t>(out_->attrs.size());
    uint32_t dropped = 0;
    Field f;
    for (const uint8_t* p = point.begin; p < point.end;) {
      if (!ReadField(&p, point.end, "NumberDataPoint", &f)) return false;
      switch (f.number) {
        case kNumStart:
          if (!Expect(f, kFixed64, "NumberDataPoint.start_time_unix_nano")) return false;
          pt.start_unix_nano = f.value;
          break;
        case kNumTime:
          if (!Expect(f, kFixed64, "NumberDataPoint.time_unix_nano")) return false;
          pt.time_unix_nano = f.value;
          break;
        case kNumAsDouble:
          if (!Expect(f, kFixed64, "NumberDataPoint.as_double")) return false;
          pt.value = {false, 0, std::bit_cast<double>(f.value)};
          break;
        case kNumAsInt:
          if (!Expect(f, kFixed64, "NumberDataPoint.as_int")) return false;
          pt.value = {true, static_cast<int64_t>(f.value), 0};
          break;
        case kNumAttributes:
          if (!PointAttribute(f, &pt, &dropped)) return false;
          break;
        case kNumFlags:
          if (!Expect(f, kVarint, "NumberDataPoint.flags")) return false;
          pt.flags = static_cast<uint32_t>(f.value);
          break;
        default:
          break;
      }
    }
    return FinishPoint(point, kNumExemplars, dropped, &pt);
  }

  bool FinishPoint(const Field& point, uint32_t exemplars_field, uint32_t dropped,
                   MetricPoint* pt) {
    pt->attrs.count = static_cast<uint32_t>(out_->attrs.size()) - pt->attrs.begin;
    out_->dropped_attributes += dropped;
    if (!PointExemplars(point, exemplars_field, pt)) return false;
    out_->points.push_back(*pt);
    return true;
  }

  // Appends a repeated fixed64/double field, packed or not, to *dst unless
  // *dst already grew by `cap` since `begin` (then sets *over).
  template <typename T>
  bool RepeatedFixed64(const Field& f, const char* name, std::vector<T>* dst, size_t begin,
                       bool* over) {
    auto push = [&](uint64_t bits) {
      if (dst->size() - begin >= limits_.max_buckets_per_point) {
        *over = true;
        return;
      }
      dst->push_back(std::bit_cast<T>(bits));
    };
    if (f.wire_type == kFixed64) {
      push(f.value);
      return true;
    }
    if (!Expect(f, kLen, name)) return false;
    if (f.size() % 8 != 0) {
      return Malformed(f.tag, std::string("packed ") + name + " of " + std::to_string(f.size()) +
                                  " bytes is not a multiple of 8");
    }
    for (const uint8_t* q = f.begin; q < f.end && !*over; q += 8) push(LoadLittle64(q));
    return true;
  }

  bool DecodeHistogramPoint(const Field& point) {
    const PointMark mark = MarkPoint(*out_);
    MetricPoint pt;
    pt.attrs.begin = static_cast<uint32_t>(out_->attrs.size());
    pt.bounds.begin = static_cast<uint32_t>(out_->bounds.size());
    pt.bucket_counts.begin = static_cast<uint32_t>(out_->counts.size());
    uint32_t dropped = 0;
    bool over = false;
    Field f;
    for (const uint8_t* p = point.begin; p < point.end;) {
      if (!ReadField(&p, point.end, "HistogramDataPoint", &f)) return false;
      switch (f.number) {
        case kHistStart:
          if (!Expect(f, kFixed64, "HistogramDataPoint.start_time_unix_nano")) return false;
          pt.start_unix_nano = f.value;
          break;
        case kHistTime:
          if (!Expect(f, kFixed64, "HistogramDataPoint.time_unix_nano")) return false;
          pt.time_unix_nano = f.value;
          break;
        case kHistCount:
          if (!Expect(f, kFixed64, "HistogramDataPoint.count")) return false;
          pt.count = f.value;
          break;
        case kHistSum:
        case kHistMin:
        case kHistMax: {
          if (!Expect(f, kFixed64, "HistogramDataPoint sum/min/max")) return false;
          const double d = std::bit_cast<double>(f.value);
          if (f.number == kHistSum) pt.has_sum = true, pt.sum = d;
          if (f.number == kHistMin) pt.has_min = true, pt.min = d;
          if (f.number == kHistMax) pt.has_max = true, pt.max = d;
          break;
        }
        case kHistBucketCounts:
          if (!RepeatedFixed64(f, "HistogramDataPoint.bucket_counts", &out_->counts,
                               pt.bucket_counts.begin, &over)) {
            return false;
          }
          break;
        case kHistBounds:
          if (!RepeatedFixed64(f, "HistogramDataPoint.explicit_bounds", &out_->bounds,
                               pt.bounds.begin, &over)) {
            return false;
          }
          break;
        case kHistAttributes:
          if (!PointAttribute(f, &pt, &dropped)) return false;
          break;
        case kHistFlags:
          if (!Expect(f, kVarint, "HistogramDataPoint.flags")) return false;
          pt.flags = static_cast<uint32_t>(f.value);
          break;
        default:
          break;
      }
    }
    pt.bounds.count = static_cast<uint32_t>(out_->bounds.size()) - pt.bounds.begin;
    pt.bucket_counts.count = static_cast<uint32_t>(out_->counts.size()) - pt.bucket_counts.begin;
    if (over || !HistogramPointValid(*out_, pt)) {
      DiscardInvalidPoint(out_, mark);
      return true;
    }
    return FinishPoint(point, kHistExemplars, dropped, &pt);
  }

  // ExponentialHistogramDataPoint.Buckets; a repeated occurrence replaces the
  // earlier one (its counts stay unreferenced in out_->counts).
  bool DecodeBuckets(const Field& b, model::ExpBuckets* out, bool* over) {
    out->offset = 0;
    out->counts = {static_cast<uint32_t>(out_->counts.size()), 0};
    Field f;
    for (const uint8_t* p = b.begin; p < b.end;) {
      if (!ReadField(&p, b.end, "ExponentialHistogramDataPoint.Buckets", &f)) return false;
      if (f.number == kBucketsOffset) {
        if (!Expect(f, kVarint, "Buckets.offset")) return false;
        out->offset = ZigZagDecode32(f.value);
      } else if (f.number == kBucketsCounts) {
        if (f.wire_type == kVarint) {
          if (out_->counts.size() - out->counts.begin >= limits_.max_buckets_per_point) {
            *over = true;
          } else {
            out_->counts.push_back(f.value);
          }
          continue;
        }
        if (!Expect(f, kLen, "Buckets.bucket_counts")) return false;
        for (const uint8_t* q = f.begin; q < f.end;) {
          uint64_t v;
          const uint8_t* at = q;
          q = ReadVarint(q, f.end, &v);
          if (q == nullptr) return BadVarint(at, f.end, "Buckets", "packed bucket count");
          if (out_->counts.size() - out->counts.begin >= limits_.max_buckets_per_point) {
            *over = true;
            break;
          }
          out_->counts.push_back(v);
        }
      }
    }
    out->counts.count = static_cast<uint32_t>(out_->counts.size()) - out->counts.begin;
    return true;
  }

  bool DecodeExpHistogramPoint(const Field& point) {
    const PointMark mark = MarkPoint(*out_);
    MetricPoint pt;
    pt.attrs.begin = static_cast<uint32_t>(out_->attrs.size());
    uint32_t dropped = 0;
    bool over = false;
    Field f;
    for (const uint8_t* p = point.begin; p < point.end;) {
      if (!ReadField(&p, point.end, "ExponentialHistogramDataPoint", &f)) return false;
      switch (f.number) {
        case kExpAttributes:
          if (!PointAttribute(f, &pt, &dropped)) return false;
          break;
        case kExpStart:
          if (!Expect(f, kFixed64, "ExponentialHistogramDataPoint.start_time_unix_nano")) {
            return false;
          }
          pt.start_unix_nano = f.value;
          break;
        case kExpTime:
          if (!Expect(f, kFixed64, "ExponentialHistogramDataPoint.time_unix_nano")) return false;
          pt.time_unix_nano = f.value;
          break;
        case kExpCount:
        case kExpZeroCount:
          if (!Expect(f, kFixed64, "ExponentialHistogramDataPoint count")) return false;
          (f.number == kExpCount ? pt.count : pt.zero_count) = f.value;
          break;
        case kExpSum:
        case kExpMin:
        case kExpMax:
        case kExpZeroThreshold: {
          if (!Expect(f, kFixed64, "ExponentialHistogramDataPoint double")) return false;
          const double d = std::bit_cast<double>(f.value);
          if (f.number == kExpSum) pt.has_sum = true, pt.sum = d;
          if (f.number == kExpMin) pt.has_min = true, pt.min = d;
          if (f.number == kExpMax) pt.has_max = true, pt.max = d;
          if (f.number == kExpZeroThreshold) pt.zero_threshold = d;
          break;
        }
        case kExpScale:
          if (!Expect(f, kVarint, "ExponentialHistogramDataPoint.scale")) return false;
          pt.scale = ZigZagDecode32(f.value);
          break;
        case kExpPositive:
        case kExpNegative:
          if (!Expect(f, kLen, "ExponentialHistogramDataPoint buckets")) return false;
          if (!DecodeBuckets(f, f.number == kExpPositive ? &pt.positive : &pt.negative, &over)) {
            return false;
          }
          break;
        case kExpFlags:
          if (!Expect(f, kVarint, "ExponentialHistogramDataPoint.flags")) return false;
          pt.flags = static_cast<uint32_t>(f.value);
          break;
        default:
          break;
      }
    }
    if (over || !ExpHistogramPointValid(pt)) {
      DiscardInvalidPoint(out_, mark);
      return true;
    }
    return FinishPoint(point, kExpExemplars, dropped, &pt);
  }

  size_t points_seen_ = 0;
};

}  // namespace

Status DecodeMetricsProto(std::string_view body, const DecodeLimits& limits,
                          model::MetricBatch* out) noexcept {
  return MetricsDecoder(body, limits, out).Decode();
}

}  // namespace loupe::wire
