// loupe: the single binary. Wires the stages of ARCHITECTURE.md §2 and owns
// start and stop: receivers → pipeline (assembler → store → live) → api.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "alert/alert_config.h"
#include "alert/alert_service.h"
#include "alert/store_signals.h"
#include "api/api.h"
#include "notify/notifier.h"
#include "auth/registry.h"
#include "common/clock.h"
#include "common/env.h"
#include "common/logging.h"
#include "common/memory.h"
#include "common/metrics.h"
#include "common/process_metrics.h"
#include "control/agent_config.h"
#include "hostagent/agent_command.h"
#include "ingest/agent_receiver.h"
#include "ingest/ingest_log.h"
#include "ingest/metrics_receiver.h"
#include "ingest/otlp_front_door.h"
#include "ingest/otlp_grpc_receiver.h"
#include "ingest/pipeline.h"
#include "ingest/trace_receiver.h"
#include "live/active_registry.h"
#include "live/event_log.h"
#include "live/live_state.h"
#include "net/http_server.h"
#include "server/alert_notify.h"
#include "server/config.h"
#include "server/live_restore.h"
#include "server/memory_trim.h"
#include "server/metrics_store.h"
#include "server/store_metrics.h"
#include "server/store_verify.h"
#include "store/embedded/embedded_store.h"
#include "store/mem/mem_store.h"
#include "store/store.h"

extern char** environ;

namespace loupe::server {
namespace {

constexpr char kVersion[] = "0.1.0";

std::map<std::string, std::string> Environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    size_t eq = kv.find('=');
    if (eq != std::string::npos && kv.rfind("LOUPE_", 0) == 0) {
      env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }
  return env;
}

bool IsDir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Status MakeDirs(const std::string& path) {
  std::string cur;
  for (size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      if (!cur.empty() && !IsDir(cur) && ::mkdir(cur.c_str(), 0700) != 0 && errno != EEXIST) {
        return Status::IoError("creating " + cur + ": " + std::strerror(errno));
      }
    }
    if (i < path.size()) cur.push_back(path[i]);
  }
  return Status::OK();
}

// web/dist beside the build directory (build/loupe → web/dist), or web/ beside an installed binary.
std::string FindWebDir() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  buf[n] = 0;
  std::string dir(buf);
  dir = dir.substr(0, dir.rfind('/'));
  for (const std::string& c : {dir + "/../web/dist", dir + "/web", dir + "/../share/loupe/web"}) {
    if (IsDir(c)) {
      char real[PATH_MAX];
      if (::realpath(c.c_str(), real)) return real;
    }
  }
  return "";
}

// Per-project instance cap figures of the assembler (docs/operations.md).
// Project names come from the registry; ids it does not know are left out.
void RegisterInstanceCapMetrics(MetricsRegistry* m, ingest::Pipeline* pipeline,
                                auth::Registry* registry) {
  using Values = std::vector<std::pair<Labels, double>>;
  auto per_project = [pipeline, registry](auto field) {
    return [pipeline, registry, field] {
      std::map<store::ProjectId, std::string> names;
      for (const auth::Project& p : registry->AllProjects()) names.emplace(p.id, p.name);
      Values out;
      for (const ingest::InstanceCapStats& s : pipeline->InstanceStats()) {
        auto it = names.find(s.project);
        if (it == names.end()) continue;
        out.push_back({{{"project", it->second}}, field(s)});
      }
      return out;
    };
  };
  m->AddCallback("loupe_assembler_instances",
                 "Instances a project keeps by name, counted against its instance cap.",
                 per_project([](const ingest::InstanceCapStats& s) {
                   return static_cast<double>(s.instances);
                 }));
  m->AddCallback(
      "loupe_assembler_instance_cap",
      "Instances a project keeps by name (--max-instances-per-project).",
      per_project([](const ingest::InstanceCapStats& s) { return static_cast<double>(s.cap); }));
  m->AddCallback("loupe_assembler_overflowed_instances",
                 "Instance ids seen within --instance-idle-seconds but folded into "
                 "\"(overflow)\" because the cap was full.",
                 per_project([](const ingest::InstanceCapStats& s) {
                   return static_cast<double>(s.overflowed_instances);
                 }));
  m->AddCounterCallback("loupe_assembler_overflowed_instances_total",
                        "Instance ids folded into \"(overflow)\" since start.",
                        per_project([](const ingest::InstanceCapStats& s) {
                          return static_cast<double>(s.overflowed_total);
                        }));
}

int RunServer(const std::vector<std::string>& args) {
  bool help = false;
  auto parsed = ParseServerConfig(args, Environment(), &help);
  if (!parsed.ok()) {
    std::fprintf(stderr, "loupe server: %s\n", parsed.status().message().c_str());
    return 2;
  }
  if (help) {
    std::fputs(ServerHelp().c_str(), stdout);
    return 0;
  }
  ServerConfig cfg = *parsed;
  // Request-sized buffers (up to 20 MiB inflated) go back to the system when
  // freed, so a burst of refused bombs does not stay in RSS (common/memory.h).
  ReturnLargeBuffersWhenFreed();
  if (cfg.log_level == "debug") SetLogLevel(LogLevel::kDebug);
  if (cfg.log_level == "warn") SetLogLevel(LogLevel::kWarning);
  if (cfg.log_level == "error") SetLogLevel(LogLevel::kError);

  // Block the stop signals in every thread; main waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  Status s = MakeDirs(cfg.data_dir);
  if (!s.ok()) {
    LogError("cannot create data directory: " + s.message());
    return 1;
  }
  auth::InitialCredentials creds;
  auto registry = auth::Registry::Open(cfg.data_dir, &creds);
  if (!registry.ok()) {
    LogError("opening credentials in " + cfg.data_dir + ": " + registry.status().message());
    return 1;
  }

  MetricsRegistry* metrics = MetricsRegistry::Default();
  RegisterProcessMetrics(metrics);
  // Before the worker threads exist: they take their arenas on first use.
  MemoryTrimOptions trim;
  trim.arena_max = static_cast<int>(cfg.malloc_arena_max);
  trim.trim_interval_us = cfg.malloc_trim_seconds * 1'000'000;
  std::atomic<store::EmbeddedStore*> trim_store{nullptr};
  trim.release_mapped = [&trim_store]() -> size_t {
    store::EmbeddedStore* s = trim_store.load();
    return s != nullptr ? s->ReleaseIdleSegmentPages() : 0;
  };
  MemoryTrimmer trimmer(trim, metrics);
  trimmer.Start();
  Clock* clock = Clock::Real();
  const bool embedded = cfg.store == "embedded";
  std::unique_ptr<store::Store> store;
  store::EmbeddedStore* embedded_store = nullptr;
  // Destroyed before the store: the trimmer's thread calls into it.
  struct StopTrimmer {
    MemoryTrimmer* t;
    ~StopTrimmer() { t->Stop(); }
  } stop_trimmer{&trimmer};
  if (embedded) {
    store::EmbeddedOptions eo;
    eo.dir = cfg.data_dir + "/store";
    eo.memtable_bytes = static_cast<size_t>(cfg.memtable_mb) << 20;
    eo.clock = clock;
    eo.maintenance_interval_us = cfg.retention_interval_seconds * 1'000'000;
    eo.compaction_grace_us = cfg.compaction_grace_seconds * 1'000'000;
    eo.scatter_cache_bytes = static_cast<size_t>(cfg.scatter_cache_mb) << 20;
    // The registry (auth.json) is the durable record of every project's
    // retention; the store gets it before it reads a file (expired
    // partitions are deleted at open), and later changes through the API.
    eo.default_retention = {auth::kDefaultRetentionDays, auth::kDefaultRollupRetentionDays};
    for (const auth::Project& p : (*registry)->AllProjects()) {
      eo.retention[p.id] = {p.retention_days, p.rollup_retention_days};
    }
    auto opened = store::EmbeddedStore::Open(eo);
    if (!opened.ok()) {
      LogError("opening the store in " + eo.dir + ": " + opened.status().ToString());
      return 1;
    }
    embedded_store = opened->get();
    trim_store.store(embedded_store);
    store = std::move(*opened);
  } else {
    store = store::NewMemStore(static_cast<size_t>(cfg.max_transactions));
  }
  RegisterStoreMetrics(metrics, store.get(), embedded_store, registry->get());
  auto agent_config = control::AgentConfigStore::Open(cfg.data_dir);
  if (!agent_config.ok()) {
    LogError("opening agent configuration in " + cfg.data_dir + ": " +
             agent_config.status().message());
    return 1;
  }
  // The live ring (per project, in memory) feeds the live stream and alert
  // rules; every event is also kept by the store (GET /api/v1/events).
  live::EventLog events(10000);
  events.SetSink([st = store.get()](model::ProjectId project, const model::Event& e) {
    st->AppendEvents(project, {&e, 1});  // a refusal is counted by the store
  });
  live::LiveOptions live_opts;
  // BAD_RESPONSE_TIME: slower than the service's highest active band (8 s by default).
  live_opts.bad_response_us = [configs = agent_config->get()](model::ProjectId project,
                                                              const std::string& service) {
    const std::vector<int64_t>& bands = configs->Get(project, service).config.bands_ms;
    return bands.empty() ? int64_t{0} : bands.back() * 1000;
  };
  live::LiveState live(clock, live_opts, &events);
  live::ActiveOptions active_opts;
  active_opts.max_instances_per_project = static_cast<size_t>(cfg.max_instances_per_project);
  live::ActiveRegistry active(clock, &events, active_opts);
  active.Start();

  ingest::PipelineOptions popts;
  popts.max_inflight = cfg.max_inflight;
  popts.checkpoint_bytes = static_cast<uint64_t>(cfg.checkpoint_mb) << 20;
  popts.checkpoint_interval_us = cfg.checkpoint_seconds * 1'000'000;
  popts.assembler.max_instances_per_project = static_cast<size_t>(cfg.max_instances_per_project);
  popts.assembler.instance_idle_us = cfg.instance_idle_seconds * 1'000'000;
  // Metrics (OTLP, host agent) go to the time-series store; embedded mode
  // only. Declared before the pipeline, like the log: its checkpoints flush it.
  std::unique_ptr<tsdb::TimeSeriesStore> tsdb;
  if (embedded) {
    auto opened = OpenMetricsStore(cfg.data_dir, **registry);
    if (!opened.ok()) {
      LogError("opening the time-series store in " + cfg.data_dir +
               "/tsdb: " + opened.status().ToString());
      return 1;
    }
    tsdb = std::move(*opened);
  }
  // Declared before the pipeline so that it outlives it: the pipeline's
  // destructor may take a last checkpoint (early-return paths).
  std::unique_ptr<ingest::IngestLog> ingest_log;
  ingest::Pipeline pipeline(store.get(), &live, clock, metrics, popts);
  if (tsdb) pipeline.AttachMetricsStore(tsdb.get());

  // Recovery: replay the ingest log (what was acknowledged since the last
  // checkpoint), then log every new request before acknowledging it.
  if (embedded) {
    ingest::IngestLogOptions lo;
    lo.dir = cfg.data_dir + "/wal";
    lo.commit_delay_us = cfg.wal_commit_delay_us;
    ingest::IngestReplayStats rs;
    const int64_t t0 = clock->NowMicros();
    auto opened = ingest::IngestLog::Open(
        lo, [&](const ingest::LoggedRequest& r) { return pipeline.Replay(r); }, &rs);
    if (!opened.ok()) {
      pipeline.FinishReplay();
      LogError("recovering the ingest log in " + lo.dir + ": " + opened.status().ToString() +
               " (run `loupe store verify " + cfg.data_dir + "` for details)");
      return 1;
    }
    s = pipeline.FinishReplay();
    if (!s.ok()) {
      LogError("replaying the ingest log: " + s.ToString());
      return 1;
    }
    ingest_log = std::move(*opened);
    pipeline.AttachLog(ingest_log.get());
    if (rs.records + rs.checkpoint_requests > 0) {
      const double secs = static_cast<double>(clock->NowMicros() - t0) / 1e6;
      char line[256];
      std::snprintf(line, sizeof(line),
                    "recovered the ingest log: %llu pending requests from the checkpoint + %llu "
                    "logged requests (%.1f MiB) in %.2f s%s",
                    static_cast<unsigned long long>(rs.checkpoint_requests),
                    static_cast<unsigned long long>(rs.records),
                    static_cast<double>(rs.bytes) / (1 << 20), secs,
                    rs.torn_tail ? "; cut a torn tail" : "");
      LogInfo(line);
      s = pipeline.Checkpoint();
      if (!s.ok()) LogError("checkpoint after recovery: " + s.message());
    }
  }
  // "Today" and the last minutes come back from the store (replaces what the
  // log replay recorded, which the store holds too), before ingest resumes.
  {
    std::vector<store::ProjectId> ids;
    for (const auth::Project& p : (*registry)->AllProjects()) ids.push_back(p.id);
    const int64_t t0 = clock->NowMicros();
    s = RestoreLive(*store, ids, &live, t0);
    if (!s.ok()) {
      LogWarning("rebuilding today's live figures from the store: " + s.ToString());
    } else {
      LogInfo("rebuilt today's live figures from the store in " +
              std::to_string((clock->NowMicros() - t0) / 1000) + " ms");
    }
  }
  pipeline.Start();
  RegisterInstanceCapMetrics(metrics, &pipeline, registry->get());
  MetricsMaintainer tsdb_maintainer(tsdb.get(), registry->get(), clock);
  if (tsdb) tsdb_maintainer.Start();

  // The OTLP ports: one front door routes OTLP/HTTP, the Loupe agent
  // extensions (/v1/loupe/...) and OTLP/gRPC to the receivers.
  ingest::OtlpFrontDoor door(registry->get(), &pipeline, metrics);
  ingest::TraceReceiver traces(&pipeline, metrics);
  ingest::AgentReceiver agent_receiver(&active, agent_config->get(), metrics, {}, &events,
                                       store.get());
  traces.AddRoutes(&door);
  // Without a time-series store (--store memory) /v1/metrics stays a 404.
  ingest::MetricsReceiver metrics_receiver(&pipeline);
  if (tsdb) metrics_receiver.AddRoutes(&door);
  agent_receiver.AddRoutes(&door);
  net::HttpServerOptions oh;
  oh.bind_address = cfg.bind;
  oh.port = static_cast<uint16_t>(cfg.otlp_http_port);
  oh.threads = cfg.ingest_threads;
  oh.request_timeout_seconds = cfg.request_timeout_seconds;
  oh.max_connections_per_client = static_cast<size_t>(cfg.max_connections_per_client);
  oh.metrics = metrics;
  oh.name = "otlp_http";
  auto otlp_http_server = door.ServeHttp(oh);
  if (!otlp_http_server.ok()) {
    LogError("OTLP/HTTP receiver: " + otlp_http_server.status().message());
    return 1;
  }
  ingest::OtlpGrpcOptions og;
  og.bind_address = cfg.bind;
  og.port = static_cast<uint16_t>(cfg.otlp_grpc_port);
  auto grpc = ingest::OtlpGrpcReceiver::Start(&door, og);
  if (!grpc.ok()) {
    LogError("OTLP/gRPC receiver: " + grpc.status().message());
    return 1;
  }

  // Alerting: rules read the store's rollups, live agents and events every
  // 5 s; state changes become `alert` events.
  auto alert_config = alert::AlertConfig::Open(cfg.data_dir);
  if (!alert_config.ok()) {
    LogError("opening alert rules in " + cfg.data_dir + ": " + alert_config.status().ToString());
    return 1;
  }
  auto alert_sources = [&]() -> std::unique_ptr<alert::SignalSource> {
    auto source = std::make_unique<alert::StoreSignalSource>(store.get(), &active, live.events());
    control::AgentConfigStore* configs = agent_config->get();
    source->set_band_thresholds([configs](uint32_t project, const std::string& service) {
      std::vector<int64_t> us;
      for (int64_t ms : configs->Get(project, service).config.bands_ms) us.push_back(ms * 1000);
      return us;
    });
    return source;
  };
  // Notifications: a durable queue per channel in DATA_DIR/notify.
  notify::NotifierOptions nopts;
  nopts.dir = cfg.data_dir + "/notify";
  nopts.clock = clock;
  for (size_t b = 0, e; b < cfg.notify_allow_hosts.size(); b = e + 1) {
    e = cfg.notify_allow_hosts.find(',', b);
    if (e == std::string::npos) e = cfg.notify_allow_hosts.size();
    std::string host = cfg.notify_allow_hosts.substr(b, e - b);
    while (!host.empty() && host.front() == ' ') host.erase(0, 1);
    while (!host.empty() && host.back() == ' ') host.pop_back();
    if (!host.empty()) nopts.allow_hosts.push_back(host);
  }
  nopts.smtp.host = cfg.smtp_host;
  nopts.smtp.port = static_cast<uint16_t>(cfg.smtp_port);
  nopts.smtp.from = cfg.smtp_from;
  nopts.smtp.user = cfg.smtp_user;
  nopts.smtp.starttls = cfg.smtp_starttls == "required";
  if (!cfg.smtp_password_file.empty()) {
    auto password = ReadFileToString(Env::Default(), cfg.smtp_password_file);
    if (!password.ok()) {
      LogError("--smtp-password-file: " + password.status().message());
      return 1;
    }
    nopts.smtp.password = *password;
    while (!nopts.smtp.password.empty() &&
           (nopts.smtp.password.back() == '\n' || nopts.smtp.password.back() == '\r')) {
      nopts.smtp.password.pop_back();
    }
  }
  const std::string external_url =
      !cfg.external_url.empty()
          ? cfg.external_url
          : "http://" + (cfg.bind == "0.0.0.0" || cfg.bind == "::" ? std::string("localhost")
                                                                  : cfg.bind) +
                ":" + std::to_string(cfg.http_port);
  nopts.external_url = external_url;
  auto notifier = notify::Notifier::Open(nopts);
  if (!notifier.ok()) {
    LogError("notifications: " + notifier.status().message());
    return 1;
  }
  auth::Registry* reg = registry->get();
  AlertNotifier alert_notifier(
      notifier->get(), alert_config->get(),
      [reg](model::ProjectId id) {
        for (const auth::Project& p : reg->AllProjects()) {
          if (p.id == id) return p.name;
        }
        return std::to_string(id);
      },
      external_url.back() == '/' ? external_url.substr(0, external_url.size() - 1) : external_url,
      clock);
  alert_notifier.Sync();  // queues left from before a restart are delivered now
  alert_notifier.RegisterMetrics(metrics);
  alert::AlertServiceOptions alert_opts;
  alert_opts.state_path = cfg.data_dir + "/alert-state.bin";
  alert::AlertService alerts(alert_config->get(), alert_sources, live.events(), &alert_notifier,
                             clock, alert_opts);
  alerts.RegisterMetrics(metrics);
  alerts.Start();

  // Query API, live stream and dashboard.
  api::ApiOptions aopts;
  aopts.web_dir = cfg.web_dir.empty() ? FindWebDir() : cfg.web_dir;
  aopts.instance_idle_us = cfg.instance_idle_seconds * 1'000'000;
  api::Api api(api::ApiDeps{store.get(), registry->get(), &live, metrics, clock, &active,
                            agent_config->get(),
                            [&pipeline, &cfg](store::ProjectId project) {
                              api::InstanceCap cap;
                              cap.cap = static_cast<size_t>(cfg.max_instances_per_project);
                              for (const auto& s : pipeline.InstanceStats()) {
                                if (s.project != project) continue;
                                cap.instances = s.instances;
                                cap.overflowed = s.overflowed_instances;
                              }
                              return cap;
                            },
                            alert_config->get(), &alerts, alert_sources,
                            [&](const alert::Channel& c) { return alert_notifier.Test(c); },
                            [&](const alert::Channel& c, size_t limit) {
                              return alert_notifier.Deliveries(c, limit);
                            },
                            tsdb.get()},
               aopts);
  api.Start();
  net::HttpServerOptions ah;
  ah.bind_address = cfg.bind;
  ah.port = static_cast<uint16_t>(cfg.http_port);
  ah.threads = cfg.http_threads;
  ah.max_body_bytes = 1 << 20;
  ah.request_timeout_seconds = cfg.request_timeout_seconds;
  ah.max_connections_per_client = static_cast<size_t>(cfg.max_connections_per_client);
  ah.metrics = metrics;
  ah.name = "api";
  auto api_server = net::HttpServer::Start(
      ah, [&](net::HttpRequest& rq, net::HttpResponse* rs) { api.Handle(rq, rs); }, nullptr,
      [&](const net::HttpRequest& rq, net::HttpResponse* reject,
          std::shared_ptr<net::WebSocketConnection> c) {
        return api.HandleWebSocket(rq, reject, std::move(c));
      });
  if (!api_server.ok()) {
    LogError("HTTP API: " + api_server.status().message());
    return 1;
  }

  if (!creds.api_token.empty()) {
    // Printed once, on first start only (ARCHITECTURE.md §5); never logged again.
    std::printf(
        "\nCreated project '%s'. Keep these; they are shown only once:\n"
        "  ingest key: %s\n  API token:  %s\n"
        "(also in %s/initial-credentials.json, mode 0600)\n\n",
        creds.project.c_str(), creds.ingest_key.c_str(), creds.api_token.c_str(),
        cfg.data_dir.c_str());
    std::fflush(stdout);
  }
  if (!IsLoopbackAddress(cfg.bind)) {
    LogWarning("the API and dashboard are served on " + cfg.bind + ":" +
               std::to_string((*api_server)->port()) +
               " without TLS: API tokens and ingest keys cross the network in clear. Put a "
               "TLS-terminating proxy in front, or listen on loopback only (--bind 127.0.0.1).");
  }
  LogInfo("loupe " + std::string(kVersion) + " serving: dashboard+API http://" + cfg.bind + ":" +
          std::to_string((*api_server)->port()) +
          "  OTLP/HTTP :" + std::to_string((*otlp_http_server)->port()) + "  OTLP/gRPC :" +
          std::to_string((*grpc)->port()) + "  data " + cfg.data_dir + "  store " + cfg.store +
          (aopts.web_dir.empty() ? "  (no dashboard files found; build web/)" : ""));

  int sig = 0;
  sigwait(&stop_signals, &sig);
  LogInfo(std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") + ", stopping");

  // Stop taking new data first, then drain, then stop serving queries.
  (*otlp_http_server)->Stop();
  (*grpc)->Stop();
  pipeline.Stop();
  tsdb_maintainer.Stop();
  alerts.Stop();
  active.Stop();
  api.Stop();
  (*api_server)->Stop();
  if (ingest_log) {
    s = ingest_log->Close();
    if (!s.ok()) LogError("closing the ingest log: " + s.message());
  }
  if (tsdb) {
    s = tsdb->Close();
    if (!s.ok()) LogError("closing the time-series store: " + s.message());
  }
  s = store->Close();
  if (!s.ok()) {
    LogError("closing store: " + s.message());
    return 1;
  }
  LogInfo("stopped cleanly");
  return 0;
}

}  // namespace
}  // namespace loupe::server

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    std::fputs(loupe::server::MainHelp().c_str(), stdout);
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "version" || args[0] == "--version") {
    std::printf("loupe %s\n", loupe::server::kVersion);
    return 0;
  }
  if (args[0] == "server") {
    return loupe::server::RunServer(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  if (args[0] == "store") return loupe::server::RunStoreCommand(argc - 2, argv + 2);
  if (args[0] == "agent") {
    return loupe::hostagent::RunAgentCommand(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  std::fprintf(stderr, "loupe: unknown command '%s'\n\n%s", args[0].c_str(),
               loupe::server::MainHelp().c_str());
  return 2;
}
