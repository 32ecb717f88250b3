// The configuration the server sends an agent (GET /v1/loupe/config, see
// docs/format/agent-protocol.md), parsed. Immutable once published: the agent
// swaps whole AgentConfig objects.
#ifndef LOUPE_AGENT_AGENT_CONFIG_H_
#define LOUPE_AGENT_AGENT_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "loupe/agent.h"

namespace loupe::internal {

struct AgentConfig {
  uint64_t version = 0;
  std::vector<double> bands_ms = {3000, 8000};
  int stack_threshold_ms = 3000;  // sample transactions older than this
  int stack_interval_ms = 1000;   // every this often
  bool throttle_enabled = false;
  int64_t max_active = 0;  // per instance; 0: no instance limit
  Admission::Kind throttle_action = Admission::kReject;
  std::string redirect_url;
  std::map<std::string, int64_t, std::less<>> endpoint_limits;
  std::vector<std::string> profiling_methods;  // glob patterns

  bool ProfilingEnabled(std::string_view method) const;
};

// Parses the configuration document. Missing fields keep their defaults;
// false (with *error) on malformed JSON or wrongly typed fields.
bool ParseAgentConfig(std::string_view json, AgentConfig* out, std::string* error);

// Glob match: `*` any run (also empty), `?` exactly one byte, others literal.
bool GlobMatch(std::string_view pattern, std::string_view text);

}  // namespace loupe::internal

#endif  // LOUPE_AGENT_AGENT_CONFIG_H_
