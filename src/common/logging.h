// Minimal structured-ish logging to stderr: "2026-11-21T20:00:00.123Z INFO message".
// Never pass secrets (keys, tokens, passwords) to these functions.
// Thread-safety: thread-safe; each line is written with one write(2).
#ifndef LOUPE_COMMON_LOGGING_H_
#define LOUPE_COMMON_LOGGING_H_

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace loupe {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

void SetLogLevel(LogLevel level);
void Log(LogLevel level, std::string_view message);
inline void LogInfo(std::string_view m) { Log(LogLevel::kInfo, m); }
inline void LogWarning(std::string_view m) { Log(LogLevel::kWarning, m); }
inline void LogError(std::string_view m) { Log(LogLevel::kError, m); }

// Logs a refusal or drop at WARN, at most one line per `kind` per minute: the
// first of a kind is logged at once; later ones within the minute are only
// counted, and the next line logged for that kind says how many were not.
// `kind` must come from the code (a fixed string such as "otlp_http
// too_large"), never from input: the limiter keeps one entry per kind.
// Control characters in `message` (it may quote input) are written as '?'.
void LogWarningRateLimited(std::string_view kind, std::string_view message);

// The decision behind LogWarningRateLimited, with the time passed in (tests).
// Thread-safe.
class LogRateLimiter {
 public:
  explicit LogRateLimiter(int64_t interval_us = 60'000'000) : interval_us_(interval_us) {}
  // The line to log for this event at now_us: `message`, with
  // " (N more like this since the last line, not logged)" appended when
  // events were suppressed; or "" when this one is to be suppressed.
  std::string Admit(std::string_view kind, std::string_view message, int64_t now_us);
  // Forgets every kind.
  void Reset();

 private:
  struct Entry {
    int64_t last_us = 0;
    uint64_t suppressed = 0;
  };
  const int64_t interval_us_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;  // GUARDED_BY(mu_)
};

// For tests: every line (with its timestamp and level) goes to `sink` instead
// of stderr until SetLogSinkForTesting(nullptr). Not for concurrent use with
// logging threads that outlive the sink.
void SetLogSinkForTesting(std::function<void(std::string_view line)> sink);

// For tests: LogWarningRateLimited forgets every kind (the next event of each
// is logged at once).
void ResetLogRateLimitsForTesting();

}  // namespace loupe

#endif  // LOUPE_COMMON_LOGGING_H_
