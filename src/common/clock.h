// Clock seam: wall time in microseconds since the Unix epoch. Tests inject a
// ManualClock to drive time-based logic (assembler timeouts, live windows).
// Thread-safety: implementations are thread-safe.
#ifndef LOUPE_COMMON_CLOCK_H_
#define LOUPE_COMMON_CLOCK_H_

#include <atomic>
#include <chrono>
#include <cstdint>

namespace loupe {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMicros() const noexcept = 0;
  // The process-wide real clock.
  static Clock* Real();
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_us = 0) : now_(start_us) {}
  int64_t NowMicros() const noexcept override { return now_.load(std::memory_order_relaxed); }
  void Set(int64_t us) { now_.store(us, std::memory_order_relaxed); }
  void Advance(int64_t us) { now_.fetch_add(us, std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace loupe

#endif  // LOUPE_COMMON_CLOCK_H_
