// Events: noteworthy things with a level (ARCHITECTURE.md §1): transaction
// errors, agent start/stop, throttling. Served by GET /api/v1/events and the
// live stream (docs/api.md).
// Thread-safety: plain values.
#ifndef LOUPE_MODEL_EVENT_H_
#define LOUPE_MODEL_EVENT_H_

#include <cstdint>
#include <string>

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

// Every type, for validating filters.
inline constexpr const char* kEventTypes[] = {
    kEventServiceException, kEventHttpError,  kEventSqlException, kEventExternalCallException,
    kEventBadResponseTime,  kEventThrottled,  kEventAgentStart,   kEventAgentStop,
    kEventAlert};

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

}  // namespace loupe::model

#endif  // LOUPE_MODEL_EVENT_H_
