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

inline constexpr const char* kEventError = "error";
inline constexpr const char* kEventAgentStart = "agent_start";
inline constexpr const char* kEventAgentStop = "agent_stop";
inline constexpr const char* kEventThrottle = "throttle";
inline constexpr const char* kEventAlert = "alert";  // an alert rule fired or resolved

struct Event {
  int64_t time_us = 0;
  const char* level = kLevelWarning;  // one of kLevel*
  const char* type = kEventError;     // one of kEvent*
  std::string message;
  std::string service;
  std::string instance;
  std::string endpoint;
  TxId tx_id = 0;  // 0: none
  int64_t count = 1;  // occurrences this event stands for (a throttle event: requests)
};

}  // namespace loupe::model

#endif  // LOUPE_MODEL_EVENT_H_
