// Pipeline: the path every decoded span batch takes, whatever transport it
// came on: ingest log (durable before ack) → assemble (spans → transactions)
// → store → live figures. Receivers (OTLP/HTTP, OTLP/gRPC) call Submit() and
// answer the sender from its result.
//
// Durability (with an IngestLog, docs/design/storage.md): Submit appends the
// request to the log and returns only once it is durable; the tick thread
// checkpoints the log every checkpoint_bytes / checkpoint_interval_us
// (quiesce submits, export the assembler's pending spans, resume, flush the
// store, commit). At start the owner replays the log: it opens the IngestLog
// with Replay() as the replay callback (the checkpoint's pending requests,
// then every record after it; workers decode, assemble and store them without
// logging them again), waits with FinishReplay(), then calls AttachLog() and
// Start(). Without a log (memory store) acknowledged data lives in memory only.
//
// Admission: at most `max_inflight` Submit calls run at once; past that Submit
// returns Unavailable at once (the receiver answers 429/UNAVAILABLE with a
// retry hint) instead of queueing without bound.
//
// A background thread calls Assembler::Tick() every second to emit orphans
// whose root never came. Stop() with a log takes a last checkpoint (pending
// spans stay pending across the restart); without one it emits everything
// still pending as orphans. Either way SIGTERM loses nothing acknowledged.
//
// Observability: every refusal (overload, memory budget, disk full, store
// error) and every request with rejected spans is counted and the first of
// each kind logged at WARN (rate-limited);
// what the decoders cut from accepted requests (SpanBatch::dropped_attributes,
// dropped_events, truncated_values) is counted in
// loupe_ingest_decoder_cut_total{what}.
//
// Thread-safety: Submit is thread-safe.
#ifndef LOUPE_INGEST_PIPELINE_H_
#define LOUPE_INGEST_PIPELINE_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/metrics.h"
#include "common/status.h"
#include "ingest/assembler.h"
#include "ingest/ingest_log.h"
#include "live/live_state.h"
#include "model/span.h"
#include "store/store.h"
#include "wire/decode_limits.h"

namespace loupe::ingest {

struct PipelineOptions {
  int max_inflight = 64;
  // Decompressed request bytes being decoded and processed at once. A decoded
  // batch can take ~11x its body in memory (wire/ measurement), so this bounds
  // ingest memory; past it requests get 503/UNAVAILABLE with a retry hint.
  int64_t max_inflight_bytes = int64_t{128} << 20;
  AssemblerOptions assembler;
  // Checkpoint the log once this many body bytes were logged since the last
  // one, or after this long with any — bounds replay time at restart.
  uint64_t checkpoint_bytes = uint64_t{256} << 20;
  int64_t checkpoint_interval_us = 300'000'000;
  // Decode limits for replayed requests (the receivers' limits).
  wire::DecodeLimits replay_limits;
  // Threads replaying the log at start (0: one per core). Measured: one
  // thread replays ~62 MB of log a second (bench/ingest_durability.sh).
  int replay_threads = 0;
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

  // Logs, assembles, stores and publishes one batch decoded from `request`
  // (its project and decompressed body, as logged; the original text for
  // JSON). Returns only when the request is durable in the log (with a log)
  // and what it emitted is in the store. Errors: Unavailable (overloaded or
  // stopping; retry), ResourceExhausted (disk full; retry later), IoError
  // (log write failed), others from the store.
  Result<SubmitResult> Submit(const LoggedRequest& request, const model::SpanBatch& batch);

  // Replays one logged request at start (IngestLog::Open's callback): copies
  // it to a bounded queue served by replay_threads workers, which decode,
  // assemble and store it without logging it again (the assembler joins spans
  // in any order, so parallel replay stores what serial replay would).
  // Undecodable requests are skipped and counted (they were acknowledged, so
  // they decoded once: only a change of decode limits can cause this).
  // Returns the first error a worker met, if any.
  Status Replay(const LoggedRequest& request);
  // Waits until every replayed request is stored and stops the workers.
  // Returns the first error a worker met. Call before AttachLog/Start.
  Status FinishReplay();

  // With a log: quiesces submits, exports pending spans, flushes the store and
  // commits a checkpoint. The tick thread calls it; Stop() calls it last.
  Status Checkpoint();

  // Makes Submit log every request to `log` (not owned; must outlive the
  // pipeline) before acknowledging it. Call after replaying the log through
  // Replay() and before Start() and the receivers.
  void AttachLog(IngestLog* log);

  // True when Submit waits for a durable log (receivers keep the original
  // JSON text for it).
  bool durable() const { return log_ != nullptr; }

  // Reserves `bytes` of the in-flight body budget; false when it is spent
  // (always true for a request alone in the budget, so one maximal request
  // is never refused). Pair every true with ReleaseBytes.
  bool ReserveBytes(int64_t bytes);
  void ReleaseBytes(int64_t bytes);

  // The assembler's instance caps (for /metrics and GET /api/v1/instances).
  std::vector<InstanceCapStats> InstanceStats() const { return assembler_.InstanceStats(); }

  void Start();  // starts the tick thread
  void Stop();   // flushes pending spans into the store; idempotent

 private:
  Status Write(store::ProjectId project, store::WriteBatch batch);
  Result<SubmitResult> Process(store::ProjectId project, const model::SpanBatch& batch);
  void TickLoop();
  void ReplayWorker();
  Status ReplayOne(const LoggedRequest& request);
  // Writer-preferring gate: Submit/Tick enter shared, Checkpoint exclusive.
  void EnterShared();
  void LeaveShared();

  store::Store* store_;
  live::LiveState* live_;
  Clock* clock_;
  PipelineOptions options_;
  MetricsRegistry* metrics_;
  IngestLog* log_ = nullptr;
  Assembler assembler_;

  std::atomic<int> inflight_{0};
  std::atomic<int64_t> inflight_bytes_{0};
  std::atomic<bool> stopping_{false};
  std::mutex gate_mu_;
  std::condition_variable gate_cv_;
  int gate_active_ = 0;          // GUARDED_BY(gate_mu_)
  bool gate_exclusive_ = false;  // GUARDED_BY(gate_mu_)
  std::mutex checkpoint_mu_;     // one checkpoint at a time
  int64_t last_checkpoint_us_ = 0;
  struct ReplayJob {
    store::ProjectId project;
    RequestFormat format;
    std::string body;
  };
  std::mutex replay_mu_;
  std::condition_variable replay_cv_;        // work or the end arrived
  std::condition_variable replay_space_cv_;  // the queue has room
  std::deque<ReplayJob> replay_q_;           // GUARDED_BY(replay_mu_)
  bool replay_end_ = false;                  // GUARDED_BY(replay_mu_)
  Status replay_error_;                      // GUARDED_BY(replay_mu_)
  std::vector<std::thread> replay_workers_;
  std::mutex tick_mu_;
  std::condition_variable tick_cv_;
  std::thread ticker_;

  Counter* batches_ok_;
  Counter* batches_rejected_overload_;
  Counter* batches_failed_store_;
  Counter* spans_received_;
  Histogram* submit_seconds_;
  Counter* checkpoints_ok_;
  Counter* checkpoints_failed_;
  Counter* replay_skipped_;
  Counter* decoder_dropped_attributes_;
  Counter* decoder_dropped_events_;
  Counter* decoder_truncated_values_;
  Histogram* checkpoint_seconds_;
};

}  // namespace loupe::ingest

#endif  // LOUPE_INGEST_PIPELINE_H_
