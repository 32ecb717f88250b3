// Segment size against the zstd level and profile block size: what a
// compaction could buy by compressing closed partitions harder
// (docs/benchmarks.md, "Embedded engine vs ClickHouse", bytes on disk).
//
//   cmake --build build --target segment_level_benchmark
//   build/segment_level_benchmark                        # level 19 alone takes ~2 min
//   build/segment_level_benchmark --benchmark_filter='/(3|9|12|15)/'
//
// 200,000 transactions of the synthetic workload (1,000 TPS, ~6 steps each)
// written by WriteSegment to /tmp with the given options, one thread;
// counters: bytes per transaction (file, profiles) and per span.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <unordered_map>

#include "store/embedded/segment.h"
#include "store/embedded/synthetic_workload.h"
#include "store/profile_codec.h"

namespace loupe::store {
namespace {

struct Data {
  std::vector<std::string> dicts[kNumDictColumns];
  std::vector<std::string> blobs;
  std::vector<SegmentRow> rows;
  size_t spans = 0;

  Data() {
    SyntheticWorkload::Options o;
    o.tps = 1000;
    SyntheticWorkload w(o, int64_t{472'222} * 3'600'000'000);
    std::unordered_map<std::string, uint32_t> index[kNumDictColumns];
    constexpr size_t kTx = 200'000;
    blobs.resize(kTx);
    for (size_t i = 0; i < kTx; ++i) {
      model::Transaction t = w.Next();
      SegmentRow r;
      r.id = t.id;
      r.trace = t.trace_id;
      r.start_us = t.start_us;
      r.end_us = t.end_us;
      r.status = t.status;
      r.error = t.error;
      r.summary = t.summary;
      r.steps = static_cast<uint32_t>(t.steps.size());
      const std::string_view vals[kNumDictColumns] = {t.service,   t.instance,    t.endpoint,
                                                      t.user,      t.client_ip,   t.http_method,
                                                      t.error_type};
      for (int c = 0; c < kNumDictColumns; ++c) {
        if (dicts[c].empty()) {
          dicts[c].emplace_back();
          index[c].emplace("", 0);
        }
        auto [it, added] =
            index[c].emplace(std::string(vals[c]), static_cast<uint32_t>(dicts[c].size()));
        if (added) dicts[c].emplace_back(vals[c]);
        r.dict[c] = it->second;
      }
      EncodeProfile(t, &blobs[i]);
      r.profile = blobs[i];
      rows.push_back(r);
      spans += 1 + t.steps.size();
    }
  }
};

void BM_SegmentSize(benchmark::State& state) {
  static Data d;
  SegmentOptions so;
  so.zstd_level = static_cast<int>(state.range(0));
  so.profile_block_bytes = static_cast<size_t>(state.range(1)) << 10;
  const std::string path = "/tmp/loupe_segment_level_benchmark.seg";
  SegmentSizes sz;
  for (auto _ : state) {
    std::vector<SegmentRow> rows = d.rows;
    Status s = WriteSegment(Env::Default(), path, so, 1, 472'222, d.dicts, &rows, {}, &sz);
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
  }
  std::filesystem::remove(path);
  const auto n = static_cast<double>(d.rows.size());
  state.counters["B_per_tx"] = static_cast<double>(sz.file) / n;
  state.counters["B_per_span"] = static_cast<double>(sz.file) / static_cast<double>(d.spans);
  state.counters["profile_B_per_tx"] = static_cast<double>(sz.profiles) / n;
}
// Args: {zstd level, profile block KiB}.
BENCHMARK(BM_SegmentSize)
    ->Args({3, 64})
    ->Args({3, 256})
    ->Args({9, 64})
    ->Args({9, 256})
    ->Args({12, 256})
    ->Args({15, 256})
    ->Args({19, 1024})
    ->Iterations(1)
    ->Unit(benchmark::kSecond)
    ->UseRealTime();

}  // namespace
}  // namespace loupe::store

BENCHMARK_MAIN();
