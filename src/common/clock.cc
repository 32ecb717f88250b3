#include "common/clock.h"

namespace loupe {
namespace {
class RealClock final : public Clock {
 public:
  int64_t NowMicros() const noexcept override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};
}  // namespace

Clock* Clock::Real() {
  static RealClock clock;
  return &clock;
}

}  // namespace loupe
