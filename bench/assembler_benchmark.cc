// Assembler throughput: decoded span batches in, transactions out.
//
// Batches hold 512 spans of a realistic mix (about 10 attributes per span):
// per trace one HTTP SERVER root and 9 children (3 SQL, 2 HTTP client calls,
// 4 internal methods), children listed before their root as SDKs export them.
// Traces straddle batch boundaries. The clock advances 10 ms per batch and
// Tick() runs every 100 batches, so late-window memory stays at steady state.
// Items processed = spans; Google Benchmark reports them as items/s.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "common/clock.h"
#include "common/metrics.h"
#include "ingest/assembler.h"
#include "ingest/endpoint_normalizer.h"
#include "ingest/semconv.h"

namespace loupe::ingest {
namespace {

constexpr int64_t kT0us = 1'700'000'000'000'000;
constexpr int kSpansPerBatch = 512;
constexpr int kChildren = 9;

class Builder {
 public:
  model::SpanBatch b;

  Builder() {
    model::Resource r;
    r.attrs = Attrs({{"service.name", "shop"},
                     {"service.instance.id", "shop-7f9c6d-2"},
                     {"service.version", "2.14.1"},
                     {"host.name", "web-02.prod.internal"},
                     {"process.pid", 4312},
                     {"process.runtime.name", "nodejs"},
                     {"telemetry.sdk.language", "nodejs"},
                     {"telemetry.sdk.name", "opentelemetry"},
                     {"telemetry.sdk.version", "1.26.0"},
                     {"deployment.environment", "production"}});
    b.resources.push_back(r);
  }

  struct A {
    const char* key;
    std::string s;
    int64_t i = 0;
    bool is_int = false;
    A(const char* k, std::string v) : key(k), s(std::move(v)) {}
    A(const char* k, const char* v) : key(k), s(v) {}
    A(const char* k, int64_t v) : key(k), i(v), is_int(true) {}
    A(const char* k, int v) : key(k), i(v), is_int(true) {}
  };

  model::AttrRange Attrs(std::initializer_list<A> attrs) {
    model::AttrRange r{static_cast<uint32_t>(b.attrs.size()), static_cast<uint32_t>(attrs.size())};
    for (const A& a : attrs) {
      model::KeyValue kv;
      kv.key = a.key;  // literals: static storage
      if (a.is_int) {
        kv.value.type = model::AttrValue::Type::kInt;
        kv.value.i = a.i;
      } else {
        kv.value.type = model::AttrValue::Type::kString;
        kv.value.s = b.Own(a.s);
      }
      b.attrs.push_back(kv);
    }
    return r;
  }

  void Span(uint64_t trace, model::SpanId id, model::SpanId parent, model::SpanKind kind,
            std::string_view name, int64_t start_ms, int64_t end_ms, model::AttrRange attrs) {
    model::Span s;
    for (int i = 0; i < 8; ++i) s.trace_id[i] = static_cast<uint8_t>(trace >> (56 - 8 * i));
    s.trace_id[15] = 1;
    s.span_id = id;
    s.parent_span_id = parent;
    s.kind = kind;
    s.name = name;
    s.start_unix_nano = static_cast<uint64_t>(kT0us + start_ms * 1000) * 1000;
    s.end_unix_nano = static_cast<uint64_t>(kT0us + end_ms * 1000) * 1000;
    s.attrs = attrs;
    b.spans.push_back(s);
  }

  // Appends span `k` (0..9) of trace `t`: children 1..9 first, the root (0) last.
  void TraceSpan(uint64_t t, int k) {
    using K = model::SpanKind;
    const model::SpanId root = t * 16 + 1;
    const model::SpanId id = root + k;
    const std::string item = std::to_string(t % 100000);
    switch (k) {
      case 0:
        Span(t, root, 0, K::kServer, "GET /api/products/:id", 0, 120,
             Attrs({{"http.request.method", "GET"},
                    {"http.route", "/api/products/:id"},
                    {"url.path", "/api/products/" + item},
                    {"url.scheme", "https"},
                    {"server.address", "shop.example.com"},
                    {"server.port", 443},
                    {"http.response.status_code", 200},
                    {"client.address", "203.0.113.27"},
                    {"user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"},
                    {"network.protocol.version", "1.1"}}));
        return;
      case 1:
      case 4:
      case 7:
        Span(t, id, k == 1 ? root : root + 2, K::kClient, "SELECT shop.products", 10 * k,
             10 * k + 8,
             Attrs({{"db.system", "postgresql"},
                    {"db.query.text",
                     "SELECT p.id, p.name, p.price, s.qty FROM products p JOIN stock s ON "
                     "s.product_id = p.id WHERE p.id = $1 AND p.deleted_at IS NULL"},
                    {"db.query.parameter.0", item},
                    {"db.namespace", "shop"},
                    {"db.operation.name", "SELECT"},
                    {"db.collection.name", "products"},
                    {"server.address", "pg-primary.prod.internal"},
                    {"server.port", 5432},
                    {"db.response.returned_rows", 1},
                    {"thread.name", "main"}}));
        return;
      case 3:
      case 6:
        Span(t, id, root, K::kClient, "GET", 10 * k, 10 * k + 15,
             Attrs({{"http.request.method", "GET"},
                    {"url.full", "http://inventory.prod.internal:8080/v1/stock/" + item},
                    {"server.address", "inventory.prod.internal"},
                    {"server.port", 8080},
                    {"http.response.status_code", 200},
                    {"network.protocol.version", "1.1"},
                    {"network.peer.address", "10.0.3.17"},
                    {"thread.name", "main"},
                    {"http.request.resend_count", 0},
                    {"code.function", "fetchStock"}}));
        return;
      default:
        Span(t, id, root, K::kInternal, "ProductService.render", 10 * k, 10 * k + 5,
             Attrs({{"code.function", "render"},
                    {"code.namespace", "ProductService"},
                    {"code.filepath", "/app/src/services/product.ts"},
                    {"code.lineno", 118},
                    {"thread.id", 1},
                    {"thread.name", "main"},
                    {"app.cache.hit", "false"},
                    {"app.template", "product/show"},
                    {"app.locale", "en-US"},
                    {"app.tenant", "acme"}}));
        return;
    }
  }
};

// Pre-built batches of a span stream; trace ids are rewritten per round so
// that every round adds new traces (not duplicates).
struct Workload {
  std::vector<Builder> batches;
  uint64_t traces_per_round = 0;

  // split: children and roots of a trace go to different (consecutive) batches.
  explicit Workload(int nbatches, bool split) {
    batches.resize(nbatches);
    const int total = nbatches * kSpansPerBatch;
    std::vector<std::pair<uint64_t, int>> stream;
    for (uint64_t t = 1; static_cast<int>(stream.size()) < total; ++t) {
      for (int k = 1; k <= kChildren; ++k) stream.emplace_back(t, k);
      if (!split) stream.emplace_back(t, 0);
    }
    if (split) {
      // Roots follow one batch (about 51 traces) behind their children.
      std::vector<std::pair<uint64_t, int>> with_roots;
      const uint64_t lag = kSpansPerBatch / kChildren;
      uint64_t next_root = 1;
      for (auto& e : stream) {
        with_roots.push_back(e);
        if (e.second == kChildren && e.first > lag) with_roots.emplace_back(next_root++, 0);
      }
      stream.swap(with_roots);
    }
    stream.resize(total);
    for (int i = 0; i < total; ++i) {
      batches[i / kSpansPerBatch].TraceSpan(stream[i].first, stream[i].second);
    }
    traces_per_round = stream.back().first + 1;
  }

  void NextRound(uint64_t round) {
    for (Builder& b : batches) {
      for (model::Span& s : b.b.spans) {
        s.trace_id[8] = static_cast<uint8_t>(round);
        s.trace_id[9] = static_cast<uint8_t>(round >> 8);
        s.trace_id[10] = static_cast<uint8_t>(round >> 16);
      }
    }
  }
};

void RunAssembler(benchmark::State& state, bool split) {
  ManualClock clock(kT0us + 1'000'000);
  MetricsRegistry metrics;
  Assembler assembler(&clock, AssemblerOptions{}, &metrics);
  Workload w(200, split);
  uint64_t round = 0, nbatch = 0, txs = 0;
  size_t i = 0;
  for (auto _ : state) {
    if (i == w.batches.size()) {
      i = 0;
      w.NextRound(++round);
    }
    AddResult r = assembler.Add(1, w.batches[i++].b);
    txs += r.batch.transactions.size();
    benchmark::DoNotOptimize(r);
    clock.Advance(10'000);
    if (++nbatch % 100 == 0) {
      for (auto& [p, wb] : assembler.Tick()) txs += wb.transactions.size();
    }
  }
  state.SetItemsProcessed(state.iterations() * kSpansPerBatch);
  state.counters["tx/s"] =
      benchmark::Counter(static_cast<double>(txs), benchmark::Counter::kIsRate);
  state.counters["pending"] = static_cast<double>(assembler.pending_spans());
}

// Whole traces per batch (a root usually in the same batch as its children).
void BM_AssemblerAdd(benchmark::State& state) { RunAssembler(state, false); }
BENCHMARK(BM_AssemblerAdd)->Unit(benchmark::kMicrosecond);

// Roots arrive one batch after their children: every child waits pending.
void BM_AssemblerAddRootsLater(benchmark::State& state) { RunAssembler(state, true); }
BENCHMARK(BM_AssemblerAddRootsLater)->Unit(benchmark::kMicrosecond);

// Two receiver threads sharing one assembler (distinct traces per thread).
void BM_AssemblerAddThreads(benchmark::State& state) {
  static ManualClock clock(kT0us + 1'000'000);
  static MetricsRegistry metrics;
  static Assembler* assembler = nullptr;
  if (state.thread_index() == 0) {
    delete assembler;
    assembler = new Assembler(&clock, AssemblerOptions{}, &metrics);
  }
  Workload w(100, false);
  uint64_t round = static_cast<uint64_t>(state.thread_index()) << 20;
  w.NextRound(round);
  size_t i = 0;
  for (auto _ : state) {
    if (i == w.batches.size()) {
      i = 0;
      w.NextRound(++round);
    }
    benchmark::DoNotOptimize(assembler->Add(1, w.batches[i++].b));
    if (state.thread_index() == 0 && i % 100 == 0) {
      clock.Advance(1'000'000);
      assembler->Tick();
    }
  }
  state.SetItemsProcessed(state.iterations() * kSpansPerBatch);
}
BENCHMARK(BM_AssemblerAddThreads)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// The per-span mapping alone.
void BM_MapStep(benchmark::State& state) {
  Workload w(1, false);
  const model::SpanBatch& b = w.batches[0].b;
  MappingLimits limits;
  MappingStats stats;
  model::Step step;
  size_t i = 0;
  for (auto _ : state) {
    MapStep(SpanRef::In(b, b.spans[i]), limits, &step, &stats);
    benchmark::DoNotOptimize(step);
    if (++i == b.spans.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MapStep);

void BM_NormalizePath(benchmark::State& state) {
  const std::string paths[] = {"/api/products/12345", "/api/users/7/orders?page=2",
                               "/o/123e4567-e89b-12d3-a456-426614174000/items", "/static/app.js"};
  std::string out;
  size_t i = 0;
  for (auto _ : state) {
    out.clear();
    AppendNormalizedPath(paths[i++ & 3], &out);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_NormalizePath);

}  // namespace
}  // namespace loupe::ingest

BENCHMARK_MAIN();
