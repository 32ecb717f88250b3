// The exporter thread: drains the bounded queue of finished transactions'
// records (tx_record.h) in batches and POSTs them to /v1/traces. Retries are
// bounded, so a server that is down, slow or answering errors costs at most
// the queue's memory; while it retries the queue fills and the application
// threads drop (and count).

#include <algorithm>
#include <chrono>
#include <cmath>

#include "agent_internal.h"
#include "proto_writer.h"

namespace loupe {
namespace {

constexpr int64_t kMaxBackoffMs = 5000;
constexpr int64_t kMaxRetryAfterMs = 30000;

bool Retryable(int status) {
  return status == 429 || status == 502 || status == 503 || status == 504;
}

}  // namespace

void Agent::Impl::ExportLoop() {
  internal::NameThisThread("loupe-export");
  internal::HttpClient client(options.endpoint, options.request_timeout_ms, &cancel_export);
  internal::ProtoWriter writer;  // its buffer is reused by every batch
  std::vector<const char*> batch;  // records read from the queue, not yet released
  const size_t max_batch = std::max<size_t>(1, options.max_batch);
  batch.reserve(max_batch);
  for (;;) {
    bool stop;
    uint64_t deadline;
    {
      std::unique_lock<std::mutex> l(mu);
      if (!stopping) {
        l.unlock();
        export_wakeup.Wait(std::max(1, options.flush_interval_ms));
        l.lock();
      }
      queue_wakeup_pending.store(false, std::memory_order_relaxed);
      stop = stopping;
      deadline = flush_deadline_ms;
    }
    for (;;) {
      if (stop && internal::NowSteadyMs() >= deadline) break;
      std::string_view record;
      while (batch.size() < max_batch && queue.Read(&record)) batch.push_back(record.data());
      if (batch.empty()) break;
      ExportBatch(&client, &writer, &batch);
    }
    if (stop) break;
  }
  // What is left is counted as dropped by ~Impl.
  std::lock_guard<std::mutex> l(mu);
  exporter_done = true;
  cv.notify_all();
}

void Agent::Impl::ExportBatch(internal::HttpClient* client, internal::ProtoWriter* writer,
                              std::vector<const char*>* batch) {
  const size_t n = batch->size();
  internal::EncodeTraces(*this, batch->data(), n, writer);
  const std::string_view body = writer->data();
  // The queue's room comes back before the request, not after it.
  queue.Release();
  batch->clear();

  const auto headers = AuthHeaders("application/x-protobuf");
  const int attempts = std::max(1, options.max_export_attempts);
  for (int attempt = 1;; ++attempt) {
    internal::HttpResponse resp;
    std::string error;
    const bool ok = client->Request("POST", "/v1/traces", headers, body, &resp, &error);
    if (ok && resp.status >= 200 && resp.status < 300) {
      exported.fetch_add(n, std::memory_order_relaxed);
      return;
    }
    if ((ok && !Retryable(resp.status)) || attempt >= attempts ||
        cancel_export.load(std::memory_order_relaxed)) {
      dropped_export.fetch_add(n, std::memory_order_relaxed);
      return;
    }
    // Exponential back-off with +-50 % jitter, or the server's Retry-After.
    int64_t delay = static_cast<int64_t>(options.retry_backoff_ms) << std::min(attempt - 1, 20);
    delay = std::min(delay, kMaxBackoffMs);
    const double jitter = 0.5 + static_cast<double>(internal::Random64() >> 11) * 0x1.0p-53;
    delay = static_cast<int64_t>(static_cast<double>(delay) * jitter);
    if (ok && resp.retry_after_s >= 0) {
      delay = std::min<int64_t>(int64_t{resp.retry_after_s} * 1000, kMaxRetryAfterMs);
    }
    std::unique_lock<std::mutex> l(mu);
    if (stopping && internal::NowSteadyMs() + static_cast<uint64_t>(delay) >= flush_deadline_ms) {
      l.unlock();
      dropped_export.fetch_add(n, std::memory_order_relaxed);
      return;
    }
    export_retries.fetch_add(1, std::memory_order_relaxed);
    cv.wait_for(l, std::chrono::milliseconds(delay),
                [&] { return cancel_export.load(std::memory_order_relaxed); });
  }
}

}  // namespace loupe
