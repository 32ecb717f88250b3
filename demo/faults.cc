#include "faults.h"

#include <cstdio>

namespace demo {
namespace {

constexpr const char* kNames[kFaultCount] = {
    "slow_sql", "lock", "external_timeout", "n_plus_one", "error_burst", "surge", "hot_logging"};

const char* ModeName(Faults::Mode m) {
  switch (m) {
    case Faults::Mode::kOn:
      return "on";
    case Faults::Mode::kOff:
      return "off";
    default:
      return "auto";
  }
}

}  // namespace

const char* FaultName(Fault f) { return kNames[static_cast<int>(f)]; }

bool ParseFault(std::string_view name, Fault* out) {
  for (int i = 0; i < kFaultCount; ++i) {
    if (name == kNames[i]) {
      *out = static_cast<Fault>(i);
      return true;
    }
  }
  return false;
}

Faults::~Faults() { StopSchedule(); }

void Faults::Set(Fault f, Mode m) {
  std::lock_guard<std::mutex> lock(mu_);
  mode_[static_cast<int>(f)] = m;
  Update();
}

// REQUIRES: mu_ held.
void Faults::Update() {
  for (int i = 0; i < kFaultCount; ++i) {
    bool on = mode_[i] == Mode::kOn || (mode_[i] == Mode::kAuto && scheduled_[i]);
    effective_[i].store(on, std::memory_order_relaxed);
  }
}

void Faults::StartSchedule(int slot_seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable() || slot_seconds <= 0) return;
  slot_seconds_ = slot_seconds;
  schedule_start_ = std::chrono::steady_clock::now();
  stop_ = false;
  thread_ = std::thread([this] { ScheduleLoop(); });
}

void Faults::StopSchedule() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  scheduled_.fill(false);
  slot_seconds_ = 0;
  Update();
}

void Faults::ScheduleLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    auto elapsed = std::chrono::steady_clock::now() - schedule_start_;
    int64_t slot =
        std::chrono::duration_cast<std::chrono::seconds>(elapsed).count() / slot_seconds_;
    int current = static_cast<int>(slot % (kFaultCount + 1));  // the last slot is calm
    for (int i = 0; i < kFaultCount; ++i) scheduled_[i] = i == current;
    Update();
    auto next = schedule_start_ + std::chrono::seconds((slot + 1) * slot_seconds_);
    cv_.wait_until(lock, next, [this] { return stop_; });
  }
}

std::string Faults::Json() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out = "{\"faults\":[";
  for (int i = 0; i < kFaultCount; ++i) {
    if (i) out += ',';
    out += "{\"name\":\"";
    out += kNames[i];
    out += "\",\"on\":";
    out += effective_[i].load() ? "true" : "false";
    out += ",\"mode\":\"";
    out += ModeName(mode_[i]);
    out += "\",\"scheduled\":";
    out += scheduled_[i] ? "true" : "false";
    out += '}';
  }
  out += "],\"schedule\":{\"running\":";
  out += slot_seconds_ > 0 ? "true" : "false";
  out += ",\"slot_seconds\":" + std::to_string(slot_seconds_);
  if (slot_seconds_ > 0) {
    auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::steady_clock::now() - schedule_start_)
                       .count();
    out += ",\"next_change_s\":" + std::to_string(slot_seconds_ - elapsed % slot_seconds_);
  }
  out += "}}";
  return out;
}

std::string Faults::Summary() const {
  std::string out;
  for (int i = 0; i < kFaultCount; ++i) {
    if (!effective_[i].load(std::memory_order_relaxed)) continue;
    if (!out.empty()) out += ',';
    out += kNames[i];
  }
  return out.empty() ? "none" : out;
}

}  // namespace demo
