// Projects, ingest keys and API tokens.
//
// Secrets are random 190-bit strings ("lk_…" ingest keys, "lt_…" API tokens);
// only their SHA-256 is stored, in DATA_DIR/auth.json (mode 0600). On first
// open of an empty directory the registry creates project "default", one
// ingest key and one admin token, and writes them in clear, once, to
// DATA_DIR/initial-credentials.json (mode 0600) as
// {"project": "...", "ingest_key": "...", "api_token": "..."}.
// With data_dir empty the registry lives in memory only (tests).
//
// Thread-safety: all methods are thread-safe.
#ifndef LOUPE_AUTH_REGISTRY_H_
#define LOUPE_AUTH_REGISTRY_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "model/project.h"

namespace loupe::auth {

// Spelled unqualified here; one definition in model/project.h.
using model::ProjectId;

// Retention defaults and bounds (ARCHITECTURE.md §4): transactions and
// profiles 31 days, rollups 400 days; both 1..3650 days, rollups at least as
// long as transactions.
constexpr int kDefaultRetentionDays = 31;
constexpr int kDefaultRollupRetentionDays = 400;
constexpr int kMaxRetentionDays = 3650;

struct Project {
  ProjectId id = 0;
  std::string name;
  int retention_days = kDefaultRetentionDays;
  int rollup_retention_days = kDefaultRollupRetentionDays;
};

// Who an API token speaks for.
struct Principal {
  std::string token_name;
  bool admin = false;               // sees every project
  std::vector<ProjectId> projects;  // when !admin
  bool CanSee(ProjectId p) const;
};

struct InitialCredentials {
  std::string project;
  std::string ingest_key;
  std::string api_token;
};

class Registry {
 public:
  // Opens (creating if needed) the registry under data_dir. When it created
  // the first credentials, *created (if given) receives them in clear.
  static Result<std::unique_ptr<Registry>> Open(const std::string& data_dir,
                                                InitialCredentials* created = nullptr);

  // Ingest: the project a key belongs to; Unauthenticated otherwise.
  Result<ProjectId> AuthenticateIngestKey(std::string_view key) const;
  // API: the principal a token speaks for; Unauthenticated otherwise.
  Result<Principal> AuthenticateToken(std::string_view token) const;

  // Project by name, if the principal may see it; NotFound otherwise.
  Result<Project> FindProject(const Principal& who, std::string_view name) const;
  std::vector<Project> ListProjects(const Principal& who) const;
  std::vector<Project> AllProjects() const;

  // Creates a project with a fresh ingest key (returned in clear).
  Result<std::string> CreateProject(std::string_view name, ProjectId* id = nullptr);
  // Sets a project's retention (stored in auth.json before it returns).
  // InvalidArgument outside the bounds above; NotFound for an unknown id.
  Result<Project> SetRetention(ProjectId id, int retention_days, int rollup_retention_days);
  // Creates a token for the given projects (admin: all). Returned in clear.
  Result<std::string> CreateToken(std::string_view name, bool admin,
                                  std::vector<ProjectId> projects);

 private:
  Registry() = default;
  Status Load();
  Status Save() const;  // REQUIRES: mu_ held

  struct TokenEntry {
    std::string name;
    bool admin = false;
    std::vector<ProjectId> projects;
  };

  std::string dir_;
  mutable std::mutex mu_;
  std::vector<Project> projects_;
  std::unordered_map<std::string, ProjectId> ingest_keys_;  // sha256 hex -> project
  std::unordered_map<std::string, TokenEntry> tokens_;      // sha256 hex -> token
};

// Random secret with the given prefix ("lk_", "lt_").
std::string NewSecret(std::string_view prefix);
// Lowercase hex SHA-256.
std::string Sha256Hex(std::string_view data);

}  // namespace loupe::auth

#endif  // LOUPE_AUTH_REGISTRY_H_
