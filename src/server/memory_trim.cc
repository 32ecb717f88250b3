#include "server/memory_trim.h"

#include <malloc.h>

#include <chrono>
#include <utility>
#include <vector>

namespace loupe::server {

MemoryTrimmer::MemoryTrimmer(const MemoryTrimOptions& options, MetricsRegistry* metrics)
    : options_(options) {
  if (metrics == nullptr) return;
  trims_counter_ = metrics->GetCounter(
      "loupe_process_malloc_trims_total",
      "Periodic malloc_trim passes that returned freed heap memory to the kernel.");
  released_counter_ = metrics->GetCounter(
      "loupe_store_segment_page_releases_total",
      "Times an idle segment's mapped pages were dropped from the resident set.");
  // mallinfo2 walks every arena's free lists under their locks: cheap enough
  // for a scrape every few seconds.
  metrics->AddCallback("loupe_process_heap_bytes",
                       "glibc heap: bytes in use (state=used) and free but kept (state=free).", [] {
                         const struct mallinfo2 mi = mallinfo2();
                         return std::vector<std::pair<Labels, double>>{
                             {{{"state", "used"}}, static_cast<double>(mi.uordblks + mi.hblkhd)},
                             {{{"state", "free"}}, static_cast<double>(mi.fordblks)}};
                       });
}

MemoryTrimmer::~MemoryTrimmer() { Stop(); }

void MemoryTrimmer::Start() {
  if (options_.arena_max > 0) mallopt(M_ARENA_MAX, options_.arena_max);
  if (options_.trim_interval_us <= 0 || thread_.joinable()) return;
  thread_ = std::thread([this] { Loop(); });
}

void MemoryTrimmer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool MemoryTrimmer::TrimNow() {
  const bool released = malloc_trim(0) != 0;
  if (released) {
    trims_.fetch_add(1, std::memory_order_relaxed);
    if (trims_counter_ != nullptr) trims_counter_->Inc();
  }
  return released;
}

void MemoryTrimmer::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::microseconds(options_.trim_interval_us),
                 [this] { return stop_; });
    if (stop_) break;
    lock.unlock();
    TrimNow();
    if (options_.release_mapped) {
      const size_t n = options_.release_mapped();
      if (released_counter_ != nullptr) released_counter_->Inc(n);
    }
    lock.lock();
  }
}

}  // namespace loupe::server
