// Alert evaluation cost (issue 12 budget: evaluating 1,000 rules over 1,000
// endpoints costs <= 5 % of one core, i.e. <= 250 ms of CPU per 5-second tick;
// and 10,000 rules per project — the per-project cap — must stay within the
// budget or be refused).
//
//   cmake --build build --target alert_benchmark
//   build/alert_benchmark --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
//
// Data: 10 services × 100 endpoints × 4 instances, 1,000 TPS for the last
// 10 minutes (600,000 transactions, 1 % errors), appended through
// Store::Append into an EmbeddedStore in /tmp (memtable rollups, as in the
// live minutes an evaluation reads). Rules: 1,000 — 700 error-rate rules on
// one endpoint each (60 s), 100 p95 rules on one endpoint (300 s), 100 TPS
// rules on a service with a yesterday baseline, 50 error-rate rules over
// every endpoint of a service ("*"), 50 rules on an instance. The 10,000-rule
// case (BM_EvaluateTick/10000) is the same mix ten times over the same 1,000
// endpoints: 7 error-rate rules an endpoint (windows 60, 120 and 300 s and
// different thresholds), 1,000 p95 rules, 1,000 baseline TPS rules, 500 "*"
// rules, 500 instance rules. One iteration is one evaluation tick:
// StoreSignalSource + Evaluator, as AlertService runs it; CPU time is the
// process's (the budget: 250 ms a tick).
#include <benchmark/benchmark.h>

#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include "alert/evaluator.h"
#include "alert/store_signals.h"
#include "store/embedded/embedded_store.h"

namespace loupe {
namespace {

constexpr int64_t kSec = 1'000'000;
constexpr int64_t kNow = 1796601600LL * kSec;

struct Data {
  std::string dir = "/tmp/loupe_alert_bench";
  std::unique_ptr<store::EmbeddedStore> store;

  Data() {
    std::filesystem::remove_all(dir);
    store::EmbeddedOptions o;
    o.dir = dir;
    o.background_flush = false;
    o.background_maintenance = false;
    auto s = store::EmbeddedStore::Open(o);
    if (!s.ok()) std::abort();
    store = std::move(*s);
    std::mt19937_64 rng(7);
    std::lognormal_distribution<double> ms(4.0, 0.8);
    uint64_t id = 1;
    for (int64_t t = kNow - 600 * kSec; t < kNow; t += kSec) {
      store::WriteBatch b;
      for (int i = 0; i < 1000; ++i) {
        model::Transaction tx;
        tx.id = id++;
        int e = static_cast<int>(rng() % 1000);
        tx.service = "svc-" + std::to_string(e / 100);
        tx.endpoint = "GET /api/" + std::to_string(e);
        tx.instance = tx.service + "-" + std::to_string(rng() % 4);
        tx.end_us = t + i * 1000;
        tx.start_us = tx.end_us - static_cast<int64_t>(ms(rng) * 1000);
        tx.error = rng() % 100 == 0;
        b.transactions.push_back(std::move(tx));
      }
      if (!store->Append(1, std::move(b)).ok()) std::abort();
    }
  }
  ~Data() {
    store->Close();
    std::filesystem::remove_all(dir);
  }
};

// The rule mix, `scale` times over (1: the 1,000-rule set, 10: 10,000).
std::vector<alert::AlertRule> Rules(int scale) {
  std::vector<alert::AlertRule> rules;
  auto add = [&](alert::AlertRule r) {
    r.id = rules.size() + 1;
    r.project = 1;
    r.name = "rule " + std::to_string(r.id);
    rules.push_back(std::move(r));
  };
  for (int i = 0; i < 700 * scale; ++i) {
    const int k = i % 700;
    const int round = i / 700;  // 0 for the 1,000-rule set
    alert::AlertRule r;
    r.service = "svc-" + std::to_string(k % 10);
    r.endpoint = "GET /api/" + std::to_string((k % 10) * 100 + (k / 10 + round * 70) % 100);
    r.signal = alert::Signal::kErrorRate;
    r.window_s = 60 * (1 + round % 3 + (round % 3 == 2 ? 2 : 0));  // 60, 120, 300 s
    r.warning = 5 + round;
    r.critical = 10 + round;
    add(r);
  }
  for (int i = 0; i < 100 * scale; ++i) {
    alert::AlertRule r;
    r.service = "svc-" + std::to_string(i % 10);
    r.endpoint = "GET /api/" + std::to_string((i % 10) * 100 + (70 + i / 10) % 100);
    r.signal = alert::Signal::kP95;
    r.window_s = 300;
    r.critical = 2000;
    add(r);
  }
  for (int i = 0; i < 100 * scale; ++i) {
    alert::AlertRule r;
    r.service = "svc-" + std::to_string(i % 10);
    r.signal = alert::Signal::kTps;
    r.window_s = 60 + i % 5 * 60;
    r.baseline = alert::Baseline::kYesterday;
    r.critical = 3;
    r.min_volume = 100;
    add(r);
  }
  for (int i = 0; i < 50 * scale; ++i) {
    alert::AlertRule r;
    r.service = "svc-" + std::to_string(i % 10);
    r.endpoint = "*";
    r.signal = alert::Signal::kErrorRate;
    r.warning = 20;
    r.critical = 50;
    add(r);
  }
  for (int i = 0; i < 50 * scale; ++i) {
    alert::AlertRule r;
    r.service = "svc-" + std::to_string(i % 10);
    r.instance = r.service + "-" + std::to_string(i % 4);
    r.signal = alert::Signal::kResponseTime;
    r.critical = 5000;
    add(r);
  }
  return rules;
}

void BM_EvaluateTick(benchmark::State& state) {
  static Data d;
  const std::vector<alert::AlertRule> rules = Rules(static_cast<int>(state.range(0) / 1000));
  alert::StoreSignalSource source(d.store.get(), nullptr, nullptr);
  alert::Evaluator ev;
  std::vector<alert::AlertChange> changes;
  for (auto _ : state) {
    changes.clear();
    // The same "now" every tick: each tick still scans afresh (BeginTick
    // drops the previous tick's reads), over windows full of data.
    ev.Evaluate(rules, {}, &source, kNow, &changes);
  }
  state.counters["rules"] = static_cast<double>(rules.size());
  state.counters["alerts"] = static_cast<double>(ev.size());
  state.counters["scans_per_tick"] =
      static_cast<double>(source.scans()) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_EvaluateTick)
    ->Arg(1'000)
    ->Arg(10'000)
    ->Unit(benchmark::kMillisecond)
    ->MeasureProcessCPUTime();

}  // namespace
}  // namespace loupe

BENCHMARK_MAIN();
