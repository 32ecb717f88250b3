// libFuzzer target: DecodeMetricsProto on arbitrary bytes, with default and
// with tiny limits. A successful decode must give ranges that stay inside the
// batch's vectors, respect the caps, and re-encode into a request that decodes
// to as many metrics and points.
#include <cstddef>
#include <cstdint>
#include <string>

#include "batch_invariants.h"
#include "wire/otlp_metrics_proto.h"

namespace {

using namespace loupe;

void CheckRange(uint32_t begin, uint32_t count, size_t size) {
  LOUPE_FUZZ_CHECK(uint64_t{begin} + count <= size);
}

void Check(const model::MetricBatch& b, const wire::DecodeLimits& l) {
  for (const model::Resource& r : b.resources) {
    CheckRange(r.attrs.begin, r.attrs.count, b.attrs.size());
    LOUPE_FUZZ_CHECK(r.attrs.count <= l.max_attributes_per_resource);
  }
  for (const model::Metric& m : b.metrics) {
    LOUPE_FUZZ_CHECK(m.resource < b.resources.size());
    LOUPE_FUZZ_CHECK(!m.name.empty());
    CheckRange(m.points_begin, m.points_count, b.points.size());
    for (uint32_t i = m.points_begin; i < m.points_begin + m.points_count; ++i) {
      const model::MetricPoint& p = b.points[i];
      CheckRange(p.attrs.begin, p.attrs.count, b.attrs.size());
      LOUPE_FUZZ_CHECK(p.attrs.count <= l.max_attributes_per_point);
      CheckRange(p.exemplars_begin, p.exemplars_count, b.exemplars.size());
      LOUPE_FUZZ_CHECK(p.exemplars_count <= l.max_exemplars_per_point);
      if (m.type == model::MetricType::kHistogram) {
        CheckRange(p.bounds.begin, p.bounds.count, b.bounds.size());
        CheckRange(p.bucket_counts.begin, p.bucket_counts.count, b.counts.size());
        LOUPE_FUZZ_CHECK(p.bucket_counts.count == 0 ? p.bounds.count == 0
                                                    : p.bucket_counts.count == p.bounds.count + 1);
        for (uint32_t k = 1; k < p.bounds.count; ++k) {
          LOUPE_FUZZ_CHECK(b.Bound(p, k - 1) < b.Bound(p, k));
        }
      }
      if (m.type == model::MetricType::kExponentialHistogram) {
        LOUPE_FUZZ_CHECK(p.scale >= -10 && p.scale <= 20);
        for (const model::ExpBuckets* side : {&p.positive, &p.negative}) {
          CheckRange(side->counts.begin, side->counts.count, b.counts.size());
          LOUPE_FUZZ_CHECK(side->counts.count <= l.max_buckets_per_point);
        }
      }
    }
  }
  for (const model::Exemplar& e : b.exemplars)
    CheckRange(e.attrs.begin, e.attrs.count, b.attrs.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A heap copy of exactly `size` bytes, so ASan catches any read past the end.
  const std::string body(reinterpret_cast<const char*>(data), size);
  wire::DecodeLimits tiny = fuzz::TinyLimits();
  tiny.max_attributes_per_point = 2;
  tiny.max_points = 40;
  tiny.max_buckets_per_point = 5;
  tiny.max_exemplars_per_point = 1;
  for (const wire::DecodeLimits& limits : {wire::DecodeLimits{}, tiny}) {
    model::MetricBatch batch;
    Status st = wire::DecodeMetricsProto(body, limits, &batch);
    if (!st.ok()) {
      LOUPE_FUZZ_CHECK(st.code() == Status::Code::kInvalidArgument);
      continue;
    }
    Check(batch, limits);
    std::string again;
    wire::EncodeMetricsProto(batch, &again);
    model::MetricBatch round;
    LOUPE_FUZZ_CHECK(wire::DecodeMetricsProto(again, limits, &round).ok());
    LOUPE_FUZZ_CHECK(round.metrics.size() == batch.metrics.size());
    LOUPE_FUZZ_CHECK(round.points.size() == batch.points.size());
  }
  return 0;
}
