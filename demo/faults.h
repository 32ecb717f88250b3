// The faults an APM user hunts for, switchable at run time: by the admin
// endpoint (POST /admin/faults?name=lock&on=1) or by a schedule that cycles
// through them so a dashboard visitor sees each within about ten minutes.
#ifndef LOUPE_DEMO_FAULTS_H_
#define LOUPE_DEMO_FAULTS_H_

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace demo {

enum class Fault : int {
  kSlowSql,          // shop: GET /search runs a statement that takes seconds
  kLock,             // shop: an inventory job holds a global lock; waiting requests end together
  kExternalTimeout,  // payment hangs; orders gives up after its timeout (504s, a waterfall)
  kNPlusOne,         // orders: loads an order's items one query each
  kErrorBurst,       // shop and orders: many requests fail with exceptions (500)
  kSurge,            // traffic: x5 requests, enough to hit the throttling limit
  kHotLogging,       // shop: a slow debug-logging loop dominates the active stack
  kCount
};
constexpr int kFaultCount = static_cast<int>(Fault::kCount);

const char* FaultName(Fault f);
// False when `name` is not a fault name.
bool ParseFault(std::string_view name, Fault* out);

// Which faults are on. An admin override (on/off) wins over the schedule;
// "auto" hands the fault back to the schedule. Thread-safe; on() is one
// relaxed load.
class Faults {
 public:
  enum class Mode : uint8_t { kAuto, kOn, kOff };

  Faults() = default;
  ~Faults();  // StopSchedule()
  Faults(const Faults&) = delete;
  Faults& operator=(const Faults&) = delete;

  bool on(Fault f) const { return effective_[static_cast<int>(f)].load(std::memory_order_relaxed); }
  void Set(Fault f, Mode m);

  // Starts the default schedule: a cycle of one slot per fault then one calm
  // slot, each `slot_seconds` long, starting with the first fault.
  void StartSchedule(int slot_seconds);
  void StopSchedule();

  // {"faults":[{"name":"slow_sql","on":false,"mode":"auto","scheduled":false},...],
  //  "schedule":{"running":true,"slot_seconds":75,"next_change_s":12}}
  std::string Json() const;
  // Names of the faults currently on, comma-separated ("none" when none).
  std::string Summary() const;

 private:
  void Update();
  void ScheduleLoop();

  std::array<std::atomic<bool>, kFaultCount> effective_{};
  mutable std::mutex mu_;
  std::array<Mode, kFaultCount> mode_{};       // guarded by mu_
  std::array<bool, kFaultCount> scheduled_{};  // guarded by mu_
  int slot_seconds_ = 0;                       // guarded by mu_
  std::chrono::steady_clock::time_point schedule_start_;
  bool stop_ = false;  // guarded by mu_
  std::condition_variable cv_;
  std::thread thread_;
};

}  // namespace demo

#endif  // LOUPE_DEMO_FAULTS_H_
