// Agent: construction, shutdown, the active registry, the export queue,
// configuration publishing, throttling and dynamic-profiling probes.

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "agent_internal.h"
#include "crash_handler.h"
#include "native_stack.h"
#include "tx_record.h"

namespace loupe {
namespace {

// Generations are unique across all agents of the process (see Probe).
std::atomic<uint64_t> g_next_generation{1};

thread_local uint32_t tls_shard = ~0u;

uint32_t MyShard() {
  if (tls_shard == ~0u) {
    tls_shard =
        static_cast<uint32_t>(internal::ThreadId() * 2654435761u >> 8) % Agent::Impl::kShards;
  }
  return tls_shard;
}

std::string HostName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

// States kept for reuse. A State goes back to the pool as soon as its
// transaction has ended (its record is in the export queue, tx_record.h), so
// the pool holds about as many States as transactions ever ran at once on
// the application's threads; four full batches' worth (2,048 by default) and
// never more than kMaxPooledStates whatever max_batch says. A pooled State is
// sizeof(State) (about 2.9 KB: 16 inline step records and a 512-byte text
// arena) plus at most 2 arena blocks and 48 more step records (TextArena,
// StepList), so a full default pool keeps ~6 MB and never more than ~35 MB.
constexpr size_t kMaxPooledStates = 4096;

size_t PoolCapacity(const AgentOptions& o) {
  return std::clamp<size_t>(4 * o.max_batch, 64, kMaxPooledStates);
}

}  // namespace

void Transaction::State::Reset() {
  // What a pooled State keeps is bounded by TextArena and StepList: one
  // transaction with many steps or long texts must not pin its memory.
  owner = nullptr;
  has_parent = false;
  sampled = true;
  throttled = false;
  throttle_action = Admission::kAdmit;
  error = false;
  status = 0;
  thread_id = 0;
  start_ns = end_ns = 0;
  endpoint = http_method = http_path = {};
  error_type = error_message = error_stack = {};
  client_ip = user = {};
  attributes.clear();
  steps_dropped = 0;
  messages = 0;
  texts.Reset();
  steps.Clear();
  open_top = -1;
  reg_prev = reg_next = nullptr;
  shard = 0;
  prev_current = nullptr;
  endpoint_active.reset();
}

Agent::Impl::Impl(AgentOptions o)
    : options(std::move(o)),
      // A disabled agent queues nothing: no memory for it.
      queue(options.enabled ? options.queue_bytes : 0,
            options.queue_capacity == 0 ? 1 : options.queue_capacity),
      pool(PoolCapacity(options)) {
  host = HostName();
  pid = static_cast<int>(::getpid());
  instance = options.instance.empty() ? host + ":" + std::to_string(pid) : options.instance;
  started_ms = internal::NowUnixNanos() / 1000000;
  ApplyConfig(internal::AgentConfig{});
}

Agent::Impl::~Impl() {
  Shutdown(0);
  std::string_view record;
  while (queue.Read(&record)) dropped_export.fetch_add(1, std::memory_order_relaxed);
  queue.Release();
  Transaction::State* s;
  while (pool.TryPop(&s)) delete s;
}

void Agent::Impl::Start() {
  if (!options.enabled) return;
  exporter_thread = std::thread([this] { ExportLoop(); });
  if (options.loupe_extensions && options.crash_reports) {
    crash_dir = options.crash_dir;
    if (crash_dir.empty()) {
      const char* env = std::getenv("LOUPE_CRASH_DIR");
      if (env == nullptr || *env == '\0') env = std::getenv("TMPDIR");
      crash_dir = env != nullptr && *env != '\0' ? env : "/tmp";
    }
    if (!internal::InstallCrashHandler(crash_dir, options.service, instance)) crash_dir.clear();
  }
  if (options.loupe_extensions) {
    native_stacks =
        options.native_stacks && internal::NativeStackSampler::Init(options.native_stack_signal);
    extension_thread = std::thread([this] { ExtensionLoop(); });
  }
}

void Agent::Impl::Shutdown(int timeout_ms) {
  if (stopped.exchange(true)) return;
  const uint64_t deadline =
      internal::NowSteadyMs() + static_cast<uint64_t>(std::max(0, timeout_ms));
  {
    std::lock_guard<std::mutex> l(mu);
    stopping = true;
    flush_deadline_ms = deadline;
  }
  cancel_extensions.store(true);
  cv.notify_all();
  export_wakeup.Post();
  if (exporter_thread.joinable()) {
    std::unique_lock<std::mutex> l(mu);
    if (!cv.wait_until(
            l,
            std::chrono::steady_clock::now() + std::chrono::milliseconds(std::max(0, timeout_ms)),
            [&] { return exporter_done; })) {
      // Past the deadline: abort the request in flight (seen within 50 ms).
      cancel_export.store(true);
      cv.notify_all();
    }
  }
  if (exporter_thread.joinable()) exporter_thread.join();
  if (extension_thread.joinable()) extension_thread.join();
}

void Agent::Impl::Register(Transaction::State* s) {
  s->shard = MyShard();
  Shard& sh = shards[s->shard];
  {
    std::lock_guard<std::mutex> l(sh.mu);
    s->reg_prev = nullptr;
    s->reg_next = sh.head;
    if (sh.head != nullptr) sh.head->reg_prev = s;
    sh.head = s;
  }
  active_count.fetch_add(1, std::memory_order_relaxed);
}

void Agent::Impl::Unregister(Transaction::State* s) {
  Shard& sh = shards[s->shard];
  {
    std::lock_guard<std::mutex> l(sh.mu);
    if (s->reg_prev != nullptr) {
      s->reg_prev->reg_next = s->reg_next;
    } else {
      sh.head = s->reg_next;
    }
    if (s->reg_next != nullptr) s->reg_next->reg_prev = s->reg_prev;
  }
  active_count.fetch_sub(1, std::memory_order_relaxed);
}

Transaction::State* Agent::Impl::NewState() {
  Transaction::State* s;
  if (!pool.TryPop(&s)) {
    s = new Transaction::State;
    s->agent = this;
  }
  return s;
}

void Agent::Impl::Recycle(Transaction::State* s) {
  s->Reset();
  if (!pool.TryPush(s)) delete s;
}

void Agent::Impl::Enqueue(Transaction::State* s) {
  // The record holds what the transaction used, in memory the queue faulted
  // in when the agent started, and the State goes straight back to the pool:
  // an application thread that outruns the exporter neither allocates nor
  // faults in a fresh State per transaction. With States queued instead, an
  // SQL step cost 227-427 ns and an external step 162-385 ns of CPU in bursts
  // into a 262,144-entry queue; with records 48-96 and 54-106 ns
  // (bench/agent_benchmark.cc, interleaved runs, docs/benchmarks.md).
  const internal::RecordShape shape = internal::Measure(*s);
  internal::RecordRing::Ticket ticket;
  if (char* p = queue.Reserve(shape.bytes, &ticket)) {
    internal::WriteRecord(*s, shape, p);
    queue.Commit(ticket);
    // Wake the exporter once per full batch (or half a queue of bytes), not
    // per transaction; otherwise it wakes on its flush interval. A post is
    // never lost (the semaphore counts) and never blocks (see Wakeup).
    if ((queue.SizeApprox() >= options.max_batch || queue.BytesApprox() >= queue.capacity() / 2) &&
        !queue_wakeup_pending.exchange(true, std::memory_order_relaxed)) {
      export_wakeup.Post();
    }
  } else {
    dropped_queue_full.fetch_add(1, std::memory_order_relaxed);
  }
  Recycle(s);
}

void Agent::Impl::RecordThrottle(std::string_view endpoint, Admission::Kind action, int64_t active,
                                 int64_t limit) {
  std::lock_guard<std::mutex> l(throttle_mu);
  std::pair<std::string, int> key(std::string(endpoint.substr(0, internal::kMaxSnapshotString)),
                                  static_cast<int>(action));
  auto it = throttle_log.find(key);
  if (it == throttle_log.end()) {
    if (throttle_log.size() >= internal::kMaxThrottled - 1) key.first = "(other)";  // fold
    it = throttle_log.try_emplace(std::move(key)).first;
  }
  it->second.time_ms = internal::NowUnixNanos() / 1000000;
  it->second.active = active;
  it->second.limit = limit;
  ++it->second.count;
}

std::shared_ptr<const internal::AgentConfig> Agent::Impl::config() const {
  std::lock_guard<std::mutex> l(config_mu);
  return config_;
}

void Agent::Impl::ApplyConfig(internal::AgentConfig c) {
  auto cfg = std::make_shared<const internal::AgentConfig>(std::move(c));
  std::lock_guard<std::mutex> l(config_mu);
  for (const auto& [ep, limit] : cfg->endpoint_limits) {
    // Counters outlive configurations so in-flight transactions stay counted
    // across a change; bounded by the endpoints ever limited.
    if (endpoint_counters_.size() < internal::kMaxSnapshotActive) {
      endpoint_counters_.try_emplace(ep, std::make_shared<std::atomic<int64_t>>(0));
    }
  }
  config_ = cfg;
  throttle_enabled.store(cfg->throttle_enabled, std::memory_order_relaxed);
  has_endpoint_limits.store(!cfg->endpoint_limits.empty(), std::memory_order_relaxed);
  config_version.store(cfg->version, std::memory_order_relaxed);
  config_generation.store(g_next_generation.fetch_add(1), std::memory_order_release);
}

std::shared_ptr<std::atomic<int64_t>> Agent::Impl::EndpointCounter(
    std::string_view endpoint) const {
  std::lock_guard<std::mutex> l(config_mu);
  auto it = endpoint_counters_.find(endpoint);
  return it == endpoint_counters_.end() ? nullptr : it->second;
}

std::vector<std::pair<std::string, std::string>> Agent::Impl::AuthHeaders(
    const char* content_type) const {
  std::vector<std::pair<std::string, std::string>> h;
  h.emplace_back("Content-Type", content_type);
  h.emplace_back("User-Agent", "loupe-cpp/0.1");
  if (!options.ingest_key.empty()) h.emplace_back("Authorization", "Bearer " + options.ingest_key);
  return h;
}

// ---------------------------------------------------------------------------

Agent::Agent(AgentOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  impl_->Start();
}

Agent::~Agent() { Shutdown(); }

void Agent::Shutdown(int timeout_ms) { impl_->Shutdown(timeout_ms); }

const AgentOptions& Agent::options() const { return impl_->options; }

AgentStats Agent::stats() const {
  const Impl& a = *impl_;
  AgentStats s;
  s.transactions = a.transactions.load(std::memory_order_relaxed);
  s.exported = a.exported.load(std::memory_order_relaxed);
  s.dropped_queue_full = a.dropped_queue_full.load(std::memory_order_relaxed);
  s.dropped_export = a.dropped_export.load(std::memory_order_relaxed);
  s.export_retries = a.export_retries.load(std::memory_order_relaxed);
  s.steps_truncated = a.steps_truncated.load(std::memory_order_relaxed);
  s.throttled = a.throttled.load(std::memory_order_relaxed);
  s.snapshots_sent = a.snapshots_sent.load(std::memory_order_relaxed);
  s.crash_reports_sent = a.crash_reports_sent.load(std::memory_order_relaxed);
  s.stack_samples = a.stack_samples.load(std::memory_order_relaxed);
  s.config_version = a.config_version.load(std::memory_order_relaxed);
  return s;
}

Admission Agent::Admit(std::string_view endpoint, std::string_view client_ip) {
  Impl* a = impl_.get();
  Admission result;
  if (!a->options.enabled || !a->throttle_enabled.load(std::memory_order_relaxed)) return result;
  const auto cfg = a->config();
  int64_t active = a->active_count.load(std::memory_order_relaxed);
  int64_t limit = 0;
  bool over = cfg->max_active > 0 && active >= cfg->max_active;
  if (over) {
    limit = cfg->max_active;
  } else if (auto it = cfg->endpoint_limits.find(endpoint);
             it != cfg->endpoint_limits.end() && it->second > 0) {
    const auto counter = a->EndpointCounter(endpoint);
    const int64_t n = counter ? counter->load(std::memory_order_relaxed) : 0;
    if (n >= it->second) {
      over = true;
      active = n;
      limit = it->second;
    }
  }
  if (!over) return result;
  result.kind = cfg->throttle_action;
  if (result.kind == Admission::kRedirect) result.redirect_url = cfg->redirect_url;
  a->throttled.fetch_add(1, std::memory_order_relaxed);
  a->RecordThrottle(endpoint, result.kind, active, limit);

  // The rejected request as a zero-length transaction (never registered).
  Transaction::State* s = a->NewState();
  for (size_t i = 0; i < 16; i += 8) {
    const uint64_t v = internal::Random64();
    std::memcpy(s->trace_id + i, &v, 8);
  }
  const uint64_t v = internal::Random64();
  std::memcpy(s->span_id, &v, 8);
  s->start_ns = s->end_ns = internal::NowUnixNanos();
  s->endpoint = s->texts.Copy(endpoint.substr(0, a->options.max_text));
  s->client_ip = s->texts.Copy(client_ip.substr(0, 256));
  s->thread_id = internal::ThreadId();
  s->throttled = true;
  s->throttle_action = result.kind;
  if (result.kind == Admission::kReject) {
    s->status = 503;
    s->error = true;
    s->error_type = "loupe.throttled";  // a literal: lives for the process
    s->error_message = s->texts.Copy("rejected by throttling: " + std::to_string(active) +
                                     " active, limit " + std::to_string(limit));
  } else {
    s->status = 302;
  }
  a->transactions.fetch_add(1, std::memory_order_relaxed);
  a->Enqueue(s);
  return result;
}

bool Agent::Probe::enabled(Agent& agent) {
  Impl* a = agent.impl();
  const uint64_t g = a->config_generation.load(std::memory_order_relaxed);
  if (generation_.load(std::memory_order_acquire) == g) {
    return on_.load(std::memory_order_relaxed);
  }
  std::shared_ptr<const internal::AgentConfig> cfg;
  uint64_t gen;
  {
    std::lock_guard<std::mutex> l(a->config_mu);
    cfg = a->config_;
    gen = a->config_generation.load(std::memory_order_relaxed);
  }
  const bool on = a->options.enabled && name_ != nullptr && cfg->ProfilingEnabled(name_);
  on_.store(on, std::memory_order_relaxed);
  generation_.store(gen, std::memory_order_release);
  return on;
}

}  // namespace loupe
