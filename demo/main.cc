// loupe-demo: the demo application of Loupe. Wires the services, their
// agents, the fault switches and the traffic generator, and owns start and
// stop (SIGINT/SIGTERM stop everything cleanly). See demo/README.md.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "faults.h"
#include "http.h"
#include "loupe/agent.h"
#include "service.h"
#include "traffic.h"

namespace demo {
namespace {

constexpr const char* kUsage = R"(usage: loupe-demo COMMAND [flags]

Commands:
  all        shop, orders and payment on ports PORT, PORT+1, PORT+2, plus traffic
  services   the three services without traffic
  shop | orders | payment   one service (on PORT, PORT+1, PORT+2 respectively)
  traffic    the traffic generator only (against --shop-url)

Flags (each also from the environment variable in brackets):
  --port N               base port of the services [LOUPE_DEMO_PORT] (8080)
  --bind ADDR            listen address (127.0.0.1)
  --data-dir DIR         SQLite files and logs [LOUPE_DEMO_DATA_DIR] (a temporary directory)
  --otlp-endpoint URL    Loupe OTLP/HTTP base URL [LOUPE_DEMO_OTLP_ENDPOINT]
                         (http://127.0.0.1:$LOUPE_OTLP_HTTP_PORT, port 4318 by default)
  --ingest-key KEY       project ingest key [LOUPE_INGEST_KEY]
  --agent on|off         Loupe agent enabled [LOUPE_DEMO_AGENT] (on)
  --api-url URL          Loupe API base URL (http://127.0.0.1:$LOUPE_HTTP_PORT, port 7070)
  --api-token TOKEN      with a token, PUT the demo's agent configuration (throttling,
                         stack sampling, dynamic profiling) at start [LOUPE_API_TOKEN]
  --instance-suffix S    instances are named shop-S, orders-S, payment-S (1)
  --tps N                requests per second at the daily peak [LOUPE_DEMO_TPS] (40)
  --rhythm day|flat      daily traffic shape or a flat rate (day)
  --day-minutes N        length of one simulated day (20)
  --fault-schedule default|none   cycle through the faults [LOUPE_DEMO_FAULT_SCHEDULE] (default)
  --fault-slot-seconds N length of each fault's slot in the schedule (75)
  --shop-url URL         traffic: the shop to send to (http://127.0.0.1:PORT)
  --workers N            request threads per service (48)
  --senders N            traffic: concurrent requests at most (64)
  --payment-timeout-ms N orders gives up on payment after this (3000)
  --seed N               data and randomness (1)
  --duration S           stop after S seconds (0: run until Ctrl-C)
  --status-seconds N     print a status line this often (30; 0: never)

Faults: slow_sql lock external_timeout n_plus_one error_burst surge hot_logging.
  curl -X POST 'http://127.0.0.1:8080/admin/faults?name=lock&on=1'   (on=1|0|auto)
  curl http://127.0.0.1:8080/admin/faults
)";

struct Flags {
  std::map<std::string, std::string> values;
  std::string Get(const std::string& name, const char* env, const std::string& def) const {
    auto it = values.find(name);
    if (it != values.end()) return it->second;
    if (env != nullptr) {
      const char* v = std::getenv(env);
      if (v != nullptr && *v != '\0') return v;
    }
    return def;
  }
};

bool ParseFlags(int argc, char** argv, std::string* command, Flags* flags, std::string* error) {
  static const char* const kKnown[] = {"port",
                                       "bind",
                                       "data-dir",
                                       "otlp-endpoint",
                                       "ingest-key",
                                       "agent",
                                       "api-url",
                                       "api-token",
                                       "instance-suffix",
                                       "tps",
                                       "rhythm",
                                       "day-minutes",
                                       "fault-schedule",
                                       "fault-slot-seconds",
                                       "shop-url",
                                       "workers",
                                       "senders",
                                       "payment-timeout-ms",
                                       "seed",
                                       "duration",
                                       "status-seconds"};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help" || a == "help") {
      *command = "help";
      return true;
    }
    if (a.rfind("--", 0) != 0) {
      if (!command->empty()) {
        *error = "unexpected argument " + a;
        return false;
      }
      *command = a;
      continue;
    }
    std::string name = a.substr(2);
    std::string value;
    size_t eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      *error = "flag --" + name + " needs a value";
      return false;
    }
    bool known = false;
    for (const char* k : kKnown) known = known || name == k;
    if (!known) {
      *error = "unknown flag --" + name;
      return false;
    }
    flags->values[name] = value;
  }
  return true;
}

bool ToInt(const std::string& s, int64_t lo, int64_t hi, int64_t* out) {
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end == s.c_str() || *end != '\0' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

// The agent configuration the demo wants: stacks of transactions past
// 200 ms (so hot_logging shows), throttling that the surge trips (checkout
// limited to 8 concurrent per instance), and method profiling of the demo's
// LOUPE_METHOD probes. Format: docs/format/agent-protocol.md.
constexpr const char* kAgentConfig =
    R"({"bands_ms":[3000,8000],"active_stack":{"threshold_ms":200,"interval_ms":1000},)"
    R"("throttle":{"enabled":true,"max_active":200,"action":"reject",)"
    R"("redirect_url":"/busy.html","endpoints":{"POST /checkout":8}},)"
    R"("profiling":{"methods":["shop::*","orders::*","payment::*"]}})";

bool PutAgentConfig(const std::string& api_url, const std::string& token) {
  std::string host;
  int port = 0;
  if (!ParseHttpUrl(api_url, &host, &port)) {
    fprintf(stderr, "loupe-demo: bad --api-url %s\n", api_url.c_str());
    return false;
  }
  HttpClient client(host, port, 1);
  Headers h = {{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}};
  for (int attempt = 0; attempt < 10; ++attempt) {
    HttpClient::Result r = client.Do("PUT", "/api/v1/agent-config", h, kAgentConfig, 5000);
    if (r.status == 200) {
      fprintf(stderr,
              "loupe-demo: agent configuration set (throttling POST /checkout at 8 "
              "active, stack samples past 200 ms, method profiling of the demo)\n");
      return true;
    }
    if (r.status != 0 && r.status != 503) {
      fprintf(stderr, "loupe-demo: PUT /api/v1/agent-config answered %d: %.300s\n", r.status,
              r.body.c_str());
      return false;
    }
    sleep(1);
  }
  fprintf(stderr, "loupe-demo: could not reach the Loupe API at %s\n", api_url.c_str());
  return false;
}

int Run(int argc, char** argv) {
  std::string command;
  Flags flags;
  std::string error;
  if (!ParseFlags(argc, argv, &command, &flags, &error)) {
    fprintf(stderr, "loupe-demo: %s\n\n%s", error.c_str(), kUsage);
    return 2;
  }
  if (command.empty() || command == "help") {
    fputs(kUsage, command.empty() ? stderr : stdout);
    return command.empty() ? 2 : 0;
  }
  bool run_shop = command == "all" || command == "services" || command == "shop";
  bool run_orders = command == "all" || command == "services" || command == "orders";
  bool run_payment = command == "all" || command == "services" || command == "payment";
  bool run_traffic = command == "all" || command == "traffic";
  if (!run_shop && !run_orders && !run_payment && !run_traffic) {
    fprintf(stderr, "loupe-demo: unknown command %s\n\n%s", command.c_str(), kUsage);
    return 2;
  }

  int64_t port, tps, day_minutes, slot, workers, senders, pay_timeout, seed, duration, status_s;
  struct IntFlag {
    const char* name;
    const char* env;
    const char* def;
    int64_t lo, hi;
    int64_t* out;
  } ints[] = {
      {"port", "LOUPE_DEMO_PORT", "8080", 1, 65533, &port},
      {"tps", "LOUPE_DEMO_TPS", "40", 0, 100000, &tps},
      {"day-minutes", nullptr, "20", 1, 1440, &day_minutes},
      {"fault-slot-seconds", nullptr, "75", 5, 3600, &slot},
      {"workers", nullptr, "48", 1, 1024, &workers},
      {"senders", nullptr, "64", 1, 4096, &senders},
      {"payment-timeout-ms", nullptr, "3000", 100, 60000, &pay_timeout},
      {"seed", nullptr, "1", 0, INT64_MAX, &seed},
      {"duration", nullptr, "0", 0, 365LL * 86400, &duration},
      {"status-seconds", nullptr, "30", 0, 86400, &status_s},
  };
  for (const IntFlag& f : ints) {
    std::string v = flags.Get(f.name, f.env, f.def);
    if (!ToInt(v, f.lo, f.hi, f.out)) {
      fprintf(stderr, "loupe-demo: --%s must be an integer in %lld..%lld, got '%s'\n", f.name,
              static_cast<long long>(f.lo), static_cast<long long>(f.hi), v.c_str());
      return 2;
    }
  }
  std::string agent_flag = flags.Get("agent", "LOUPE_DEMO_AGENT", "on");
  std::string rhythm = flags.Get("rhythm", nullptr, "day");
  std::string schedule = flags.Get("fault-schedule", "LOUPE_DEMO_FAULT_SCHEDULE", "default");
  if ((agent_flag != "on" && agent_flag != "off") || (rhythm != "day" && rhythm != "flat") ||
      (schedule != "default" && schedule != "none")) {
    fprintf(stderr,
            "loupe-demo: --agent on|off, --rhythm day|flat, --fault-schedule "
            "default|none\n");
    return 2;
  }
  std::string bind = flags.Get("bind", nullptr, "127.0.0.1");
  std::string otlp_port = flags.Get("", "LOUPE_OTLP_HTTP_PORT", "4318");
  std::string http_port = flags.Get("", "LOUPE_HTTP_PORT", "7070");
  std::string otlp =
      flags.Get("otlp-endpoint", "LOUPE_DEMO_OTLP_ENDPOINT", "http://127.0.0.1:" + otlp_port);
  std::string api_url = flags.Get("api-url", nullptr, "http://127.0.0.1:" + http_port);
  std::string api_token = flags.Get("api-token", "LOUPE_API_TOKEN", "");
  std::string ingest_key = flags.Get("ingest-key", "LOUPE_INGEST_KEY", "");
  std::string suffix = flags.Get("instance-suffix", nullptr, "1");
  std::string shop_url = flags.Get("shop-url", nullptr, "http://127.0.0.1:" + std::to_string(port));
  if (suffix.empty() || suffix.size() > 32) {
    fprintf(stderr, "loupe-demo: --instance-suffix must be 1..32 characters\n");
    return 2;
  }

  // Signals are taken by the main thread only (sigtimedwait below).
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::string data_dir = flags.Get("data-dir", "LOUPE_DEMO_DATA_DIR", "");
  bool temp_dir = false;
  bool any_service = run_shop || run_orders || run_payment;
  if (any_service) {
    if (data_dir.empty()) {
      std::string tmpl = (std::filesystem::temp_directory_path() / "loupe-demo-XXXXXX").string();
      if (mkdtemp(tmpl.data()) == nullptr) {
        fprintf(stderr, "loupe-demo: mkdtemp: %s\n", strerror(errno));
        return 1;
      }
      data_dir = tmpl;
      temp_dir = true;
    } else {
      std::error_code ec;
      std::filesystem::create_directories(data_dir, ec);
      if (ec) {
        fprintf(stderr, "loupe-demo: creating %s: %s\n", data_dir.c_str(), ec.message().c_str());
        return 1;
      }
    }
  }

  if (any_service && agent_flag == "on" && !api_token.empty()) PutAgentConfig(api_url, api_token);

  Faults faults;
  if (schedule == "default") faults.StartSchedule(static_cast<int>(slot));

  // Agents first: they outlive the services that use them.
  std::vector<std::unique_ptr<loupe::Agent>> agents;
  auto make_agent = [&](const char* service) {
    loupe::AgentOptions o;
    o.service = service;
    o.instance = std::string(service) + "-" + suffix;
    o.endpoint = otlp;
    o.ingest_key = ingest_key;
    o.enabled = agent_flag == "on";
    // Native frames in the active stack: the demo's blocking calls
    // (demo/http.cc poll/recv, SQLite's I/O) retry on EINTR.
    o.native_stacks = true;
    agents.push_back(std::make_unique<loupe::Agent>(std::move(o)));
    return agents.back().get();
  };
  std::vector<std::unique_ptr<Service>> services;  // started payment -> orders -> shop
  auto start = [&](Service::Kind kind, const char* name, int64_t p, int64_t downstream) {
    ServiceOptions o;
    o.bind = bind;
    o.port = static_cast<int>(p);
    o.workers = static_cast<int>(workers);
    o.data_dir = data_dir;
    o.seed = static_cast<uint64_t>(seed);
    o.downstream_timeout_ms = static_cast<int>(pay_timeout);
    if (downstream > 0) o.downstream_url = "http://127.0.0.1:" + std::to_string(downstream);
    std::string err;
    auto s = Service::Start(kind, make_agent(name), &faults, std::move(o), &err);
    if (!s) {
      fprintf(stderr, "loupe-demo: starting %s: %s\n", name, err.c_str());
      return false;
    }
    fprintf(stderr, "loupe-demo: %s listening on http://%s:%d\n", name, bind.c_str(), s->port());
    services.push_back(std::move(s));
    return true;
  };
  bool ok = (!run_payment || start(Service::Kind::kPayment, "payment", port + 2, 0)) &&
            (!run_orders || start(Service::Kind::kOrders, "orders", port + 1, port + 2)) &&
            (!run_shop || start(Service::Kind::kShop, "shop", port, port + 1));

  std::unique_ptr<Traffic> traffic;
  if (ok && run_traffic) {
    TrafficOptions t;
    t.shop_url = shop_url;
    t.tps = static_cast<double>(tps);
    t.daily_rhythm = rhythm == "day";
    t.day_minutes = static_cast<double>(day_minutes);
    t.senders = static_cast<int>(senders);
    t.seed = static_cast<uint64_t>(seed);
    traffic = std::make_unique<Traffic>(t, &faults);
    if (!traffic->Start(&error)) {
      fprintf(stderr, "loupe-demo: %s\n", error.c_str());
      ok = false;
    } else {
      fprintf(
          stderr, "loupe-demo: traffic to %s at up to %lld req/s (%s), faults: %s\n",
          shop_url.c_str(), static_cast<long long>(tps),
          (rhythm == "day" ? "a day in " + std::to_string(day_minutes) + " min" : "flat").c_str(),
          schedule == "default" ? "scheduled" : "off until switched on");
    }
  }
  if (ok && agent_flag == "on" && ingest_key.empty()) {
    fprintf(stderr,
            "loupe-demo: warning: no ingest key (--ingest-key / LOUPE_INGEST_KEY); "
            "Loupe will refuse the data\n");
  }

  int exit_code = ok ? 0 : 1;
  auto started = std::chrono::steady_clock::now();
  auto next_status = started + std::chrono::seconds(status_s);
  while (ok) {
    timespec ts{0, 250 * 1000 * 1000};
    int sig = sigtimedwait(&sigs, nullptr, &ts);
    if (sig > 0) {
      fprintf(stderr, "loupe-demo: %s, stopping\n", strsignal(sig));
      break;
    }
    auto now = std::chrono::steady_clock::now();
    if (duration > 0 && now - started >= std::chrono::seconds(duration)) break;
    if (status_s > 0 && now >= next_status) {
      next_status = now + std::chrono::seconds(status_s);
      std::string line = "loupe-demo: faults: " + faults.Summary();
      if (traffic) {
        TrafficStats s = traffic->stats();
        char buf[256];
        snprintf(buf, sizeof buf,
                 "; traffic: day %s, %.0f req/s, sent %llu (ok %llu, 4xx %llu, 5xx %llu, "
                 "throttled %llu, no answer %llu, dropped %llu)",
                 traffic->clock().c_str(), traffic->rate(), (unsigned long long)s.sent,
                 (unsigned long long)s.ok, (unsigned long long)s.client_errors,
                 (unsigned long long)s.server_errors, (unsigned long long)s.throttled,
                 (unsigned long long)s.failed, (unsigned long long)s.dropped);
        line += buf;
      }
      for (const auto& a : agents) {
        loupe::AgentStats st = a->stats();
        char buf[160];
        snprintf(buf, sizeof buf, "; %s exported %llu dropped %llu", a->options().service.c_str(),
                 (unsigned long long)st.exported,
                 (unsigned long long)(st.dropped_queue_full + st.dropped_export));
        line += buf;
      }
      fprintf(stderr, "%s\n", line.c_str());
    }
  }

  // Services first (payment first: its hanging charges end at once), so the
  // traffic's requests in flight are answered or refused quickly.
  InterruptSqlSleeps();
  for (auto& s : services) s->Stop();
  if (traffic) traffic->Stop();
  faults.StopSchedule();
  services.clear();
  // The agents flush in parallel (each waits at most 2 s for a down server).
  std::vector<std::thread> flushes;
  for (auto& a : agents) flushes.emplace_back([&a] { a->Shutdown(2000); });
  for (auto& t : flushes) t.join();
  agents.clear();
  if (temp_dir) {
    std::error_code ec;
    std::filesystem::remove_all(data_dir, ec);
  }
  fprintf(stderr, "loupe-demo: stopped\n");
  return exit_code;
}

}  // namespace
}  // namespace demo

int main(int argc, char** argv) { return demo::Run(argc, argv); }
