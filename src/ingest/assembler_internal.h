// Private to src/ingest: the definition of Assembler::Impl and the types it
// holds, shared by the assembler_*.cc files (assembler.cc: the constructor,
// joining spans into transactions and mapping them, Add; assembler_caps.cc:
// projects, services, instances, endpoints and their caps;
// assembler_pending.cc: eviction, Tick, Flush, ExportPending, TakePromoted).
// Not part of any contract: include only from those files.

#ifndef LOUPE_INGEST_ASSEMBLER_INTERNAL_H_
#define LOUPE_INGEST_ASSEMBLER_INTERNAL_H_

#include <algorithm>
#include <atomic>
#include <boost/unordered/unordered_flat_map.hpp>
#include <boost/unordered/unordered_flat_set.hpp>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <queue>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/hash.h"
#include "ingest/assembler.h"

namespace loupe::ingest {
namespace assembler_internal {

using model::SpanId;

struct TraceKey {
  model::TraceId id{};
  model::ProjectId project = 0;
  bool operator==(const TraceKey&) const = default;
};

struct TraceKeyHash {
  size_t operator()(const TraceKey& k) const noexcept {
    uint64_t a, b;
    std::memcpy(&a, k.id.data(), 8);
    std::memcpy(&b, k.id.data() + 8, 8);
    return Mix64(a ^ Mix64(b ^ k.project));
  }
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return Hash64(s); }
};
struct StringEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const noexcept { return a == b; }
};

// A service of a project, with its endpoints (capped).
struct ServiceEntry {
  std::string name;
  std::mutex mu;
  boost::unordered_flat_set<std::string, StringHash, StringEq> endpoints;  // GUARDED_BY(mu)
};

// An instance of a project, as resolved from a resource (after the caps).
// Lives as long as the assembler, so records may point at it.
struct InstanceEntry {
  ServiceEntry* service = nullptr;
  std::string instance;
  std::string host;
  std::string kind;
  std::string sdk;
};

// One span as the assembler holds it. Borrowed while the Add() that brought
// it runs (views into the caller's batch: most spans are emitted by the Add
// that brings them and need no copy; copying every span cost ~25% of
// BM_AssemblerAdd in malloc and memcpy); owned once it stays pending past that
// Add: the Span, its attributes, its exception events (with their
// exception.* attributes) and all their text then live in this one
// allocation, after the struct (see OwnedCopy).
struct SpanRecord {
  SpanRef ref;  // the span and the tables its ranges index
  const InstanceEntry* inst = nullptr;
  uint64_t instance_key = 0;  // identity of the sending instance (before caps)
  int64_t start_us = 0;       // clamped start: the order of steps
  uint32_t exception_events = 0;
  bool owned = false;
  model::Span copy;  // owned: the span `ref` points at

  const model::Span& span() const { return *ref.span; }
};

struct RecordDeleter {
  void operator()(SpanRecord* r) const noexcept {
    r->~SpanRecord();
    ::operator delete(r);
  }
};
using RecordPtr = std::unique_ptr<SpanRecord, RecordDeleter>;

// A span of a trace that is not emitted yet, or a placeholder for a parent
// that pending spans refer to but that has not arrived (rec == nullptr).
// Pending children of a node form a doubly linked list through span ids.
struct PendingNode {
  RecordPtr rec;
  SpanId parent = 0;
  SpanId first_child = 0;
  SpanId prev_sibling = 0;
  SpanId next_sibling = 0;
  uint64_t instance_key = 0;
  bool root = false;  // a local root by itself (kind, no parent, remote parent)
};

// What is remembered of an emitted transaction, for late_window.
struct TxRecord {
  model::TxId id = 0;
  uint64_t instance_key = 0;
  int64_t emit_us = 0;
  uint32_t steps = 0;  // emitted so far (caps late steps)
};

struct TraceState {
  boost::unordered_flat_map<SpanId, PendingNode> pending;  // spans and placeholders
  uint32_t pending_count = 0;                              // spans in `pending` (not placeholders)
  uint32_t pending_episode = 0;  // bumped when pending_count goes from 0 to 1
  int64_t pending_since_us = 0;  // when pending_count last went from 0 to 1
  int64_t last_arrival_us = 0;   // when the trace last accepted a span
  boost::unordered_flat_map<SpanId, uint32_t> emitted;  // span id → index into txs
  std::vector<TxRecord> txs;
  bool expiry_queued = false;  // an entry for this trace is in Shard::expiry_q
};

struct TimedKey {
  int64_t t;
  TraceKey key;
  uint32_t episode = 0;  // orphan_q: TraceState::pending_episode when queued
  bool operator>(const TimedKey& o) const { return t > o.t; }
};
using TimedQueue = std::priority_queue<TimedKey, std::vector<TimedKey>, std::greater<TimedKey>>;

// Emission decided under a shard lock, mapped to model values outside it.
struct Plan {
  bool late = false;
  bool orphan = false;
  bool forced = false;  // orphan promoted early (max_pending_spans)
  model::ProjectId project = 0;
  model::TxId tx = 0;
  RecordPtr root;                // !late
  std::vector<RecordPtr> spans;  // steps, parents before children
  uint32_t budget = 0;           // steps that may still be emitted for tx
  uint32_t dropped_total = 0;    // late: tx's steps cut so far, this plan's included
};

struct alignas(64) Shard {
  std::mutex mu;
  boost::unordered_flat_map<TraceKey, std::unique_ptr<TraceState>, TraceKeyHash> traces;
  TimedQueue orphan_q;               // (last arrival, trace, episode), see Tick
  TimedQueue expiry_q;               // (earliest tx emit_us, trace)
  std::vector<SpanId> stack, roots;  // scratch
};

// An instance identity a project has sent recently: either a real instance
// (counted against max_instances_per_project, owning its entry) or one folded
// into its service's "(overflow)" instance.
struct InstanceSlot {
  std::unique_ptr<InstanceEntry> own;  // null when folded
  InstanceEntry* entry = nullptr;      // own.get(), or the service's overflow entry
  int64_t last_seen_us = 0;
};

struct ProjectState {
  std::mutex mu;
  boost::unordered_flat_map<std::string, std::unique_ptr<ServiceEntry>, StringHash, StringEq>
      services;  // GUARDED_BY(mu)
  // key: Hash64(instance, Hash64(service name after the cap)). Slots unseen
  // for instance_idle are removed by Tick (AgeInstances).
  boost::unordered_flat_map<uint64_t, InstanceSlot> instances;  // GUARDED_BY(mu)
  // The "(overflow)" instance of each service that needed one.
  boost::unordered_flat_map<const ServiceEntry*, std::unique_ptr<InstanceEntry>>
      overflow_entries;         // GUARDED_BY(mu)
  size_t real_instances = 0;    // slots with `own`; GUARDED_BY(mu)
  size_t folded_instances = 0;  // slots without; GUARDED_BY(mu)
  uint64_t folded_total = 0;    // identities ever folded; GUARDED_BY(mu)
  int64_t last_aging_us = 0;    // GUARDED_BY(mu)
  // Entries of aged-out instances, freed once no span record can point at
  // them any more (records hold `const InstanceEntry*`): (retired at, entry).
  std::vector<std::pair<int64_t, std::unique_ptr<InstanceEntry>>> retired;  // GUARDED_BY(mu)
};

enum RejectReason { kFuture, kPast, kInvalidId, kStartPast, kEndBeforeStart, kNumReasons };

}  // namespace assembler_internal

using assembler_internal::InstanceEntry;
using assembler_internal::InstanceSlot;
using assembler_internal::PendingNode;
using assembler_internal::Plan;
using assembler_internal::ProjectState;
using assembler_internal::RecordDeleter;
using assembler_internal::RecordPtr;
using assembler_internal::ServiceEntry;
using assembler_internal::Shard;
using assembler_internal::SpanId;
using assembler_internal::SpanRecord;
using assembler_internal::StringEq;
using assembler_internal::StringHash;
using assembler_internal::TimedKey;
using assembler_internal::TimedQueue;
using assembler_internal::TraceKey;
using assembler_internal::TraceKeyHash;
using assembler_internal::TraceState;
using assembler_internal::TxRecord;
using enum assembler_internal::RejectReason;

class Assembler::Impl {
 public:
  Impl(Clock* clock, AssemblerOptions options, MetricsRegistry* metrics);

  AddResult Add(model::ProjectId project, const model::SpanBatch& batch);
  ProjectBatches Tick();
  ProjectBatches Flush();
  std::vector<std::pair<model::ProjectId, std::string>> ExportPending() const;
  ProjectBatches TakePromoted();
  std::vector<InstanceCapStats> InstanceStats() const;
  size_t pending_spans() const {
    return static_cast<size_t>(std::max<int64_t>(0, pending_->load(std::memory_order_relaxed)));
  }

 private:
  enum class Mode { kRoot, kOrphan, kLate };

  ProjectState* GetProject(model::ProjectId project);
  const InstanceEntry* ResolveResource(ProjectState* ps, const ResourceInfo& info, int64_t now);
  // Forgets the instances of every project unseen for instance_idle (at most
  // once a minute per project) and frees retired entries.
  void AgeInstances(int64_t now);
  void InternEndpoint(ServiceEntry* svc, std::string* endpoint);

  // Under the shard lock: inserts the record; returns false for a duplicate.
  bool Insert(Shard& sh, const TraceKey& key, RecordPtr rec, int64_t now, TraceState** ts_out);
  // Under the shard lock: decides what the arrival of `id` emits.
  void Resolve(Shard& sh, const TraceKey& key, TraceState& ts, SpanId id, int64_t now,
               std::vector<Plan>* plans);
  // Under the shard lock: emits the pending subtree at `top` (as a transaction
  // or as late steps of ts.txs[late_tx]) and every root it uncovers.
  void Emit(Shard& sh, const TraceKey& key, TraceState& ts, SpanId top, Mode mode, uint32_t late_tx,
            int64_t now, std::vector<Plan>* plans);
  // Under the shard lock: promotes every pending group of the trace.
  void PromoteAll(Shard& sh, const TraceKey& key, TraceState& ts, int64_t now,
                  std::vector<Plan>* plans);
  // Under the shard lock: forgets transactions emitted at or before cutoff.
  // Returns true when the trace is now empty (the caller erases it).
  bool Expire(Shard& sh, const TraceKey& key, TraceState& ts, int64_t cutoff);
  void Unlink(TraceState& ts, SpanId id);

  // Outside locks: turns plans into model values.
  void MapPlans(std::vector<Plan>* plans, store::WriteBatch* out);
  void MapPlansByProject(std::vector<Plan>* plans,
                         std::map<model::ProjectId, store::WriteBatch>* out);
  void MapPlan(Plan& plan, store::WriteBatch* out, MappingStats* stats);
  void AppendSteps(Plan& plan, std::vector<model::Step>* steps, uint32_t* dropped,
                   MappingStats* stats);

  void EvictIfNeeded();

  Clock* clock_;
  const AssemblerOptions opt_;
  std::unique_ptr<MetricsRegistry> own_metrics_;
  std::unique_ptr<Shard[]> shards_;
  size_t shard_mask_;
  std::shared_ptr<std::atomic<int64_t>> pending_;  // shared with the gauge callback

  mutable std::shared_mutex projects_mu_;
  boost::unordered_flat_map<model::ProjectId, std::unique_ptr<ProjectState>> projects_;

  std::mutex evict_mu_;
  size_t evict_cursor_ = 0;  // GUARDED_BY(evict_mu_)
  std::mutex outbox_mu_;
  std::map<model::ProjectId, store::WriteBatch> outbox_;  // GUARDED_BY(outbox_mu_)

  Counter* accepted_;
  Counter* duplicate_;
  Counter* rejected_[kNumReasons];
  Counter* tx_root_;
  Counter* tx_orphan_;
  Counter* tx_forced_;
  Counter* late_steps_;
  Counter* overflow_endpoint_;
  Counter* overflow_service_;
  Counter* overflow_instance_;
  Counter* truncated_;
  Counter* clamped_;
  Counter* dropped_steps_;
  Counter* expired_txs_;
};

}  // namespace loupe::ingest

#endif  // LOUPE_INGEST_ASSEMBLER_INTERNAL_H_
