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
