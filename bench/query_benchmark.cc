// Query latency over one hour of data in MemStore: 1,000 TPS for an hour
// (3.6 M transactions), 3 services, 10 instances, 50 endpoints, 2 % errors,
// log-normal elapsed (median 50 ms), 1-4 small steps each.
//
// Budget (issue): the transaction list and the X-View over one hour answer in
// ≤ 50 ms. Run: query_benchmark --benchmark_repetitions=5
// --benchmark_report_aggregates_only=true. Before the benchmarks it prints the
// load rate (generation + MemStore::Append, one thread: per wall second and per
// CPU second of the process, which a shared machine disturbs less) and the
// memory used per transaction (store estimate and RSS).
#include <benchmark/benchmark.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/hash.h"
#include "query/query.h"
#include "store/mem/mem_store.h"
#include "store/store.h"

namespace loupe {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000'000;  // µs
constexpr int64_t kSecond = 1'000'000;
constexpr int kTps = 1000;
constexpr int kSeconds = 3600;
constexpr model::ProjectId kProject = 1;

store::Store* g_store = nullptr;
std::vector<model::TxId> g_ids;  // a sample for Get

double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

size_t RssBytes() {
  std::ifstream f("/proc/self/statm");
  size_t pages = 0, rss = 0;
  f >> pages >> rss;
  return rss * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

void Load() {
  static std::unique_ptr<store::Store> s = store::NewMemStore();
  g_store = s.get();
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> elapsed_ms(std::log(50.0), 1.0);
  std::uniform_real_distribution<double> unit(0, 1);
  const char* services[] = {"shop", "auth", "search"};
  std::vector<std::string> endpoints, instances, users;
  for (int i = 0; i < 50; ++i)
    endpoints.push_back("GET /api/v1/resource" + std::to_string(i) + "/{id}");
  for (int i = 0; i < 10; ++i) instances.push_back("node-" + std::to_string(i));
  for (int i = 0; i < 5000; ++i) users.push_back("user" + std::to_string(i));

  size_t rss0 = RssBytes();
  const double cpu0 = ProcessCpuSeconds();
  auto t0 = std::chrono::steady_clock::now();
  uint64_t next_id = 1;
  for (int sec = 0; sec < kSeconds; ++sec) {
    store::WriteBatch b;
    b.transactions.reserve(kTps);
    for (int i = 0; i < kTps; ++i) {
      model::Transaction& tx = b.transactions.emplace_back();
      tx.id = Mix64(next_id++);
      for (int k = 0; k < 16; ++k) tx.trace_id[k] = static_cast<uint8_t>(rng());
      tx.span_id = rng();
      int ep = static_cast<int>(rng() % 50);
      int inst = static_cast<int>(rng() % 10);
      tx.service = services[inst % 3];
      tx.instance = instances[inst];
      tx.host = "host-" + std::to_string(inst);
      tx.endpoint = endpoints[ep];
      tx.http_method = "GET";
      tx.url = "/api/v1/resource" + std::to_string(ep) + "/" + std::to_string(rng() % 100000);
      // End times spread over the second, slightly out of order across batches.
      tx.end_us = kT0 + sec * kSecond + static_cast<int64_t>(rng() % kSecond);
      auto el = static_cast<int64_t>(std::min(elapsed_ms(rng), 60'000.0) * 1000) + 1;
      tx.start_us = tx.end_us - el;
      tx.error = unit(rng) < 0.02;
      tx.status = tx.error ? 500 : 200;
      if (tx.error) tx.error_type = "HTTP 500";
      tx.user = users[rng() % users.size()];
      tx.client_ip = "10.0." + std::to_string(rng() % 40) + "." + std::to_string(rng() % 250);
      int nsteps = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < nsteps; ++k) {
        model::Step& st = tx.steps.emplace_back();
        st.span_id = rng();
        st.parent_span_id = tx.span_id;
        st.kind = k % 2 == 0 ? model::StepKind::kSql : model::StepKind::kMethod;
        st.start_us = tx.start_us + el * k / (nsteps + 1);
        st.elapsed_us = el / (nsteps + 2);
        st.name = st.kind == model::StepKind::kSql ? "SELECT items" : "Service::handle";
        if (st.kind == model::StepKind::kSql) st.sql = "SELECT * FROM items WHERE id = ?";
      }
      tx.summary.Add(tx.steps);
      if (rng() % 1000 == 0) g_ids.push_back(tx.id);
    }
    Status st = g_store->Append(kProject, std::move(b));
    if (!st.ok()) std::fprintf(stderr, "append: %s\n", st.ToString().c_str());
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = ProcessCpuSeconds() - cpu0;
  size_t rss1 = RssBytes();
  store::StoreStats stats = g_store->Stats();
  std::fprintf(stderr,
               "loaded %" PRIu64 " transactions (%" PRIu64
               " steps) in %.1f s (%.0f tx/s), %.1f s CPU (%.0f tx per CPU s)\n"
               "memory per transaction: store estimate %.0f B, RSS delta %.0f B\n",
               stats.transactions, stats.steps, secs, stats.transactions / secs, cpu,
               stats.transactions / cpu, static_cast<double>(stats.bytes) / stats.transactions,
               static_cast<double>(rss1 - rss0) / stats.transactions);
}

store::TxFilter Hour() {
  store::TxFilter f;
  f.from_us = kT0;
  f.to_us = kT0 + kSeconds * kSecond;
  return f;
}

store::TxFilter LastMinutes(int minutes) {
  store::TxFilter f = Hour();
  f.from_us = f.to_us - minutes * 60 * kSecond;
  return f;
}

void BM_TransactionsNewest100(benchmark::State& state) {
  for (auto _ : state) {
    auto r = query::ListTransactions(*g_store, kProject, Hour(), 100, query::TxSort::kNewest);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_TransactionsNewest100)->Unit(benchmark::kMillisecond);

void BM_TransactionsSlowest100(benchmark::State& state) {
  for (auto _ : state) {
    auto r = query::ListTransactions(*g_store, kProject, Hour(), 100, query::TxSort::kSlowest);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_TransactionsSlowest100)->Unit(benchmark::kMillisecond);

void BM_XViewHourBinned(benchmark::State& state) {
  query::XViewOptions o;  // defaults: 200k points max, 600 × 100 bins
  for (auto _ : state) {
    auto r = query::ComputeXView(*g_store, kProject, Hour(), o);
    if (!r->binned) state.SkipWithError("expected bins");
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_XViewHourBinned)->Unit(benchmark::kMillisecond);

void BM_XView5MinPoints(benchmark::State& state) {
  query::XViewOptions o;
  o.max_points = 1'000'000;  // the API maximum: 300k points stay exact
  for (auto _ : state) {
    auto r = query::ComputeXView(*g_store, kProject, LastMinutes(5), o);
    if (r->binned || r->total != 300'000) state.SkipWithError("expected 300k points");
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_XView5MinPoints)->Unit(benchmark::kMillisecond);

void BM_EndpointsHour(benchmark::State& state) {
  for (auto _ : state) {
    auto r = query::ComputeEndpoints(*g_store, kProject, Hour());
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_EndpointsHour)->Unit(benchmark::kMillisecond);

void BM_SeriesTps1s10Min(benchmark::State& state) {
  for (auto _ : state) {
    auto r = query::ComputeSeries(*g_store, kProject, LastMinutes(10), query::Metric::kTps, kSecond,
                                  query::GroupBy::kNone);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_SeriesTps1s10Min)->Unit(benchmark::kMillisecond);

void BM_SeriesTps60sHour(benchmark::State& state) {
  for (auto _ : state) {
    auto r = query::ComputeSeries(*g_store, kProject, Hour(), query::Metric::kTps, 60 * kSecond,
                                  query::GroupBy::kNone);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_SeriesTps60sHour)->Unit(benchmark::kMillisecond);

void BM_SeriesRtByEndpoint60sHour(benchmark::State& state) {
  for (auto _ : state) {
    auto r = query::ComputeSeries(*g_store, kProject, Hour(), query::Metric::kResponseTime,
                                  60 * kSecond, query::GroupBy::kEndpoint);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_SeriesRtByEndpoint60sHour)->Unit(benchmark::kMillisecond);

void BM_GetById(benchmark::State& state) {
  size_t i = 0;
  for (auto _ : state) {
    auto r = g_store->Get(kProject, g_ids[i++ % g_ids.size()]);
    if (!r.ok()) state.SkipWithError("missing");
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_GetById)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace loupe

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  loupe::Load();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
