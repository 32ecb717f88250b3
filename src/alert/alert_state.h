// The alert state a restart needs (docs/design/alerts.md "Durable state"):
// the evaluator's held alerts (ids, pending `for` timers, firing levels,
// repeat timers, resolves held by a mute), the next alert id, and every
// project's alert history. AlertService writes it to DATA_DIR/alert-state.bin
// after a tick that changed it and reads it on start.
//
// Encoding: magic "LAS1", then varints, zigzag times, length-prefixed strings
// and fixed64 doubles, and a fixed64 hash of everything before it, so a torn
// or damaged file is recognised rather than half-read.
//
// Thread-safety: plain functions over plain values.
#ifndef LOUPE_ALERT_ALERT_STATE_H_
#define LOUPE_ALERT_ALERT_STATE_H_

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "alert/evaluator.h"
#include "common/status.h"

namespace loupe::alert {

struct AlertStateData {
  uint64_t next_alert_id = 1;
  std::vector<HeldAlert> held;
  std::map<uint32_t, std::deque<AlertChange>> history;  // by project, oldest first
};

void EncodeAlertState(const AlertStateData& state, std::string* out);
// kCorruption when the bytes are not a complete state file of a known version.
Result<AlertStateData> DecodeAlertState(std::string_view in);

}  // namespace loupe::alert

#endif  // LOUPE_ALERT_ALERT_STATE_H_
