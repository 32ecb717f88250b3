// Events: noteworthy things with a level (ARCHITECTURE.md §1): transaction
// errors, agent start/stop, throttling. Served by GET /api/v1/events and the
// live stream (docs/api.md).
// Thread-safety: plain values.
#ifndef LOUPE_MODEL_EVENT_H_
#define LOUPE_MODEL_EVENT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "model/transaction.h"

namespace loupe::model {

// Levels and types are static strings, so events copy cheaply and compare by
// content.
inline constexpr const char* kLevelNormal = "NORMAL";
inline constexpr const char* kLevelWarning = "WARNING";
inline constexpr const char* kLevelFatal = "FATAL";

// Event types (docs/api.md "GET /api/v1/events" maps what produces each):
// a failed transaction is SQL_EXCEPTION or EXTERNALCALL_EXCEPTION when one of
// its SQL or external steps failed, else SERVICE_EXCEPTION when it carries an
// exception, else HTTP_ERROR (5xx without an exception).
inline constexpr const char* kEventServiceException = "SERVICE_EXCEPTION";
inline constexpr const char* kEventHttpError = "HTTP_ERROR";
inline constexpr const char* kEventSqlException = "SQL_EXCEPTION";
inline constexpr const char* kEventExternalCallException = "EXTERNALCALL_EXCEPTION";
inline constexpr const char* kEventBadResponseTime = "BAD_RESPONSE_TIME";  // slower than the service's threshold
inline constexpr const char* kEventThrottled = "THROTTLED";
inline constexpr const char* kEventAgentStart = "AGENT_START";
inline constexpr const char* kEventAgentStop = "AGENT_STOP";
inline constexpr const char* kEventAlert = "ALERT";  // an alert rule fired, changed level or resolved
inline constexpr const char* kEventNativeCriticalError = "NATIVE_CRITICAL_ERROR";  // a crash an agent reported

// Every type, for validating filters.
inline constexpr const char* kEventTypes[] = {
    kEventServiceException, kEventHttpError,  kEventSqlException, kEventExternalCallException,
    kEventBadResponseTime,  kEventThrottled,  kEventAgentStart,   kEventAgentStop,
    kEventAlert,            kEventNativeCriticalError};

struct Event {
  int64_t time_us = 0;
  const char* level = kLevelWarning;  // one of kLevel*
  const char* type = kEventServiceException;  // one of kEventTypes
  std::string message;
  std::string service;
  std::string instance;
  std::string endpoint;
  TxId tx_id = 0;  // 0: none
  int64_t count = 1;  // occurrences this event stands for (a throttle event: requests)
};

// A process crash as an agent reports it (POST /v1/loupe/crash): the signal
// and the native stack of the crashing thread, and the transaction it was
// serving if it knew. Becomes a NATIVE_CRITICAL_ERROR event.
struct CrashReport {
  std::string service;
  std::string instance;
  std::string endpoint;    // of the transaction in flight; may be empty
  int64_t time_us = 0;     // when the process crashed
  int32_t pid = 0;
  std::string signal;      // "SIGSEGV"
  int32_t signal_number = 0;
  std::string address;     // faulting address, "0x0"; may be empty
  std::string message;     // anything else the agent says ("abort: assertion ...")
  std::vector<std::string> frames;  // innermost first
  TxId tx_id = 0;          // the transaction in flight; 0 if none or unknown
};

}  // namespace loupe::model

#endif  // LOUPE_MODEL_EVENT_H_
