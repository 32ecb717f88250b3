#include "common/logging.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>

namespace loupe {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

std::mutex g_sink_mu;
std::function<void(std::string_view)>* g_sink = nullptr;  // GUARDED_BY(g_sink_mu)
std::atomic<bool> g_has_sink{false};

const char* Name(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kWarning:
      return "WARN";
    case LogLevel::kError:
      return "ERROR";
  }
  return "INFO";
}
}  // namespace

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }

void Log(LogLevel level, std::string_view message) {
  if (static_cast<int>(level) < g_level.load(std::memory_order_relaxed)) return;
  auto now = std::chrono::system_clock::now();
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  int ms = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm;
  gmtime_r(&secs, &tm);
  char head[64];
  std::snprintf(head, sizeof head, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms, Name(level));
  std::string line(head);
  line.append(message);
  line.push_back('\n');
  if (g_has_sink.load(std::memory_order_acquire)) {
    std::lock_guard<std::mutex> l(g_sink_mu);
    if (g_sink != nullptr) {
      (*g_sink)(line);
      return;
    }
  }
  ssize_t ignored = ::write(2, line.data(), line.size());
  (void)ignored;
}

std::string LogRateLimiter::Admit(std::string_view kind, std::string_view message, int64_t now_us) {
  uint64_t suppressed;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = entries_.find(std::string(kind));
    if (it == entries_.end()) {
      entries_.emplace(std::string(kind), Entry{now_us, 0});
      return std::string(message);
    }
    Entry& e = it->second;
    if (now_us - e.last_us < interval_us_) {
      ++e.suppressed;
      return {};
    }
    suppressed = e.suppressed;
    e.last_us = now_us;
    e.suppressed = 0;
  }
  std::string line(message);
  if (suppressed > 0) {
    line += " (" + std::to_string(suppressed) + " more like this since the last line, not logged)";
  }
  return line;
}

void LogRateLimiter::Reset() {
  std::lock_guard<std::mutex> l(mu_);
  entries_.clear();
}

namespace {
LogRateLimiter* const g_limiter = new LogRateLimiter();  // never destroyed: used at exit
}  // namespace

void ResetLogRateLimitsForTesting() { g_limiter->Reset(); }

void LogWarningRateLimited(std::string_view kind, std::string_view message) {
  LogRateLimiter* limiter = g_limiter;
  const int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::steady_clock::now().time_since_epoch())
                             .count();
  std::string line = limiter->Admit(kind, message, now_us);
  // Messages quote what senders sent (paths, header values): one event must
  // stay one line.
  for (char& c : line) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  if (!line.empty()) LogWarning(line);
}

void SetLogSinkForTesting(std::function<void(std::string_view line)> sink) {
  std::lock_guard<std::mutex> l(g_sink_mu);
  delete g_sink;
  g_sink = sink ? new std::function<void(std::string_view)>(std::move(sink)) : nullptr;
  g_has_sink.store(g_sink != nullptr, std::memory_order_release);
}

}  // namespace loupe
