// Agent configuration (the control channel of docs/format/agent-protocol.md):
// band thresholds, active-stack sampling, throttling and dynamic profiling,
// per project with optional per-service overrides. Agents read the effective
// one with GET /v1/loupe/config; the API reads and changes it with
// GET/PUT/DELETE /api/v1/agent-config (docs/api.md).
//
// Versions: each project has one version, 1 until its first change, bumped
// by every successful Put/Remove (of the default or of any override). The
// effective configuration of any service carries it, so an agent comparing
// `config_version` sees every change that may concern it.
//
// Persistence: DATA_DIR/agent-config.json, rewritten atomically (temporary
// file, fsync, rename, directory fsync through common/env) on every change;
// a change whose write fails is undone and its error returned. With data_dir
// empty everything lives in memory (tests), as auth::Registry does.
//
// Thread-safety: all methods are thread-safe (one mutex; changes are rare).
#ifndef LOUPE_CONTROL_AGENT_CONFIG_H_
#define LOUPE_CONTROL_AGENT_CONFIG_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/env.h"
#include "common/status.h"
#include "model/project.h"

namespace loupe::control {

// Spelled unqualified here; one definition in model/project.h.
using model::ProjectId;

struct ThrottleConfig {
  bool enabled = false;
  int64_t max_active = 0;                    // per instance; 1..1e6 when enabled, 0 = none
  std::string action = "reject";             // "reject" | "redirect"
  std::string redirect_url;                  // for redirect: "/path" or http(s)://…, ≤ 1 KiB
  std::map<std::string, int64_t> endpoints;  // endpoint → max active (≤ 100 entries)

  bool operator==(const ThrottleConfig&) const = default;
};

struct AgentConfig {
  std::vector<int64_t> bands_ms = {3000, 8000};  // 1..3 increasing thresholds > 0
  int64_t stack_threshold_ms = 2000;             // sample stacks of transactions past this
  int64_t stack_interval_ms = 1000;              // 100..60000
  ThrottleConfig throttle;
  std::vector<std::string> profiling_methods;  // ≤ 100 glob patterns of 1..256 bytes

  bool operator==(const AgentConfig&) const = default;
};

// OK, or InvalidArgument naming the first bad field.
Status ValidateAgentConfig(const AgentConfig& c);

// Parses the JSON of docs/format/agent-protocol.md's configuration (the body
// of PUT /api/v1/agent-config): omitted sections and fields take their
// defaults; `version` and `overridden` are ignored (so a GET answer can be
// sent back); unknown keys, wrong types and invalid values are
// InvalidArgument. The result is validated.
Result<AgentConfig> ParseAgentConfigJson(std::string_view json);

struct EffectiveConfig {
  AgentConfig config;
  uint64_t version = 1;
  bool overridden = false;  // a per-service override applies
};

// {"version", "bands_ms", "active_stack", "throttle", "profiling"} and, when
// with_overridden, "overridden".
std::string EffectiveConfigJson(const EffectiveConfig& e, bool with_overridden);

class AgentConfigStore {
 public:
  static constexpr size_t kMaxOverridesPerProject = 1000;

  // Loads DATA_DIR/agent-config.json if present (Corruption if unreadable
  // JSON or invalid contents). `env` must outlive the store.
  static Result<std::unique_ptr<AgentConfigStore>> Open(const std::string& data_dir,
                                                        Env* env = Env::Default());

  // The configuration that applies to `service` (empty: the project default).
  EffectiveConfig Get(ProjectId project, std::string_view service) const;
  uint64_t Version(ProjectId project) const;

  // Sets the project default (service empty) or a service's override.
  // InvalidArgument for an invalid config; ResourceExhausted past
  // kMaxOverridesPerProject; IoError etc. when persisting failed (nothing
  // changed). Returns the new effective configuration of `service`.
  Result<EffectiveConfig> Put(ProjectId project, std::string_view service, AgentConfig config);
  // Removes a service's override; NotFound if there is none.
  Result<EffectiveConfig> Remove(ProjectId project, std::string_view service);

 private:
  struct ProjectConfig {
    uint64_t version = 1;
    AgentConfig defaults;
    std::map<std::string, AgentConfig, std::less<>> services;
  };

  AgentConfigStore(std::string path, Env* env) : path_(std::move(path)), env_(env) {}
  Status Load(const std::string& text);
  Status Save() const;  // REQUIRES: mu_ held
  EffectiveConfig GetLocked(ProjectId project, std::string_view service) const;

  const std::string path_;  // empty: memory only
  Env* const env_;
  mutable std::mutex mu_;
  std::map<ProjectId, ProjectConfig> projects_;  // guarded by mu_
};

}  // namespace loupe::control

#endif  // LOUPE_CONTROL_AGENT_CONFIG_H_
