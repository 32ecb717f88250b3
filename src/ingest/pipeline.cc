#include "ingest/pipeline.h"

#include <chrono>

namespace loupe::ingest {

Pipeline::Pipeline(store::Store* store, live::LiveState* live, Clock* clock,
                   MetricsRegistry* metrics, PipelineOptions options)
    : store_(store),
      live_(live),
      clock_(clock),
      options_(options),
      assembler_(clock, options.assembler, metrics) {
  const char* kBatches = "loupe_ingest_batches_total";
  const char* kHelp = "Span batches submitted to the ingest pipeline, by outcome.";
  batches_ok_ = metrics->GetCounter(kBatches, kHelp, {{"result", "ok"}});
  batches_rejected_overload_ = metrics->GetCounter(kBatches, kHelp, {{"result", "overloaded"}});
  batches_failed_store_ = metrics->GetCounter(kBatches, kHelp, {{"result", "store_error"}});
  spans_received_ = metrics->GetCounter("loupe_ingest_spans_received_total",
                                        "Spans decoded and submitted to the pipeline.");
  submit_seconds_ = metrics->GetHistogram(
      "loupe_ingest_submit_seconds", "Time from decoded batch to durable acknowledgement.",
      {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5});
  metrics->AddCallback("loupe_ingest_inflight_batches", "Batches being processed now.",
                       [this] {
                         return std::vector<std::pair<Labels, double>>{
                             {{}, static_cast<double>(inflight_.load())}};
                       });
}

Pipeline::~Pipeline() { Stop(); }

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
    for (const auto& tx : batch.transactions) {
      // Only what LiveState::Record reads: times, the user (or client IP)
      // for concurrent users, and for errors the event's texts.
      model::Transaction lite;
      lite.id = tx.id;
      lite.start_us = tx.start_us;
      lite.end_us = tx.end_us;
      lite.status = tx.status;
      lite.error = tx.error;
      if (!tx.user.empty()) {
        lite.user = tx.user;
      } else {
        lite.client_ip = tx.client_ip;
      }
      if (tx.error) {
        lite.service = tx.service;
        lite.endpoint = tx.endpoint;
        lite.error_type = tx.error_type;
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

Result<SubmitResult> Pipeline::Submit(store::ProjectId project, const model::SpanBatch& batch) {
  if (stopping_.load(std::memory_order_relaxed)) {
    return Status::Unavailable("server is shutting down");
  }
  if (inflight_.fetch_add(1) >= options_.max_inflight) {
    inflight_.fetch_sub(1);
    batches_rejected_overload_->Inc();
    return Status::Unavailable("too many export requests in flight; retry later");
  }
  int64_t t0 = clock_->NowMicros();
  spans_received_->Inc(batch.spans.size());
  AddResult added = assembler_.Add(project, batch);
  for (const auto& inst : added.instances) store_->PutInstance(project, inst);
  Status s = Write(project, std::move(added.batch));
  inflight_.fetch_sub(1);
  if (!s.ok()) {
    batches_failed_store_->Inc();
    return s.Annotate("storing batch");
  }
  batches_ok_->Inc();
  submit_seconds_->Observe(static_cast<double>(clock_->NowMicros() - t0) / 1e6);
  SubmitResult r;
  r.rejected_spans = added.rejected_spans;
  r.accepted_spans = batch.spans.size() - added.rejected_spans;
  r.message = std::move(added.rejection_message);
  return r;
}

bool Pipeline::ReserveBytes(int64_t bytes) {
  int64_t before = inflight_bytes_.fetch_add(bytes);
  if (before > 0 && before + bytes > options_.max_inflight_bytes) {
    inflight_bytes_.fetch_sub(bytes);
    batches_rejected_overload_->Inc();
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
    for (auto& [project, batch] : assembler_.Tick()) {
      Status s = Write(project, std::move(batch));
      if (!s.ok()) batches_failed_store_->Inc();
    }
    l.lock();
  }
}

void Pipeline::Stop() {
  {
    std::lock_guard<std::mutex> l(tick_mu_);
    if (stopping_.exchange(true)) return;
  }
  tick_cv_.notify_all();
  if (ticker_.joinable()) ticker_.join();
  // Wait for in-flight submits to finish before flushing.
  while (inflight_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  for (auto& [project, batch] : assembler_.Flush()) {
    Status s = Write(project, std::move(batch));
    if (!s.ok()) batches_failed_store_->Inc();
  }
}

}  // namespace loupe::ingest
