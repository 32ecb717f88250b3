// `loupe agent`: flags and environment of the host agent, and its main.
//
// Every flag --foo-bar can also be set as LOUPE_AGENT_FOO_BAR; a flag wins
// over the environment. docs/operations.md "Host agent" documents them.
//
// Thread-safety: RunAgentCommand installs SIGINT/SIGTERM handlers and runs
// until one arrives; call it once, from main.
#ifndef LOUPE_HOSTAGENT_AGENT_COMMAND_H_
#define LOUPE_HOSTAGENT_AGENT_COMMAND_H_

#include <map>
#include <string>
#include <vector>

#include "common/logging.h"
#include "common/status.h"
#include "hostagent/agent.h"
#include "hostagent/transport.h"

namespace loupe::hostagent {

struct AgentConfig {
  AgentOptions agent;
  HttpTransportOptions http;
  LogLevel log_level = LogLevel::kInfo;
};

// Parses args (after "agent") and env (name -> value). InvalidArgument names
// the bad flag or value; *help is set for --help/-h.
Result<AgentConfig> ParseAgentConfig(const std::vector<std::string>& args,
                                     const std::map<std::string, std::string>& env, bool* help);

std::string AgentHelp();

// main() of `loupe agent`: returns the process exit code (0 after SIGINT or
// SIGTERM, 1 if the agent cannot start, 2 for bad flags).
int RunAgentCommand(const std::vector<std::string>& args);

}  // namespace loupe::hostagent

#endif  // LOUPE_HOSTAGENT_AGENT_COMMAND_H_
