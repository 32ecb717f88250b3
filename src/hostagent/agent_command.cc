#include "hostagent/agent_command.h"

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <utility>

extern char** environ;

namespace loupe::hostagent {
namespace {

struct Flag {
  const char* name;
  const char* help;
  const char* default_value;
};

constexpr Flag kFlags[] = {
    {"server", "base URL of Loupe's OTLP/HTTP port; metrics go to SERVER/v1/metrics",
     "http://127.0.0.1:4318"},
    {"key", "the project's ingest key (sent as Authorization: Bearer KEY)", ""},
    {"interval-seconds", "seconds between collections", "5"},
    {"top-processes", "processes reported: the top N by CPU and the top N by memory", "10"},
    {"command-lines",
     "send the top processes' command lines (on or off; off if arguments may "
     "hold secrets)",
     "on"},
    {"root",
     "directory standing for / when reading /proc, /sys and /etc (a container "
     "watching its host mounts the host's / there)",
     "/"},
    {"buffer-mb", "requests kept in memory while the server is unreachable, MiB", "8"},
    {"host-name", "host.name to report; default: the root's kernel host name", ""},
    {"log-level", "debug, info, warning or error", "info"},
};

std::string EnvName(const std::string& flag) {
  std::string env = "LOUPE_AGENT_";
  for (char c : flag) env.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(c)));
  return env;
}

bool ParseInt(const std::string& s, int lo, int hi, int* out) {
  char* end = nullptr;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || v < lo || v > hi) return false;
  *out = static_cast<int>(v);
  return true;
}

Agent* g_agent = nullptr;

extern "C" void OnSignal(int) {
  if (g_agent != nullptr) g_agent->Stop();
}

}  // namespace

std::string AgentHelp() {
  std::string h =
      "usage: loupe agent [flags]\n\n"
      "Sends this host's CPU, memory, disk, network, TCP, top-process and container metrics\n"
      "to Loupe as OTLP every interval. Each flag can also be set in the environment as\n"
      "LOUPE_AGENT_<FLAG> (e.g. LOUPE_AGENT_KEY).\n\n";
  for (const Flag& f : kFlags) {
    h += "  --" + std::string(f.name) + "\n      " + f.help;
    if (f.default_value[0] != '\0') h += " (default " + std::string(f.default_value) + ")";
    h += "\n";
  }
  return h;
}

Result<AgentConfig> ParseAgentConfig(const std::vector<std::string>& args,
                                     const std::map<std::string, std::string>& env, bool* help) {
  *help = false;
  std::map<std::string, std::string> values;
  for (const Flag& f : kFlags) {
    values[f.name] = f.default_value;
    if (auto it = env.find(EnvName(f.name)); it != env.end()) values[f.name] = it->second;
  }
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      *help = true;
      return AgentConfig{};
    }
    if (a.rfind("--", 0) != 0) return Status::InvalidArgument("unexpected argument: " + a);
    std::string name = a.substr(2), value;
    const size_t eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return Status::InvalidArgument("--" + name + " needs a value");
    }
    if (!values.count(name)) return Status::InvalidArgument("unknown flag --" + name);
    values[name] = value;
  }
  AgentConfig c;
  c.http.server = values["server"];
  c.http.key = values["key"];
  if (c.http.server.rfind("http://", 0) != 0 && c.http.server.rfind("https://", 0) != 0) {
    return Status::InvalidArgument("--server must be an http:// or https:// URL: " + c.http.server);
  }
  int buffer_mb = 0;
  if (!ParseInt(values["interval-seconds"], 1, 3600, &c.agent.interval_seconds)) {
    return Status::InvalidArgument("--interval-seconds must be 1..3600");
  }
  if (!ParseInt(values["top-processes"], 0, 1000, &c.agent.collector.top_processes)) {
    return Status::InvalidArgument("--top-processes must be 0..1000");
  }
  if (!ParseInt(values["buffer-mb"], 1, 4096, &buffer_mb)) {
    return Status::InvalidArgument("--buffer-mb must be 1..4096");
  }
  c.agent.max_buffer_bytes = static_cast<size_t>(buffer_mb) << 20;
  c.agent.collector.root = values["root"].empty() ? "/" : values["root"];
  const std::string& cmd = values["command-lines"];
  if (cmd != "on" && cmd != "off")
    return Status::InvalidArgument("--command-lines must be on or off");
  c.agent.collector.command_lines = cmd == "on";
  c.agent.host_name = values["host-name"];
  // The timeouts stay under one interval so that a hung server delays the
  // next collection by little.
  c.http.total_timeout_ms = std::min(10000, c.agent.interval_seconds * 1000);
  c.http.connect_timeout_ms = std::min(3000, c.http.total_timeout_ms);
  const std::string& level = values["log-level"];
  if (level == "debug")
    c.log_level = LogLevel::kDebug;
  else if (level == "info")
    c.log_level = LogLevel::kInfo;
  else if (level == "warning")
    c.log_level = LogLevel::kWarning;
  else if (level == "error")
    c.log_level = LogLevel::kError;
  else
    return Status::InvalidArgument("--log-level must be debug, info, warning or error");
  return c;
}

int RunAgentCommand(const std::vector<std::string>& args) {
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string kv = *e;
    const size_t eq = kv.find('=');
    if (eq != std::string::npos && kv.rfind("LOUPE_AGENT_", 0) == 0) {
      env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }
  bool help = false;
  auto config = ParseAgentConfig(args, env, &help);
  if (help) {
    std::fputs(AgentHelp().c_str(), stdout);
    return 0;
  }
  if (!config.ok()) {
    std::fprintf(stderr, "loupe agent: %s\n\n%s", config.status().message().c_str(),
                 AgentHelp().c_str());
    return 2;
  }
  SetLogLevel(config->log_level);
  auto transport = NewHttpTransport(config->http);
  if (!transport.ok()) {
    std::fprintf(stderr, "loupe agent: %s\n", transport.status().ToString().c_str());
    return 2;
  }
  Agent agent(config->agent, std::move(*transport));
  g_agent = &agent;
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  LogInfo("agent: host " + agent.host().name + " sending to " + config->http.server + " every " +
          std::to_string(config->agent.interval_seconds) + " s");
  Status s = agent.Run();
  g_agent = nullptr;
  if (!s.ok()) {
    LogError("agent: " + s.ToString());
    return 1;
  }
  LogInfo("agent: stopped");
  return 0;
}

}  // namespace loupe::hostagent
