#include "ingest/metrics_mapping.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <string>
#include <string_view>
#include <utility>

namespace loupe::ingest {
namespace {

using model::Metric;
using model::MetricBatch;
using model::MetricPoint;
using model::MetricType;
using model::Temporality;
using tsdb::Labels;
using tsdb::SeriesKind;

std::string FormatShortest(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// Exponential bounds are irrational; six digits keep le texts short while
// still telling apart buckets of scale <= 8 (base - 1 >= 0.27%).
std::string FormatSixDigits(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 6);
  return std::string(buf, r.ptr);
}

class Mapper {
 public:
  Mapper(const MetricBatch& batch, const MetricsMappingOptions& options, MappedMetrics* out)
      : b_(batch), options_(options), out_(out) {}

  void Run() {
    for (const Metric& m : b_.metrics) {
      const Labels resource = AttrLabels(b_.resources[m.resource].attrs, {});
      for (uint32_t i = 0; i < m.points_count; ++i) {
        const MetricPoint& p = b_.points[m.points_begin + i];
        ++out_->points;
        out_->dropped_exemplars += p.exemplars_count;
        if ((p.flags & model::kPointFlagNoRecordedValue) != 0 || p.time_unix_nano == 0) {
          ++out_->skipped_points;
          continue;
        }
        const int64_t ms = static_cast<int64_t>(p.time_unix_nano / 1'000'000);
        Labels labels = AttrLabels(p.attrs, resource);
        switch (m.type) {
          case MetricType::kGauge:
            Add(std::string(m.name), std::move(labels), SeriesKind::kGauge, ms, p.value.AsDouble());
            break;
          case MetricType::kSum:
            Add(std::string(m.name), std::move(labels), SumKind(m), ms, p.value.AsDouble());
            break;
          case MetricType::kHistogram:
            Histogram(m, p, std::move(labels), ms);
            break;
          case MetricType::kExponentialHistogram:
            ExpHistogram(m, p, std::move(labels), ms);
            break;
        }
      }
    }
  }

 private:
  static SeriesKind SumKind(const Metric& m) {
    if (!m.monotonic) return SeriesKind::kGauge;
    return m.temporality == Temporality::kDelta ? SeriesKind::kDeltaCounter : SeriesKind::kCounter;
  }
  static SeriesKind HistogramKind(const Metric& m) {
    return m.temporality == Temporality::kDelta ? SeriesKind::kDeltaCounter : SeriesKind::kCounter;
  }

  // `base` first, then the attributes of `r`; NormalizeLabels keeps the last
  // of duplicate names, so point attributes win.
  Labels AttrLabels(model::AttrRange r, const Labels& base) const {
    Labels labels = base;
    labels.reserve(base.size() + r.count);
    for (uint32_t i = r.begin; i < r.begin + r.count; ++i) {
      const model::KeyValue& kv = b_.attrs[i];
      std::string value;
      kv.value.AppendText(&value);
      labels.emplace_back(std::string(kv.key), std::move(value));
    }
    tsdb::NormalizeLabels(&labels);
    return labels;
  }

  void Add(std::string metric, Labels labels, SeriesKind kind, int64_t ms, double value) {
    tsdb::SeriesSamples& s = out_->series.emplace_back();
    s.metric = std::move(metric);
    s.labels = std::move(labels);
    s.kind = kind;
    s.samples.push_back({ms, value});
    ++out_->samples;
  }

  // _bucket series for cumulative `counts` at bounds `le` (same length), then
  // _sum and _count.
  void EmitHistogram(const Metric& m, const MetricPoint& p, const Labels& labels, int64_t ms,
                     const std::vector<std::pair<std::string, uint64_t>>& buckets) {
    const SeriesKind kind = HistogramKind(m);
    const std::string bucket_name = std::string(m.name) + "_bucket";
    for (const auto& [le, cumulative] : buckets) {
      Labels l = labels;
      l.emplace_back("le", le);
      tsdb::NormalizeLabels(&l);
      Add(bucket_name, std::move(l), kind, ms, static_cast<double>(cumulative));
    }
    if (p.has_sum) Add(std::string(m.name) + "_sum", labels, kind, ms, p.sum);
    Add(std::string(m.name) + "_count", labels, kind, ms, static_cast<double>(p.count));
  }

  void Histogram(const Metric& m, const MetricPoint& p, Labels labels, int64_t ms) {
    std::vector<std::pair<std::string, uint64_t>> buckets;
    uint64_t cumulative = 0;
    for (uint32_t k = 0; k < p.bucket_counts.count; ++k) {
      cumulative += b_.Count(p.bucket_counts, k);
      const bool last = k + 1 == p.bucket_counts.count;
      buckets.emplace_back(last ? "+Inf" : FormatShortest(b_.Bound(p, k)), cumulative);
    }
    // No buckets at all: only the +Inf bucket, which is the count.
    if (buckets.empty()) buckets.emplace_back("+Inf", p.count);
    EmitHistogram(m, p, labels, ms, buckets);
  }

  // Counts by bucket index (offset + k) of one side, merged `shift` times.
  static std::map<int64_t, uint64_t> Downscaled(const MetricBatch& b, const model::ExpBuckets& e,
                                                int shift) {
    std::map<int64_t, uint64_t> out;
    for (uint32_t k = 0; k < e.counts.count; ++k) {
      const uint64_t c = b.Count(e.counts, k);
      if (c == 0) continue;
      const int64_t index = static_cast<int64_t>(e.offset) + k;
      out[index >> shift] += c;  // arithmetic shift: floor division by 2^shift
    }
    return out;
  }

  static int64_t Span(const std::map<int64_t, uint64_t>& m) {
    return m.empty() ? 0 : m.rbegin()->first - m.begin()->first + 1;
  }

  void ExpHistogram(const Metric& m, const MetricPoint& p, Labels labels, int64_t ms) {
    int shift = std::max(0, p.scale - options_.max_exp_scale);
    std::map<int64_t, uint64_t> pos = Downscaled(b_, p.positive, shift);
    std::map<int64_t, uint64_t> neg = Downscaled(b_, p.negative, shift);
    while (std::max(Span(pos), Span(neg)) > static_cast<int64_t>(options_.max_exp_buckets)) {
      ++shift;
      pos = Downscaled(b_, p.positive, shift);
      neg = Downscaled(b_, p.negative, shift);
    }
    if (shift > 0) ++out_->exp_points_downscaled;
    const int scale = p.scale - shift;
    // base^i = 2^(i · 2^-scale).
    auto power = [scale](int64_t i) {
      return std::exp2(std::ldexp(static_cast<double>(i), -scale));
    };

    std::vector<std::pair<std::string, uint64_t>> buckets;
    uint64_t cumulative = 0;
    // Negative buckets from the most negative: bucket i holds values in
    // [-base^(i+1), -base^i).
    if (!neg.empty()) {
      for (int64_t i = neg.rbegin()->first; i >= neg.begin()->first; --i) {
        auto it = neg.find(i);
        if (it != neg.end()) cumulative += it->second;
        buckets.emplace_back(FormatSixDigits(-power(i)), cumulative);
      }
    }
    cumulative += p.zero_count;
    buckets.emplace_back(FormatShortest(p.zero_threshold), cumulative);
    if (!pos.empty()) {
      for (int64_t i = pos.begin()->first; i <= pos.rbegin()->first; ++i) {
        auto it = pos.find(i);
        if (it != pos.end()) cumulative += it->second;
        buckets.emplace_back(FormatSixDigits(power(i + 1)), cumulative);
      }
    }
    buckets.emplace_back("+Inf", std::max(cumulative, p.count));
    EmitHistogram(m, p, labels, ms, buckets);
  }

  const MetricBatch& b_;
  const MetricsMappingOptions& options_;
  MappedMetrics* out_;
};

}  // namespace

void MapMetrics(const model::MetricBatch& batch, const MetricsMappingOptions& options,
                MappedMetrics* out) {
  Mapper(batch, options, out).Run();
}

}  // namespace loupe::ingest
