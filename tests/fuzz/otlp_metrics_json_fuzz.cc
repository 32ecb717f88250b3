// libFuzzer target: DecodeMetricsJson on arbitrary bytes, with default and
// with tiny limits. A successful decode must keep every range inside the
// batch and re-encode (protobuf) into a request that decodes to as many
// metrics and points.
#include <cstddef>
#include <cstdint>
#include <string>

#include "batch_invariants.h"
#include "wire/otlp_metrics_json.h"
#include "wire/otlp_metrics_proto.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace loupe;
  wire::DecodeLimits tiny = fuzz::TinyLimits();
  tiny.max_attributes_per_point = 2;
  tiny.max_points = 40;
  tiny.max_buckets_per_point = 5;
  tiny.max_exemplars_per_point = 1;
  for (const wire::DecodeLimits& limits : {wire::DecodeLimits{}, tiny}) {
    std::string body(reinterpret_cast<const char*>(data), size);
    model::MetricBatch batch;
    Status st = wire::DecodeMetricsJson(&body, limits, &batch);
    if (!st.ok()) {
      LOUPE_FUZZ_CHECK(st.code() == Status::Code::kInvalidArgument);
      continue;
    }
    for (const model::Metric& m : batch.metrics) {
      LOUPE_FUZZ_CHECK(m.resource < batch.resources.size());
      LOUPE_FUZZ_CHECK(uint64_t{m.points_begin} + m.points_count <= batch.points.size());
    }
    for (const model::MetricPoint& p : batch.points) {
      LOUPE_FUZZ_CHECK(uint64_t{p.attrs.begin} + p.attrs.count <= batch.attrs.size());
      LOUPE_FUZZ_CHECK(uint64_t{p.exemplars_begin} + p.exemplars_count <= batch.exemplars.size());
      LOUPE_FUZZ_CHECK(uint64_t{p.bounds.begin} + p.bounds.count <= batch.bounds.size());
      for (const model::ValueRange& r : {p.bucket_counts, p.positive.counts, p.negative.counts}) {
        LOUPE_FUZZ_CHECK(uint64_t{r.begin} + r.count <= batch.counts.size());
      }
    }
    std::string again;
    wire::EncodeMetricsProto(batch, &again);
    model::MetricBatch round;
    LOUPE_FUZZ_CHECK(wire::DecodeMetricsProto(again, limits, &round).ok());
    LOUPE_FUZZ_CHECK(round.metrics.size() == batch.metrics.size());
    LOUPE_FUZZ_CHECK(round.points.size() == batch.points.size());
  }
  return 0;
}
