// Giving freed memory back to the operating system after a large request.
//
// glibc keeps freed heap memory for reuse, and after the first free of a big
// mmap'd block it raises its mmap threshold (up to 32 MiB) and its trim
// threshold (twice that), so the buffers of a refused 20 MiB request (a gzip
// bomb inflated to the limit) stay in a thread's arena and in the process's
// RSS: measured, three gzip bombs over gRPC left 101 MiB of RSS in two
// worker threads' arenas (41 MiB each) that malloc_trim could not return
// (it does not trim the top of a thread arena). Hence two measures:
// ReturnLargeBuffersWhenFreed() at start, and ReleaseFreedMemory() after a
// refused large request for what stays in the heap.
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

// Fixes glibc's mmap threshold at 4 MiB (turning off its dynamic raise), so
// every buffer of 4 MiB or more is mmap'd and goes back to the system when
// freed. Call once at start, before threads allocate. Costs a page fault per
// 4 KiB of such buffers on each use (no reuse of freed heap).
void ReturnLargeBuffersWhenFreed();

// Call after the buffers of a request that held `bytes` were freed (typically
// a rejected large or bomb request). Trims the heap when bytes >= 4 MiB, at
// most once a second process-wide; returns true when it trimmed.
bool ReleaseFreedMemory(size_t bytes);

// Scope guard of a request handler: adds up the bytes the request held (its
// body, an inflated copy) and, if the request was refused (*status is not
// 200 when the guard goes out of scope), calls ReleaseFreedMemory with them.
// Declare it before the buffers it counts, so it runs after they are freed.
// `status` must outlive the guard.
class ReleaseFreedMemoryIfRefused {
 public:
  ReleaseFreedMemoryIfRefused(const int* status, size_t held) : status_(status), held_(held) {}
  ~ReleaseFreedMemoryIfRefused() {
    if (*status_ != 200) ReleaseFreedMemory(held_);
  }
  ReleaseFreedMemoryIfRefused(const ReleaseFreedMemoryIfRefused&) = delete;
  ReleaseFreedMemoryIfRefused& operator=(const ReleaseFreedMemoryIfRefused&) = delete;

  void Add(size_t bytes) { held_ += bytes; }

 private:
  const int* status_;
  size_t held_;
};

}  // namespace loupe

#endif  // LOUPE_COMMON_MEMORY_H_
