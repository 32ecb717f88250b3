// Active-transaction snapshots of Loupe's own agents (POST /v1/loupe/active,
// docs/format/agent-protocol.md): what is running on one instance right now,
// the stack samples taken since the previous snapshot, and the throttling
// decisions since then.
//
// Times are microseconds since the Unix epoch, durations microseconds (the
// wire carries milliseconds; wire/agent_json converts). Strings are owned and
// already bounded by the decoder.
// Thread-safety: plain values.
#ifndef LOUPE_MODEL_ACTIVE_H_
#define LOUPE_MODEL_ACTIVE_H_

#include <cstdint>
#include <string>
#include <vector>

namespace loupe::model {

// One in-flight transaction as of the snapshot's time.
struct ActiveTx {
  std::string id;        // transaction id as the agent sent it (16 hex digits usually)
  std::string trace_id;  // 32 hex digits usually; "" if unknown
  std::string endpoint;
  int64_t start_us = 0;
  int64_t elapsed_us = 0;  // as of ActiveSnapshot::time_us
  std::string thread;
  std::string step;       // innermost open step; "" when none
  std::string step_kind;  // method|sql|external|message, or ""
  std::string user;
  std::string client_ip;
};

// One sampled stack of a long-running transaction.
struct StackSample {
  int64_t time_us = 0;
  std::string tx_id;
  std::string endpoint;
  int64_t elapsed_us = 0;
  std::vector<std::string> frames;  // outermost first
};

// Throttling decisions folded per endpoint and action.
struct ThrottleEntry {
  int64_t time_us = 0;
  std::string endpoint;
  std::string action;  // "reject" | "redirect" (as sent; not validated)
  int64_t active = 0;
  int64_t limit = 0;
  int64_t count = 0;
};

// Cumulative since the agent started.
struct AgentCounters {
  int64_t transactions = 0;
  int64_t exported = 0;
  int64_t dropped = 0;
  int64_t throttled = 0;
};

struct ActiveSnapshot {
  std::string service;
  std::string instance;
  std::string host;
  int64_t pid = 0;
  std::string agent;
  int64_t started_us = 0;  // agent start; a new value means the agent restarted
  int64_t time_us = 0;     // when the snapshot was taken (agent clock)
  std::vector<ActiveTx> active;
  std::vector<StackSample> stacks;
  std::vector<ThrottleEntry> throttled;
  AgentCounters counters;
  uint64_t truncated_strings = 0;  // strings the decoder cut to the limit
};

}  // namespace loupe::model

#endif  // LOUPE_MODEL_ACTIVE_H_
