// Giving freed memory back to the operating system after a large request.
//
// glibc keeps freed heap memory for reuse, and after the first free of a big
// mmap'd block it raises its mmap threshold (up to 32 MiB), so the buffers of
// a rejected 20 MiB request (a gzip bomb inflated to the limit) stay in the
// heap and in the process's RSS. malloc_trim(0) returns free pages of every
// arena to the kernel. It walks the arenas, so it is rate-limited.
//
// Thread-safety: thread-safe.
#ifndef LOUPE_COMMON_MEMORY_H_
#define LOUPE_COMMON_MEMORY_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace loupe {

// The decision behind ReleaseFreedMemory, with the time passed in (tests).
class TrimLimiter {
 public:
  // Requests that held at least min_bytes, at most one trim per interval_us.
  TrimLimiter(size_t min_bytes, int64_t interval_us)
      : min_bytes_(min_bytes), interval_us_(interval_us) {}
  // True when a request that held `bytes` (now freed) should trim at now_us;
  // at most one caller per interval gets true.
  bool ShouldTrim(size_t bytes, int64_t now_us);

 private:
  const size_t min_bytes_;
  const int64_t interval_us_;
  std::atomic<int64_t> last_us_{INT64_MIN / 2};
};

// Call after the buffers of a request that held `bytes` were freed (typically
// a rejected large or bomb request). Trims the heap when bytes >= 4 MiB, at
// most once a second process-wide; returns true when it trimmed.
bool ReleaseFreedMemory(size_t bytes);

}  // namespace loupe

#endif  // LOUPE_COMMON_MEMORY_H_
