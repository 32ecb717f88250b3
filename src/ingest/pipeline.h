// Pipeline: the path every decoded span batch takes, whatever transport it
// came on: assemble (spans → transactions) → store (durable before ack) →
// live figures. Receivers (OTLP/HTTP, OTLP/gRPC) call Submit() and answer the
// sender from its result.
//
// Admission: at most `max_inflight` Submit calls run at once; past that Submit
// returns Unavailable at once (the receiver answers 429/UNAVAILABLE with a
// retry hint) instead of queueing without bound.
//
// A background thread calls Assembler::Tick() every second to emit orphans
// whose root never came; Stop() emits everything still pending and closes the
// store, so SIGTERM loses nothing that was acknowledged.
//
// Thread-safety: Submit is thread-safe.
#ifndef LOUPE_INGEST_PIPELINE_H_
#define LOUPE_INGEST_PIPELINE_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/metrics.h"
#include "common/status.h"
#include "ingest/assembler.h"
#include "live/live_state.h"
#include "model/span.h"
#include "store/store.h"

namespace loupe::ingest {

struct PipelineOptions {
  int max_inflight = 64;
  // Decompressed request bytes being decoded and processed at once. A decoded
  // batch can take ~11x its body in memory (wire/ measurement), so this bounds
  // ingest memory; past it requests get 503/UNAVAILABLE with a retry hint.
  int64_t max_inflight_bytes = int64_t{128} << 20;
  AssemblerOptions assembler;
};

struct SubmitResult {
  uint64_t accepted_spans = 0;
  uint64_t rejected_spans = 0;
  std::string message;  // partial-success explanation when rejected_spans > 0
};

class Pipeline {
 public:
  Pipeline(store::Store* store, live::LiveState* live, Clock* clock, MetricsRegistry* metrics,
           PipelineOptions options);
  ~Pipeline();

  // Assembles, stores and publishes one batch. Returns only when what it
  // accepted is stored (durable, for a durable store). Errors: Unavailable
  // (overloaded or stopping; retry), ResourceExhausted (store full; retry
  // later), others from the store.
  Result<SubmitResult> Submit(store::ProjectId project, const model::SpanBatch& batch);

  // Reserves `bytes` of the in-flight body budget; false when it is spent
  // (always true for a request alone in the budget, so one maximal request
  // is never refused). Pair every true with ReleaseBytes.
  bool ReserveBytes(int64_t bytes);
  void ReleaseBytes(int64_t bytes);

  void Start();  // starts the tick thread
  void Stop();   // flushes pending spans into the store; idempotent

 private:
  Status Write(store::ProjectId project, store::WriteBatch batch);
  void TickLoop();

  store::Store* store_;
  live::LiveState* live_;
  Clock* clock_;
  PipelineOptions options_;
  Assembler assembler_;

  std::atomic<int> inflight_{0};
  std::atomic<int64_t> inflight_bytes_{0};
  std::atomic<bool> stopping_{false};
  std::mutex tick_mu_;
  std::condition_variable tick_cv_;
  std::thread ticker_;

  Counter* batches_ok_;
  Counter* batches_rejected_overload_;
  Counter* batches_failed_store_;
  Counter* spans_received_;
  Histogram* submit_seconds_;
};

}  // namespace loupe::ingest

#endif  // LOUPE_INGEST_PIPELINE_H_
