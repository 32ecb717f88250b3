// Rollups: `endpoints` over one hour at 1,000 TPS and a 24-hour `series`,
// answered by query/ from the embedded engine's rollups, against the same
// queries over raw rows (the engine seen without rollups), in one run.
//
//   cmake --build build --target rollup_benchmark
//   build/rollup_benchmark --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// Data: the synthetic workload (3 services × 4 instances, 60 endpoints,
// log-normal elapsed, 1 % errors, ~6 steps), written through Store::Append
// into an EmbeddedStore in /tmp, flushed and compacted (one segment and its
// two rollup files per hour) — the steady state of closed hours. The hour is
// the last full hour at 1,000 TPS (3.6 M transactions) plus 10 minutes of
// the current hour still in the memtable; queries take [now − 1 h, now)
// with now not on any boundary, so both rollup resolutions and raw edges
// are used. The day is 24 hours at 20 TPS (1.7 M transactions): at that rate
// every (service, instance, endpoint) already appears in every 5-minute
// bucket, so the 5-minute cells — what a day-long series reads — are as
// many as at 1,000 TPS.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <memory>

#include "query/query.h"
#include "store/embedded/embedded_store.h"
#include "store/embedded/synthetic_workload.h"
#include "testing/raw_rows_store.h"

namespace loupe {
namespace {

constexpr int64_t kHour = 3'600'000'000;
constexpr int64_t kHourStart = 472'222 * kHour;

// The engine's rows without its rollups: what query/ did before them.
using WithoutRollups = testing::RawRowsStore;

struct Data {
  std::string dir;
  std::unique_ptr<store::EmbeddedStore> store;
  std::unique_ptr<WithoutRollups> raw;
  int64_t now = 0;
  uint64_t rollup_bytes = 0, segment_bytes = 0;

  Data(const char* name, double tps, int64_t start, int64_t hours, int64_t extra_us) {
    dir = std::string("/tmp/loupe_rollup_bench_") + name;
    std::filesystem::remove_all(dir);
    store::EmbeddedOptions o;
    o.dir = dir;
    o.background_flush = true;
    o.background_maintenance = false;
    o.compaction_grace_us = 0;
    auto s = store::EmbeddedStore::Open(o);
    if (!s.ok()) std::abort();
    store = std::move(*s);
    store::SyntheticWorkload::Options wo;
    wo.tps = tps;
    store::SyntheticWorkload w(wo, start);
    const int64_t end = start + hours * kHour + extra_us;
    const int64_t closed = start + hours * kHour;
    bool flushed = false;
    for (;;) {
      store::WriteBatch b;
      for (int i = 0; i < 2000; ++i) b.transactions.push_back(w.Next());
      const int64_t last = b.transactions.back().end_us;
      if (!flushed && last >= closed) {
        // Closed hours into segments (and compacted), the rest in memtables.
        if (!store->Flush().ok() || !store->CompactClosedPartitions().ok()) std::abort();
        flushed = true;
      }
      if (!store->Append(1, std::move(b)).ok()) std::abort();
      if (last >= end) break;
    }
    now = end;
    raw = std::make_unique<WithoutRollups>(*store);
    for (const auto& u : store->Usage().projects) {
      rollup_bytes += u.rollup_bytes;
      segment_bytes += u.segment_bytes;
    }
  }
  ~Data() {
    store->Close();
    std::filesystem::remove_all(dir);
  }
};

Data& Hour() {
  // 1 h 10 min at 1,000 TPS; "now" 10 min + 0.123 s into the next hour.
  static Data d("hour", 1000, kHourStart, 1, 10 * 60'000'000 + 123'456);
  return d;
}

Data& Day() {
  static Data d("day", 20, kHourStart - 23 * kHour, 24, 10 * 60'000'000 + 123'456);
  return d;
}

void BM_EndpointsHour(benchmark::State& state) {
  Data& d = Hour();
  const store::Store& s = state.range(0) ? static_cast<const store::Store&>(*d.store) : *d.raw;
  store::TxFilter f;
  f.to_us = d.now;
  f.from_us = d.now - kHour;
  std::string source;
  size_t n = 0;
  for (auto _ : state) {
    auto r = query::ComputeEndpoints(s, 1, f, &source);
    if (!r.ok()) state.SkipWithError(r.status().ToString().c_str());
    n = r->size();
    benchmark::DoNotOptimize(r);
  }
  state.SetLabel(source + ", " + std::to_string(n) + " endpoints, rollups " +
                 std::to_string(d.rollup_bytes >> 10) + " KiB vs segments " +
                 std::to_string(d.segment_bytes >> 20) + " MiB");
}
BENCHMARK(BM_EndpointsHour)->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Series24h(benchmark::State& state) {
  Data& d = Day();
  const store::Store& s = state.range(0) ? static_cast<const store::Store&>(*d.store) : *d.raw;
  store::TxFilter f;
  f.to_us = d.now;
  f.from_us = d.now - 24 * kHour;
  const auto group = static_cast<query::GroupBy>(state.range(1));
  const int64_t step = state.range(2) * 1'000'000;
  std::string source;
  for (auto _ : state) {
    auto r = query::ComputeSeries(s, 1, f, query::Metric::kTps, step, group);
    if (!r.ok()) state.SkipWithError(r.status().ToString().c_str());
    source = r->source;
    benchmark::DoNotOptimize(r);
  }
  state.SetLabel(source + ", step " + std::to_string(state.range(2)) + " s");
}
// Args: {rollups, group_by, step in seconds}.
BENCHMARK(BM_Series24h)
    ->Args({1, static_cast<int>(query::GroupBy::kNone), 300})
    ->Args({1, static_cast<int>(query::GroupBy::kService), 300})
    ->Args({1, static_cast<int>(query::GroupBy::kEndpoint), 300})
    ->Args({1, static_cast<int>(query::GroupBy::kNone), 60})
    ->Args({0, static_cast<int>(query::GroupBy::kNone), 300})
    ->Args({0, static_cast<int>(query::GroupBy::kNone), 60})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_Series10min1s(benchmark::State& state) {
  // The dashboard's live-range chart: the last 10 minutes at 1 s, 1,000 TPS.
  Data& d = Hour();
  const store::Store& s = state.range(0) ? static_cast<const store::Store&>(*d.store) : *d.raw;
  store::TxFilter f;
  f.to_us = d.now;
  f.from_us = d.now - 10 * 60'000'000;
  for (auto _ : state) {
    auto r = query::ComputeSeries(s, 1, f, query::Metric::kTps, 1'000'000, query::GroupBy::kNone);
    if (!r.ok()) state.SkipWithError(r.status().ToString().c_str());
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_Series10min1s)->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_UsersDay(benchmark::State& state) {
  Data& d = Day();
  store::TxFilter f;
  f.to_us = d.now;
  f.from_us = d.now - 24 * kHour;
  for (auto _ : state) {
    auto r =
        query::ComputeSeries(*d.store, 1, f, query::Metric::kUsers, kHour, query::GroupBy::kNone);
    if (!r.ok()) state.SkipWithError(r.status().ToString().c_str());
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_UsersDay)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace loupe

BENCHMARK_MAIN();
