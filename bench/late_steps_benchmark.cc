// Late steps end to end: the assembler and a store, for a root that was
// exported (and stored) before its children, as a batch processor does when
// one request makes thousands of spans (issue 10: one 0.6 MB request of
// 10,000 late children took 31.6 s and held up every other export to the
// project).
//
// BM_LateChildren/<store>/<children per request>/<requests>: one root, then
// `requests` requests of `children` SQL children each (10 attributes a span,
// as an OpenTelemetry SDK sends them), through Assembler::Add and
// Store::Append. store 0 = MemStore, 1 = the embedded engine (temporary
// directory under LOUPE_BENCH_DIR, default /tmp). Items = late spans, so
// items/s is the end-to-end rate the ingest budget (100,000 spans a second
// per core) is about. Meanwhile a second thread appends one small
// transaction at a time to the same project: `other_max_ms` is the longest
// of those appends (what another exporter waits for), `other_appends` how
// many got through.
//
// Run: late_steps_benchmark --benchmark_repetitions=3
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/metrics.h"
#include "ingest/assembler.h"
#include "store/embedded/embedded_store.h"
#include "store/mem/mem_store.h"
#include "store/store.h"

namespace loupe::ingest {
namespace {

constexpr int64_t kT0us = 1'700'000'000'000'000;

struct Batch {
  model::SpanBatch b;

  Batch() {
    model::Resource r;
    r.attrs = Attrs({{"service.name", "surveys"},
                     {"service.instance.id", "surveys-1"},
                     {"host.name", "web-01"},
                     {"telemetry.sdk.language", "nodejs"},
                     {"telemetry.sdk.name", "opentelemetry"},
                     {"telemetry.sdk.version", "1.26.0"}});
    b.resources.push_back(r);
  }

  model::AttrRange Attrs(std::initializer_list<std::pair<const char*, std::string>> attrs) {
    model::AttrRange r{static_cast<uint32_t>(b.attrs.size()), static_cast<uint32_t>(attrs.size())};
    for (const auto& [k, v] : attrs) {
      model::KeyValue kv;
      kv.key = k;
      kv.value.type = model::AttrValue::Type::kString;
      kv.value.s = b.Own(v);
      b.attrs.push_back(kv);
    }
    return r;
  }

  void Span(model::SpanId id, model::SpanId parent, model::SpanKind kind, std::string_view name,
            int64_t start_us, int64_t end_us, model::AttrRange attrs) {
    model::Span s;
    s.trace_id[15] = 1;
    s.span_id = id;
    s.parent_span_id = parent;
    s.kind = kind;
    s.name = name;
    s.start_unix_nano = static_cast<uint64_t>(kT0us + start_us) * 1000;
    s.end_unix_nano = static_cast<uint64_t>(kT0us + end_us) * 1000;
    s.attrs = attrs;
    b.spans.push_back(s);
  }

  void SetTrace(uint64_t round) {
    for (model::Span& s : b.spans) {
      for (int i = 0; i < 8; ++i) s.trace_id[i] = static_cast<uint8_t>(round >> (8 * i));
    }
  }
};

constexpr model::SpanId kRoot = 1;

// Batches are filled in place: SpanBatch views its own strings, so a batch
// must not move once filled.
void FillRoot(Batch* b) {
  b->Span(kRoot, 0, model::SpanKind::kServer, "GET /api/surveys/:id/panels", 0, 900'000,
          b->Attrs({{"http.request.method", "GET"},
                    {"http.route", "/api/surveys/:id/panels"},
                    {"url.path", "/api/surveys/7/panels"},
                    {"http.response.status_code", "200"}}));
}

void FillChildren(Batch* b, int request, int children) {
  for (int i = 0; i < children; ++i) {
    const int64_t k = static_cast<int64_t>(request) * children + i;
    b->Span(100 + k, kRoot, model::SpanKind::kClient, "SELECT panels", 1000 + k * 4,
            1000 + k * 4 + 3,
            b->Attrs({{"db.system", "postgresql"},
                      {"db.query.text", "SELECT * FROM panels WHERE survey_id = $1 AND id = $2"},
                      {"db.query.parameter.0", "7"},
                      {"db.query.parameter.1", std::to_string(k)},
                      {"db.namespace", "surveys"},
                      {"db.operation.name", "SELECT"},
                      {"db.collection.name", "panels"},
                      {"server.address", "pg-primary"},
                      {"server.port", "5432"},
                      {"thread.name", "main"}}));
  }
}

std::unique_ptr<store::Store> OpenStore(int kind, const std::string& dir) {
  if (kind == 0) return store::NewMemStore();
  std::filesystem::remove_all(dir);
  store::EmbeddedOptions o;
  o.dir = dir;
  o.background_maintenance = false;
  auto s = store::NewEmbeddedStore(o);
  return s.ok() ? std::move(*s) : nullptr;
}

void BM_LateChildren(benchmark::State& state) {
  const int kind = static_cast<int>(state.range(0));
  const int children = static_cast<int>(state.range(1));
  const int requests = static_cast<int>(state.range(2));
  const char* base = std::getenv("LOUPE_BENCH_DIR");
  const std::string dir = std::string(base ? base : "/tmp") + "/loupe_bench_late";
  Batch root;
  FillRoot(&root);
  std::vector<Batch> batches(requests);
  for (int r = 0; r < requests; ++r) FillChildren(&batches[r], r, children);
  double other_max_ms = 0, other_appends = 0;
  uint64_t round = 0, stored_steps = 0, dropped = 0;
  for (auto _ : state) {
    state.PauseTiming();
    ++round;
    root.SetTrace(round);
    for (Batch& b : batches) b.SetTrace(round);
    ManualClock clock(kT0us + 1'000'000);
    MetricsRegistry metrics;
    Assembler assembler(&clock, AssemblerOptions{}, &metrics);
    std::unique_ptr<store::Store> st = OpenStore(kind, dir);
    if (st == nullptr) {
      state.SkipWithError("cannot open the store");
      return;
    }
    store::Store& s = *st;
    AddResult first = assembler.Add(1, root.b);
    const model::TxId tx = first.batch.transactions.at(0).id;
    if (!s.Append(1, std::move(first.batch)).ok()) state.SkipWithError("append");
    std::atomic<bool> stop{false};
    double max_ms = 0;
    uint64_t n_other = 0;
    std::thread other([&] {
      for (model::TxId id = 1; !stop.load(); ++id) {
        store::WriteBatch wb;
        model::Transaction& t = wb.transactions.emplace_back();
        t.id = id << 20 | round;
        t.service = "other";
        t.start_us = kT0us;
        t.end_us = kT0us + 1000;
        t.steps.resize(10);
        const auto t0 = std::chrono::steady_clock::now();
        (void)s.Append(1, std::move(wb));
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count();
        max_ms = std::max(max_ms, ms);
        ++n_other;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
    state.ResumeTiming();
    for (Batch& b : batches) {
      clock.Advance(100'000);
      AddResult r = assembler.Add(1, b.b);
      if (!s.Append(1, std::move(r.batch)).ok()) state.SkipWithError("append");
    }
    state.PauseTiming();
    stop.store(true);
    other.join();
    other_max_ms = std::max(other_max_ms, max_ms);
    other_appends += static_cast<double>(n_other);
    auto got = s.Get(1, tx);
    if (got.ok()) {
      stored_steps = got->steps.size();
      dropped = got->dropped_steps;
    }
    s.Close();
    st.reset();
    if (kind == 1) std::filesystem::remove_all(dir);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(children) * requests);
  state.counters["other_max_ms"] = other_max_ms;
  state.counters["other_appends"] = other_appends / static_cast<double>(state.iterations());
  state.counters["stored_steps"] = static_cast<double>(stored_steps);
  state.counters["dropped_steps"] = static_cast<double>(dropped);
}
BENCHMARK(BM_LateChildren)
    ->Args({0, 10'000, 1})
    ->Args({1, 10'000, 1})
    ->Args({0, 20'000, 10})
    ->Args({1, 20'000, 10})
    ->Iterations(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace loupe::ingest

BENCHMARK_MAIN();
