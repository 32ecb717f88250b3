#include "server/config.h"

#include <charconv>
#include <functional>

namespace loupe::server {
namespace {

struct Binding {
  FlagSpec spec;
  std::function<Status(ServerConfig*, const std::string&)> set;
};

Status ParseInt(const std::string& flag, const std::string& v, int64_t lo, int64_t hi,
                int64_t* out) {
  int64_t x = 0;
  auto r = std::from_chars(v.data(), v.data() + v.size(), x);
  if (r.ec != std::errc() || r.ptr != v.data() + v.size() || x < lo || x > hi) {
    return Status::InvalidArgument("--" + flag + ": '" + v + "' is not an integer in [" +
                                   std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  *out = x;
  return Status::OK();
}

template <typename T>
std::function<Status(ServerConfig*, const std::string&)> IntField(std::string flag,
                                                                  T ServerConfig::*f, int64_t lo,
                                                                  int64_t hi) {
  return [=](ServerConfig* c, const std::string& v) {
    int64_t x;
    LOUPE_RETURN_IF_ERROR(ParseInt(flag, v, lo, hi, &x));
    c->*f = static_cast<T>(x);
    return Status::OK();
  };
}

std::function<Status(ServerConfig*, const std::string&)> StrField(
    std::string ServerConfig::*f, std::vector<std::string> allowed = {}, std::string flag = "") {
  return [=](ServerConfig* c, const std::string& v) {
    if (!allowed.empty()) {
      bool ok = false;
      for (const auto& a : allowed) ok |= (a == v);
      if (!ok) {
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        return Status::InvalidArgument("--" + flag + ": '" + v + "' is not one of " + list);
      }
    }
    c->*f = v;
    return Status::OK();
  };
}

const std::vector<Binding>& Bindings() {
  static const std::vector<Binding> b = {
      {{"data-dir", "directory for data and credentials (created if missing)", "loupe-data"},
       StrField(&ServerConfig::data_dir)},
      {{"bind",
        "address every port listens on: 127.0.0.1 this machine only, 0.0.0.0 every "
        "interface so agents on other machines can send (no TLS: off loopback a warning is "
        "logged; put a TLS proxy in front of the API)",
        "127.0.0.1"},
       StrField(&ServerConfig::bind)},
      {{"http-port", "port of the web dashboard and the query API (0: any free port)", "7070"},
       IntField("http-port", &ServerConfig::http_port, 0, 65535)},
      {{"otlp-http-port", "port of the OTLP/HTTP receiver (POST /v1/traces)", "4318"},
       IntField("otlp-http-port", &ServerConfig::otlp_http_port, 0, 65535)},
      {{"otlp-grpc-port", "port of the OTLP/gRPC receiver", "4317"},
       IntField("otlp-grpc-port", &ServerConfig::otlp_grpc_port, 0, 65535)},
      {{"web-dir", "directory of the built dashboard (default: web/dist beside the binary)", ""},
       StrField(&ServerConfig::web_dir)},
      {{"store",
        "storage engine: embedded (durable, in DATA_DIR/store + DATA_DIR/wal) or memory "
        "(nothing survives a restart; tests)",
        "embedded"},
       StrField(&ServerConfig::store, {"embedded", "memory"}, "store")},
      {{"wal-commit-delay-us",
        "embedded: how long a log commit waits for more requests to share its fsync", "0"},
       IntField("wal-commit-delay-us", &ServerConfig::wal_commit_delay_us, 0, 1'000'000)},
      {{"checkpoint-mb", "embedded: checkpoint the ingest log after this many MiB of it", "256"},
       IntField("checkpoint-mb", &ServerConfig::checkpoint_mb, 1, 1 << 20)},
      {{"checkpoint-seconds", "embedded: checkpoint the ingest log at least this often", "300"},
       IntField("checkpoint-seconds", &ServerConfig::checkpoint_seconds, 1, 86400)},
      {{"memtable-mb", "embedded: write memtables to segments past this many MiB", "64"},
       IntField("memtable-mb", &ServerConfig::memtable_mb, 1, 1 << 16)},
      {{"retention-interval-seconds",
        "embedded: how often the background pass drops expired partitions (per-project "
        "retention) and compacts closed ones",
        "60"},
       IntField("retention-interval-seconds", &ServerConfig::retention_interval_seconds, 1, 86400)},
      {{"compaction-grace-seconds",
        "embedded: compact an hour's segments into one this long after the hour ends (late data)",
        "600"},
       IntField("compaction-grace-seconds", &ServerConfig::compaction_grace_seconds, 0, 86400)},
      {{"scatter-cache-mb",
        "embedded: memory for decoded X-View columns of recently read row groups (0: off)", "64"},
       IntField("scatter-cache-mb", &ServerConfig::scatter_cache_mb, 0, 1 << 20)},
      {{"malloc-arena-max",
        "glibc malloc arenas at most (fewer arenas keep less freed memory; 0: glibc's default, 8 "
        "per core)",
        "2"},
       IntField("malloc-arena-max", &ServerConfig::malloc_arena_max, 0, 1024)},
      {{"malloc-trim-seconds", "give freed heap memory back to the system this often (0: never)",
        "10"},
       IntField("malloc-trim-seconds", &ServerConfig::malloc_trim_seconds, 0, 86400)},
      {{"max-transactions", "memory store: transactions kept before the oldest are evicted",
        "20000000"},
       IntField("max-transactions", &ServerConfig::max_transactions, 1000, int64_t{1} << 40)},
      {{"http-threads", "threads serving the dashboard and API", "4"},
       IntField("http-threads", &ServerConfig::http_threads, 1, 256)},
      {{"ingest-threads", "threads serving OTLP/HTTP", "8"},
       IntField("ingest-threads", &ServerConfig::ingest_threads, 1, 256)},
      {{"max-inflight", "export requests processed at once; more get 503 + Retry-After", "64"},
       IntField("max-inflight", &ServerConfig::max_inflight, 1, 100000)},
      {{"max-instances-per-project",
        "instances (service.instance.id per service) a project keeps by name; more are "
        "folded into \"(overflow)\"",
        "20000"},
       IntField("max-instances-per-project", &ServerConfig::max_instances_per_project, 1,
                10'000'000)},
      {{"instance-idle-seconds",
        "an instance that sent nothing for this long stops counting against "
        "--max-instances-per-project and leaves GET /api/v1/instances (its data is kept)",
        "86400"},
       IntField("instance-idle-seconds", &ServerConfig::instance_idle_seconds, 60,
                int64_t{400} * 86400)},
      {{"request-timeout-seconds",
        "HTTP ports (API and OTLP/HTTP): a request's head and body must arrive within this "
        "long of its first byte, else 408",
        "60"},
       IntField("request-timeout-seconds", &ServerConfig::request_timeout_seconds, 1, 86400)},
      {{"max-connections-per-client",
        "HTTP ports: open connections from one client address (each port); more get 429 "
        "(0: no cap)",
        "128"},
       IntField("max-connections-per-client", &ServerConfig::max_connections_per_client, 0,
                1'000'000)},
      {{"smtp-host", "alert e-mail: SMTP server host (empty: e-mail channels cannot deliver)", ""},
       StrField(&ServerConfig::smtp_host)},
      {{"smtp-port", "alert e-mail: SMTP server port", "587"},
       IntField("smtp-port", &ServerConfig::smtp_port, 1, 65535)},
      {{"smtp-from", "alert e-mail: the From address", "loupe@localhost"},
       StrField(&ServerConfig::smtp_from)},
      {{"smtp-user", "alert e-mail: SMTP login user (empty: no login)", ""},
       StrField(&ServerConfig::smtp_user)},
      {{"smtp-password-file", "alert e-mail: file holding the SMTP login password", ""},
       StrField(&ServerConfig::smtp_password_file)},
      {{"smtp-starttls",
        "alert e-mail: required (refuse a server without STARTTLS) or off (plain SMTP, e.g. a "
        "relay on this machine)",
        "required"},
       StrField(&ServerConfig::smtp_starttls, {"required", "off"}, "smtp-starttls")},
      {{"notify-allow-hosts",
        "alert notifications may reach these hosts or CIDRs although they resolve to loopback, "
        "link-local or cloud-metadata addresses (comma-separated; default: none)",
        ""},
       StrField(&ServerConfig::notify_allow_hosts)},
      {{"external-url",
        "base URL of the dashboard in alert messages' links (default: http://BIND:HTTP_PORT)",
        ""},
       StrField(&ServerConfig::external_url)},
      {{"log-level", "debug, info, warn or error", "info"},
       StrField(&ServerConfig::log_level, {"debug", "info", "warn", "error"}, "log-level")},
  };
  return b;
}

}  // namespace

bool IsLoopbackAddress(const std::string& address) {
  return address.rfind("127.", 0) == 0 || address == "::1" || address == "[::1]" ||
         address == "localhost";
}

std::string EnvName(const std::string& flag) {
  std::string s = "LOUPE_";
  for (char c : flag) s.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(c)));
  return s;
}

std::vector<FlagSpec> ServerFlags() {
  std::vector<FlagSpec> out;
  for (const auto& b : Bindings()) out.push_back(b.spec);
  return out;
}

Result<ServerConfig> ParseServerConfig(const std::vector<std::string>& args,
                                       const std::map<std::string, std::string>& env, bool* help) {
  ServerConfig c;
  *help = false;
  for (const auto& b : Bindings()) {
    auto it = env.find(EnvName(b.spec.name));
    if (it != env.end() && !it->second.empty()) {
      Status s = b.set(&c, it->second);
      if (!s.ok()) return s.Annotate("from " + EnvName(b.spec.name));
    }
  }
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      *help = true;
      return c;
    }
    if (a.rfind("--", 0) != 0) return Status::InvalidArgument("unexpected argument '" + a + "'");
    std::string name = a.substr(2), value;
    size_t eq = name.find('=');
    bool has_value = eq != std::string::npos;
    if (has_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const Binding* found = nullptr;
    for (const auto& b : Bindings()) {
      if (b.spec.name == name) found = &b;
    }
    if (!found) return Status::InvalidArgument("unknown flag --" + name + " (see --help)");
    if (!has_value) {
      if (i + 1 >= args.size()) return Status::InvalidArgument("--" + name + " needs a value");
      value = args[++i];
    }
    LOUPE_RETURN_IF_ERROR(found->set(&c, value));
  }
  return c;
}

std::string ServerHelp() {
  std::string s =
      "Usage: loupe server [flags]\n\n"
      "Runs the Loupe APM server: OTLP receivers, storage, the query API and the web\n"
      "dashboard in one process. On first start with an empty data directory it creates\n"
      "project 'default', an ingest key and an admin API token, prints them once and\n"
      "writes them to DATA_DIR/initial-credentials.json (mode 0600).\n\n"
      "Flags (each also from the environment variable shown):\n";
  for (const auto& f : ServerFlags()) {
    std::string line = "  --" + f.name + " VALUE";
    line.resize(std::max<size_t>(line.size() + 1, 28), ' ');
    line += f.help;
    if (!f.default_value.empty()) line += " [default " + f.default_value + "]";
    line += "\n";
    line.resize(line.size(), ' ');
    s += line;
    s += std::string(28, ' ') + "env " + EnvName(f.name) + "\n";
  }
  s += "  --help                    this text\n";
  return s;
}

std::string MainHelp() {
  return "Usage: loupe <command> [flags]\n\n"
         "Loupe is an application performance monitoring server: every transaction of\n"
         "every instance, in real time, down to the SQL or external call that made it slow.\n\n"
         "Commands:\n"
         "  server     run the server (OTLP ingest, storage, API, dashboard)\n"
         "  store verify DATA_DIR\n"
         "             check a data directory's segments and ingest log\n"
         "  agent      send this host's metrics to a server ('loupe agent --help')\n"
         "  version    print the version\n"
         "  help       this text\n\n"
         "Run 'loupe server --help' for the server's flags.\n";
}

}  // namespace loupe::server
