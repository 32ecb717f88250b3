#include "common/memory.h"

#include <malloc.h>

#include <chrono>

namespace loupe {

bool TrimLimiter::ShouldTrim(size_t bytes, int64_t now_us) {
  if (bytes < min_bytes_) return false;
  int64_t last = last_us_.load(std::memory_order_relaxed);
  if (now_us - last < interval_us_) return false;
  // One winner per interval.
  return last_us_.compare_exchange_strong(last, now_us, std::memory_order_relaxed);
}

void ReturnLargeBuffersWhenFreed() { ::mallopt(M_MMAP_THRESHOLD, 4 << 20); }

bool ReleaseFreedMemory(size_t bytes) {
  // malloc_trim walks every arena under its lock; once a second bounds its
  // cost under a stream of rejected requests.
  static TrimLimiter limiter(size_t{4} << 20, 1'000'000);
  const int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::steady_clock::now().time_since_epoch())
                             .count();
  if (!limiter.ShouldTrim(bytes, now_us)) return false;
  ::malloc_trim(0);
  return true;
}

}  // namespace loupe
