// Time-series store benchmarks (issue 13 budgets):
//  - BM_TsdbAppend: samples/s into the head for series with 10 labels (the
//    whole metrics ingest must do >= 500,000 samples/s per core, so the
//    store's share must be far above that). Arg = samples per series entry.
//  - BM_TsdbBytesPerSample: a simulated day of host-agent series (5 s
//    interval; CPU seconds, memory, file systems, disks, network, load,
//    processes), sealed into blocks; counters report bytes per sample on disk
//    (budget <= 1.5 B). Arg 0 = timestamps exactly on the interval, 1 = with
//    ±20 ms jitter.
//  - BM_TsdbQuery24h: 24 h of 1,000 series (5 s interval) at a 1-minute step
//    (budget <= 50 ms), as one series each, summed into one, and as rates.
//
// Run: build/tsdb_benchmark --benchmark_repetitions=5
// --benchmark_report_aggregates_only=true. LOUPE_BENCH_DIR picks the data
// directory (default /tmp). The query's day is built once (about a minute).
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "store/tsdb/time_series_store.h"

namespace loupe::tsdb {
namespace {

constexpr int64_t kT0 = 1'700'006'400'000;  // a day boundary (UTC)
constexpr int64_t kHour = 3'600'000;
constexpr int64_t kDay = 24 * kHour;
constexpr int64_t kInterval = 5000;

std::string BenchDir(const std::string& name) {
  const char* base = std::getenv("LOUPE_BENCH_DIR");
  std::string dir = std::string(base ? base : "/tmp") + "/loupe_bench_tsdb_" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

uint64_t DirBytes(const std::string& dir, const std::string& prefix) {
  uint64_t n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().filename().string().starts_with(prefix)) {
      n += e.file_size();
    }
  }
  return n;
}

// Ten labels, as an OTLP resource plus point attributes would give, sorted
// by name as the store keeps them (unsorted labels cost a copy and a sort).
Labels TenLabels(int series) {
  const int host = series / 100;
  Labels l = {{"host.name", "host-" + std::to_string(host) + ".prod.example.com"},
          {"host.id", "b2c3d4e5-0000-4000-8000-" + std::to_string(100000000000 + host)},
          {"os.type", "linux"},
          {"service.name", "checkout"},
          {"service.instance.id", "checkout-" + std::to_string(host)},
          {"k8s.namespace.name", "shop"},
          {"k8s.pod.name", "checkout-7d9f8-" + std::to_string(host)},
          {"cloud.region", "eu-west-1"},
          {"cpu", std::to_string(series % 100 / 8)},
          {"state", std::to_string(series % 8)}};
  NormalizeLabels(&l);
  return l;
}

void BM_TsdbAppend(benchmark::State& state) {
  const int per_entry = static_cast<int>(state.range(0));
  const std::string dir = BenchDir("append");
  TsdbOptions o;
  o.dir = dir;
  auto store = TimeSeriesStore::Open(o);
  if (!store.ok()) {
    state.SkipWithError(store.status().ToString().c_str());
    return;
  }
  constexpr int kSeries = 10'000;
  constexpr int kBatch = 1'000;
  std::vector<SeriesSamples> all(kSeries);
  for (int i = 0; i < kSeries; ++i) {
    all[i].metric = "system.cpu.time";
    all[i].labels = TenLabels(i);
    all[i].kind = SeriesKind::kCounter;
    all[i].samples.resize(per_entry);
  }
  int64_t round = 0;
  size_t next = 0;
  uint64_t samples = 0;
  for (auto _ : state) {
    state.PauseTiming();
    if (next == kSeries) {
      next = 0;
      ++round;
    }
    // The decoder has just written the batch: touch its labels so that they
    // are in cache, as they would be.
    size_t touched = 0;
    for (size_t i = next; i < next + kBatch; ++i) {
      for (const auto& [k, v] : all[i].labels) touched += k.size() + v.size();
      for (int k = 0; k < per_entry; ++k) {
        const int64_t step = round * per_entry + k;
        all[i].samples[k] = {kT0 + step * kInterval, static_cast<double>(step * 3 + i % 7)};
      }
    }
    benchmark::DoNotOptimize(touched);
    state.ResumeTiming();
    Status s = (*store)->Append(1, std::span(all).subspan(next, kBatch));
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    samples += static_cast<uint64_t>(kBatch) * per_entry;
    next += kBatch;
  }
  state.SetItemsProcessed(static_cast<int64_t>(samples));
  const TsdbStats st = (*store)->Stats();
  state.counters["head_B_per_sample"] =
      static_cast<double>(st.head_bytes) / static_cast<double>(st.samples_appended);
  store->reset();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_TsdbAppend)->Arg(1)->Arg(10)->Unit(benchmark::kMicrosecond);

// One host's series as an agent reports them every 5 s.
struct HostSeries {
  SeriesSamples s;
  double value = 0;
  std::function<double(double, std::mt19937_64&)> next;
};

std::vector<HostSeries> HostAgentSeries(int host) {
  std::vector<HostSeries> out;
  const std::string name = "host-" + std::to_string(host);
  auto add = [&](std::string metric, Labels extra, SeriesKind kind, double start,
                 std::function<double(double, std::mt19937_64&)> next) {
    Labels l = {{"host.name", name}, {"os.type", "linux"}};
    for (auto& kv : extra) l.push_back(std::move(kv));
    out.push_back({SeriesSamples{std::move(metric), std::move(l), kind, {}}, start, std::move(next)});
  };
  const char* states[] = {"user", "system", "idle", "iowait", "irq", "softirq", "steal", "nice"};
  for (int cpu = 0; cpu < 8; ++cpu) {
    for (int st = 0; st < 8; ++st) {
      // CPU seconds in 10 ms ticks; idle grows most, steal never.
      const double rate = st == 2 ? 3.0 : st == 6 ? 0 : st < 2 ? 1.0 : 0.05;
      add("system.cpu.time", {{"cpu", std::to_string(cpu)}, {"state", states[st]}},
          SeriesKind::kCounter, 1000.0 * (st + 1), [rate](double v, std::mt19937_64& r) {
            return std::round((v + rate * (0.5 + (r() % 100) / 100.0)) * 100) / 100;
          });
    }
  }
  for (const char* st : {"used", "free", "cached", "buffered"}) {
    add("system.memory.usage", {{"state", st}}, SeriesKind::kGauge, 4e9,
        [](double v, std::mt19937_64& r) {
          return r() % 4 == 0 ? v + 4096.0 * (static_cast<int>(r() % 201) - 100) : v;
        });
  }
  for (const char* dev : {"sda", "sdb", "nvme0n1"}) {
    for (const char* dir : {"read", "write"}) {
      add("system.disk.io", {{"device", dev}, {"direction", dir}}, SeriesKind::kCounter, 1e9,
          [](double v, std::mt19937_64& r) { return v + 4096.0 * (r() % 64); });
      add("system.disk.operations", {{"device", dev}, {"direction", dir}}, SeriesKind::kCounter,
          1e6, [](double v, std::mt19937_64& r) { return v + static_cast<double>(r() % 40); });
    }
  }
  for (const char* mount : {"/", "/var", "/data", "/boot"}) {
    for (const char* st : {"used", "free"}) {
      add("system.filesystem.usage", {{"mountpoint", mount}, {"state", st}}, SeriesKind::kGauge,
          5e10, [](double v, std::mt19937_64& r) {
            return r() % 20 == 0 ? v + 4096.0 * (r() % 16) : v;
          });
    }
  }
  for (const char* dev : {"eth0", "eth1", "lo"}) {
    for (const char* dir : {"receive", "transmit"}) {
      add("system.network.io", {{"device", dev}, {"direction", dir}}, SeriesKind::kCounter, 1e10,
          [](double v, std::mt19937_64& r) { return v + static_cast<double>(r() % 2'000'000); });
      add("system.network.packets", {{"device", dev}, {"direction", dir}},
          SeriesKind::kCounter, 1e7,
          [](double v, std::mt19937_64& r) { return v + static_cast<double>(r() % 2000); });
      add("system.network.errors", {{"device", dev}, {"direction", dir}}, SeriesKind::kCounter,
          0, [](double v, std::mt19937_64& r) { return r() % 5000 == 0 ? v + 1 : v; });
    }
  }
  for (const char* st : {"established", "time_wait", "close_wait", "listen"}) {
    add("system.network.connections", {{"state", st}}, SeriesKind::kGauge, 100,
        [](double v, std::mt19937_64& r) {
          return std::max(0.0, v + static_cast<double>(static_cast<int>(r() % 11) - 5));
        });
  }
  for (const char* m : {"system.cpu.load_average.1m", "system.cpu.load_average.5m",
                        "system.cpu.load_average.15m"}) {
    add(m, {}, SeriesKind::kGauge, 1.5, [](double v, std::mt19937_64& r) {
      return std::max(0.0, std::round((v + (static_cast<int>(r() % 21) - 10) / 100.0) * 100) / 100);
    });
  }
  add("system.processes.count", {{"status", "running"}}, SeriesKind::kGauge, 300,
      [](double v, std::mt19937_64& r) { return v + static_cast<double>(static_cast<int>(r() % 3) - 1); });
  return out;
}

void BM_TsdbBytesPerSample(benchmark::State& state) {
  const bool jitter = state.range(0) != 0;
  for (auto _ : state) {
    const std::string dir = BenchDir("bytes");
    TsdbOptions o;
    o.dir = dir;
    auto store = TimeSeriesStore::Open(o);
    if (!store.ok()) {
      state.SkipWithError(store.status().ToString().c_str());
      return;
    }
    std::mt19937_64 rng(42);
    std::vector<HostSeries> series;
    for (int h = 0; h < 10; ++h) {
      for (auto& s : HostAgentSeries(h)) series.push_back(std::move(s));
    }
    std::vector<SeriesSamples> batch(series.size());
    uint64_t samples = 0;
    for (int64_t t = kT0; t < kT0 + kDay; t += kInterval) {
      // One collection per host per tick: all its series share the timestamp.
      const int64_t ts = jitter ? t + static_cast<int64_t>(rng() % 41) - 20 : t;
      for (size_t i = 0; i < series.size(); ++i) {
        series[i].value = series[i].next(series[i].value, rng);
        batch[i].metric = series[i].s.metric;
        batch[i].labels = series[i].s.labels;
        batch[i].kind = series[i].s.kind;
        batch[i].samples.assign(1, Sample{ts, series[i].value});
      }
      Status s = (*store)->Append(1, batch);
      if (!s.ok()) state.SkipWithError(s.ToString().c_str());
      samples += batch.size();
    }
    Status s = (*store)->Maintain(kT0 + kDay + o.head_grace_ms);
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    const double raw = static_cast<double>(DirBytes(dir, "raw-"));
    // The day is sealed and compacted: its aggregates are one day- block.
    const double agg = static_cast<double>(DirBytes(dir, "agg-") + DirBytes(dir, "day-"));
    state.counters["blocks"] = static_cast<double>((*store)->Stats().blocks);
    state.counters["series"] = static_cast<double>(series.size());
    state.counters["samples"] = static_cast<double>(samples);
    state.counters["raw_B_per_sample"] = raw / static_cast<double>(samples);
    state.counters["agg_B_per_sample"] = agg / static_cast<double>(samples);
    state.counters["disk_B_per_sample"] = (raw + agg) / static_cast<double>(samples);
    store->reset();
    std::filesystem::remove_all(dir);
  }
}
BENCHMARK(BM_TsdbBytesPerSample)->Arg(0)->Arg(1)->Iterations(1)->Unit(benchmark::kMillisecond);

TimeSeriesStore* QueryDay() {
  static std::unique_ptr<TimeSeriesStore> store;
  if (store) return store.get();
  TsdbOptions o;
  o.dir = BenchDir("query");
  auto s = TimeSeriesStore::Open(o);
  if (!s.ok()) return nullptr;
  store = std::move(s.value());
  constexpr int kSeries = 1000;
  std::vector<SeriesSamples> batch(kSeries);
  for (int i = 0; i < kSeries; ++i) {
    batch[i].metric = "system.cpu.time";
    batch[i].labels = TenLabels(i);
    batch[i].kind = SeriesKind::kCounter;
  }
  std::mt19937_64 rng(1);
  std::vector<double> value(kSeries, 0);
  for (int64_t t = kT0; t < kT0 + kDay; t += kInterval) {
    for (int i = 0; i < kSeries; ++i) {
      value[i] = std::round((value[i] + (rng() % 500) / 100.0) * 100) / 100;
      batch[i].samples.assign(1, Sample{t, value[i]});
    }
    if (!store->Append(1, batch).ok()) return nullptr;
  }
  // As at the end of the day: every window sealed but the last (2 h in the head).
  if (!store->Maintain(kT0 + kDay).ok()) return nullptr;
  return store.get();
}

void BM_TsdbQuery24h(benchmark::State& state) {
  TimeSeriesStore* store = QueryDay();
  if (store == nullptr) {
    state.SkipWithError("building the day failed");
    return;
  }
  MetricQuery q;
  q.metric = "system.cpu.time";
  q.from_ms = kT0;
  q.to_ms = kT0 + kDay;
  q.step_ms = 60'000;
  q.agg = state.range(0) == 2 ? TimeAgg::kRate : TimeAgg::kAvg;
  if (state.range(0) == 1) q.group_by = {"os.type"};
  size_t points = 0;
  for (auto _ : state) {
    auto r = store->Query(1, q);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      return;
    }
    points = r->series.size() * (r->series.empty() ? 0 : r->series[0].values.size());
    benchmark::DoNotOptimize(r);
  }
  state.counters["points"] = static_cast<double>(points);
}
// 0 = avg per series (1,000 × 1,440 points), 1 = summed by a label, 2 = rate per series.
BENCHMARK(BM_TsdbQuery24h)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace loupe::tsdb
BENCHMARK_MAIN();
