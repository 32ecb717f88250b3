// Alert rules (issue 12 §2, docs/api.md "Alert rules"): what to watch, over
// which scope, against which thresholds, and how to notify.
//
// A rule watches one signal (TPS, response time, error rate, ...) of one scope:
// a project, a service, an instance of a service, or an endpoint of a service —
// or every endpoint / instance of a service ("*"), each evaluated on its own
// (an alert per endpoint). Its condition is a static threshold with a warning
// and a critical level, or a ratio against a baseline (the same window
// yesterday or last week) with a minimum volume, held for `for_s` seconds.
//
// Thread-safety: plain values.
#ifndef LOUPE_ALERT_RULE_H_
#define LOUPE_ALERT_RULE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "alert/time_zone.h"
#include "common/status.h"
#include "model/project.h"

namespace loupe::alert {

enum class Signal : uint8_t {
  kTps,            // transactions a second, averaged over the window
  kCalls,          // transactions in the window
  kResponseTime,   // average elapsed, ms
  kP95,            // 95th percentile elapsed, ms
  kP99,            // 99th percentile elapsed, ms
  kErrorRate,      // errors / calls × 100 (percent)
  kErrorCount,     // errors in the window
  kActive,         // active transactions now (total, or of one band)
  kThrottled,      // throttled requests in the window
  kInstanceDown,   // seconds since the scope last sent anything
  kEvent,          // events of `event_type` in the window
};

// "tps", "calls", "response_time", "p95", "p99", "error_rate", "error_count",
// "active", "throttled", "instance_down", "event".
std::string_view SignalName(Signal s) noexcept;
std::optional<Signal> ParseSignal(std::string_view name) noexcept;

// Which way a value crosses the threshold: kAbove fires when value >= level
// (slow, errors), kBelow when value <= level (traffic dropped).
enum class Comparison : uint8_t { kAbove, kBelow };

// A baseline turns the value into a ratio: value now / value over the same
// window one day (or one week) earlier. Thresholds are then ratios (2 = twice
// as high). Below `min_volume` calls in the current window the rule treats
// the scope as normal, so a quiet night does not fire on 3 calls.
enum class Baseline : uint8_t { kNone, kYesterday, kLastWeek };

// What a scope without data in the window does: stays as it was (kKeep),
// counts as normal (kOk) or fires at the critical level (kAlerting).
enum class NoData : uint8_t { kKeep, kOk, kAlerting };

// Quiet hours: notifications are held back (alerts still change state and are
// shown) on the given weekdays between `from_minute` and `to_minute` of the
// day (to < from: across midnight) in a time zone: the IANA zone `zone`
// ("Europe/Berlin", daylight saving time followed) when set, else the fixed
// `tz_offset_minutes` east of UTC.
struct QuietHours {
  uint8_t weekdays = 0;      // bit 0 = Sunday … bit 6 = Saturday; 0 = none
  int from_minute = 0;       // 0..1439
  int to_minute = 0;         // 0..1440
  int tz_offset_minutes = 0; // -840..840; used when zone is empty
  std::string zone;          // IANA name, or empty
  std::shared_ptr<const TimeZone> tz;  // zone loaded (TimeZone::Named); set iff zone is
  bool operator==(const QuietHours&) const = default;
};

struct AlertRule {
  uint64_t id = 0;  // assigned by the RuleSet
  model::ProjectId project = 0;
  std::string name;  // 1..200 bytes
  bool enabled = true;

  // Scope: empty service = the whole project. instance / endpoint "*" = each
  // instance / endpoint of the service on its own.
  std::string service;
  std::string instance;
  std::string endpoint;

  Signal signal = Signal::kErrorRate;
  std::string event_type;  // kEvent: an event type, e.g. "NATIVE_CRITICAL_ERROR"
  int band = -1;           // kActive: -1 total, else the band index (0..3)
  int64_t window_s = 60;   // 5..86400: the span the signal is computed over
  int64_t for_s = 0;       // 0..86400: how long the condition must hold
  Comparison comparison = Comparison::kAbove;
  std::optional<double> warning;
  std::optional<double> critical;
  Baseline baseline = Baseline::kNone;
  int64_t min_volume = 0;  // calls in the window below which the scope is normal
  NoData no_data = NoData::kKeep;

  std::vector<uint64_t> channels;  // alert channel ids, ≤ 20
  int64_t repeat_minutes = 0;      // 0 = never repeat; else 1..10080
  bool send_resolved = true;
  QuietHours quiet;

  bool operator==(const AlertRule&) const = default;
};

// Limits a rule set enforces (docs/operations.md).
inline constexpr size_t kMaxRuleNameBytes = 200;
inline constexpr size_t kMaxScopeBytes = 1024;
inline constexpr size_t kMaxChannelsPerRule = 20;

// OK, or InvalidArgument whose message starts with the offending field
// ("warning: …"), so the API can answer 400 naming it.
Status ValidateRule(const AlertRule& rule);

// Parses a rule from the JSON of docs/api.md (`POST /api/v1/alert-rules`).
// Unknown members are refused, so a typo does not silently weaken a rule;
// `id`, `firing` and `pending` (what GET adds) are ignored, so a GET answer
// can be sent back. The result is validated. `project` is not read either.
Result<AlertRule> ParseRule(std::string_view json);

// The rule as JSON (the same members ParseRule reads, plus id).
std::string RuleToJson(const AlertRule& rule);

}  // namespace loupe::alert

#endif  // LOUPE_ALERT_RULE_H_
