// Pipeline: the path every decoded span batch takes, whatever transport it
// came on: ingest log (durable before ack) → assemble (spans → transactions)
// → store → live figures. Receivers (OTLP/HTTP, OTLP/gRPC) call Submit() and
// answer the sender from its result. Decoded metrics take the same log, then
// the mapping (ingest/metrics_mapping.h) into the time-series store
// (SubmitMetrics, after AttachMetricsStore).
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
// Metrics requests are counted in loupe_ingest_metric_points_total{result}
// (accepted, skipped), loupe_ingest_metric_samples_total and
// loupe_ingest_metric_exemplars_dropped_total; the time-series store's own
// figures are loupe_tsdb_samples_total{result} (stored, duplicate,
// out_of_order, invalid), loupe_tsdb_series_overflowed_total, and the gauges
// loupe_tsdb_series, loupe_tsdb_head_bytes, loupe_tsdb_head_windows,
// loupe_tsdb_blocks, loupe_tsdb_block_bytes.
//
// Thread-safety: Submit and SubmitMetrics are thread-safe.
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
#include "ingest/metrics_mapping.h"
#include "live/live_state.h"
#include "model/metric.h"
#include "model/span.h"
#include "store/store.h"
#include "store/tsdb/time_series_store.h"
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

  // What SubmitMetrics did with one metrics request.
  struct MetricsResult {
    uint64_t accepted_points = 0;
    uint64_t rejected_points = 0;  // skipped by the decoder or the mapping
    std::string message;           // partial-success explanation when rejected_points > 0
  };

  // Metrics requests go to `tsdb` (not owned; must outlive the pipeline):
  // SubmitMetrics works, replayed metrics records are stored, and checkpoints
  // flush it. Call before Replay() and Start().
  void AttachMetricsStore(tsdb::TimeSeriesStore* tsdb);
  bool has_metrics_store() const { return tsdb_ != nullptr; }

  // As Submit for a metrics request (format kOtlpMetrics*): logs it, maps it
  // and appends the samples to the time-series store. Errors as Submit;
  // Internal without AttachMetricsStore.
  Result<MetricsResult> SubmitMetrics(const LoggedRequest& request,
                                      const model::MetricBatch& batch);

  // Replays one logged request at start (IngestLog::Open's callback): copies
  // it to a bounded queue served by replay_threads workers, which decode,
  // assemble and store it without logging it again (the assembler joins spans
  // in any order, so parallel replay stores what serial replay would).
  // Metrics requests are replayed on the calling thread before it returns,
  // in log order (the time-series store drops a series' older samples).
  // Undecodable requests are skipped and counted (they were acknowledged, so
  // they decoded once: only a change of decode limits can cause this).
  // Returns the first error a worker met, if any.
  Status Replay(const LoggedRequest& request);
  // Waits until every replayed request is stored and stops the workers.
  // Returns the first error a worker met. Call before AttachLog/Start.
  Status FinishReplay();

  // With a log: quiesces submits, exports pending spans, flushes the store
  // (and the time-series store) and commits a checkpoint. The tick thread calls it; Stop() calls it
  // last.
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
  Result<MetricsResult> ProcessMetrics(store::ProjectId project, const model::MetricBatch& batch);
  // Admission, the log append and `process` inside the checkpoint gate;
  // maps log errors and counts. Shared by Submit and SubmitMetrics.
  template <typename R, typename F>
  Result<R> LogAndProcess(const LoggedRequest& request, F&& process);
  void RegisterTsdbMetrics();
  void TickLoop();
  void ReplayWorker();
  Status ReplayOne(const LoggedRequest& request);
  Status ReplayMetrics(const LoggedRequest& request);
  // Writer-preferring gate: Submit/Tick enter shared, Checkpoint exclusive.
  void EnterShared();
  void LeaveShared();

  store::Store* store_;
  live::LiveState* live_;
  Clock* clock_;
  PipelineOptions options_;
  MetricsRegistry* metrics_;
  IngestLog* log_ = nullptr;
  tsdb::TimeSeriesStore* tsdb_ = nullptr;
  MetricsMappingOptions mapping_;
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
  Counter* metric_points_accepted_;
  Counter* metric_points_skipped_;
  Counter* metric_samples_;
  Counter* metric_exemplars_dropped_;
};

}  // namespace loupe::ingest

#endif  // LOUPE_INGEST_PIPELINE_H_
