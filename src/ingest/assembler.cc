#include "ingest/assembler.h"

#include <algorithm>
#include <boost/unordered/unordered_flat_map.hpp>
#include <boost/unordered/unordered_flat_set.hpp>
#include <cstring>
#include <functional>
#include <map>
#include <new>
#include <queue>
#include <shared_mutex>
#include <type_traits>

#include "common/hash.h"
#include "store/late_merge.h"
#include "wire/otlp_proto_encode.h"

namespace loupe::ingest {
namespace {

using model::SpanId;

constexpr std::string_view kExceptionEvent = "exception";
constexpr std::string_view kExceptionPrefix = "exception.";

struct TraceKey {
  model::TraceId id{};
  store::ProjectId project = 0;
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

size_t PayloadSize(const model::AttrValue& v) {
  return v.type == model::AttrValue::Type::kString || v.type == model::AttrValue::Type::kBytes ||
                 v.type == model::AttrValue::Type::kArray ||
                 v.type == model::AttrValue::Type::kKvList
             ? v.s.size()
             : 0;
}

// Ranges come from our own decoder; clamp them anyway rather than read past the end.
std::pair<uint32_t, uint32_t> ClampRange(uint32_t begin, uint32_t count, size_t size) {
  const size_t b = std::min<size_t>(begin, size);
  return {static_cast<uint32_t>(b), static_cast<uint32_t>(std::min<size_t>(count, size - b))};
}

// A record borrowing span `s` of batch `b`.
RecordPtr Borrow(const model::SpanBatch& b, const model::Span& s, const InstanceEntry* inst,
                 uint64_t instance_key) {
  RecordPtr rec(new (::operator new(sizeof(SpanRecord))) SpanRecord());
  rec->ref = SpanRef::In(b, s);
  rec->inst = inst;
  rec->instance_key = instance_key;
  int64_t end_us;
  SpanTimesUs(s, &rec->start_us, &end_us);
  auto [ebegin, ecount] = ClampRange(s.events_begin, s.events_count, b.events.size());
  for (uint32_t i = ebegin; i < ebegin + ecount; ++i) {
    rec->exception_events += IsExceptionEvent(b.events[i]);
  }
  return rec;
}

// An owned copy of borrowed record `r` of batch `b`.
RecordPtr OwnedCopy(const model::SpanBatch& b, const SpanRecord& r) {
  const model::Span& s = r.span();
  auto [abegin, acount] = ClampRange(s.attrs.begin, s.attrs.count, b.attrs.size());
  auto [ebegin, ecount] = ClampRange(s.events_begin, s.events_count, b.events.size());

  size_t chars = s.name.size() + s.status_message.size();
  for (uint32_t i = abegin; i < abegin + acount; ++i) {
    chars += b.attrs[i].key.size() + PayloadSize(b.attrs[i].value);
  }
  uint32_t nevents = 0, nevent_attrs = 0;
  for (uint32_t i = ebegin; i < ebegin + ecount; ++i) {
    const model::SpanEvent& e = b.events[i];
    if (!IsExceptionEvent(e)) continue;
    ++nevents;
    auto [begin, count] = ClampRange(e.attrs.begin, e.attrs.count, b.attrs.size());
    for (uint32_t j = begin; j < begin + count; ++j) {
      const model::KeyValue& kv = b.attrs[j];
      if (!kv.key.starts_with(kExceptionPrefix)) continue;
      ++nevent_attrs;
      chars += kv.key.size() + PayloadSize(kv.value);
    }
  }

  static_assert(sizeof(SpanRecord) % alignof(model::KeyValue) == 0);
  static_assert(sizeof(model::KeyValue) % alignof(model::SpanEvent) == 0);
  static_assert(std::is_trivially_destructible_v<model::KeyValue>);
  static_assert(std::is_trivially_destructible_v<model::SpanEvent>);
  const size_t nattrs = acount + nevent_attrs;
  const size_t total = sizeof(SpanRecord) + nattrs * sizeof(model::KeyValue) +
                       nevents * sizeof(model::SpanEvent) + chars;
  char* mem = static_cast<char*>(::operator new(total));
  RecordPtr rec(new (mem) SpanRecord());
  auto* attrs = reinterpret_cast<model::KeyValue*>(mem + sizeof(SpanRecord));
  auto* events = reinterpret_cast<model::SpanEvent*>(mem + sizeof(SpanRecord) +
                                                     nattrs * sizeof(model::KeyValue));
  char* text = mem + sizeof(SpanRecord) + nattrs * sizeof(model::KeyValue) +
               nevents * sizeof(model::SpanEvent);
  auto put = [&text](std::string_view v) {
    if (v.empty()) return std::string_view();
    std::memcpy(text, v.data(), v.size());
    std::string_view out(text, v.size());
    text += v.size();
    return out;
  };
  auto put_kv = [&](model::KeyValue* dst, const model::KeyValue& src) {
    new (dst) model::KeyValue(src);
    dst->key = put(src.key);
    if (PayloadSize(src.value) > 0) dst->value.s = put(src.value.s);
  };

  rec->inst = r.inst;
  rec->instance_key = r.instance_key;
  rec->start_us = r.start_us;
  rec->exception_events = nevents;
  rec->owned = true;
  model::Span& span = rec->copy;
  span = s;
  span.name = put(s.name);
  span.status_message = put(s.status_message);
  span.scope_name = {};
  span.attrs = {0, acount};
  span.events_begin = 0;
  span.events_count = nevents;
  for (uint32_t i = 0; i < acount; ++i) put_kv(&attrs[i], b.attrs[abegin + i]);
  uint32_t next_attr = acount, next_event = 0;
  for (uint32_t i = ebegin; i < ebegin + ecount; ++i) {
    const model::SpanEvent& e = b.events[i];
    if (!IsExceptionEvent(e)) continue;
    model::SpanEvent* out = new (&events[next_event++]) model::SpanEvent();
    out->time_unix_nano = e.time_unix_nano;
    out->name = kExceptionEvent;  // static storage
    out->attrs.begin = next_attr;
    auto [begin, count] = ClampRange(e.attrs.begin, e.attrs.count, b.attrs.size());
    for (uint32_t j = begin; j < begin + count; ++j) {
      if (!b.attrs[j].key.starts_with(kExceptionPrefix)) continue;
      put_kv(&attrs[next_attr++], b.attrs[j]);
    }
    out->attrs.count = next_attr - out->attrs.begin;
  }
  rec->ref = SpanRef{&rec->copy, attrs, events};
  return rec;
}

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
  store::ProjectId project = 0;
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

std::unique_ptr<InstanceEntry> NewInstanceEntry(ServiceEntry* svc, const ResourceInfo& info) {
  auto e = std::make_unique<InstanceEntry>();
  e->service = svc;
  e->instance = info.instance;
  e->host = info.host;
  e->kind = info.kind;
  e->sdk = info.sdk;
  return e;
}

enum RejectReason { kFuture, kPast, kInvalidId, kStartPast, kEndBeforeStart, kNumReasons };

}  // namespace

class Assembler::Impl {
 public:
  Impl(Clock* clock, AssemblerOptions options, MetricsRegistry* metrics);

  AddResult Add(store::ProjectId project, const model::SpanBatch& batch);
  ProjectBatches Tick();
  ProjectBatches Flush();
  std::vector<std::pair<store::ProjectId, std::string>> ExportPending() const;
  ProjectBatches TakePromoted();
  std::vector<InstanceCapStats> InstanceStats() const;
  size_t pending_spans() const {
    return static_cast<size_t>(std::max<int64_t>(0, pending_->load(std::memory_order_relaxed)));
  }

 private:
  enum class Mode { kRoot, kOrphan, kLate };

  ProjectState* GetProject(store::ProjectId project);
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
                         std::map<store::ProjectId, store::WriteBatch>* out);
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
  boost::unordered_flat_map<store::ProjectId, std::unique_ptr<ProjectState>> projects_;

  std::mutex evict_mu_;
  size_t evict_cursor_ = 0;  // GUARDED_BY(evict_mu_)
  std::mutex outbox_mu_;
  std::map<store::ProjectId, store::WriteBatch> outbox_;  // GUARDED_BY(outbox_mu_)

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

Assembler::Impl::Impl(Clock* clock, AssemblerOptions options, MetricsRegistry* metrics)
    : clock_(clock), opt_(options), pending_(std::make_shared<std::atomic<int64_t>>(0)) {
  if (metrics == nullptr) {
    own_metrics_ = std::make_unique<MetricsRegistry>();
    metrics = own_metrics_.get();
  }
  size_t n = 1;
  while (n < std::max<size_t>(opt_.shards, 1)) n <<= 1;
  shards_ = std::make_unique<Shard[]>(n);
  shard_mask_ = n - 1;

  constexpr std::string_view kSpans = "loupe_assembler_spans_total";
  constexpr std::string_view kSpansHelp = "Spans received by the transaction assembler, by result.";
  accepted_ = metrics->GetCounter(kSpans, kSpansHelp, {{"result", "accepted"}});
  duplicate_ = metrics->GetCounter(kSpans, kSpansHelp, {{"result", "duplicate"}});
  rejected_[kFuture] = metrics->GetCounter(kSpans, kSpansHelp, {{"result", "rejected_future"}});
  rejected_[kPast] = metrics->GetCounter(kSpans, kSpansHelp, {{"result", "rejected_past"}});
  rejected_[kInvalidId] =
      metrics->GetCounter(kSpans, kSpansHelp, {{"result", "rejected_invalid_id"}});
  rejected_[kStartPast] =
      metrics->GetCounter(kSpans, kSpansHelp, {{"result", "rejected_start_past"}});
  rejected_[kEndBeforeStart] =
      metrics->GetCounter(kSpans, kSpansHelp, {{"result", "rejected_end_before_start"}});
  constexpr std::string_view kTx = "loupe_assembler_transactions_total";
  constexpr std::string_view kTxHelp =
      "Transactions emitted: root = its local root arrived; orphan = promoted after "
      "orphan_timeout; orphan_forced = promoted early to stay under max_pending_spans.";
  tx_root_ = metrics->GetCounter(kTx, kTxHelp, {{"kind", "root"}});
  tx_orphan_ = metrics->GetCounter(kTx, kTxHelp, {{"kind", "orphan"}});
  tx_forced_ = metrics->GetCounter(kTx, kTxHelp, {{"kind", "orphan_forced"}});
  late_steps_ = metrics->GetCounter("loupe_assembler_late_steps_total",
                                    "Steps emitted after their transaction (LateSteps).");
  constexpr std::string_view kOv = "loupe_assembler_overflow_total";
  constexpr std::string_view kOvHelp =
      "Values folded into \"(overflow)\" because a cardinality cap was reached.";
  overflow_endpoint_ = metrics->GetCounter(kOv, kOvHelp, {{"what", "endpoint"}});
  overflow_service_ = metrics->GetCounter(kOv, kOvHelp, {{"what", "service"}});
  overflow_instance_ = metrics->GetCounter(kOv, kOvHelp, {{"what", "instance"}});
  truncated_ = metrics->GetCounter("loupe_assembler_truncated_total",
                                   "Strings cut to a size limit while mapping spans.");
  clamped_ = metrics->GetCounter("loupe_assembler_clamped_total",
                                 "Spans with a missing start (elapsed set to 0).");
  dropped_steps_ =
      metrics->GetCounter("loupe_assembler_dropped_steps_total", "Steps cut by max_steps_per_tx.");
  expired_txs_ = metrics->GetCounter("loupe_assembler_expired_transactions_total",
                                     "Transactions forgotten after late_window.");
  metrics->AddCallback(
      "loupe_assembler_pending_spans",
      "Spans held by the assembler waiting for their transaction root.", [p = pending_] {
        return std::vector<std::pair<Labels, double>>{{Labels{}, static_cast<double>(p->load())}};
      });
}

// ---------------------------------------------------------------------------
// Projects, services, instances, endpoints

ProjectState* Assembler::Impl::GetProject(store::ProjectId project) {
  {
    std::shared_lock l(projects_mu_);
    auto it = projects_.find(project);
    if (it != projects_.end()) return it->second.get();
  }
  std::unique_lock l(projects_mu_);
  auto& p = projects_[project];
  if (!p) p = std::make_unique<ProjectState>();
  return p.get();
}

const InstanceEntry* Assembler::Impl::ResolveResource(ProjectState* ps, const ResourceInfo& info,
                                                      int64_t now) {
  std::lock_guard l(ps->mu);
  ServiceEntry* svc;
  auto sit = ps->services.find(std::string_view(info.service));
  if (sit != ps->services.end()) {
    svc = sit->second.get();
  } else {
    const bool room = ps->services.size() + 1 < opt_.max_services_per_project;
    if (!room) overflow_service_->Inc();
    std::string_view name = room ? std::string_view(info.service) : kOverflow;
    auto& e = ps->services[std::string(name)];
    if (!e) {
      e = std::make_unique<ServiceEntry>();
      e->name = name;
    }
    svc = e.get();
  }
  const uint64_t key = Hash64(info.instance, Hash64(svc->name));
  auto iit = ps->instances.find(key);
  if (iit != ps->instances.end()) {
    InstanceSlot& slot = iit->second;
    slot.last_seen_us = now;
    if (slot.own || ps->real_instances >= opt_.max_instances_per_project) return slot.entry;
    // Folded while the cap was full; instances aged out since: it gets its name.
    --ps->folded_instances;
    ++ps->real_instances;
    slot.own = NewInstanceEntry(svc, info);
    slot.entry = slot.own.get();
    return slot.entry;
  }
  // The cap counts real instances only: the "(overflow)" entries are not
  // instances, and instances unseen for instance_idle no longer count.
  if (ps->real_instances >= opt_.max_instances_per_project) {
    overflow_instance_->Inc();
    auto& ov = ps->overflow_entries[svc];
    if (!ov) {
      ov = std::make_unique<InstanceEntry>();
      ov->service = svc;
      ov->instance = kOverflow;
    }
    ++ps->folded_total;
    // Remember the folded identity (so it is counted once and found at
    // once next time) while there is room for as many as the cap again;
    // past that it is folded afresh at every batch.
    if (ps->folded_instances < opt_.max_instances_per_project) {
      ++ps->folded_instances;
      ps->instances.emplace(key, InstanceSlot{nullptr, ov.get(), now});
    }
    return ov.get();
  }
  ++ps->real_instances;
  auto e = NewInstanceEntry(svc, info);
  InstanceEntry* raw = e.get();
  ps->instances.emplace(key, InstanceSlot{std::move(e), raw, now});
  return raw;
}

void Assembler::Impl::AgeInstances(int64_t now) {
  std::vector<ProjectState*> projects;
  {
    std::shared_lock l(projects_mu_);
    for (auto& [id, ps] : projects_) projects.push_back(ps.get());
  }
  const int64_t cutoff = now - opt_.instance_idle_us;
  // A span record points at its instance's entry while it waits for its root
  // (at most orphan_max_wait) and while it is mapped (one Add or Tick).
  const int64_t grace = opt_.orphan_max_wait_us + opt_.late_window_us + 60'000'000;
  for (ProjectState* ps : projects) {
    std::lock_guard l(ps->mu);
    std::erase_if(ps->retired, [&](const auto& r) { return r.first < now - grace; });
    if (now - ps->last_aging_us < 60'000'000 && ps->last_aging_us <= now) continue;
    ps->last_aging_us = now;
    boost::unordered::erase_if(ps->instances, [&](auto& kv) {
      InstanceSlot& slot = kv.second;
      if (slot.last_seen_us >= cutoff) return false;
      if (slot.own) {
        --ps->real_instances;
        ps->retired.emplace_back(now, std::move(slot.own));
      } else {
        --ps->folded_instances;
      }
      return true;
    });
  }
}

std::vector<InstanceCapStats> Assembler::Impl::InstanceStats() const {
  std::vector<InstanceCapStats> out;
  std::shared_lock l(projects_mu_);
  for (const auto& [id, ps] : projects_) {
    std::lock_guard pl(ps->mu);
    out.push_back(InstanceCapStats{id, ps->real_instances, opt_.max_instances_per_project,
                                   ps->folded_instances, ps->folded_total});
  }
  std::sort(out.begin(), out.end(), [](const InstanceCapStats& a, const InstanceCapStats& b) {
    return a.project < b.project;
  });
  return out;
}

void Assembler::Impl::InternEndpoint(ServiceEntry* svc, std::string* endpoint) {
  std::lock_guard l(svc->mu);
  if (svc->endpoints.contains(std::string_view(*endpoint))) return;
  if (svc->endpoints.size() + 1 < opt_.max_endpoints_per_service) {
    svc->endpoints.emplace(*endpoint);
    return;
  }
  overflow_endpoint_->Inc();
  endpoint->assign(kOverflow);
  svc->endpoints.emplace(*endpoint);
}

// ---------------------------------------------------------------------------
// Joining (under shard locks)

bool Assembler::Impl::Insert(Shard& sh, const TraceKey& key, RecordPtr rec, int64_t now,
                             TraceState** ts_out) {
  auto& slot = sh.traces[key];
  if (!slot) slot = std::make_unique<TraceState>();
  TraceState& ts = *slot;
  *ts_out = &ts;
  const SpanId id = rec->span().span_id;
  if (ts.emitted.contains(id)) return false;
  auto [it, inserted] = ts.pending.try_emplace(id);
  if (!inserted && it->second.rec) return false;
  PendingNode& n = it->second;
  const model::Span& s = rec->span();
  const bool remote_parent =
      (s.flags & model::kSpanFlagsHasIsRemote) && (s.flags & model::kSpanFlagsIsRemote);
  n.parent = s.parent_span_id == id ? 0 : s.parent_span_id;  // a self-parent is no parent
  n.root = s.kind == model::SpanKind::kServer || s.kind == model::SpanKind::kConsumer ||
           n.parent == 0 || remote_parent;
  n.instance_key = rec->instance_key;
  n.rec = std::move(rec);
  ts.last_arrival_us = now;
  if (ts.pending_count++ == 0) {
    ts.pending_since_us = now;
    sh.orphan_q.push({now, key, ++ts.pending_episode});
  }
  pending_->fetch_add(1, std::memory_order_relaxed);

  // Hang it under its parent (creating a placeholder for a parent not seen),
  // unless it is a root or its parent is emitted: Resolve handles those.
  const SpanId parent = n.parent;
  if (!n.root && !ts.emitted.contains(parent)) {
    PendingNode& p = ts.pending[parent];  // may rehash: `n` is invalid from here
    PendingNode& c = ts.pending.find(id)->second;
    c.next_sibling = p.first_child;
    c.prev_sibling = 0;
    if (p.first_child != 0) ts.pending.find(p.first_child)->second.prev_sibling = id;
    p.first_child = id;
  }
  return true;
}

void Assembler::Impl::Unlink(TraceState& ts, SpanId id) {
  auto it = ts.pending.find(id);
  if (it == ts.pending.end()) return;
  PendingNode& n = it->second;
  const SpanId parent = n.parent, prev = n.prev_sibling, next = n.next_sibling;
  n.prev_sibling = n.next_sibling = 0;
  // Roots are never linked, and the parent of a node whose parent was emitted
  // is gone: then there is no list to fix.
  auto pit = ts.pending.find(parent);
  if (pit == ts.pending.end()) return;
  PendingNode& p = pit->second;
  if (p.first_child == id) {
    p.first_child = next;
  } else if (prev != 0) {
    auto pv = ts.pending.find(prev);
    if (pv != ts.pending.end()) pv->second.next_sibling = next;
  }
  if (next != 0) {
    auto nx = ts.pending.find(next);
    if (nx != ts.pending.end()) nx->second.prev_sibling = prev;
  }
  if (!p.rec && p.first_child == 0) ts.pending.erase(pit);  // placeholder no one waits on
}

void Assembler::Impl::Resolve(Shard& sh, const TraceKey& key, TraceState& ts, SpanId id,
                              int64_t now, std::vector<Plan>* plans) {
  auto it = ts.pending.find(id);
  if (it == ts.pending.end() || !it->second.rec) return;  // emitted meanwhile
  PendingNode& n = it->second;
  if (n.root) {
    Emit(sh, key, ts, id, Mode::kRoot, 0, now, plans);
    return;
  }
  if (auto e = ts.emitted.find(n.parent); e != ts.emitted.end()) {
    const uint32_t tx = e->second;
    if (ts.txs[tx].instance_key != n.instance_key) {
      Emit(sh, key, ts, id, Mode::kRoot, 0, now, plans);  // called from another instance
    } else {
      Emit(sh, key, ts, id, Mode::kLate, tx, now, plans);
    }
    return;
  }
  auto p = ts.pending.find(n.parent);
  if (p != ts.pending.end() && p->second.rec && p->second.instance_key != n.instance_key) {
    Emit(sh, key, ts, id, Mode::kRoot, 0, now, plans);
    return;
  }
  // Still waiting. Its pending children from other instances have a known
  // parent now, so they are local roots.
  std::vector<SpanId>& roots = sh.roots;
  roots.clear();
  for (SpanId c = n.first_child; c != 0;) {
    auto cit = ts.pending.find(c);
    if (cit == ts.pending.end()) break;
    if (cit->second.instance_key != n.instance_key) roots.push_back(c);
    c = cit->second.next_sibling;
  }
  for (size_t i = 0; i < roots.size(); ++i) {
    Emit(sh, key, ts, roots[i], Mode::kRoot, 0, now, plans);
  }
}

void Assembler::Impl::Emit(Shard& sh, const TraceKey& key, TraceState& ts, SpanId top, Mode mode,
                           uint32_t late_tx, int64_t now, std::vector<Plan>* plans) {
  // Roots found on the way (SERVER/CONSUMER children, children in another
  // instance) are emitted after this subtree, from this work list.
  std::vector<std::pair<SpanId, Mode>> work{{top, mode}};
  std::vector<SpanId>& stack = sh.stack;
  while (!work.empty()) {
    auto [start, m] = work.back();
    work.pop_back();
    auto sit = ts.pending.find(start);
    if (sit == ts.pending.end() || !sit->second.rec) continue;
    const uint64_t instance_key = sit->second.instance_key;
    Unlink(ts, start);  // may erase a placeholder: `sit` is not used after this

    Plan& plan = plans->emplace_back();
    plan.project = key.project;
    plan.late = m == Mode::kLate;
    plan.orphan = m == Mode::kOrphan;
    uint32_t tx_index;
    if (plan.late) {
      tx_index = late_tx;
      plan.tx = ts.txs[tx_index].id;
      plan.budget = opt_.max_steps_per_tx - std::min(opt_.max_steps_per_tx, ts.txs[tx_index].steps);
    } else {
      tx_index = static_cast<uint32_t>(ts.txs.size());
      plan.tx = model::MakeTxId(key.id, start);
      plan.budget = opt_.max_steps_per_tx;
      ts.txs.push_back({plan.tx, instance_key, now, 0});
    }
    uint32_t steps = 0;
    stack.clear();
    stack.push_back(start);
    while (!stack.empty()) {
      const SpanId x = stack.back();
      stack.pop_back();
      auto xit = ts.pending.find(x);
      if (xit == ts.pending.end() || !xit->second.rec) continue;
      PendingNode& n = xit->second;
      for (SpanId c = n.first_child; c != 0;) {
        auto cit = ts.pending.find(c);
        if (cit == ts.pending.end()) break;
        PendingNode& cn = cit->second;
        if (cn.rec) {
          if (cn.root || cn.instance_key != n.instance_key) {
            work.emplace_back(c, Mode::kRoot);
          } else {
            stack.push_back(c);
          }
        }
        c = cn.next_sibling;
      }
      steps += n.rec->exception_events;
      if (x == start && !plan.late) {
        plan.root = std::move(n.rec);
      } else {
        ++steps;
        plan.spans.push_back(std::move(n.rec));
      }
      // Children emitted as roots keep stale sibling links to x; Unlink
      // ignores them once x is gone.
      ts.pending.erase(xit);
      ts.emitted[x] = tx_index;
      --ts.pending_count;
      pending_->fetch_sub(1, std::memory_order_relaxed);
    }
    ts.txs[tx_index].steps += steps;
    if (plan.late && ts.txs[tx_index].steps > opt_.max_steps_per_tx) {
      plan.dropped_total = ts.txs[tx_index].steps - opt_.max_steps_per_tx;
    }
    if (!ts.expiry_queued) {
      sh.expiry_q.push({now, key});
      ts.expiry_queued = true;
    }
  }
  if (ts.pending.empty() && ts.pending.bucket_count() > 0) {
    decltype(ts.pending)().swap(ts.pending);  // release memory of finished traces
  }
}

void Assembler::Impl::PromoteAll(Shard& sh, const TraceKey& key, TraceState& ts, int64_t now,
                                 std::vector<Plan>* plans) {
  // Tops: pending spans whose parent is missing. Then whatever remains (only
  // parent cycles, from broken senders) one at a time.
  std::vector<SpanId> tops;
  for (const auto& [id, n] : ts.pending) {
    if (!n.rec) continue;
    auto p = ts.pending.find(n.parent);
    if (p == ts.pending.end() || !p->second.rec) tops.push_back(id);
  }
  for (SpanId id : tops) Emit(sh, key, ts, id, Mode::kOrphan, 0, now, plans);
  while (ts.pending_count > 0) {
    SpanId any = 0;
    for (const auto& [id, n] : ts.pending) {
      if (n.rec) {
        any = id;
        break;
      }
    }
    if (any == 0) break;
    Emit(sh, key, ts, any, Mode::kOrphan, 0, now, plans);
  }
  decltype(ts.pending)().swap(ts.pending);
}

bool Assembler::Impl::Expire(Shard& sh, const TraceKey& key, TraceState& ts, int64_t cutoff) {
  size_t live = 0;
  int64_t next = 0;
  for (const TxRecord& t : ts.txs) {
    if (t.emit_us > cutoff) {
      next = live == 0 ? t.emit_us : std::min(next, t.emit_us);
      ++live;
    }
  }
  expired_txs_->Inc(ts.txs.size() - live);
  if (live == 0) {
    ts.txs.clear();
    ts.txs.shrink_to_fit();
    decltype(ts.emitted)().swap(ts.emitted);
  } else if (live < ts.txs.size()) {
    constexpr uint32_t kGone = UINT32_MAX;
    std::vector<uint32_t> remap(ts.txs.size(), kGone);
    std::vector<TxRecord> kept;
    kept.reserve(live);
    for (size_t i = 0; i < ts.txs.size(); ++i) {
      if (ts.txs[i].emit_us > cutoff) {
        remap[i] = static_cast<uint32_t>(kept.size());
        kept.push_back(ts.txs[i]);
      }
    }
    ts.txs.swap(kept);
    boost::unordered::erase_if(ts.emitted, [&](auto& e) { return remap[e.second] == kGone; });
    for (auto& e : ts.emitted) e.second = remap[e.second];
  }
  if (live > 0) {
    sh.expiry_q.push({next, key});
    ts.expiry_queued = true;
    return false;
  }
  return ts.pending_count == 0;
}

// ---------------------------------------------------------------------------
// Mapping (outside locks)

void Assembler::Impl::AppendSteps(Plan& plan, std::vector<model::Step>* steps, uint32_t* dropped,
                                  MappingStats* stats) {
  size_t want = plan.spans.size();
  for (const RecordPtr& r : plan.spans) want += r->exception_events;
  if (plan.root) want += plan.root->exception_events;
  if (want > plan.budget) {
    // Keep the earliest spans; the final cut below also trims error steps.
    std::stable_sort(
        plan.spans.begin(), plan.spans.end(),
        [](const RecordPtr& a, const RecordPtr& b) { return a->start_us < b->start_us; });
    if (plan.spans.size() > plan.budget) plan.spans.resize(plan.budget);
  }
  steps->reserve(std::min<size_t>(want, plan.budget));
  if (plan.root) AppendErrorSteps(plan.root->ref, opt_.mapping, steps, stats);
  for (const RecordPtr& r : plan.spans) {
    MapStep(r->ref, opt_.mapping, &steps->emplace_back(), stats);
    if (r->exception_events > 0) AppendErrorSteps(r->ref, opt_.mapping, steps, stats);
  }
  std::stable_sort(steps->begin(), steps->end(), [](const model::Step& a, const model::Step& b) {
    return a.start_us < b.start_us;
  });
  if (steps->size() > plan.budget) steps->resize(plan.budget);
  *dropped = static_cast<uint32_t>(want - steps->size());
  if (*dropped > 0) dropped_steps_->Inc(*dropped);
}

void Assembler::Impl::MapPlan(Plan& plan, store::WriteBatch* out, MappingStats* stats) {
  if (plan.late) {
    store::LateSteps ls;
    ls.tx = plan.tx;
    uint32_t dropped;
    AppendSteps(plan, &ls.steps, &dropped, stats);
    // Steps cut by the cap still reach the store, as the total it keeps.
    ls.dropped_steps = plan.dropped_total;
    if (ls.steps.empty() && ls.dropped_steps == 0) return;
    late_steps_->Inc(ls.steps.size());
    out->late_steps.push_back(std::move(ls));
    return;
  }
  model::Transaction& tx = out->transactions.emplace_back();
  tx.id = plan.tx;
  const SpanRecord& root = *plan.root;
  MapTransaction(root.ref, opt_.mapping, &tx, stats);
  tx.service = root.inst->service->name;
  tx.instance = root.inst->instance;
  tx.host = root.inst->host;
  InternEndpoint(root.inst->service, &tx.endpoint);
  AppendSteps(plan, &tx.steps, &tx.dropped_steps, stats);
  tx.summary.Add(tx.steps);
  (plan.forced ? tx_forced_ : plan.orphan ? tx_orphan_ : tx_root_)->Inc();
}

void Assembler::Impl::MapPlans(std::vector<Plan>* plans, store::WriteBatch* out) {
  MappingStats stats;
  for (Plan& p : *plans) MapPlan(p, out, &stats);
  // One LateSteps per transaction: the store merges each entry once.
  store::GroupLateSteps(&out->late_steps);
  if (stats.truncated > 0) truncated_->Inc(stats.truncated);
}

void Assembler::Impl::MapPlansByProject(std::vector<Plan>* plans,
                                        std::map<store::ProjectId, store::WriteBatch>* out) {
  MappingStats stats;
  for (Plan& p : *plans) MapPlan(p, &(*out)[p.project], &stats);
  for (auto& [project, batch] : *out) store::GroupLateSteps(&batch.late_steps);
  if (stats.truncated > 0) truncated_->Inc(stats.truncated);
}

// ---------------------------------------------------------------------------
// Entry points

AddResult Assembler::Impl::Add(store::ProjectId project, const model::SpanBatch& batch) {
  AddResult result;
  const int64_t now = clock_->NowMicros();
  const size_t n = batch.spans.size();
  ProjectState* ps = GetProject(project);

  // Resources are resolved when a valid span refers to them; the extra slot
  // stands for a span whose resource index is out of range.
  struct Res {
    bool resolved = false;
    const InstanceEntry* entry = nullptr;
    uint64_t identity = 0;
  };
  std::vector<Res> res(batch.resources.size() + 1);
  std::vector<const InstanceEntry*> reported;
  MappingStats stats;
  auto resolve = [&](uint32_t index) -> Res& {
    Res& r = res[std::min<size_t>(index, batch.resources.size())];
    if (r.resolved) return r;
    std::span<const model::KeyValue> attrs;
    if (index < batch.resources.size()) {
      const model::AttrRange range = batch.resources[index].attrs;
      const size_t begin = std::min<size_t>(range.begin, batch.attrs.size());
      attrs = {batch.attrs.data() + begin,
               std::min<size_t>(range.count, batch.attrs.size() - begin)};
    }
    ResourceInfo info = MapResource(attrs, opt_.mapping, &stats);
    r.identity = Hash64(info.instance, Hash64(info.service));
    r.entry = ResolveResource(ps, info, now);
    r.resolved = true;
    for (const InstanceEntry* seen : reported) {
      if (seen == r.entry) return r;
    }
    reported.push_back(r.entry);
    result.instances.push_back(store::InstanceInfo{r.entry->service->name, r.entry->instance,
                                                   r.entry->host, r.entry->kind, r.entry->sdk, now,
                                                   now});
    return r;
  };

  // Validate, wrap (no copy yet) and bucket by shard, all outside the locks.
  uint64_t rejected[kNumReasons] = {};
  // Spans the decoder already dropped for their ids count here too (one
  // counter and one partial-success message for every invalid id).
  rejected[kInvalidId] = batch.invalid_spans;
  uint64_t clamped = 0;
  static constexpr model::TraceId kZeroTrace{};
  std::vector<RecordPtr> records;
  std::vector<uint32_t> shard_of;
  records.reserve(n);
  shard_of.reserve(n);
  std::vector<uint32_t> per_shard(shard_mask_ + 2, 0);
  for (const model::Span& s : batch.spans) {
    if (s.trace_id == kZeroTrace || s.span_id == 0) {
      ++rejected[kInvalidId];
      continue;
    }
    const int64_t end_us = static_cast<int64_t>(s.end_unix_nano / 1000);
    if (end_us > now + opt_.max_future_us) {
      ++rejected[kFuture];
      continue;
    }
    if (end_us <= 0 || end_us < now - opt_.max_age_us) {
      ++rejected[kPast];
      continue;
    }
    // A start is checked as the end is: one span claiming to have run for
    // decades would otherwise set its endpoint's mean and maximum elapsed.
    // A missing start (0) is not an error: the span gets elapsed 0.
    if (s.start_unix_nano == 0) {
      ++clamped;
    } else if (s.start_unix_nano > s.end_unix_nano) {
      ++rejected[kEndBeforeStart];
      continue;
    } else if (static_cast<int64_t>(s.start_unix_nano / 1000) < now - opt_.max_age_us) {
      ++rejected[kStartPast];
      continue;
    }
    Res& r = resolve(s.resource);
    RecordPtr rec = Borrow(batch, s, r.entry, r.identity);
    const uint32_t shard =
        static_cast<uint32_t>(TraceKeyHash()(TraceKey{s.trace_id, project}) & shard_mask_);
    ++per_shard[shard + 1];
    records.push_back(std::move(rec));
    shard_of.push_back(shard);
  }
  // Counting sort of record indices by shard.
  for (size_t i = 1; i < per_shard.size(); ++i) per_shard[i] += per_shard[i - 1];
  std::vector<uint32_t> order(records.size());
  {
    std::vector<uint32_t> fill(per_shard.begin(), per_shard.end() - 1);
    for (uint32_t i = 0; i < records.size(); ++i) order[fill[shard_of[i]]++] = i;
  }

  std::vector<Plan> plans;
  uint64_t accepted = 0, duplicates = 0;
  struct Arrival {
    TraceState* ts;
    TraceKey key;
    SpanId id;
  };
  std::vector<Arrival> arrivals;
  for (size_t s = 0; s + 1 < per_shard.size(); ++s) {
    const uint32_t begin = per_shard[s], end = per_shard[s + 1];
    if (begin == end) continue;
    Shard& sh = shards_[s];
    arrivals.clear();
    std::lock_guard l(sh.mu);
    // Insert all first, then resolve: a root and its children in one batch
    // must make one transaction, whatever their order in the batch.
    for (uint32_t k = begin; k < end; ++k) {
      RecordPtr& rec = records[order[k]];
      const TraceKey key{rec->span().trace_id, project};
      const SpanId id = rec->span().span_id;
      TraceState* ts;
      if (Insert(sh, key, std::move(rec), now, &ts)) {
        ++accepted;
        arrivals.push_back({ts, key, id});
      } else {
        ++duplicates;
      }
    }
    for (const Arrival& a : arrivals) Resolve(sh, a.key, *a.ts, a.id, now, &plans);
    // What still waits must outlive the caller's batch.
    for (const Arrival& a : arrivals) {
      auto it = a.ts->pending.find(a.id);
      if (it == a.ts->pending.end() || !it->second.rec || it->second.rec->owned) continue;
      it->second.rec = OwnedCopy(batch, *it->second.rec);
    }
  }
  records.clear();  // duplicates' records

  MapPlans(&plans, &result.batch);
  if (stats.truncated > 0) truncated_->Inc(stats.truncated);
  accepted_->Inc(accepted);
  duplicate_->Inc(duplicates);
  if (clamped > 0) clamped_->Inc(clamped);

  static constexpr const char* kReasonText[kNumReasons] = {
      "end time too far in the future", "end time too old", "invalid trace or span id",
      "start time too old", "end time before start time"};
  for (int i = 0; i < kNumReasons; ++i) {
    if (rejected[i] == 0) continue;
    rejected_[i]->Inc(rejected[i]);
    result.rejected_spans += rejected[i];
  }
  if (result.rejected_spans > 0) {
    result.rejection_message = std::to_string(result.rejected_spans) + " spans rejected:";
    const char* sep = " ";
    for (int i = 0; i < kNumReasons; ++i) {
      if (rejected[i] == 0) continue;
      result.rejection_message += sep + std::to_string(rejected[i]) + " " + kReasonText[i];
      sep = ", ";
    }
  }
  EvictIfNeeded();
  return result;
}

void Assembler::Impl::EvictIfNeeded() {
  if (pending_spans() <= opt_.max_pending_spans) return;
  std::unique_lock el(evict_mu_, std::try_to_lock);
  if (!el.owns_lock()) return;  // another thread is evicting
  // Evict down to 15/16 of the cap so the next batches do not evict again.
  const size_t target = opt_.max_pending_spans - opt_.max_pending_spans / 16;
  const int64_t now = clock_->NowMicros();
  std::vector<Plan> plans;
  size_t idle = 0;  // consecutive shards with nothing to evict
  while (pending_spans() > target && idle <= shard_mask_) {
    Shard& sh = shards_[evict_cursor_];
    evict_cursor_ = (evict_cursor_ + 1) & shard_mask_;
    std::lock_guard l(sh.mu);
    bool evicted = false;
    while (!sh.orphan_q.empty() && !evicted) {
      TimedKey e = sh.orphan_q.top();
      sh.orphan_q.pop();
      auto it = sh.traces.find(e.key);
      if (it == sh.traces.end()) continue;
      TraceState& ts = *it->second;
      if (ts.pending_count == 0 || ts.pending_episode != e.episode) continue;  // stale entry
      const size_t first = plans.size();
      PromoteAll(sh, e.key, ts, now, &plans);
      for (size_t i = first; i < plans.size(); ++i) plans[i].forced = plans[i].orphan;
      evicted = true;
    }
    idle = evicted ? 0 : idle + 1;
  }
  el.unlock();
  if (plans.empty()) return;
  std::map<store::ProjectId, store::WriteBatch> out;
  MapPlansByProject(&plans, &out);
  std::lock_guard l(outbox_mu_);
  for (auto& [project, wb] : out) {
    store::WriteBatch& dst = outbox_[project];
    for (auto& t : wb.transactions) dst.transactions.push_back(std::move(t));
    for (auto& t : wb.late_steps) dst.late_steps.push_back(std::move(t));
  }
}

ProjectBatches Assembler::Impl::Tick() {
  const int64_t now = clock_->NowMicros();
  std::map<store::ProjectId, store::WriteBatch> out;
  {
    std::lock_guard l(outbox_mu_);
    out.swap(outbox_);
  }
  const int64_t orphan_cutoff = now - opt_.orphan_timeout_us;
  const int64_t expiry_cutoff = now - opt_.late_window_us;
  std::vector<Plan> plans;
  for (size_t s = 0; s <= shard_mask_; ++s) {
    Shard& sh = shards_[s];
    std::lock_guard l(sh.mu);
    while (!sh.orphan_q.empty() && sh.orphan_q.top().t <= orphan_cutoff) {
      TimedKey e = sh.orphan_q.top();
      sh.orphan_q.pop();
      auto it = sh.traces.find(e.key);
      if (it == sh.traces.end()) continue;
      TraceState& ts = *it->second;
      if (ts.pending_count == 0 || ts.pending_episode != e.episode) continue;  // stale entry
      // A trace still receiving spans is probably a long request whose root
      // ends last: wait for it, up to orphan_max_wait.
      if (ts.last_arrival_us > orphan_cutoff &&
          now - ts.pending_since_us < opt_.orphan_max_wait_us) {
        sh.orphan_q.push({ts.last_arrival_us, e.key, e.episode});
        continue;
      }
      PromoteAll(sh, e.key, ts, now, &plans);
    }
    while (!sh.expiry_q.empty() && sh.expiry_q.top().t <= expiry_cutoff) {
      TimedKey e = sh.expiry_q.top();
      sh.expiry_q.pop();
      auto it = sh.traces.find(e.key);
      if (it == sh.traces.end()) continue;
      it->second->expiry_queued = false;
      if (Expire(sh, e.key, *it->second, expiry_cutoff)) sh.traces.erase(it);
    }
  }
  MapPlansByProject(&plans, &out);
  AgeInstances(now);
  ProjectBatches result;
  for (auto& [project, wb] : out) {
    if (!wb.empty()) result.emplace_back(project, std::move(wb));
  }
  return result;
}

ProjectBatches Assembler::Impl::Flush() {
  const int64_t now = clock_->NowMicros();
  std::map<store::ProjectId, store::WriteBatch> out;
  {
    std::lock_guard l(outbox_mu_);
    out.swap(outbox_);
  }
  std::vector<Plan> plans;
  for (size_t s = 0; s <= shard_mask_; ++s) {
    Shard& sh = shards_[s];
    std::lock_guard l(sh.mu);
    for (auto& [key, ts] : sh.traces) {
      if (ts->pending_count > 0) PromoteAll(sh, key, *ts, now, &plans);
    }
  }
  MapPlansByProject(&plans, &out);
  ProjectBatches result;
  for (auto& [project, wb] : out) {
    if (!wb.empty()) result.emplace_back(project, std::move(wb));
  }
  return result;
}

std::vector<std::pair<store::ProjectId, std::string>> Assembler::Impl::ExportPending() const {
  // One request per project per shard, built while the shard is locked (the
  // views point into the records it owns).
  struct Builder {
    model::SpanBatch batch;
    boost::unordered_flat_map<const InstanceEntry*, uint32_t> resources;
  };
  auto kv = [](std::string_view key, std::string_view value) {
    model::KeyValue out;
    out.key = key;
    out.value.type = model::AttrValue::Type::kString;
    out.value.s = value;
    return out;
  };
  std::vector<std::pair<store::ProjectId, std::string>> out;
  for (size_t s = 0; s <= shard_mask_; ++s) {
    Shard& sh = shards_[s];
    std::lock_guard l(sh.mu);
    std::map<store::ProjectId, Builder> builders;
    for (const auto& [key, ts] : sh.traces) {
      if (ts->pending_count == 0) continue;
      Builder& b = builders[key.project];
      for (const auto& [id, node] : ts->pending) {
        if (!node.rec) continue;
        const SpanRecord& r = *node.rec;
        auto [it, added] =
            b.resources.emplace(r.inst, static_cast<uint32_t>(b.batch.resources.size()));
        if (added) {
          model::Resource& res = b.batch.resources.emplace_back();
          res.attrs.begin = static_cast<uint32_t>(b.batch.attrs.size());
          if (r.inst != nullptr) {
            b.batch.attrs.push_back(kv("service.name", r.inst->service->name));
            b.batch.attrs.push_back(kv("service.instance.id", r.inst->instance));
            if (!r.inst->host.empty()) b.batch.attrs.push_back(kv("host.name", r.inst->host));
            if (!r.inst->kind.empty()) {
              b.batch.attrs.push_back(kv("telemetry.sdk.language", r.inst->kind));
            }
            if (!r.inst->sdk.empty())
              b.batch.attrs.push_back(kv("telemetry.sdk.name", r.inst->sdk));
          }
          res.attrs.count = static_cast<uint32_t>(b.batch.attrs.size()) - res.attrs.begin;
        }
        model::Span span = r.span();
        span.resource = it->second;
        span.scope_name = {};
        span.attrs.begin = static_cast<uint32_t>(b.batch.attrs.size());
        for (const model::KeyValue& a : r.ref.span_attrs()) b.batch.attrs.push_back(a);
        span.events_begin = static_cast<uint32_t>(b.batch.events.size());
        for (const model::SpanEvent& e : r.ref.span_events()) {
          model::SpanEvent copy = e;
          copy.attrs.begin = static_cast<uint32_t>(b.batch.attrs.size());
          for (const model::KeyValue& a : r.ref.event_attrs(e)) b.batch.attrs.push_back(a);
          b.batch.events.push_back(copy);
        }
        b.batch.spans.push_back(span);
      }
    }
    for (auto& [project, b] : builders) {
      if (b.batch.spans.empty()) continue;
      std::string body;
      wire::EncodeTracesProto(b.batch, &body);
      out.emplace_back(project, std::move(body));
    }
  }
  return out;
}

ProjectBatches Assembler::Impl::TakePromoted() {
  std::map<store::ProjectId, store::WriteBatch> out;
  {
    std::lock_guard l(outbox_mu_);
    out.swap(outbox_);
  }
  ProjectBatches result;
  for (auto& [project, wb] : out) {
    if (!wb.empty()) result.emplace_back(project, std::move(wb));
  }
  return result;
}

// ---------------------------------------------------------------------------

Assembler::Assembler(Clock* clock, AssemblerOptions options, MetricsRegistry* metrics)
    : impl_(std::make_unique<Impl>(clock, std::move(options), metrics)) {}
Assembler::~Assembler() = default;
AddResult Assembler::Add(store::ProjectId project, const model::SpanBatch& batch) {
  return impl_->Add(project, batch);
}
ProjectBatches Assembler::Tick() { return impl_->Tick(); }
ProjectBatches Assembler::Flush() { return impl_->Flush(); }
size_t Assembler::pending_spans() const { return impl_->pending_spans(); }
std::vector<std::pair<store::ProjectId, std::string>> Assembler::ExportPending() const {
  return impl_->ExportPending();
}
ProjectBatches Assembler::TakePromoted() { return impl_->TakePromoted(); }
std::vector<InstanceCapStats> Assembler::InstanceStats() const { return impl_->InstanceStats(); }

}  // namespace loupe::ingest
