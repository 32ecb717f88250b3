// Cost of the C++ agent on the application thread (agents/cpp): transaction
// begin+end with export on, per-step cost, an SQL step with binds, and a
// switched-off dynamic-profiling probe. The exporter runs for real against a
// local HTTP sink that accepts and discards (answers 200).
//
// Build and run (in the Loupe tree; results in docs/benchmarks.md):
//   cmake --build build --target loupe_agent_benchmark
//   build/agents/cpp/loupe_agent_benchmark --benchmark_repetitions=10
//       --benchmark_report_aggregates_only=true   (one command line)
// (standalone: cmake -S agents/cpp -B build-agent, target loupe_agent_benchmark.)
// Budgets: <= 1 us per transaction, <= 300 ns per step, <= 10 ns probe off,
// all "of the application thread": read the CPU column, which Google
// Benchmark takes from the benchmark thread's own CPU clock, so the exporter
// and snapshot threads' work (and other processes on a shared machine) are
// not in it; the Time column is wall time and includes being preempted.
// Per step = (BM_TransactionWith10Steps - BM_TransactionBeginEnd) / 10, and
// the same differences for the SQL and external steps.

#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "loupe/agent.h"

namespace {

// Accepts connections and answers every request 200 with an empty JSON body.
class Sink {
 public:
  Sink() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 16) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      std::abort();
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~Sink() {
    stop_ = true;
    thread_.join();
    for (auto& t : conns_) t.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  void Loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c >= 0) conns_.emplace_back([this, c] { Serve(c); });
    }
  }
  void Serve(int c) {
    std::string buf;
    char tmp[1 << 16];
    while (!stop_) {
      size_t he = buf.find("\r\n\r\n");
      if (he != std::string::npos) {
        size_t cl = 0;
        const size_t k = buf.find("Content-Length: ");
        if (k != std::string::npos && k < he) cl = std::strtoul(buf.c_str() + k + 16, nullptr, 10);
        if (buf.size() >= he + 4 + cl) {
          buf.erase(0, he + 4 + cl);
          static const char kAnswer[] =
              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
          if (::send(c, kAnswer, sizeof kAnswer - 1, MSG_NOSIGNAL) < 0) break;
          continue;
        }
      }
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = ::recv(c, tmp, sizeof tmp, 0);
      if (n <= 0) break;
      buf.append(tmp, static_cast<size_t>(n));
    }
    ::close(c);
  }

  int fd_;
  int port_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<std::thread> conns_;
};

Sink& TheSink() {
  static Sink* sink = new Sink;  // lives for the process
  return *sink;
}

loupe::Agent& TheAgent() {
  static loupe::Agent* agent = [] {
    loupe::AgentOptions o;
    o.service = "bench";
    o.instance = "bench-1";
    o.endpoint = TheSink().url();
    // > iterations per run, and room for 200,000 of the largest records
    // here (~1.2 KB, ten method steps): nothing is dropped. LOUPE_BENCH_QUEUE
    // and LOUPE_BENCH_QUEUE_BYTES set other bounds, e.g. the defaults (8192
    // and 8388608), to see what an application outrunning the exporter pays
    // when the queue fills and drops.
    o.queue_capacity = 1 << 18;
    o.queue_bytes = size_t{256} << 20;
    if (const char* q = std::getenv("LOUPE_BENCH_QUEUE")) {
      o.queue_capacity = std::strtoul(q, nullptr, 10);
    }
    if (const char* q = std::getenv("LOUPE_BENCH_QUEUE_BYTES")) {
      o.queue_bytes = std::strtoul(q, nullptr, 10);
    }
    o.loupe_extensions = true;   // snapshots run too, as in production
    return new loupe::Agent(o);
  }();
  return *agent;
}

// Waits (untimed) until the exporter has exported everything queued.
void Drain() {
  for (int i = 0; i < 2000; ++i) {
    const loupe::AgentStats s = TheAgent().stats();
    if (s.exported + s.dropped_queue_full + s.dropped_export >= s.transactions) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// Runs `body` once per iteration. Arg 0, "burst": back to back, so the
// application thread outruns the exporter (about 2x here) and the export
// queue fills with records of finished transactions (up to its bounds, then
// drops): the worst case. Arg 1, "steady": after every max_batch transactions
// the timers pause until the exporter has caught up, as for an application
// below the exporter's throughput (any real one: the exporter handles several
// 100k transactions a second).
//
// Counters: transactions dropped (must stay 0), and the benchmark thread's
// context switches inside the timed part: 'blocked' (voluntary: the
// application thread slept in the agent) and 'preempted' (involuntary: the
// exporter thread or other processes took the core, which is why the Time
// column exceeds the CPU column on a loaded machine).
template <typename Body>
void Loop(benchmark::State& state, Body body) {
  const bool steady = state.range(0) == 1;
  constexpr int64_t kChunk = 512;  // AgentOptions::max_batch: wakes the exporter
  Drain();
  int64_t blocked = 0, preempted = 0, n = 0;
  rusage a, b;
  getrusage(RUSAGE_THREAD, &a);
  for (auto _ : state) {
    body();
    if (steady && ++n % kChunk == 0) {
      getrusage(RUSAGE_THREAD, &b);
      blocked += b.ru_nvcsw - a.ru_nvcsw;
      preempted += b.ru_nivcsw - a.ru_nivcsw;
      state.PauseTiming();
      Drain();
      state.ResumeTiming();
      getrusage(RUSAGE_THREAD, &a);
    }
  }
  getrusage(RUSAGE_THREAD, &b);
  blocked += b.ru_nvcsw - a.ru_nvcsw;
  preempted += b.ru_nivcsw - a.ru_nivcsw;
  state.counters["dropped_queue_full"] =
      static_cast<double>(TheAgent().stats().dropped_queue_full);
  state.counters["blocked"] = static_cast<double>(blocked);
  state.counters["preempted"] = static_cast<double>(preempted);
  state.SetLabel(steady ? "steady" : "burst");
}

void BM_TransactionBeginEnd(benchmark::State& state) {
  loupe::Agent& agent = TheAgent();
  Loop(state, [&] { loupe::Transaction tx(agent, "GET /orders/{id}"); });
}
BENCHMARK(BM_TransactionBeginEnd)->Iterations(200000)->Arg(0)->Arg(1);

// A transaction as an HTTP service records one (demo/service.cc): admission
// check, incoming traceparent, method/path, client IP, user, status.
void BM_TransactionHttpFull(benchmark::State& state) {
  loupe::Agent& agent = TheAgent();
  loupe::TraceContext parent;
  if (!loupe::ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &parent)) {
    std::abort();
  }
  Loop(state, [&] {
    loupe::Admission adm = agent.Admit("GET /orders/{id}", "203.0.113.7");
    benchmark::DoNotOptimize(adm);
    loupe::Transaction tx(agent, "GET /orders/{id}", &parent);
    tx.SetHttp("GET", "/orders/4711?expand=items");
    tx.SetClientIp("203.0.113.7");
    tx.SetUser("customer-4242");
    tx.SetStatus(200);
  });
}
BENCHMARK(BM_TransactionHttpFull)->Iterations(200000)->Arg(0)->Arg(1);

void BM_TransactionWith10Steps(benchmark::State& state) {
  loupe::Agent& agent = TheAgent();
  Loop(state, [&] {
    loupe::Transaction tx(agent, "GET /orders/{id}");
    for (int i = 0; i < 10; ++i) loupe::Step s = loupe::Step::Method("orders::Load");
  });
}
BENCHMARK(BM_TransactionWith10Steps)->Iterations(200000)->Arg(0)->Arg(1);

void BM_TransactionWithSqlStep3Binds(benchmark::State& state) {
  loupe::Agent& agent = TheAgent();
  Loop(state, [&] {
    loupe::Transaction tx(agent, "GET /orders/{id}");
    loupe::Step s = loupe::Step::Sql("postgresql",
                                     "SELECT id, total, status FROM orders WHERE id = ? AND "
                                     "customer = ? AND status = ?");
    s.Bind("17").Bind("customer-4242").Bind("open").Rows(1, 0.2);
  });
}
BENCHMARK(BM_TransactionWithSqlStep3Binds)->Iterations(200000)->Arg(0)->Arg(1);

// An outgoing HTTP call: the step plus the traceparent to send with it.
void BM_TransactionWithExternalStep(benchmark::State& state) {
  loupe::Agent& agent = TheAgent();
  Loop(state, [&] {
    loupe::Transaction tx(agent, "GET /orders/{id}");
    loupe::Step s = loupe::Step::External("POST", "http://127.0.0.1:7003/payments");
    std::string tp = s.Traceparent();
    benchmark::DoNotOptimize(tp);
    s.HttpStatus(200);
  });
}
BENCHMARK(BM_TransactionWithExternalStep)->Iterations(200000)->Arg(0)->Arg(1);

// A switched-off LOUPE_METHOD probe inside an open transaction (profiling
// has no patterns: the agent has no configuration from the sink).
void BM_ProbeOff(benchmark::State& state) {
  loupe::Agent& agent = TheAgent();
  loupe::Transaction tx(agent, "GET /orders/{id}");
  for (auto _ : state) {
    LOUPE_METHOD(agent, "orders::Load");
    benchmark::ClobberMemory();
  }
  // A probe that were on would record steps (and past max_steps count them).
  if (agent.stats().steps_truncated != 0) state.SkipWithError("the probe recorded steps");
}
BENCHMARK(BM_ProbeOff);

}  // namespace

BENCHMARK_MAIN();
