// Internal types shared by the agent's .cc files: the per-transaction State,
// step records, and Agent::Impl (registry, export queue, configuration,
// background threads). Not installed.
//
// Ownership: a Transaction owns its State until End(); then the State is
// unregistered, written as a record into the export queue (tx_record.h) and
// returned to the pool, all on the application thread. A State is reachable
// from other threads only through the active registry, whose shard lock is
// held while it is read and while it is unlinked; fields the snapshot thread
// reads that change during the transaction are guarded by State::lock.
#ifndef LOUPE_AGENT_AGENT_INTERNAL_H_
#define LOUPE_AGENT_AGENT_INTERNAL_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "agent_config.h"
#include "bounded_queue.h"
#include "http_client.h"
#include "loupe/agent.h"
#include "record_ring.h"

namespace loupe::internal {

class ProtoWriter;

uint64_t NowUnixNanos();
uint64_t NowSteadyMs();
// Thread-local xoshiro256** seeded from std::random_device; never zero.
uint64_t Random64();
// Kernel thread id of the calling thread (cached).
uint32_t ThreadId();
// Names the calling thread (<= 15 bytes) so top -H, perf and /proc/PID/task
// show the agent's threads apart from the application's.
void NameThisThread(const char* name);
// For the crash handler (async-signal-safe): the span id and endpoint of the
// calling thread's innermost transaction; false when it serves none.
bool CurrentTransactionForCrash(uint64_t* span_id, std::string_view* endpoint);

// Test-and-test-and-set lock for very short critical sections (a step push
// on the application thread against a snapshot read). Uncontended cost is one
// atomic exchange and one store.
class SpinLock {
 public:
  void lock() {
    while (flag_.exchange(true, std::memory_order_acquire)) {
      while (flag_.load(std::memory_order_relaxed)) std::this_thread::yield();
    }
  }
  void unlock() { flag_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> flag_{false};
};

// Wakes one waiting thread without ever blocking the thread that posts: a
// POSIX semaphore, whose post is an atomic increment plus a futex wake. The
// application threads use it to wake the exporter. A condition variable
// shared with other waiters did not do: glibc's pthread_cond_broadcast can
// wait (futex) for earlier waiters to leave their group, and perf
// (sched:sched_switch with call graphs on bench/agent_benchmark.cc) showed
// that as 4 of the 6 times the benchmark thread went to sleep in the agent
// during 15 runs of 200,000 transactions, in ~Transaction -> Enqueue.
//
// Thread-safe.
class Wakeup {
 public:
  Wakeup();
  ~Wakeup();
  Wakeup(const Wakeup&) = delete;
  Wakeup& operator=(const Wakeup&) = delete;
  void Post();
  // Returns when posted (consuming one post) or after timeout_ms.
  void Wait(int timeout_ms);

 private:
  alignas(64) unsigned char sem_[64];  // sem_t, kept out of this header's includes
};

// Per-transaction storage for texts (endpoint, HTTP fields, client IP, user,
// errors, statements, URLs, messages) and bind records: bump allocation in
// blocks that never move, so a string_view or pointer into it stays valid,
// and readable by the snapshot thread once published under State::lock,
// until Reset. A State is pooled, so its arena's blocks are reused by the
// next transaction: in steady state a step costs a memcpy instead of one heap
// allocation per text (freed later on the exporter thread), which was most of
// an SQL step's cost: bench/agent_benchmark.cc, tx + SQL step with 3 binds
// minus tx alone, went from ~1,300 to ~450 ns of CPU and 10 method steps from
// ~200 to ~90 ns each (both binaries side by side on 2 shared cores at load
// ~15; see the commit messages). The transaction's own strings and the binds
// moved in here later for the same reason: a fresh State (the pool is dry in
// a burst) then costs one allocation instead of one per string and one per
// doubling of the bind vector (see State).
//
// Thread-compatible: written by the transaction's thread only.
class TextArena {
 public:
  TextArena() = default;
  TextArena(const TextArena&) = delete;
  TextArena& operator=(const TextArena&) = delete;

  // A copy of `s` that lives until Reset (empty view for empty `s`).
  std::string_view Copy(std::string_view s) {
    const size_t n = s.size();
    if (n == 0) return {};
    char* p = static_cast<char*>(Allocate(n, 1));
    std::memcpy(p, s.data(), n);
    return std::string_view(p, n);
  }
  // `s` in place of `old` (a view from this arena) when it fits there, else
  // a copy: setting a field again and again does not grow the arena unless
  // the value grows. Readers of `old` on other threads must be excluded.
  std::string_view Replace(std::string_view old, std::string_view s) {
    if (s.size() > old.size() || old.empty()) return Copy(s);
    char* p = const_cast<char*>(old.data());
    std::memcpy(p, s.data(), s.size());
    return std::string_view(p, s.size());
  }
  // A value-initialized T that lives until Reset (never destroyed: T must be
  // trivially destructible).
  template <typename T>
  T* New() {
    static_assert(std::is_trivially_destructible_v<T>);
    return new (Allocate(sizeof(T), alignof(T))) T();
  }
  // Forgets every text; keeps up to kKeepBlocks blocks for reuse.
  void Reset();

 private:
  static constexpr size_t kInline = 512;  // typical transactions stay in here
  static constexpr size_t kBlock = 4096;
  static constexpr size_t kLarge = kBlock / 4;  // longer texts get their own allocation
  static constexpr size_t kKeepBlocks = 2;      // bounds what a pooled State keeps

  void* Allocate(size_t n, size_t align) {
    const size_t pad = (align - reinterpret_cast<uintptr_t>(cur_) % align) % align;
    if (n + pad <= left_) {
      void* p = cur_ + pad;
      cur_ += n + pad;
      left_ -= n + pad;
      return p;
    }
    return AllocateSlow(n);
  }
  void* AllocateSlow(size_t n);  // a new block, or a large allocation; 16-aligned

  alignas(16) char inline_[kInline];
  std::vector<std::unique_ptr<char[]>> blocks_;  // kBlock bytes each; [0, used_) in use
  std::vector<std::unique_ptr<char[]>> large_;
  size_t used_ = 0;
  char* cur_ = inline_;  // where the next text goes
  size_t left_ = kInline;
};

struct BindRecord {
  std::string_view value;      // in State::texts
  BindRecord* next = nullptr;  // next bind of the same step
};

// Members ordered for size (120 bytes).
struct StepRecord {
  uint8_t span_id[8] = {};
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;
  // In State::texts.
  std::string_view text;    // method name, SQL statement, URL, message (cut to max_text)
  std::string_view system;  // db.system (SQL) or HTTP method (external)
  std::string_view error_message;
  BindRecord* first_bind = nullptr;  // SQL bind values, in State::texts
  BindRecord* last_bind = nullptr;
  int64_t rows = -1;
  double fetch_ms = 0;
  int32_t parent = -1;  // index of the enclosing step; -1: the transaction span
  uint32_t nbinds = 0;
  int32_t http_status = 0;
  Step::Kind kind = Step::kMethod;
  bool open = true;
  bool error = false;
};

// A transaction's step records: the first kInline inside the State (so a
// fresh State needs no second allocation for them, and a pooled one none at
// all), the rest in a vector that keeps up to kKeepMore records' capacity
// across Reset. Records in the inline part never move; those in the vector
// move when it grows, which happens only under State::lock.
//
// Thread-compatible.
class StepList {
 public:
  // 16 covers the demo's transactions and the 10-step benchmark case.
  static constexpr size_t kInline = 16;
  static constexpr size_t kKeepMore = 48;

  StepList() = default;
  StepList(const StepList&) = delete;
  StepList& operator=(const StepList&) = delete;

  size_t size() const { return size_; }
  StepRecord& operator[](size_t i) {
    return i < kInline ? reinterpret_cast<StepRecord*>(inline_)[i] : more_[i - kInline];
  }
  const StepRecord& operator[](size_t i) const {
    return i < kInline ? reinterpret_cast<const StepRecord*>(inline_)[i] : more_[i - kInline];
  }
  // Appends a default record. The inline part is raw storage, constructed
  // here, so a fresh State touches only the records it uses.
  StepRecord& emplace_back() {
    if (size_ < kInline) return *new (inline_ + sizeof(StepRecord) * size_++) StepRecord();
    ++size_;
    return more_.emplace_back();
  }
  void Clear() {
    size_ = 0;
    if (more_.capacity() > kKeepMore) {
      std::vector<StepRecord>().swap(more_);
    } else {
      more_.clear();
    }
  }

 private:
  static_assert(std::is_trivially_destructible_v<StepRecord>);
  alignas(StepRecord) unsigned char inline_[kInline * sizeof(StepRecord)];
  std::vector<StepRecord> more_;
  size_t size_ = 0;
};

}  // namespace loupe::internal

namespace loupe {

struct Transaction::State {
  Agent::Impl* agent = nullptr;
  Transaction* owner = nullptr;  // nullptr for throttled requests
  uint8_t trace_id[16] = {};
  uint8_t span_id[8] = {};
  uint8_t parent_span_id[8] = {};
  bool has_parent = false;
  bool sampled = true;
  bool throttled = false;
  Admission::Kind throttle_action = Admission::kAdmit;
  bool error = false;
  int status = 0;
  uint32_t thread_id = 0;
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;
  // In `texts`, like every string of the transaction (see TextArena).
  std::string_view endpoint;  // immutable after construction
  std::string_view http_method, http_path;
  std::string_view error_type, error_message, error_stack;
  std::vector<std::pair<std::string_view, std::string_view>> attributes;  // texts in `texts`
  uint32_t steps_dropped = 0;
  uint32_t messages = 0;  // message steps (the encoder skips looking for them when 0)
  internal::TextArena texts;

  // Read by the snapshot thread under `lock`.
  internal::SpinLock lock;
  std::string_view client_ip;  // in `texts`, assigned under `lock`
  std::string_view user;       // in `texts`, assigned under `lock`
  internal::StepList steps;    // grows only under `lock`
  int32_t open_top = -1;       // innermost open step, -1: none

  // Active registry links (guarded by the shard's lock).
  State* reg_prev = nullptr;
  State* reg_next = nullptr;
  uint32_t shard = 0;
  // The thread's enclosing transaction (Transaction::Current chain).
  State* prev_current = nullptr;
  // Active count of this endpoint when it has a throttle limit.
  std::shared_ptr<std::atomic<int64_t>> endpoint_active;

  // Back to the state of a new State, keeping the capacity of its vectors
  // and text arena (for the pool), within bounds.
  void Reset();
};

struct Agent::Impl {
  explicit Impl(AgentOptions o);
  ~Impl();

  void Start();
  void Shutdown(int timeout_ms);

  // Application-thread side.
  void Register(Transaction::State* s);
  void Unregister(Transaction::State* s);
  // A cleared State from the pool, or a new one.
  Transaction::State* NewState();
  // Takes ownership of the finished `s`: writes its record into the export
  // queue, or drops it (dropped_queue_full) when the queue lacks room, and
  // recycles it either way.
  void Enqueue(Transaction::State* s);
  // Resets `s` and returns it to the pool, or deletes it when the pool is full.
  void Recycle(Transaction::State* s);
  void RecordThrottle(std::string_view endpoint, Admission::Kind action, int64_t active,
                      int64_t limit);

  // Configuration.
  std::shared_ptr<const internal::AgentConfig> config() const;
  void ApplyConfig(internal::AgentConfig c);
  // The per-endpoint active counter for a limited endpoint, or nullptr.
  std::shared_ptr<std::atomic<int64_t>> EndpointCounter(std::string_view endpoint) const;

  // Background threads (exporter.cc, extensions.cc).
  void ExportLoop();
  void ExtensionLoop();
  // Encodes (into *writer) one batch of records read from the queue,
  // releases them and exports the batch.
  void ExportBatch(internal::HttpClient* client, internal::ProtoWriter* writer,
                   std::vector<const char*>* batch);
  bool FetchConfig(internal::HttpClient* client);
  // POSTs one snapshot; sets *server_version from the answer (0 if none).
  bool SendSnapshot(internal::HttpClient* client, uint64_t* server_version);
  // Sends the crash reports earlier runs left in crash_dir (crash_handler.h)
  // and deletes each the server acknowledged.
  void SendCrashReports(internal::HttpClient* client);
  std::string crash_dir;  // resolved at Start; empty: crash reports off
  std::string BuildSnapshotJson(uint64_t now_ns);
  void SampleStacks(uint64_t now_ns);
  // Appends native frames to samples[first...] (native_stacks).
  void AddNativeFrames(size_t first);

  std::vector<std::pair<std::string, std::string>> AuthHeaders(const char* content_type) const;

  const AgentOptions options;
  std::string instance;
  std::string host;
  int pid = 0;
  uint64_t started_ms = 0;

  // Counters (AgentStats).
  std::atomic<uint64_t> transactions{0}, exported{0}, dropped_queue_full{0}, dropped_export{0},
      export_retries{0}, steps_truncated{0}, throttled{0}, snapshots_sent{0}, stack_samples{0},
      crash_reports_sent{0};
  std::atomic<uint64_t> stack_samples_dropped{0};

  // Configuration: published under config_mu; the generation changes with
  // every publish (unique across agents in the process, so a Probe shared by
  // two agents never keeps a stale answer).
  mutable std::mutex config_mu;
  std::shared_ptr<const internal::AgentConfig> config_;
  std::map<std::string, std::shared_ptr<std::atomic<int64_t>>, std::less<>> endpoint_counters_;
  std::atomic<uint64_t> config_generation{0};
  std::atomic<uint64_t> config_version{0};
  std::atomic<bool> throttle_enabled{false};
  std::atomic<bool> has_endpoint_limits{false};
  std::atomic<bool> config_refetch{false};

  // Active registry: shards of intrusive lists.
  static constexpr size_t kShards = 16;
  struct alignas(64) Shard {
    std::mutex mu;
    Transaction::State* head = nullptr;
  };
  Shard shards[kShards];
  std::atomic<int64_t> active_count{0};

  // Export queue: records of finished transactions (tx_record.h), at most
  // options.queue_capacity of them in options.queue_bytes bytes.
  internal::RecordRing queue;
  // Finished States, reset, for the next transactions (see TextArena):
  // Enqueue pushes, application threads pop; beyond its capacity
  // (PoolCapacity in agent.cc) States are freed.
  internal::BoundedQueue<Transaction::State*> pool;
  std::atomic<bool> queue_wakeup_pending{false};
  internal::Wakeup export_wakeup;  // posted by Enqueue (a full batch) and Shutdown

  // Throttling decisions since the last snapshot, folded per endpoint+action.
  struct ThrottleEntry {
    uint64_t time_ms = 0;
    int64_t active = 0;
    int64_t limit = 0;
    uint64_t count = 0;
  };
  std::mutex throttle_mu;
  std::map<std::pair<std::string, int>, ThrottleEntry> throttle_log;

  // Stack samples since the last snapshot (extension thread only).
  struct StackSample {
    uint64_t time_ms;
    std::string tx_id;
    std::string endpoint;
    double elapsed_ms;
    std::vector<std::string> frames;
    // For the native part, taken after the registry lock is released.
    uint32_t thread_id = 0;
    const Transaction::State* state = nullptr;  // compared by address only
    uint32_t shard = 0;
  };
  std::vector<StackSample> samples;
  // A snapshot's copy of one active transaction (BuildSnapshotJson; extension
  // thread only). Kept between snapshots so their strings keep their capacity;
  // at most kMaxSnapshotActive rows of strings cut to kMaxSnapshotString.
  struct ActiveRow {
    uint8_t span_id[8];
    uint8_t trace_id[16];
    uint64_t start_ns;
    uint32_t thread_id;
    const char* step_kind;  // nullptr: no open step
    std::string endpoint, step, user, client_ip;
  };
  std::vector<ActiveRow> active_rows;
  // Native frames in stack samples (options.native_stacks and the signal
  // handler could be installed; extension thread only after Start).
  bool native_stacks = false;

  // Threads and their stop protocol.
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;                       // guarded by mu
  uint64_t flush_deadline_ms = 0;              // guarded by mu; steady ms by which to give up
  bool exporter_done = false;                  // guarded by mu
  std::atomic<bool> cancel_export{false};      // aborts the exporter's request in flight
  std::atomic<bool> cancel_extensions{false};  // aborts the snapshot/config request
  std::atomic<bool> stopped{false};
  std::thread exporter_thread;
  std::thread extension_thread;
};

}  // namespace loupe

namespace loupe::internal {

// Encodes `n` finished transactions (records, tx_record.h) as one OTLP
// ExportTraceServiceRequest into `w` (cleared first; its buffer is reused
// across batches). See docs/format/agent-protocol.md for the attributes.
void EncodeTraces(const Agent::Impl& agent, const char* const* records, size_t n, ProtoWriter* w);

// Lower-case hex of `n` bytes.
std::string Hex(const uint8_t* p, size_t n);

// Limits of docs/format/agent-protocol.md for snapshots.
constexpr size_t kMaxSnapshotActive = 10000;
constexpr size_t kMaxSnapshotStacks = 2000;
constexpr size_t kMaxFrames = 64;
constexpr size_t kMaxThrottled = 1000;
constexpr size_t kMaxSnapshotString = 1024;
constexpr size_t kMaxSnapshotBytes = 900 * 1024;  // below the server's 1 MiB

}  // namespace loupe::internal

#endif  // LOUPE_AGENT_AGENT_INTERNAL_H_
