// Loupe C++ agent: the only public header.
//
// An application creates one Agent at start-up and wraps each request it
// handles in a Transaction (RAII) and the work inside it in Steps (SQL,
// external calls, methods, messages). Finished transactions are exported as
// OTLP/HTTP protobuf (a SERVER span per transaction, a child span per step)
// from a background thread, so the agent works against any OTLP endpoint.
// Against Loupe it also reports active transactions and stack samples every
// second and fetches its configuration (bands, throttling, dynamic profiling)
// through the extensions in docs/format/agent-protocol.md.
//
// Costs (budgets, measured in bench/agent_benchmark.cc): <= 1 us of the
// application thread per transaction and <= 300 ns per step with export on; a
// switched-off dynamic-profiling probe <= 10 ns. The application thread never
// blocks on the network: finished transactions go into a bounded queue
// (entries and bytes) that drops (and counts) when full.
//
// Thread-safety: Agent is thread-safe. A Transaction and its Steps belong to
// the thread that created them (Steps nest on that thread's current
// transaction); Transaction::Current() is per thread.
#ifndef LOUPE_AGENT_H_
#define LOUPE_AGENT_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace loupe {

struct AgentOptions {
  std::string service;                             // service.name (required)
  std::string instance;                            // service.instance.id; empty: "<host>:<pid>"
  std::string endpoint = "http://127.0.0.1:4318";  // OTLP/HTTP base URL (no path)
  std::string ingest_key;         // project ingest key, sent as Authorization: Bearer
  bool loupe_extensions = true;   // active snapshots, stack samples, config (Loupe only)
  // Finished transactions waiting for export: at most queue_capacity of them
  // in queue_bytes of memory (mapped and faulted in when the agent starts, so
  // a burst writes into resident memory); beyond either, new ones are dropped
  // and counted (dropped_queue_full). A transaction takes ~150 bytes plus ~90
  // a step plus its texts (README.md, "Limits").
  size_t queue_capacity = 8192;
  size_t queue_bytes = size_t{8} << 20;
  size_t max_batch = 512;         // transactions per OTLP request
  int flush_interval_ms = 1000;   // export at least this often
  int request_timeout_ms = 5000;  // per HTTP request to the server
  size_t max_steps = 1000;        // steps kept per transaction; the rest are counted
  size_t max_text = 4096;         // bytes kept of SQL texts, URLs, messages
  bool enabled = true;            // false: every call is a cheap no-op
  // Export retries (429, 502, 503, 504, connection errors, timeouts): at most
  // this many attempts per batch, waiting retry_backoff_ms * 2^n (+-50 %
  // jitter, <= 5 s) or the server's Retry-After (<= 30 s) in between.
  int max_export_attempts = 5;
  int retry_backoff_ms = 200;
  int snapshot_interval_ms = 1000;      // active snapshots (loupe_extensions)
  // Active-stack samples also carry the sampled thread's native frames
  // (Linux x86-64/aarch64): the thread is interrupted by a real-time signal
  // (native_stack_signal; 0: SIGRTMIN+5) whose handler walks its stack. Off by
  // default because a signal makes some blocking calls in the application
  // (poll, epoll_wait, reads with a timeout) return EINTR.
  bool native_stacks = false;
  int native_stack_signal = 0;
  int config_poll_interval_ms = 30000;  // configuration poll fallback
  // Crash reports (loupe_extensions): on SIGSEGV, SIGBUS, SIGFPE, SIGILL or
  // SIGABRT (where the application has no handler of its own) the process
  // writes the signal, the native stack and the transaction in flight to
  // crash_dir/loupe-crash-<service>-<pid>.txt; the next start sends the
  // service's reports to the server (a NATIVE_CRITICAL_ERROR event) and
  // deletes them once acknowledged. crash_dir empty: $LOUPE_CRASH_DIR, else
  // the system temporary directory ($TMPDIR, else /tmp).
  bool crash_reports = true;
  std::string crash_dir;
};

// Counters since start (monotonic), for tests and the application's own metrics.
struct AgentStats {
  uint64_t transactions = 0;        // finished
  uint64_t exported = 0;            // acknowledged by the server
  uint64_t dropped_queue_full = 0;  // dropped because the queue was full
  uint64_t dropped_export = 0;      // dropped after retries failed or 4xx
  uint64_t crash_reports_sent = 0;  // crash reports of earlier runs acknowledged by the server
  uint64_t export_retries = 0;
  uint64_t steps_truncated = 0;
  uint64_t throttled = 0;  // requests rejected or redirected by throttling
  uint64_t snapshots_sent = 0;
  uint64_t stack_samples = 0;
  uint64_t config_version = 0;  // version of the configuration in force
};

// W3C trace context (https://www.w3.org/TR/trace-context/).
struct TraceContext {
  uint8_t trace_id[16] = {};
  uint8_t span_id[8] = {};
  bool sampled = true;
  bool valid() const;
};
// Parses a `traceparent` header value; false if malformed.
bool ParseTraceparent(std::string_view header, TraceContext* out);
// "00-<trace>-<span>-01" (55 bytes).
std::string FormatTraceparent(const TraceContext& ctx);

class Transaction;

// What throttling decided for a request about to start.
struct Admission {
  enum Kind { kAdmit, kReject, kRedirect } kind = kAdmit;
  std::string redirect_url;  // for kRedirect
};

class Agent {
 public:
  // Starts the background exporter (and, with loupe_extensions, the
  // snapshot/config thread). Never fails: a bad endpoint shows in stats.
  explicit Agent(AgentOptions options);
  ~Agent();  // Shutdown()
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Exports what is queued (up to timeout_ms) and stops the threads.
  void Shutdown(int timeout_ms = 2000);

  // Throttling check for a request to `endpoint`: kReject (answer 503) or
  // kRedirect when the instance (or that endpoint) has as many active
  // transactions as its configured limit. A rejection is counted, exported as
  // a transaction with status 503 and attribute loupe.throttled=true, and
  // reported as an event.
  Admission Admit(std::string_view endpoint, std::string_view client_ip = {});

  AgentStats stats() const;
  const AgentOptions& options() const;

  // Dynamic profiling: is method profiling switched on for `name` (matched
  // against the server's glob patterns)? Use through LOUPE_METHOD, which
  // caches the answer in a per-call-site Probe.
  class Probe;

  struct Impl;
  Impl* impl() const { return impl_.get(); }

 private:
  std::unique_ptr<Impl> impl_;
};

// One request handled by this instance. Ends (and is queued for export) when
// destroyed or End()ed. Not copyable or movable: it lives on the stack of the
// thread serving the request.
class Transaction {
 public:
  // `endpoint` is the normalized route, e.g. "GET /orders/{id}". `parent`
  // (from an incoming traceparent) links it into a distributed trace.
  Transaction(Agent& agent, std::string_view endpoint, const TraceContext* parent = nullptr);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  void SetClientIp(std::string_view ip);
  void SetUser(std::string_view user_id);
  void SetHttp(std::string_view method, std::string_view path);
  void SetStatus(int http_status);  // >= 500 marks an error
  void SetError(std::string_view type, std::string_view message, std::string_view stack = {});
  void SetAttribute(std::string_view key, std::string_view value);

  // Context for outgoing calls: the current step's span as parent.
  TraceContext Context() const;
  // FormatTraceparent(Context()).
  std::string Traceparent() const;

  void End();
  // The calling thread's innermost open transaction, or nullptr.
  static Transaction* Current();

  struct State;
  State* state() const { return state_; }

 private:
  State* state_;  // nullptr when the agent is disabled
};

// One step of the current thread's current transaction. No-op without one.
class Step {
 public:
  enum Kind : uint8_t { kMethod, kSql, kExternal, kMessage };

  static Step Method(std::string_view name);
  static Step Sql(std::string_view db_system, std::string_view statement);
  static Step External(std::string_view method, std::string_view url);
  // A point-in-time message (zero duration), recorded and ended at once.
  static void Message(std::string_view text);

  Step(Step&& other) noexcept;
  Step& operator=(Step&&) = delete;
  Step(const Step&) = delete;
  ~Step();  // End()

  // SQL: bind values (in order), rows fetched and the time spent fetching them.
  Step& Bind(std::string_view value);
  Step& Rows(int64_t rows, double fetch_ms = 0);
  // External: the HTTP status the callee answered.
  Step& HttpStatus(int status);
  Step& Error(std::string_view message);
  // Context for an outgoing call made inside this step (External steps).
  TraceContext Context() const;
  std::string Traceparent() const;
  // Whether this step is recorded (false: no transaction, agent disabled,
  // max_steps reached, or already ended). Lets the caller skip work done only
  // for the step, such as formatting bind values.
  bool recording() const { return slot_ != nullptr; }

  void End();

 private:
  Step(void* slot, uint32_t index) : slot_(slot), index_(index) {}
  void* slot_;      // Transaction::State*; nullptr: no-op
  uint32_t index_;  // the step's index in its transaction
};

// A call site's cached dynamic-profiling decision: one relaxed atomic load of
// the agent's config generation per call while switched off.
class Agent::Probe {
 public:
  explicit Probe(const char* method_name) : name_(method_name) {}
  bool enabled(Agent& agent);

 private:
  const char* name_;
  std::atomic<uint64_t> generation_{~uint64_t{0}};
  std::atomic<bool> on_{false};
};

}  // namespace loupe

// Profiles the enclosing scope as a method step when dynamic profiling has
// switched `name` on; costs one relaxed load and a branch when off.
#define LOUPE_CONCAT_INNER_(a, b) a##b
#define LOUPE_CONCAT_(a, b) LOUPE_CONCAT_INNER_(a, b)
#define LOUPE_METHOD(agent, name)                                                        \
  static ::loupe::Agent::Probe LOUPE_CONCAT_(loupe_probe_, __LINE__){name};              \
  ::loupe::Step LOUPE_CONCAT_(loupe_step_, __LINE__) =                                   \
      LOUPE_CONCAT_(loupe_probe_, __LINE__).enabled(agent) ? ::loupe::Step::Method(name) \
                                                           : ::loupe::Step::Method({})

#endif  // LOUPE_AGENT_H_
