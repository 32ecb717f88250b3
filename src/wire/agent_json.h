// Decoding of Loupe agent extension bodies (docs/format/agent-protocol.md):
// the active snapshot of POST /v1/loupe/active into a model::ActiveSnapshot,
// and the crash report of POST /v1/loupe/crash into a model::CrashReport.
//
// Format: a JSON object; times and elapsed values are milliseconds (JSON
// numbers, fractions allowed), converted to microseconds (rounded). Unknown
// keys are ignored and null stands for an absent field. `service`, `instance`
// and `time_ms` are required.
//
// Thread-safety: DecodeActiveSnapshotJson is reentrant.
#ifndef LOUPE_WIRE_AGENT_JSON_H_
#define LOUPE_WIRE_AGENT_JSON_H_

#include <cstddef>
#include <string>

#include "common/status.h"
#include "model/active.h"
#include "model/event.h"

namespace loupe::wire {

// The limits of agent-protocol.md. Exceeding a count rejects the whole
// snapshot; longer strings are cut (at a UTF-8 character boundary) and counted
// in ActiveSnapshot::truncated_strings. The body size limit (1 MiB after
// decompression) is the receiver's, not the decoder's.
struct AgentLimits {
  size_t max_active = 10000;
  size_t max_stacks = 2000;
  size_t max_frames = 64;  // per stack sample
  size_t max_throttled = 1000;
  size_t max_string_bytes = 1024;
};

// Decodes the snapshot JSON in *body into *out (cleared first). Parses in
// situ: *body is overwritten; *out owns copies of its strings, so *body may be
// discarded afterwards.
//
// Returns OK, or InvalidArgument naming the problem (and the field's path,
// e.g. "active[3].elapsed_ms: expected a non-negative number") for: text that
// is not JSON, invalid UTF-8 or a NUL byte, a root that is not an object, a
// missing service/instance/time_ms, a field of the wrong type, a negative or
// non-finite time, or more entries than a limit allows; ResourceExhausted if
// memory runs out. On error *out holds a
// partial decode and must not be used.
//
// Parsing is iterative (deep nesting cannot overflow the stack); the parsed
// document takes up to about 8x the body size while decoding.
Status DecodeActiveSnapshotJson(std::string* body, const AgentLimits& limits,
                                model::ActiveSnapshot* out) noexcept;

// Decodes a crash report of POST /v1/loupe/crash (docs/format/agent-protocol.md)
// into *out, in situ like DecodeActiveSnapshotJson. Required: service,
// instance, time_ms, and signal or signal_number; at most 128 frames; strings
// are cut at limits.max_string_bytes. InvalidArgument names the field.
Status DecodeCrashReportJson(std::string* body, const AgentLimits& limits,
                             model::CrashReport* out) noexcept;

}  // namespace loupe::wire

#endif  // LOUPE_WIRE_AGENT_JSON_H_
