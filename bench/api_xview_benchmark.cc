// API latency end to end (Api::Handle: auth, parameters, query, JSON) over one
// hour of data in MemStore: 1,000 TPS for an hour (3.6 M transactions), 3
// services, 50 endpoints, 2 % errors, log-normal elapsed (median 50 ms).
// Also the JSON encoding alone: 200,000 X-View points (the default
// max_points) and a full live frame (5,000 points).
//
// Budget (issue): GET /api/v1/transactions and /api/v1/xview over one hour
// answer in ≤ 50 ms on the server. Run:
//   api_xview_benchmark --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "api/api.h"
#include "api/api_internal.h"
#include "auth/registry.h"
#include "common/clock.h"
#include "common/hash.h"
#include "common/metrics.h"
#include "live/live_state.h"
#include "store/mem/mem_store.h"
#include "store/store.h"

namespace loupe::api {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000'000;  // µs
constexpr int64_t kSecond = 1'000'000;
constexpr int kTps = 1000;
constexpr int kSeconds = 3600;
constexpr int64_t kEnd = kT0 + int64_t{kSeconds} * kSecond;

struct World {
  ManualClock clock{kEnd};
  MetricsRegistry metrics;
  std::unique_ptr<auth::Registry> registry;
  std::unique_ptr<store::Store> store = store::NewMemStore();
  std::unique_ptr<live::LiveState> live;
  std::unique_ptr<Api> api;
  std::string token;

  World() {
    auth::InitialCredentials creds;
    registry = std::move(auth::Registry::Open("", &creds)).value();
    token = creds.api_token;
    live = std::make_unique<live::LiveState>(&clock);
    api = std::make_unique<Api>(ApiDeps{store.get(), registry.get(), live.get(), &metrics, &clock},
                                ApiOptions{});
    const model::ProjectId project =
        registry->FindProject(auth::Principal{"x", true, {}}, "default")->id;

    std::mt19937_64 rng(42);
    std::lognormal_distribution<double> elapsed_ms(std::log(50.0), 1.0);
    std::uniform_real_distribution<double> u(0, 1);
    const char* services[] = {"shop", "auth", "search"};
    store::WriteBatch batch;
    uint64_t n = 0;
    for (int s = 0; s < kSeconds; ++s) {
      for (int i = 0; i < kTps; ++i) {
        model::Transaction t;
        t.id = Mix64(++n);
        t.trace_id.fill(static_cast<uint8_t>(n));
        t.span_id = n;
        t.service = services[n % 3];
        t.instance = t.service + "-" + std::to_string(n % 10);
        t.endpoint = "GET /api/items/" + std::to_string(n % 50);
        t.http_method = "GET";
        t.end_us = kT0 + int64_t{s} * kSecond + int64_t{i} * (kSecond / kTps);
        t.start_us = t.end_us - static_cast<int64_t>(elapsed_ms(rng) * 1000);
        t.error = u(rng) < 0.02;
        t.status = t.error ? 500 : 200;
        t.client_ip = "10.0." + std::to_string(n % 200) + ".1";
        t.summary.sql_count = static_cast<uint32_t>(n % 4);
        t.summary.sql_us = static_cast<int64_t>(n % 4) * 3'000;
        batch.transactions.push_back(std::move(t));
      }
      if (batch.transactions.size() >= 20'000) {
        (void)store->Append(project, std::move(batch));
        batch = {};
      }
    }
    (void)store->Append(project, std::move(batch));
  }

  size_t Get(const std::string& target) {
    net::HttpRequest req;
    req.method = "GET";
    size_t q = target.find('?');
    req.path = target.substr(0, q);
    if (q != std::string::npos) req.query = target.substr(q + 1);
    req.headers.emplace_back("authorization", "Bearer " + token);
    net::HttpResponse resp;
    api->Handle(req, &resp);
    if (resp.status != 200) {
      std::fprintf(stderr, "%s: %d %s\n", target.c_str(), resp.status, resp.body.c_str());
      std::abort();
    }
    return resp.body.size();
  }
};

World& W() {
  static World* w = new World();
  return *w;
}

void RunGet(benchmark::State& state, const std::string& target) {
  World& w = W();
  size_t bytes = 0;
  for (auto _ : state) bytes = w.Get(target);
  state.counters["body_bytes"] = static_cast<double>(bytes);
}

void BM_TransactionsNewest100(benchmark::State& state) { RunGet(state, "/api/v1/transactions"); }
BENCHMARK(BM_TransactionsNewest100)->Unit(benchmark::kMillisecond);

void BM_TransactionsSlowest100(benchmark::State& state) {
  RunGet(state, "/api/v1/transactions?sort=slowest");
}
BENCHMARK(BM_TransactionsSlowest100)->Unit(benchmark::kMillisecond);

void BM_XViewHourBinned(benchmark::State& state) { RunGet(state, "/api/v1/xview"); }
BENCHMARK(BM_XViewHourBinned)->Unit(benchmark::kMillisecond);

// The last 200 s: 200,000 exact points, the default max_points.
void BM_XView200kPoints(benchmark::State& state) {
  RunGet(state, "/api/v1/xview?from=" + std::to_string((kEnd - 200 * kSecond) / 1000));
}
BENCHMARK(BM_XView200kPoints)->Unit(benchmark::kMillisecond);

// Encoding alone, per point the same work as the X-View response (hex id,
// two times in ms, an error flag).
void BM_EncodePoints(benchmark::State& state) {
  live::LiveFrame f;
  f.points.resize(static_cast<size_t>(state.range(0)));
  uint64_t n = 0;
  for (auto& p : f.points) {
    p.id = Mix64(++n);
    p.end_us = kT0 + static_cast<int64_t>(n) * 997;
    p.elapsed_us = static_cast<int64_t>(Mix64(n) % 5'000'000);
    p.error = n % 50 == 0;
  }
  size_t bytes = 0;
  for (auto _ : state) {
    std::string s = internal::LiveFrameJson(f);
    bytes = s.size();
    benchmark::DoNotOptimize(s.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.counters["body_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_EncodePoints)->Arg(5'000)->Arg(200'000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace loupe::api

BENCHMARK_MAIN();
