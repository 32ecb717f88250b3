// MemoryTrimmer: keeps glibc's heap from holding freed memory for ever.
//
// The server frees most of what it allocates within seconds (request bodies,
// decoded spans, memtables after their flush, query buffers), from many
// threads. glibc's allocator gives each thread that contends an arena of its
// own (up to 8 per core) and returns freed memory to the kernel only from the
// top of the main heap, so the resident size kept the high-water mark of
// every arena: it grew by 100–150 MiB per 10-second otlp_load run and did
// not plateau (issue 10). The trimmer caps the arenas (M_ARENA_MAX) at start
// and calls malloc_trim(0), which hands every arena's free pages back, once
// per interval (a pass over the free lists: a few ms for a few hundred MiB).
//
// Thread-safety: Start and Stop from one thread; stats() from any.
#ifndef LOUPE_SERVER_MEMORY_TRIM_H_
#define LOUPE_SERVER_MEMORY_TRIM_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

#include "common/metrics.h"

namespace loupe::server {

struct MemoryTrimOptions {
  // glibc arenas at most (mallopt M_ARENA_MAX); 0 keeps glibc's default
  // (8 per core). Applied by Start, before most threads exist.
  int arena_max = 2;
  // malloc_trim(0) this often; 0: never.
  int64_t trim_interval_us = 10'000'000;
  // Also run at each pass (may be empty): the embedded store's
  // ReleaseIdleSegmentPages, so mapped segment files nobody reads stop
  // counting in RSS. Returns how many segments it released.
  std::function<size_t()> release_mapped;
};

class MemoryTrimmer {
 public:
  // Registers loupe_process_heap_* on metrics (may be null).
  MemoryTrimmer(const MemoryTrimOptions& options, MetricsRegistry* metrics);
  ~MemoryTrimmer();
  MemoryTrimmer(const MemoryTrimmer&) = delete;
  MemoryTrimmer& operator=(const MemoryTrimmer&) = delete;

  void Start();
  void Stop();

  // One trim now (also what the thread does); true when memory was returned.
  bool TrimNow();
  uint64_t trims() const { return trims_.load(std::memory_order_relaxed); }

 private:
  void Loop();

  const MemoryTrimOptions options_;
  Counter* trims_counter_ = nullptr;
  Counter* released_counter_ = nullptr;
  std::atomic<uint64_t> trims_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace loupe::server

#endif  // LOUPE_SERVER_MEMORY_TRIM_H_
