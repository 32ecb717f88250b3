#include "record_ring.h"

#include <sys/mman.h>

#include <cstring>

namespace loupe::internal {

RecordRing::RecordRing(size_t capacity, size_t max_records)
    : max_records_(max_records == 0 ? 1 : max_records) {
  const size_t bytes = static_cast<size_t>(RoundUp(capacity));
  if (bytes == 0) return;
  int flags = MAP_PRIVATE | MAP_ANONYMOUS;
#ifdef MAP_POPULATE
  flags |= MAP_POPULATE;
#endif
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (p == MAP_FAILED) return;
  // Faulted in here, once, rather than by application threads in a burst.
  // MAP_POPULATE alone is not enough everywhere: on the shared VM of
  // docs/benchmarks.md the first write to each populated page still cost
  // ~5 us (202 ns per 168-byte record over a 256 MiB ring, 6.5 ns once each
  // page had been written); a write per page here moves that cost to start-up
  // (~5 us a page there: ~10 ms for the default 8 MiB).
  for (size_t i = 0; i < bytes; i += 4096) static_cast<volatile char*>(p)[i] = 0;
  base_ = static_cast<char*>(p);
  capacity_ = bytes;
}

RecordRing::~RecordRing() {
  if (base_ != nullptr) ::munmap(base_, capacity_);
}

void RecordRing::Release() {
  const uint64_t head = head_.load(std::memory_order_relaxed);
  if (read_ == head) return;
  // Zero what was read (a fresh mapping is zero too), so that wherever a
  // record starts later its header reads 0 until it is committed.
  const uint64_t off = head % capacity_;
  const uint64_t n = read_ - head;
  const uint64_t first = n < capacity_ - off ? n : capacity_ - off;
  std::memset(base_ + off, 0, first);
  if (first < n) std::memset(base_, 0, n - first);
  count_.fetch_sub(read_records_, std::memory_order_relaxed);
  read_records_ = 0;
  head_.store(read_, std::memory_order_release);
}

}  // namespace loupe::internal
