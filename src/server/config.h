// Command-line and environment configuration of `loupe server`.
//
// Every flag --foo-bar can also be set from the environment as LOUPE_FOO_BAR;
// a flag on the command line wins over the environment, which wins over the
// default. `loupe server --help` prints the table below.
#ifndef LOUPE_SERVER_CONFIG_H_
#define LOUPE_SERVER_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace loupe::server {

struct ServerConfig {
  std::string data_dir = "loupe-data";
  std::string bind = "127.0.0.1";
  int http_port = 7070;
  int otlp_http_port = 4318;
  int otlp_grpc_port = 4317;
  std::string web_dir;  // empty: auto-detect beside the binary
  std::string store = "embedded";
  int64_t wal_commit_delay_us = 0;
  int64_t checkpoint_mb = 256;
  int64_t checkpoint_seconds = 300;
  int64_t memtable_mb = 64;
  int64_t retention_interval_seconds = 60;
  int64_t compaction_grace_seconds = 600;
  int64_t scatter_cache_mb = 64;
  int64_t malloc_arena_max = 2;
  int64_t malloc_trim_seconds = 10;
  int64_t max_transactions = 20'000'000;
  int http_threads = 4;
  int ingest_threads = 8;
  int max_inflight = 64;
  int64_t max_instances_per_project = 20'000;
  int64_t instance_idle_seconds = 86'400;
  int request_timeout_seconds = 60;
  int max_connections_per_client = 128;
  std::string log_level = "info";
  // Alert notifications (docs/operations.md "Alerts").
  std::string smtp_host;  // empty: e-mail channels cannot deliver (their attempts fail, logged)
  int smtp_port = 587;
  std::string smtp_from = "loupe@localhost";
  std::string smtp_user;
  std::string smtp_password_file;     // the password is read from this file, never a flag
  std::string smtp_starttls = "required";  // required | off
  std::string notify_allow_hosts;     // comma-separated hosts or CIDRs notifications may reach
  std::string external_url;           // base of links in notifications; empty: http://BIND:PORT
};

struct FlagSpec {
  std::string name;  // "data-dir"
  std::string help;
  std::string default_value;
};

// The flags of `loupe server`, in help order.
std::vector<FlagSpec> ServerFlags();

// Parses args (without the program and subcommand names) and env (name →
// value). InvalidArgument names the bad flag or value. *help is set when
// --help/-h was given.
Result<ServerConfig> ParseServerConfig(const std::vector<std::string>& args,
                                       const std::map<std::string, std::string>& env, bool* help);

// True for an address only this machine can reach (127.0.0.0/8, ::1,
// localhost).
bool IsLoopbackAddress(const std::string& address);

// "LOUPE_DATA_DIR" for "data-dir".
std::string EnvName(const std::string& flag);

std::string ServerHelp();
std::string MainHelp();

}  // namespace loupe::server

#endif  // LOUPE_SERVER_CONFIG_H_
