// Embedded engine benchmarks: ingest throughput, WAL group commit, bytes per
// transaction on disk, and the read budgets over one hour at 1,000 TPS
// (3.6 M transactions of SyntheticWorkload: 3 services, 12 instances, 60
// endpoints, log-normal elapsed, ~6 steps each).
//
// Budgets (issue 3): X-View over one hour ≤ 50 ms; transaction by id ≤ 10 ms;
// scatter columns ≤ 6 B/tx; ≤ 40 B per span overall.
//
// Run: store_append_benchmark --benchmark_repetitions=3
// --benchmark_report_aggregates_only=true. LOUPE_BENCH_DIR picks the data
// directory (default /tmp). Building the hour takes about a minute and
// happens once, before the first benchmark that needs it.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ingest/ingest_log.h"
#include "log/wal.h"
#include "query/query.h"
#include "store/embedded/embedded_store.h"
#include "store/embedded/segment.h"
#include "store/embedded/synthetic_workload.h"

namespace loupe::store {
namespace {

constexpr int64_t kT0 = 1'699'999'200'000'000;  // µs, an hour boundary
constexpr int64_t kHourUs = 3'600'000'000;

// keep: leave an existing directory as it is (LOUPE_BENCH_REUSE).
std::string BenchDir(const std::string& name, bool keep = false) {
  const char* base = std::getenv("LOUPE_BENCH_DIR");
  std::string dir = std::string(base ? base : "/tmp") + "/loupe_bench_" + name;
  if (keep) return dir;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

uint64_t DirBytes(const std::string& dir, const std::string& ext) {
  uint64_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ext) n += e.file_size();
  }
  return n;
}

// Appends batches of 100 transactions; reports transactions/s and, after a
// final Flush, the bytes per transaction on disk.
void BM_EmbeddedAppend(benchmark::State& state) {
  const std::string dir = BenchDir("append");
  EmbeddedOptions o;
  o.dir = dir;
  auto store = EmbeddedStore::Open(o);
  if (!store.ok()) {
    state.SkipWithError(store.status().ToString().c_str());
    return;
  }
  SyntheticWorkload w({}, kT0);
  std::vector<WriteBatch> batches(200);
  for (auto& b : batches) {
    for (int i = 0; i < 100; ++i) b.transactions.push_back(w.Next());
  }
  size_t next = 0;
  uint64_t txs = 0, spans = 0;
  for (auto _ : state) {
    if (next == batches.size()) {
      state.PauseTiming();
      for (auto& b : batches) {
        for (auto& tx : b.transactions) tx = w.Next();
      }
      next = 0;
      state.ResumeTiming();
    }
    for (const auto& tx : batches[next].transactions) spans += 1 + tx.steps.size();
    Status s = (*store)->Append(1, batches[next]);  // copies: a real batch is consumed
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    txs += 100;
    ++next;
  }
  Status s = (*store)->Flush();
  if (!s.ok()) state.SkipWithError(s.ToString().c_str());
  const uint64_t bytes = DirBytes(dir, ".seg");
  state.SetItemsProcessed(static_cast<int64_t>(txs));
  state.counters["disk_B_per_tx"] = static_cast<double>(bytes) / static_cast<double>(txs);
  state.counters["disk_B_per_span"] = static_cast<double>(bytes) / static_cast<double>(spans);
  (*store)->Close();
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_EmbeddedAppend)->Unit(benchmark::kMicrosecond);

// The engine with durability on, as the pipeline drives it: each thread logs
// a request (its body sized like the OTLP protobuf of its spans, ~367 B a
// span as otlp_load's requests are) to the ingest log with group commit and
// fsync, then appends the request's 100 transactions to the store. Items =
// spans; wall-clock rate over all threads (UseRealTime), background flushes
// included. Budget (issue 3): >= 500,000 spans/s.
void BM_DurableAppend(benchmark::State& state) {
  static std::unique_ptr<Store> store;
  static std::unique_ptr<ingest::IngestLog> log;
  static std::string dir;
  if (state.thread_index() == 0) {
    dir = BenchDir("durable");
    EmbeddedOptions o;
    o.dir = dir + "/store";
    auto st = NewEmbeddedStore(o);
    if (!st.ok()) std::abort();
    store = std::move(*st);
    ingest::IngestLogOptions lo;
    lo.dir = dir + "/wal";
    auto l = ingest::IngestLog::Open(lo, [](const ingest::LoggedRequest&) { return Status::OK(); });
    if (!l.ok()) std::abort();
    log = std::move(*l);
  }
  SyntheticWorkload w({}, kT0 + state.thread_index() * 1'000'000);
  std::vector<WriteBatch> batches(20);
  std::vector<std::string> bodies(batches.size());
  std::vector<uint64_t> batch_spans(batches.size());
  for (size_t b = 0; b < batches.size(); ++b) {
    for (int i = 0; i < 100; ++i) batches[b].transactions.push_back(w.Next());
    for (const auto& tx : batches[b].transactions) batch_spans[b] += 1 + tx.steps.size();
    bodies[b].assign(batch_spans[b] * 367, 'p');
  }
  size_t next = 0;
  uint64_t spans = 0;
  for (auto _ : state) {
    if (next == batches.size()) {
      state.PauseTiming();
      for (auto& b : batches) {
        for (auto& tx : b.transactions) tx = w.Next();
      }
      next = 0;
      state.ResumeTiming();
    }
    Status s = log->Append({1, ingest::RequestFormat::kOtlpProto, bodies[next]});
    if (s.ok()) s = store->Append(1, batches[next]);
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    spans += batch_spans[next];
    ++next;
  }
  state.SetItemsProcessed(static_cast<int64_t>(spans));
  if (state.thread_index() == 0) {
    state.counters["records_per_fsync"] = static_cast<double>(log->wal_stats().records) /
                                          static_cast<double>(std::max<uint64_t>(1, log->wal_stats().commits));
    log.reset();
    store->Close();
    store.reset();
    std::filesystem::remove_all(dir);
  }
}
BENCHMARK(BM_DurableAppend)->Threads(8)->Threads(32)->UseRealTime()->Unit(benchmark::kMicrosecond);

// Group commit: each thread appends 1 KiB records with fsync; reports
// records/s and records per fsync.
void BM_WalAppendDurable(benchmark::State& state) {
  static std::unique_ptr<log::Wal> wal;
  static std::string dir;
  if (state.thread_index() == 0) {
    dir = BenchDir("wal");
    log::WalOptions o;
    o.dir = dir;
    o.commit_delay_us = state.range(0);
    auto w = log::Wal::Open(o);
    if (!w.ok()) std::abort();
    wal = std::move(*w);
  }
  const std::string record(1024, 'r');
  for (auto _ : state) {
    auto pos = wal->Append(record);
    if (!pos.ok()) state.SkipWithError(pos.status().ToString().c_str());
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    log::WalStats st = wal->stats();
    state.counters["records_per_fsync"] =
        static_cast<double>(st.records) / static_cast<double>(std::max<uint64_t>(1, st.commits));
    wal.reset();
    std::filesystem::remove_all(dir);
  }
}
BENCHMARK(BM_WalAppendDurable)->Arg(0)->Threads(1)->Threads(8)->Threads(32)->UseRealTime();
BENCHMARK(BM_WalAppendDurable)->Arg(1000)->Threads(32)->UseRealTime();

// One hour at 1,000 TPS, flushed to segments, shared by the read benchmarks.
struct Hour {
  std::string dir;
  std::unique_ptr<EmbeddedStore> store;
  std::vector<model::TxId> ids;
};

// Bytes per transaction of the scatter columns (end, elapsed, status, error,
// endpoint, instance) over the segments in dir.
double ScatterBytesPerTx(const std::string& dir) {
  uint64_t bytes = 0, rows = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() != ".seg") continue;
    auto seg = Segment::Open(Env::Default(), e.path().string());
    if (!seg.ok()) std::abort();
    rows += (*seg)->rows();
    for (const Segment::Group& g : (*seg)->groups()) {
      for (int c :
           {int{kColEnd}, int{kColElapsed}, int{kColStatus}, int{kColError},
            int{kColDictFirst} + int{kDictEndpoint}, int{kColDictFirst} + int{kDictInstance}}) {
        bytes += g.columns[c].length;
      }
    }
  }
  return rows ? static_cast<double>(bytes) / static_cast<double>(rows) : 0;
}

// With LOUPE_BENCH_REUSE set, an hour built by an earlier run (its
// directory holds HOUR_DONE; the directory is then not deleted) is reopened
// instead of rebuilt: for repeated read measurements of one data set.
Hour* BuildHour(size_t memtable_mb, Compression columns, bool compact) {
  auto* h = new Hour;
  const std::string name = "hour_" + std::to_string(memtable_mb) + "_" + CompressionName(columns) +
                           (compact ? "_compacted" : "");
  const bool reuse = std::getenv("LOUPE_BENCH_REUSE") != nullptr &&
                     std::filesystem::exists(BenchDir(name, true) + "/HOUR_DONE");
  h->dir = BenchDir(name, reuse);
  EmbeddedOptions o;
  o.dir = h->dir;
  o.memtable_bytes = memtable_mb << 20;
  // Compaction only where asked (variant 3), never behind a measurement.
  o.background_maintenance = false;
  o.segment.column_compression = columns;
  auto store = EmbeddedStore::Open(o);
  if (!store.ok()) std::abort();
  h->store = std::move(*store);
  if (reuse) {
    TxFilter all;
    all.fields = 0;
    size_t n = 0;
    Status s = h->store->Scan(1, all, ScanOrder::kAny, [&](std::span<const TxRow> rows) {
      for (const TxRow& r : rows) {
        if (n++ % 97 == 0) h->ids.push_back(r.id);
      }
      return true;
    });
    if (!s.ok()) std::abort();
    std::fprintf(stderr, "hour %s reused: %zu tx, %llu segments\n", name.c_str(), n,
                 static_cast<unsigned long long>(h->store->embedded_stats().segments));
    return h;
  }
  SyntheticWorkload::Options wo;
  wo.tps = 1000;
  SyntheticWorkload w(wo, kT0);
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t spans = 0;
  while (true) {
    WriteBatch b;
    for (int i = 0; i < 500; ++i) {
      model::Transaction tx = w.Next();
      if (tx.end_us >= kT0 + kHourUs) break;
      spans += 1 + tx.steps.size();
      if (h->ids.size() % 97 == 0 || h->ids.size() < 1000) h->ids.push_back(tx.id);
      b.transactions.push_back(std::move(tx));
    }
    if (b.transactions.empty()) break;
    const bool last = b.transactions.size() < 500;
    if (!h->store->Append(1, std::move(b)).ok()) std::abort();
    if (last) break;
  }
  if (!h->store->Flush().ok()) std::abort();
  const uint64_t flushed_segments = h->store->embedded_stats().segments;
  double compact_secs = 0;
  if (compact) {
    // The hour (2023) is long closed by the real clock.
    const auto c0 = std::chrono::steady_clock::now();
    if (!h->store->CompactClosedPartitions().ok()) std::abort();
    compact_secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count();
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const StoreStats st = h->store->Stats();
  const EmbeddedStats es = h->store->embedded_stats();
  std::fprintf(
      stderr,
      "hour (memtable %zu MiB, columns %s%s): %llu tx, %.2f spans/tx, %llu segments "
      "(%llu flushed), %.1f B/tx, %.1f B/span on disk, scatter columns %.2f B/tx, built in "
      "%.1f s (compaction %.1f s)\n",
      memtable_mb, CompressionName(columns), compact ? ", compacted" : "",
      static_cast<unsigned long long>(st.transactions),
      static_cast<double>(spans) / st.transactions, static_cast<unsigned long long>(es.segments),
      static_cast<unsigned long long>(flushed_segments),
      static_cast<double>(es.segment_bytes) / st.transactions,
      static_cast<double>(es.segment_bytes) / spans, ScatterBytesPerTx(h->dir), secs, compact_secs);
  std::FILE* done = std::fopen((h->dir + "/HOUR_DONE").c_str(), "w");
  if (done != nullptr) std::fclose(done);
  return h;
}

Hour& HourFor(int variant) {
  static Hour* hours[4] = {};
  if (hours[variant] == nullptr) {
    switch (variant) {
      case 0:
        hours[0] = BuildHour(64, Compression::kZstd, false);
        break;
      case 1:
        hours[1] = BuildHour(1024, Compression::kZstd, false);
        break;
      case 2:
        hours[2] = BuildHour(1024, Compression::kLz4, false);
        break;
      default:
        hours[3] = BuildHour(64, Compression::kZstd, true);
        break;
    }
  }
  return *hours[variant];
}

// X-View: every transaction of the hour with the fields the scatter draws
// (end, elapsed, error: TxFilter::fields = 0), or with all fields.
void BM_XViewHour(benchmark::State& state) {
  Hour& h = HourFor(static_cast<int>(state.range(0)));
  const ScanOrder order = state.range(1) ? ScanOrder::kNewestFirst : ScanOrder::kAny;
  TxFilter f;
  f.from_us = kT0;
  f.to_us = kT0 + kHourUs;
  f.fields = state.range(2) ? uint32_t{kFieldAll} : 0u;
  uint64_t rows = 0;
  for (auto _ : state) {
    int64_t sum = 0;
    rows = 0;
    Status s = h.store->Scan(1, f, order, [&](std::span<const TxRow> batch) {
      for (const TxRow& r : batch) sum += r.end_us + r.elapsed_us();
      rows += batch.size();
      return true;
    });
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    benchmark::DoNotOptimize(sum);
  }
  state.counters["rows"] = static_cast<double>(rows);
}
// Args: {variant (0: 64 MiB memtable, 1: 1 GiB memtable, 2: 1 GiB + lz4
// columns, 3: 64 MiB memtable then compacted into one segment), newest-first,
// all fields}
BENCHMARK(BM_XViewHour)
    ->Args({0, 0, 0})
    ->Args({0, 1, 0})
    ->Args({0, 0, 1})
    ->Args({1, 0, 0})
    ->Args({1, 1, 0})
    ->Args({1, 0, 1})
    ->Args({2, 0, 0})
    ->Args({2, 0, 1})
    ->Args({3, 0, 0})
    ->Args({3, 1, 0})
    ->Args({3, 0, 1})
    ->MeasureProcessCPUTime()  // CPU of every thread: Scan decodes ahead on a second one
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// The X-View budget as the API computes it: query::ComputeXView over the
// hour (newest-first Scan with fields = 0, past 200,000 points binned into
// the default 600 x 100 grid). Arg: variant as for BM_XViewHour. Every
// query decodes its row groups: the scatter cache is off
// (BM_ComputeXViewHourCached measures it on).
void BM_ComputeXViewHour(benchmark::State& state) {
  Hour& h = HourFor(static_cast<int>(state.range(0)));
  h.store->SetScatterCacheBytes(0);
  TxFilter f;
  f.from_us = kT0;
  f.to_us = kT0 + kHourUs;
  const query::XViewOptions o;
  uint64_t total = 0;
  for (auto _ : state) {
    auto r = query::ComputeXView(*h.store, 1, f, o);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      break;
    }
    total = r->total;
    benchmark::DoNotOptimize(r->bins.count.data());
  }
  state.counters["rows"] = static_cast<double>(total);
}
BENCHMARK(BM_ComputeXViewHour)
    ->Arg(3)
    ->Arg(0)
    ->MeasureProcessCPUTime()
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// BM_ComputeXViewHour with the scatter cache at its default budget
// (EmbeddedOptions::scatter_cache_bytes, 64 MiB): a dashboard refreshing
// the same hour. The cache starts empty in a process, so the first query
// (repetition) decodes and fills it: drop it from the statistics. The
// counters say how many row groups a repetition decoded and took from the
// cache.
void BM_ComputeXViewHourCached(benchmark::State& state) {
  Hour& h = HourFor(static_cast<int>(state.range(0)));
  static bool emptied = false;  // once per process, not per repetition
  if (!emptied) {
    h.store->SetScatterCacheBytes(0);
    emptied = true;
  }
  h.store->SetScatterCacheBytes(EmbeddedOptions().scatter_cache_bytes);
  const EmbeddedStats before = h.store->embedded_stats();
  TxFilter f;
  f.from_us = kT0;
  f.to_us = kT0 + kHourUs;
  const query::XViewOptions o;
  for (auto _ : state) {
    auto r = query::ComputeXView(*h.store, 1, f, o);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(r->bins.count.data());
  }
  const EmbeddedStats after = h.store->embedded_stats();
  state.counters["hits"] =
      static_cast<double>(after.scatter_cache_hits - before.scatter_cache_hits);
  state.counters["misses"] =
      static_cast<double>(after.scatter_cache_misses - before.scatter_cache_misses);
  state.counters["cache_MiB"] = static_cast<double>(after.scatter_cache_bytes) / (1 << 20);
}
BENCHMARK(BM_ComputeXViewHourCached)
    ->Arg(3)
    ->MeasureProcessCPUTime()
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Last 5 minutes, newest first, stop after 100 rows (the transaction list).
void BM_RecentList(benchmark::State& state) {
  Hour& h = HourFor(static_cast<int>(state.range(0)));
  TxFilter f;
  f.from_us = kT0 + kHourUs - 300'000'000;
  f.to_us = kT0 + kHourUs;
  for (auto _ : state) {
    size_t n = 0;
    Status s = h.store->Scan(1, f, ScanOrder::kNewestFirst, [&](std::span<const TxRow> batch) {
      n += batch.size();
      return n < 100;
    });
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
  }
}
BENCHMARK(BM_RecentList)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

// Transaction by id, with its profile.
void BM_GetById(benchmark::State& state) {
  Hour& h = HourFor(static_cast<int>(state.range(0)));
  std::mt19937_64 rng(1);
  for (auto _ : state) {
    auto tx = h.store->Get(1, h.ids[rng() % h.ids.size()]);
    if (!tx.ok()) state.SkipWithError(tx.status().ToString().c_str());
    benchmark::DoNotOptimize(tx);
  }
}
BENCHMARK(BM_GetById)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

// Append of a transaction already stored: the dedup path (Bloom + binary search).
void BM_AppendDuplicate(benchmark::State& state) {
  Hour& h = HourFor(static_cast<int>(state.range(0)));
  std::mt19937_64 rng(2);
  for (auto _ : state) {
    WriteBatch b;
    model::Transaction tx;
    tx.id = h.ids[rng() % h.ids.size()];
    tx.end_us = kT0 + 1;
    b.transactions.push_back(std::move(tx));
    if (!h.store->Append(1, std::move(b)).ok()) state.SkipWithError("append");
  }
}
BENCHMARK(BM_AppendDuplicate)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace loupe::store

BENCHMARK_MAIN();
