// libFuzzer target: DecodeActiveSnapshotJson and DecodeCrashReportJson on
// arbitrary bytes, with default and with tiny limits; a successful decode must
// respect the limits.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "wire/agent_json.h"

#define AGENT_FUZZ_CHECK(cond)                                            \
  do {                                                                    \
    if (!(cond)) {                                                        \
      std::fprintf(stderr, "agent_json_fuzz: check failed: %s\n", #cond); \
      std::abort();                                                       \
    }                                                                     \
  } while (0)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace loupe;
  wire::AgentLimits tiny;
  tiny.max_active = 2;
  tiny.max_stacks = 2;
  tiny.max_frames = 3;
  tiny.max_throttled = 2;
  tiny.max_string_bytes = 4;
  for (const wire::AgentLimits& limits : {wire::AgentLimits{}, tiny}) {
    std::string body(reinterpret_cast<const char*>(data), size);  // parsed in situ
    model::ActiveSnapshot snap;
    Status st = wire::DecodeActiveSnapshotJson(&body, limits, &snap);
    if (!st.ok()) {
      AGENT_FUZZ_CHECK(st.code() == Status::Code::kInvalidArgument);
      continue;
    }
    AGENT_FUZZ_CHECK(!snap.service.empty() && !snap.instance.empty());
    AGENT_FUZZ_CHECK(snap.active.size() <= limits.max_active);
    AGENT_FUZZ_CHECK(snap.stacks.size() <= limits.max_stacks);
    AGENT_FUZZ_CHECK(snap.throttled.size() <= limits.max_throttled);
    AGENT_FUZZ_CHECK(snap.service.size() <= limits.max_string_bytes);
    AGENT_FUZZ_CHECK(snap.time_us >= 0 && snap.started_us >= 0);
    for (const auto& a : snap.active) {
      AGENT_FUZZ_CHECK(a.endpoint.size() <= limits.max_string_bytes);
      AGENT_FUZZ_CHECK(a.elapsed_us >= 0);
    }
    for (const auto& s : snap.stacks) {
      AGENT_FUZZ_CHECK(s.frames.size() <= limits.max_frames);
      for (const auto& f : s.frames) AGENT_FUZZ_CHECK(f.size() <= limits.max_string_bytes);
    }
  }
  for (const wire::AgentLimits& limits : {wire::AgentLimits{}, tiny}) {
    std::string body(reinterpret_cast<const char*>(data), size);
    model::CrashReport crash;
    Status st = wire::DecodeCrashReportJson(&body, limits, &crash);
    if (!st.ok()) {
      AGENT_FUZZ_CHECK(st.code() == Status::Code::kInvalidArgument);
      continue;
    }
    AGENT_FUZZ_CHECK(!crash.service.empty() && !crash.instance.empty());
    AGENT_FUZZ_CHECK(!crash.signal.empty() || crash.signal_number > 0);
    AGENT_FUZZ_CHECK(crash.frames.size() <= 128 && crash.time_us >= 0);
    for (const auto& f : crash.frames) AGENT_FUZZ_CHECK(f.size() <= limits.max_string_bytes);
  }
  return 0;
}
