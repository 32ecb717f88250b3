// GET /api/v1/hosts end to end (Api::Handle: auth, the tsdb queries, JSON)
// over a synthetic time-series store of 10,000 hosts as `loupe agent` sends
// them: the last five minutes at a 10 s interval of CPU utilization (7
// modes), memory usage and utilization (4 states each), one file system, one
// interface's receive/transmit rates and the 1-minute load: 190,000 series.
// The store's series caps are raised to hold them (the defaults keep 20,000
// series a metric). 200 instances, on the first 200 hosts, are in the store.
//
// Budget (issue 13 §4): the list at 10,000 hosts in <= 200 ms. Run:
//   api_hosts_benchmark --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// LOUPE_BENCH_DIR picks the data directory (default /tmp).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "api/api.h"
#include "auth/registry.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "live/live_state.h"
#include "store/mem/mem_store.h"
#include "store/tsdb/time_series_store.h"

namespace loupe::api {
namespace {

constexpr int64_t kNowMs = 1'700'006'400'000;
constexpr int kHosts = 10'000;
constexpr int kSamples = 30;
constexpr int64_t kIntervalMs = 10'000;

struct World {
  ManualClock clock{kNowMs * 1000};
  MetricsRegistry metrics;
  std::unique_ptr<auth::Registry> registry;
  std::unique_ptr<store::Store> store = store::NewMemStore();
  std::unique_ptr<live::LiveState> live;
  std::unique_ptr<tsdb::TimeSeriesStore> db;
  std::unique_ptr<Api> api;
  std::string token;
  std::string dir;

  World() {
    auth::InitialCredentials creds;
    registry = std::move(auth::Registry::Open("", &creds)).value();
    token = creds.api_token;
    live = std::make_unique<live::LiveState>(&clock);
    const char* base = std::getenv("LOUPE_BENCH_DIR");
    dir = std::string(base ? base : "/tmp") + "/loupe_bench_api_hosts";
    std::filesystem::remove_all(dir);
    tsdb::TsdbOptions o;
    o.dir = dir;
    o.max_series_per_project = 1'000'000;
    o.max_series_per_metric = 200'000;
    db = std::move(tsdb::TimeSeriesStore::Open(o)).value();
    ApiDeps deps{store.get(), registry.get(), live.get(), &metrics, &clock};
    deps.tsdb = db.get();
    api = std::make_unique<Api>(deps, ApiOptions{});
    const model::ProjectId project =
        registry->FindProject(auth::Principal{"x", true, {}}, "default")->id;

    std::vector<tsdb::SeriesSamples> batch;
    auto add = [&](const char* metric, const tsdb::Labels& host, const char* k, const char* v,
                   double value) {
      tsdb::SeriesSamples s;
      s.metric = metric;
      s.labels = host;
      if (k != nullptr) s.labels.emplace_back(k, v);
      for (int i = 0; i < kSamples; ++i) {
        s.samples.push_back({kNowMs - (kSamples - i) * kIntervalMs, value});
      }
      batch.push_back(std::move(s));
    };
    for (int h = 0; h < kHosts; ++h) {
      const tsdb::Labels host = {{"host.id", "machine-" + std::to_string(h)},
                                 {"host.name", "host-" + std::to_string(h) + ".example.com"},
                                 {"os.type", "linux"}};
      for (const char* mode : {"user", "nice", "system", "idle", "iowait", "interrupt", "steal"}) {
        add("system.cpu.utilization", host, "cpu.mode", mode, 0.1);
      }
      for (const char* state : {"used", "free", "buffers", "cached"}) {
        add("system.memory.usage", host, "system.memory.state", state, 1e9);
        add("system.memory.utilization", host, "system.memory.state", state, 0.25);
      }
      add("system.filesystem.utilization", host, "system.filesystem.mountpoint", "/", 0.5);
      add("system.network.io.rate", host, "network.io.direction", "receive", 1000);
      add("system.network.io.rate", host, "network.io.direction", "transmit", 2000);
      add("system.cpu.load_average.1m", host, nullptr, nullptr, 0.7);
      if (batch.size() >= 10'000) {
        (void)db->Append(project, batch);
        batch.clear();
      }
      if (h < 200) {
        store::InstanceInfo i;
        i.service = "svc-" + std::to_string(h % 7);
        i.instance = "inst-" + std::to_string(h);
        i.host = "host-" + std::to_string(h) + ".example.com";
        i.first_seen_us = i.last_seen_us = kNowMs * 1000;
        (void)store->PutInstance(project, i);
      }
    }
    (void)db->Append(project, batch);
  }
  ~World() { std::filesystem::remove_all(dir); }

  size_t Get(const std::string& target) {
    net::HttpRequest req;
    req.method = "GET";
    size_t q = target.find('?');
    req.path = target.substr(0, q);
    if (q != std::string::npos) req.query = target.substr(q + 1);
    req.headers.emplace_back("authorization", "Bearer " + token);
    net::HttpResponse resp;
    api->Handle(req, &resp);
    if (resp.status != 200 || resp.body.find("\"partial\":false") == std::string::npos) {
      std::fprintf(stderr, "%s: %d %s\n", target.c_str(), resp.status,
                   resp.body.substr(resp.body.size() > 300 ? resp.body.size() - 300 : 0).c_str());
      std::abort();
    }
    return resp.body.size();
  }
};

World& W() {
  static World* w = new World();
  return *w;
}

void BM_Hosts10k(benchmark::State& state) {
  World& w = W();
  size_t bytes = 0;
  for (auto _ : state) bytes = w.Get("/api/v1/hosts");
  state.counters["body_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Hosts10k)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace loupe::api

BENCHMARK_MAIN();
