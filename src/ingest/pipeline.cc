#include "ingest/pipeline.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/logging.h"
#include "wire/otlp_json.h"
#include "wire/otlp_metrics_json.h"
#include "wire/otlp_metrics_proto.h"
#include "wire/otlp_proto.h"

namespace loupe::ingest {

Pipeline::Pipeline(store::Store* store, live::LiveState* live, Clock* clock,
                   MetricsRegistry* metrics, PipelineOptions options)
    : store_(store),
      live_(live),
      clock_(clock),
      options_(options),
      metrics_(metrics),
      assembler_(clock, options.assembler, metrics) {
  const char* kBatches = "loupe_ingest_batches_total";
  const char* kHelp =
      "Export requests (spans or metrics) submitted to the ingest pipeline, by outcome.";
  batches_ok_ = metrics->GetCounter(kBatches, kHelp, {{"result", "ok"}});
  batches_rejected_overload_ = metrics->GetCounter(kBatches, kHelp, {{"result", "overloaded"}});
  batches_failed_store_ = metrics->GetCounter(kBatches, kHelp, {{"result", "store_error"}});
  spans_received_ = metrics->GetCounter("loupe_ingest_spans_received_total",
                                        "Spans decoded and submitted to the pipeline.");
  submit_seconds_ = metrics->GetHistogram(
      "loupe_ingest_submit_seconds", "Time from decoded batch to durable acknowledgement.",
      {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5});
  const char* kCkpt = "loupe_ingest_checkpoints_total";
  const char* kCkptHelp =
      "Ingest log checkpoints (store flushed, log before it deleted), by result.";
  checkpoints_ok_ = metrics->GetCounter(kCkpt, kCkptHelp, {{"result", "ok"}});
  checkpoints_failed_ = metrics->GetCounter(kCkpt, kCkptHelp, {{"result", "failed"}});
  const char* kDecoder = "loupe_ingest_decoder_cut_total";
  const char* kDecoderHelp =
      "What the OTLP decoders cut from accepted requests to stay within their limits: "
      "attributes and events dropped, attribute values truncated.";
  decoder_dropped_attributes_ =
      metrics->GetCounter(kDecoder, kDecoderHelp, {{"what", "dropped_attribute"}});
  decoder_dropped_events_ =
      metrics->GetCounter(kDecoder, kDecoderHelp, {{"what", "dropped_event"}});
  decoder_truncated_values_ =
      metrics->GetCounter(kDecoder, kDecoderHelp, {{"what", "truncated_value"}});
  replay_skipped_ =
      metrics->GetCounter("loupe_ingest_replay_skipped_total",
                          "Logged requests that could not be decoded again at recovery (skipped).");
  checkpoint_seconds_ = metrics->GetHistogram("loupe_ingest_checkpoint_seconds",
                                              "Duration of ingest log checkpoints.",
                                              {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30});
  const char* kPoints = "loupe_ingest_metric_points_total";
  const char* kPointsHelp =
      "OTLP metric data points in accepted requests: accepted, or skipped (no value, no time, "
      "invalid histogram buckets).";
  metric_points_accepted_ = metrics->GetCounter(kPoints, kPointsHelp, {{"result", "accepted"}});
  metric_points_skipped_ = metrics->GetCounter(kPoints, kPointsHelp, {{"result", "skipped"}});
  metric_samples_ = metrics->GetCounter("loupe_ingest_metric_samples_total",
                                        "Samples the OTLP metric points became (a histogram point "
                                        "makes one per bucket, sum, count).");
  metric_exemplars_dropped_ = metrics->GetCounter(
      "loupe_ingest_metric_exemplars_dropped_total",
      "Exemplars of OTLP metric points, dropped: the time-series store keeps values only.");
  last_checkpoint_us_ = clock_->NowMicros();
  metrics->AddCallback("loupe_ingest_inflight_batches", "Batches being processed now.", [this] {
    return std::vector<std::pair<Labels, double>>{{{}, static_cast<double>(inflight_.load())}};
  });
}

Pipeline::~Pipeline() { Stop(); }

void Pipeline::AttachLog(IngestLog* log) {
  log_ = log;
  metrics_->AddCallback("loupe_ingest_log_bytes",
                        "Request bytes in the ingest log since the last checkpoint.", [log] {
                          return std::vector<std::pair<Labels, double>>{
                              {{}, static_cast<double>(log->bytes_since_checkpoint())}};
                        });
}

Status Pipeline::Write(store::ProjectId project, store::WriteBatch batch) {
  if (batch.empty()) return Status::OK();
  Status s;
  if (batch.transactions.empty()) {
    s = store_->Append(project, std::move(batch));
  } else {
    // Live is updated after the store accepted the batch, so a dot on the
    // dashboard can always be opened; keep what live needs before the batch
    // moves into the store.
    std::vector<model::Transaction> txs_for_live;
    txs_for_live.reserve(batch.transactions.size());
    // A slow transaction becomes an event (BAD_RESPONSE_TIME) and needs its
    // names; the threshold is asked once per service and batch.
    std::unordered_map<std::string_view, int64_t> slow_us;
    for (const auto& tx : batch.transactions) {
      // Only what LiveState::Record reads: times, the service, the user (or
      // client IP) for concurrent users, and for events their texts and the
      // steps that failed.
      model::Transaction lite;
      lite.id = tx.id;
      lite.start_us = tx.start_us;
      lite.end_us = tx.end_us;
      lite.status = tx.status;
      lite.error = tx.error;
      lite.service = tx.service;
      if (!tx.user.empty()) {
        lite.user = tx.user;
      } else {
        lite.client_ip = tx.client_ip;
      }
      auto limit = slow_us.find(tx.service);
      if (limit == slow_us.end()) {
        limit = slow_us.emplace(tx.service, live_->BadResponseUs(project, tx.service)).first;
      }
      if (tx.error || (limit->second > 0 && tx.elapsed_us() > limit->second)) {
        lite.instance = tx.instance;
        lite.endpoint = tx.endpoint;
        lite.error_type = tx.error_type;
        for (const model::Step& st : tx.steps) {
          if (st.error || st.kind == model::StepKind::kError) {
            model::Step& f = lite.steps.emplace_back();
            f.kind = st.kind;
            f.error = st.error;
            if (st.kind == model::StepKind::kError) f.name = st.name;
          }
        }
      }
      txs_for_live.push_back(std::move(lite));
    }
    s = store_->Append(project, std::move(batch));
    if (s.ok()) {
      for (const auto& tx : txs_for_live) live_->Record(project, tx);
    }
  }
  return s;
}

void Pipeline::EnterShared() {
  std::unique_lock<std::mutex> l(gate_mu_);
  gate_cv_.wait(l, [this] { return !gate_exclusive_; });
  ++gate_active_;
}

void Pipeline::LeaveShared() {
  std::lock_guard<std::mutex> l(gate_mu_);
  if (--gate_active_ == 0) gate_cv_.notify_all();
}

Result<SubmitResult> Pipeline::Process(store::ProjectId project, const model::SpanBatch& batch) {
  spans_received_->Inc(batch.spans.size());
  AddResult added = assembler_.Add(project, batch);
  for (const auto& inst : added.instances) store_->PutInstance(project, inst);
  Status s = Write(project, std::move(added.batch));
  if (!s.ok()) return s.Annotate("storing batch");
  SubmitResult r;
  r.rejected_spans = added.rejected_spans;
  // rejected_spans includes the spans the decoder skipped (invalid ids).
  r.accepted_spans = batch.spans.size() + batch.invalid_spans - added.rejected_spans;
  r.message = std::move(added.rejection_message);
  return r;
}

template <typename R, typename F>
Result<R> Pipeline::LogAndProcess(const LoggedRequest& request, F&& process) {
  if (stopping_.load(std::memory_order_relaxed)) {
    return Status::Unavailable("server is shutting down");
  }
  if (inflight_.fetch_add(1) >= options_.max_inflight) {
    inflight_.fetch_sub(1);
    batches_rejected_overload_->Inc();
    LogWarningRateLimited("ingest overloaded",
                          "export refused: " + std::to_string(options_.max_inflight) +
                              " requests in flight already (--max-inflight); answered 503");
    return Status::Unavailable("too many export requests in flight; retry later");
  }
  EnterShared();
  Result<R> r = R{};
  Status logged;
  if (log_ != nullptr) logged = log_->Append(request);
  if (logged.ok()) r = process();
  LeaveShared();
  inflight_.fetch_sub(1);
  if (!logged.ok()) {
    batches_failed_store_->Inc();
    if (logged.code() == Status::Code::kResourceExhausted) {
      LogWarningRateLimited("ingest disk_full",
                            "disk full: exports are refused (503 / RESOURCE_EXHAUSTED) until "
                            "space is freed: " +
                                logged.ToString());
      return Status::ResourceExhausted("disk full: the ingest log cannot grow; retry later");
    }
    LogError("ingest log append: " + logged.ToString());
    return Status::Unavailable("ingest log write failed; retry later");
  }
  if (!r.ok()) {
    batches_failed_store_->Inc();
    if (r.status().code() == Status::Code::kResourceExhausted) {
      LogWarningRateLimited(
          "ingest store_full",
          "store full: exports are refused (503 / RESOURCE_EXHAUSTED): " + r.status().ToString());
    } else {
      LogWarningRateLimited("ingest store_error",
                            "storing an export failed (refused, 503): " + r.status().ToString());
    }
    return r.status();
  }
  batches_ok_->Inc();
  return r;
}

Result<SubmitResult> Pipeline::Submit(const LoggedRequest& request, const model::SpanBatch& batch) {
  const int64_t t0 = clock_->NowMicros();
  Result<SubmitResult> r =
      LogAndProcess<SubmitResult>(request, [&] { return Process(request.project, batch); });
  if (!r.ok()) return r;
  if (r->rejected_spans > 0) {
    // Counted by the assembler per reason; the message lists them.
    LogWarningRateLimited(
        "ingest rejected_spans",
        "export accepted with spans rejected (OTLP partial success): " + r->message);
  }
  // Counted for accepted requests only: a refused one is sent again.
  if (batch.dropped_attributes > 0) decoder_dropped_attributes_->Inc(batch.dropped_attributes);
  if (batch.dropped_events > 0) decoder_dropped_events_->Inc(batch.dropped_events);
  if (batch.truncated_values > 0) decoder_truncated_values_->Inc(batch.truncated_values);
  submit_seconds_->Observe(static_cast<double>(clock_->NowMicros() - t0) / 1e6);
  return r;
}

void Pipeline::AttachMetricsStore(tsdb::TimeSeriesStore* tsdb) {
  tsdb_ = tsdb;
  RegisterTsdbMetrics();
}

void Pipeline::RegisterTsdbMetrics() {
  tsdb::TimeSeriesStore* t = tsdb_;
  metrics_->AddCounterCallback(
      "loupe_tsdb_samples_total",
      "Samples given to the time-series store, by outcome: stored, duplicate (already held; "
      "replays), out_of_order (older than the series' newest, or past retention), invalid "
      "(NaN, Inf).",
      [t] {
        const tsdb::TsdbStats st = t->Stats();
        return std::vector<std::pair<Labels, double>>{
            {{{"result", "stored"}}, static_cast<double>(st.samples_appended)},
            {{{"result", "duplicate"}}, static_cast<double>(st.duplicates_skipped)},
            {{{"result", "out_of_order"}}, static_cast<double>(st.out_of_order_dropped)},
            {{{"result", "invalid"}}, static_cast<double>(st.invalid_dropped)}};
      });
  metrics_->AddCounterCallback(
      "loupe_tsdb_series_overflowed_total",
      "Series samples folded into a metric's overflow series (series caps reached).", [t] {
        return std::vector<std::pair<Labels, double>>{
            {{}, static_cast<double>(t->Stats().series_overflowed)}};
      });
  auto gauge = [this, t](const char* name, const char* help, uint64_t tsdb::TsdbStats::*field) {
    metrics_->AddCallback(name, help, [t, field] {
      return std::vector<std::pair<Labels, double>>{{{}, static_cast<double>(t->Stats().*field)}};
    });
  };
  gauge("loupe_tsdb_series", "Series in the time-series store (all projects).",
        &tsdb::TsdbStats::series);
  gauge("loupe_tsdb_head_bytes", "Approximate memory of the time-series store's head chunks.",
        &tsdb::TsdbStats::head_bytes);
  gauge("loupe_tsdb_head_windows", "Time windows of the time-series store held in memory.",
        &tsdb::TsdbStats::head_windows);
  gauge("loupe_tsdb_blocks", "Block files of the time-series store.", &tsdb::TsdbStats::blocks);
  gauge("loupe_tsdb_block_bytes", "Size of the time-series store's block files on disk.",
        &tsdb::TsdbStats::block_bytes);
}

Result<Pipeline::MetricsResult> Pipeline::ProcessMetrics(store::ProjectId project,
                                                         const model::MetricBatch& batch) {
  MappedMetrics mapped;
  MapMetrics(batch, mapping_, &mapped);
  Status s = tsdb_->Append(project, mapped.series);
  if (!s.ok()) return s.Annotate("storing metrics");
  metric_points_accepted_->Inc(mapped.points - mapped.skipped_points);
  // Points the decoder refused (a histogram over the bucket cap or with
  // inconsistent buckets) are skipped as much as those the mapping skipped.
  if (mapped.skipped_points + batch.invalid_points > 0) {
    metric_points_skipped_->Inc(mapped.skipped_points + batch.invalid_points);
  }
  metric_samples_->Inc(mapped.samples);
  metric_exemplars_dropped_->Inc(mapped.dropped_exemplars + batch.dropped_exemplars);
  MetricsResult r;
  r.accepted_points = mapped.points - mapped.skipped_points;
  r.rejected_points = mapped.skipped_points + batch.invalid_points;
  if (r.rejected_points > 0 || batch.skipped_metrics > 0) {
    r.message = std::to_string(batch.invalid_points) + " histogram points with invalid buckets, " +
                std::to_string(mapped.skipped_points) + " points without a value or time, " +
                std::to_string(batch.skipped_metrics) +
                " metrics without a name or of an unsupported type (Summary) were skipped";
  }
  return r;
}

Result<Pipeline::MetricsResult> Pipeline::SubmitMetrics(const LoggedRequest& request,
                                                        const model::MetricBatch& batch) {
  if (tsdb_ == nullptr) return Status::Internal("no time-series store");
  const int64_t t0 = clock_->NowMicros();
  Result<MetricsResult> r =
      LogAndProcess<MetricsResult>(request, [&] { return ProcessMetrics(request.project, batch); });
  if (!r.ok()) return r;
  if (batch.dropped_attributes > 0) decoder_dropped_attributes_->Inc(batch.dropped_attributes);
  if (batch.truncated_values > 0) decoder_truncated_values_->Inc(batch.truncated_values);
  submit_seconds_->Observe(static_cast<double>(clock_->NowMicros() - t0) / 1e6);
  return r;
}

Status Pipeline::Replay(const LoggedRequest& request) {
  // The time-series store takes a series' samples in time order only, and
  // the log holds them in the order they were acknowledged: metrics are
  // replayed here, in log order, not by the parallel workers.
  if (IsMetricsFormat(request.format)) {
    Status s = ReplayMetrics(request);
    std::lock_guard<std::mutex> l(replay_mu_);
    if (!s.ok() && replay_error_.ok()) replay_error_ = s;
    return replay_error_;
  }
  std::unique_lock<std::mutex> l(replay_mu_);
  if (replay_workers_.empty()) {
    replay_end_ = false;
    int n = options_.replay_threads > 0 ? options_.replay_threads
                                        : static_cast<int>(std::thread::hardware_concurrency());
    n = std::max(1, n);
    for (int i = 0; i < n; ++i) replay_workers_.emplace_back([this] { ReplayWorker(); });
  }
  const size_t cap = 2 * replay_workers_.size();
  replay_space_cv_.wait(l, [&] { return replay_q_.size() < cap; });
  if (!replay_error_.ok()) return replay_error_;
  replay_q_.push_back(ReplayJob{request.project, request.format, std::string(request.body)});
  replay_cv_.notify_one();
  return Status::OK();
}

void Pipeline::ReplayWorker() {
  for (;;) {
    ReplayJob job;
    {
      std::unique_lock<std::mutex> l(replay_mu_);
      replay_cv_.wait(l, [this] { return !replay_q_.empty() || replay_end_; });
      if (replay_q_.empty()) return;
      job = std::move(replay_q_.front());
      replay_q_.pop_front();
    }
    replay_space_cv_.notify_one();
    Status s = ReplayOne(LoggedRequest{job.project, job.format, job.body});
    if (!s.ok()) {
      std::lock_guard<std::mutex> l(replay_mu_);
      if (replay_error_.ok()) replay_error_ = s;
    }
  }
}

Status Pipeline::FinishReplay() {
  {
    std::lock_guard<std::mutex> l(replay_mu_);
    replay_end_ = true;
  }
  replay_cv_.notify_all();
  for (auto& t : replay_workers_) t.join();
  std::lock_guard<std::mutex> l(replay_mu_);
  replay_workers_.clear();
  return replay_error_;
}

Status Pipeline::ReplayOne(const LoggedRequest& request) {
  model::SpanBatch batch;
  Status s;
  if (request.format == RequestFormat::kOtlpJson) {
    std::string text(request.body);  // parsed in place
    s = wire::DecodeTracesJson(&text, options_.replay_limits, &batch);
    if (s.ok()) {
      auto r = Process(request.project, batch);
      return r.ok() ? Status::OK() : r.status();
    }
  } else {
    s = wire::DecodeTracesProto(request.body, options_.replay_limits, &batch);
    if (s.ok()) {
      auto r = Process(request.project, batch);
      return r.ok() ? Status::OK() : r.status();
    }
  }
  replay_skipped_->Inc();
  LogError("ingest log replay: skipping an undecodable request: " + s.message());
  return Status::OK();
}

Status Pipeline::ReplayMetrics(const LoggedRequest& request) {
  model::MetricBatch batch;
  Status s;
  std::string text;
  if (tsdb_ == nullptr) {
    s = Status::Internal("a metrics request but no time-series store");
  } else if (request.format == RequestFormat::kOtlpMetricsJson) {
    text = std::string(request.body);  // parsed in place
    s = wire::DecodeMetricsJson(&text, options_.replay_limits, &batch);
  } else {
    s = wire::DecodeMetricsProto(request.body, options_.replay_limits, &batch);
  }
  if (s.ok()) {
    auto r = ProcessMetrics(request.project, batch);
    return r.ok() ? Status::OK() : r.status();
  }
  replay_skipped_->Inc();
  LogError("ingest log replay: skipping a metrics request: " + s.message());
  return Status::OK();
}

Status Pipeline::Checkpoint() {
  if (log_ == nullptr) return Status::OK();
  std::lock_guard<std::mutex> one(checkpoint_mu_);
  const int64_t t0 = clock_->NowMicros();
  // 1. Quiesce: no request is between its log append and its store append.
  {
    std::unique_lock<std::mutex> l(gate_mu_);
    gate_exclusive_ = true;
    gate_cv_.wait(l, [this] { return gate_active_ == 0; });
  }
  Status s;
  for (auto& [project, batch] : assembler_.TakePromoted()) {
    Status w = Write(project, std::move(batch));
    if (s.ok()) s = w;
  }
  const uint64_t segment = log_->BeginCheckpoint();
  std::vector<std::pair<store::ProjectId, std::string>> pending = assembler_.ExportPending();
  {
    std::lock_guard<std::mutex> l(gate_mu_);
    gate_exclusive_ = false;
  }
  gate_cv_.notify_all();
  // 2. Everything stored before the checkpoint began becomes durable in
  // segments; then the checkpoint may replace the log before it.
  if (s.ok()) s = store_->Flush();
  if (s.ok() && tsdb_ != nullptr) s = tsdb_->Flush();
  if (s.ok()) {
    std::vector<LoggedRequest> reqs;
    reqs.reserve(pending.size());
    for (const auto& [project, body] : pending) {
      reqs.push_back(LoggedRequest{project, RequestFormat::kOtlpProto, body});
    }
    s = log_->CommitCheckpoint(segment, reqs);
  }
  const int64_t now = clock_->NowMicros();
  checkpoint_seconds_->Observe(static_cast<double>(now - t0) / 1e6);
  if (!s.ok()) {
    checkpoints_failed_->Inc();
    LogError("ingest checkpoint failed (the log is kept; retrying later): " + s.ToString());
    // Retry in about 10 s rather than after a whole interval.
    last_checkpoint_us_ = now - options_.checkpoint_interval_us + 10'000'000;
    return s;
  }
  checkpoints_ok_->Inc();
  last_checkpoint_us_ = now;
  return Status::OK();
}

bool Pipeline::ReserveBytes(int64_t bytes) {
  int64_t before = inflight_bytes_.fetch_add(bytes);
  if (before > 0 && before + bytes > options_.max_inflight_bytes) {
    inflight_bytes_.fetch_sub(bytes);
    batches_rejected_overload_->Inc();
    LogWarningRateLimited("ingest memory_budget",
                          "export refused: the in-flight request memory budget (" +
                              std::to_string(options_.max_inflight_bytes >> 20) +
                              " MiB) is in use; answered 503");
    return false;
  }
  return true;
}

void Pipeline::ReleaseBytes(int64_t bytes) { inflight_bytes_.fetch_sub(bytes); }

void Pipeline::Start() {
  ticker_ = std::thread([this] { TickLoop(); });
}

void Pipeline::TickLoop() {
  std::unique_lock<std::mutex> l(tick_mu_);
  while (!stopping_.load()) {
    tick_cv_.wait_for(l, std::chrono::seconds(1));
    if (stopping_.load()) break;
    l.unlock();
    EnterShared();
    for (auto& [project, batch] : assembler_.Tick()) {
      Status s = Write(project, std::move(batch));
      if (!s.ok()) batches_failed_store_->Inc();
    }
    LeaveShared();
    if (log_ != nullptr) {
      const uint64_t bytes = log_->bytes_since_checkpoint();
      const int64_t age = clock_->NowMicros() - last_checkpoint_us_;
      if (bytes >= options_.checkpoint_bytes ||
          (bytes > 0 && age >= options_.checkpoint_interval_us)) {
        Checkpoint();
      }
    }
    l.lock();
  }
}

void Pipeline::Stop() {
  FinishReplay();
  {
    std::lock_guard<std::mutex> l(tick_mu_);
    if (stopping_.exchange(true)) return;
  }
  tick_cv_.notify_all();
  if (ticker_.joinable()) ticker_.join();
  // Wait for in-flight submits to finish before flushing.
  while (inflight_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (log_ != nullptr) {
    // Pending spans go into the checkpoint and keep waiting for their roots
    // after the restart. On failure the log still holds them.
    Checkpoint();
    return;
  }
  for (auto& [project, batch] : assembler_.Flush()) {
    Status s = Write(project, std::move(batch));
    if (!s.ok()) batches_failed_store_->Inc();
  }
}

}  // namespace loupe::ingest
