// Segment size and speed against the profile layout (whole blobs, version
// 1, or columnar streams, version 2), the zstd level and the profile block
// size (docs/benchmarks.md, "Embedded engine vs ClickHouse", bytes on disk).
//
//   cmake --build build --target segment_level_benchmark
//   build/segment_level_benchmark                        # level 19 alone takes ~1 min
//   build/segment_level_benchmark --benchmark_filter='/3/'
//
// 200,000 transactions of the synthetic workload (1,000 TPS, ~6 steps each)
// written by WriteSegment to /tmp with the given options, one thread;
// counters: bytes per transaction (file, profiles) and per span.
// BM_ReadProfile: Segment::ReadProfile of random rows (what Get pays for the
// profile) of such a file.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <unordered_map>

#include "store/embedded/segment_builder.h"
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
      const std::string_view vals[kNumDictColumns] = {
          t.service, t.instance, t.endpoint, t.user, t.client_ip, t.http_method, t.error_type};
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

SegmentOptions Options(const benchmark::State& state) {
  SegmentOptions so;
  so.version = state.range(0) != 0 ? 2 : 1;
  so.zstd_level = static_cast<int>(state.range(1));
  so.profile_block_bytes = static_cast<size_t>(state.range(2)) << 10;
  return so;
}

void BM_SegmentSize(benchmark::State& state) {
  static Data d;
  const SegmentOptions so = Options(state);
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
// Args: {version 2 (columnar profiles, packed columns) or 1, zstd level, profile block KiB}.
BENCHMARK(BM_SegmentSize)
    ->Args({0, 3, 64})
    ->Args({0, 3, 256})
    ->Args({0, 12, 256})
    ->Args({0, 19, 1024})
    ->Args({1, 3, 64})
    ->Args({1, 3, 128})
    ->Args({1, 3, 256})
    ->Args({1, 3, 1024})
    ->Args({1, 9, 256})
    ->Args({1, 12, 256})
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_ReadProfile(benchmark::State& state) {
  static Data d;
  const std::string path = "/tmp/loupe_segment_read_benchmark.seg";
  std::vector<SegmentRow> rows = d.rows;
  Status s = WriteSegment(Env::Default(), path, Options(state), 1, 472'222, d.dicts, &rows, {});
  auto seg = Segment::Open(Env::Default(), path);
  if (!s.ok() || !seg.ok()) {
    state.SkipWithError("cannot write the segment");
    return;
  }
  uint64_t x = 1;
  std::string blob;
  for (auto _ : state) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    const auto row = static_cast<uint32_t>((x >> 33) % (*seg)->rows());
    if (!(*seg)->ReadProfile(row, &blob).ok()) state.SkipWithError("ReadProfile failed");
  }
  std::filesystem::remove(path);
}
BENCHMARK(BM_ReadProfile)
    ->Args({0, 3, 64})
    ->Args({1, 3, 64})
    ->Args({1, 3, 128})
    ->Args({1, 3, 256})
    ->Args({1, 3, 1024})
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace loupe::store

BENCHMARK_MAIN();
