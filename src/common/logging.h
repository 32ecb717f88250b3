// Minimal structured-ish logging to stderr: "2026-11-21T20:00:00.123Z INFO message".
// Never pass secrets (keys, tokens, passwords) to these functions.
// Thread-safety: thread-safe; each line is written with one write(2).
#ifndef LOUPE_COMMON_LOGGING_H_
#define LOUPE_COMMON_LOGGING_H_

#include <string_view>

namespace loupe {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

void SetLogLevel(LogLevel level);
void Log(LogLevel level, std::string_view message);
inline void LogInfo(std::string_view m) { Log(LogLevel::kInfo, m); }
inline void LogWarning(std::string_view m) { Log(LogLevel::kWarning, m); }
inline void LogError(std::string_view m) { Log(LogLevel::kError, m); }

}  // namespace loupe

#endif  // LOUPE_COMMON_LOGGING_H_
