// Bounded multi-producer multi-consumer queue of trivially copyable values
// (D. Vyukov's sequence-numbered ring). TryPush never blocks and never
// allocates: when the ring is full it returns false and the caller drops.
//
// Thread-safe.
#ifndef LOUPE_AGENT_BOUNDED_QUEUE_H_
#define LOUPE_AGENT_BOUNDED_QUEUE_H_

#include <atomic>
#include <cstddef>
#include <memory>
#include <type_traits>

namespace loupe::internal {

template <typename T>
class BoundedQueue {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  // Holds at most `capacity` values; capacities below 2 are raised to 2 (the
  // sequence scheme cannot tell full from empty with a single cell).
  explicit BoundedQueue(size_t capacity)
      : capacity_(capacity < 2 ? 2 : capacity), cells_(new Cell[capacity_]) {
    for (size_t i = 0; i < capacity_; ++i) cells_[i].seq.store(i, std::memory_order_relaxed);
  }
  BoundedQueue(const BoundedQueue&) = delete;
  BoundedQueue& operator=(const BoundedQueue&) = delete;

  bool TryPush(T value) {
    size_t pos = tail_.load(std::memory_order_relaxed);
    for (;;) {
      Cell& cell = cells_[pos % capacity_];
      const size_t seq = cell.seq.load(std::memory_order_acquire);
      const intptr_t diff = static_cast<intptr_t>(seq) - static_cast<intptr_t>(pos);
      if (diff == 0) {
        if (tail_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          cell.value = value;
          cell.seq.store(pos + 1, std::memory_order_release);
          return true;
        }
      } else if (diff < 0) {
        return false;  // full
      } else {
        pos = tail_.load(std::memory_order_relaxed);
      }
    }
  }

  bool TryPop(T* out) {
    size_t pos = head_.load(std::memory_order_relaxed);
    for (;;) {
      Cell& cell = cells_[pos % capacity_];
      const size_t seq = cell.seq.load(std::memory_order_acquire);
      const intptr_t diff = static_cast<intptr_t>(seq) - static_cast<intptr_t>(pos + 1);
      if (diff == 0) {
        if (head_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          *out = cell.value;
          cell.seq.store(pos + capacity_, std::memory_order_release);
          return true;
        }
      } else if (diff < 0) {
        return false;  // empty
      } else {
        pos = head_.load(std::memory_order_relaxed);
      }
    }
  }

  // Approximate under concurrent use; exact when quiescent.
  size_t SizeApprox() const {
    const size_t t = tail_.load(std::memory_order_acquire);
    const size_t h = head_.load(std::memory_order_acquire);
    return t >= h ? t - h : 0;
  }
  size_t capacity() const { return capacity_; }

 private:
  struct Cell {
    std::atomic<size_t> seq;
    T value;
  };
  const size_t capacity_;
  std::unique_ptr<Cell[]> cells_;
  alignas(64) std::atomic<size_t> tail_{0};
  alignas(64) std::atomic<size_t> head_{0};
};

}  // namespace loupe::internal

#endif  // LOUPE_AGENT_BOUNDED_QUEUE_H_
