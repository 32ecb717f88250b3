// MemStore: the in-memory Store (NewMemStore in store.h).
//
// Layout, per project:
//  - time partitions keyed by floor(end_us / 1 min), each a set of columns
//    (struct of arrays) with its min/max end time, so a Scan skips whole
//    partitions and reads only the columns it hands out;
//  - string dictionaries: per project for the bounded columns (service,
//    instance, endpoint, http_method, error_type), per partition for user
//    and client_ip (one new value per visitor: they go with their partition
//    when it is evicted, so memory follows the rows kept, not every user
//    ever seen); rows hold dense uint32 ids, TxRow views point into the
//    dictionary's std::deque (stable addresses);
//  - profiles (steps and the few fields lists do not need) encoded compactly
//    into a per-partition arena; a late-step merge re-encodes into the arena
//    and leaves the old bytes as garbage until the partition is evicted;
//  - an open-addressing index tx id → (partition, row) and a trace index
//    Hash64(trace id) → newest tx id, chained through a per-row trace_next
//    column.
// Rows are stored in arrival order (so index locations never move). A
// partition whose rows arrived in end-time order (the common case) is scanned
// newest-first by walking it backwards; otherwise a sorted permutation is
// built lazily on the first ordered read and cached until the next append.
//
// Shared with the embedded engine (store/): dictionaries (dict.h), compiled
// filters (filter.h), the project map (project_map.h), the lock (rw_lock.h),
// parked late steps (parked_late.h), late merges (late_merge.h), rollup
// cells (rollup.h) and the profile codec (profile_codec.h).
//
// Locking: one RwLock per project (Append and eviction exclusive, reads
// shared; a Scan holds it while its visitor runs), the project map's lock,
// and evict_mu_ so that only one thread evicts at a time. Lock order:
// projects_.mu() → Project::mu → Partition::order_mu.
#include "store/mem/mem_store.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cassert>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/hash.h"
#include "store/dict.h"
#include "store/filter.h"
#include "store/instances.h"
#include "store/late_merge.h"
#include "store/parked_late.h"
#include "store/profile_codec.h"
#include "store/project_map.h"
#include "store/rw_lock.h"
#include "store/store.h"

namespace loupe::store {
namespace {

using model::TxId;

// One minute: an hour is 60 partitions, a 5-minute X-View touches ~6, and
// eviction drops one minute of data at a time.
constexpr int64_t kPartitionUs = 60'000'000;
// Rows per visitor call: 64 TxRows (~15 KB) stay in L1 while the visitor
// runs (256 did not, and cost ~10 % of a narrow scan).
constexpr size_t kBatchRows = 64;
// Events kept per project (MemStore is for tests and short runs).
constexpr size_t kMaxEventsPerProject = 100'000;

int32_t PartitionKey(int64_t end_us) noexcept {
  int64_t q = end_us / kPartitionUs;
  if (end_us % kPartitionUs < 0) --q;
  constexpr int64_t kMin = std::numeric_limits<int32_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  return static_cast<int32_t>(std::clamp(q, kMin, kMax));
}

uint64_t TraceHash(const model::TraceId& t) noexcept { return Hash64(t.data(), t.size()); }

// ---- FlatMap: uint64 key → V, open addressing with linear probing ----
// Key 0 is kept out of the table (it marks empty slots) in a side slot.
template <typename V>
class FlatMap {
 public:
  FlatMap() : slots_(16), mask_(15) {}

  V* Find(uint64_t key) noexcept {
    if (key == 0) return has_zero_ ? &zero_ : nullptr;
    for (size_t i = Home(key);; i = (i + 1) & mask_) {
      if (slots_[i].key == key) return &slots_[i].val;
      if (slots_[i].key == 0) return nullptr;
    }
  }
  const V* Find(uint64_t key) const noexcept { return const_cast<FlatMap*>(this)->Find(key); }

  // Returns the value slot for key and whether it was inserted (with `v`).
  std::pair<V*, bool> Insert(uint64_t key, const V& v) {
    if (key == 0) {
      if (has_zero_) return {&zero_, false};
      has_zero_ = true;
      zero_ = v;
      ++size_;
      return {&zero_, true};
    }
    if ((size_ + 1) * 4 > slots_.size() * 3) Grow();
    size_t i = Home(key);
    for (; slots_[i].key != 0; i = (i + 1) & mask_) {
      if (slots_[i].key == key) return {&slots_[i].val, false};
    }
    slots_[i].key = key;
    slots_[i].val = v;
    ++size_;
    return {&slots_[i].val, true};
  }

  bool Erase(uint64_t key) noexcept {
    if (key == 0) {
      if (!has_zero_) return false;
      has_zero_ = false;
      --size_;
      return true;
    }
    size_t i = Home(key);
    for (; slots_[i].key != key; i = (i + 1) & mask_) {
      if (slots_[i].key == 0) return false;
    }
    // Backward-shift deletion keeps probe chains intact without tombstones.
    for (size_t j = (i + 1) & mask_; slots_[j].key != 0; j = (j + 1) & mask_) {
      size_t home = Home(slots_[j].key);
      if (((j - home) & mask_) >= ((j - i) & mask_)) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i].key = 0;
    --size_;
    return true;
  }

  size_t size() const noexcept { return size_; }
  size_t bytes() const noexcept { return slots_.capacity() * sizeof(Slot); }

 private:
  struct Slot {
    uint64_t key = 0;
    V val{};
  };
  size_t Home(uint64_t key) const noexcept { return Mix64(key) & mask_; }
  void Grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    mask_ = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.key == 0) continue;
      size_t i = Home(s.key);
      while (slots_[i].key != 0) i = (i + 1) & mask_;
      slots_[i] = s;
    }
  }

  std::vector<Slot> slots_;
  size_t mask_;
  size_t size_ = 0;
  bool has_zero_ = false;
  V zero_{};
};

// ---- Arena: stable byte storage for encoded profiles ----
class Arena {
 public:
  char* Allocate(size_t n) {
    if (n > kBlock / 4) {
      blocks_.push_back(std::make_unique<char[]>(n));
      bytes_ += n;
      return blocks_.back().get();
    }
    if (n > left_) {
      blocks_.push_back(std::make_unique<char[]>(kBlock));
      bytes_ += kBlock;
      cur_ = blocks_.back().get();
      left_ = kBlock;
    }
    char* p = cur_;
    cur_ += n;
    left_ -= n;
    return p;
  }
  size_t bytes() const noexcept { return bytes_; }

 private:
  static constexpr size_t kBlock = 64 * 1024;
  std::vector<std::unique_ptr<char[]>> blocks_;
  char* cur_ = nullptr;
  size_t left_ = 0;
  size_t bytes_ = 0;
};

// Profiles are kept encoded, with the same codec the embedded engine writes
// (store/profile_codec.h), instead of as the Transaction's heap objects.

// ---- Partition: the rows whose end time falls in one minute ----
struct Partition {
  explicit Partition(int32_t k) : key(k) {}

  int32_t key;
  int64_t min_end = std::numeric_limits<int64_t>::max();
  int64_t max_end = std::numeric_limits<int64_t>::min();
  bool in_order = true;  // rows arrived in ascending end time
  uint64_t steps = 0;
  size_t garbage = 0;  // arena bytes of profiles replaced by late-step merges

  // Columns, one entry per row, in arrival order.
  std::vector<TxId> id;
  std::vector<model::TraceId> trace;
  std::vector<int64_t> start, end;
  std::vector<int32_t> status;
  std::vector<uint8_t> error;
  std::vector<uint32_t> dict[kNumDictColumns];
  std::vector<model::Summary> summary;
  std::vector<TxId> trace_next;  // next (older-inserted) tx of the same trace hash
  std::vector<const char*> profile;
  std::vector<uint32_t> profile_len;
  Arena arena;
  LocalDicts local;  // user and client IP strings of the rows (dict.h)

  // Row numbers sorted by ascending end time, built lazily for partitions
  // that are not in_order; valid while order_rows == rows().
  mutable std::mutex order_mu;
  mutable std::vector<uint32_t> order;
  mutable size_t order_rows = 0;

  size_t rows() const noexcept { return id.size(); }

  // REQUIRES: the project's lock is held (shared or exclusive).
  const std::vector<uint32_t>& SortedOrder() const {
    std::lock_guard<std::mutex> lock(order_mu);
    if (order_rows != rows() || order.size() != rows()) {
      order.resize(rows());
      for (uint32_t i = 0; i < rows(); ++i) order[i] = i;
      std::stable_sort(order.begin(), order.end(),
                       [this](uint32_t a, uint32_t b) { return end[a] < end[b]; });
      order_rows = rows();
    }
    return order;
  }

  size_t bytes() const noexcept {
    size_t n = id.capacity() * sizeof(TxId) + trace.capacity() * sizeof(model::TraceId) +
               (start.capacity() + end.capacity()) * sizeof(int64_t) +
               status.capacity() * sizeof(int32_t) + error.capacity() +
               summary.capacity() * sizeof(model::Summary) + trace_next.capacity() * sizeof(TxId) +
               profile.capacity() * sizeof(char*) + profile_len.capacity() * sizeof(uint32_t) +
               order.capacity() * sizeof(uint32_t) + arena.bytes() + local[0].bytes() +
               local[1].bytes() + sizeof(Partition);
    for (const auto& d : dict) n += d.capacity() * sizeof(uint32_t);
    return n;
  }
};

struct Loc {
  int32_t part = 0;
  uint32_t row = 0;
};

struct Project {
  mutable RwLock mu;
  std::map<int32_t, std::unique_ptr<Partition>> parts;
  FlatMap<Loc> by_id;
  FlatMap<TxId> trace_head;  // Hash64(trace id) → most recently inserted tx
  ProjectDicts dicts;        // the bounded columns; user and client IP: Partition::local
  InstanceMap instances;
  ParkedLateSteps parked;         // late steps that came before their transaction
  std::vector<int32_t> unsorted;  // keys of partitions that turned !in_order (may repeat)
  // Rollups of everything appended (rollup.h). Eviction drops the one-second
  // cells of evicted partitions; five-minute cells and user sketches stay.
  RollupBuilder rollups;
  // Events in append order, the oldest dropped past kMaxEventsPerProject.
  std::deque<model::Event> events;

  Partition* PartitionFor(int32_t key) {
    auto& p = parts[key];
    if (!p) p = std::make_unique<Partition>(key);
    return p.get();
  }
  Partition* At(const Loc& loc) const {
    auto it = parts.find(loc.part);
    return it == parts.end() ? nullptr : it->second.get();
  }
};

// Every test of f but the time range, on row r of pt. REQUIRES: f bound to pt.
inline bool MatchRest(const CompiledFilter& f, const Partition& pt, uint32_t r) noexcept {
  return f.MatchRest(pt.end[r] - pt.start[r], pt.error[r] != 0,
                     [&pt, r](int c) { return pt.dict[c][r]; });
}

class MemStore final : public Store {
 public:
  explicit MemStore(size_t max_transactions) : max_rows_(max_transactions) {}

  Status Append(ProjectId project, WriteBatch batch) override;
  Status Scan(ProjectId project, const TxFilter& filter, ScanOrder order,
              const RowVisitor& visit) const override;
  Status ScanScatter(ProjectId project, const TxFilter& filter,
                     const ScatterVisitor& visit) const override;
  Result<model::Transaction> Get(ProjectId project, model::TxId id) const override;
  Result<std::vector<model::Transaction>> GetTrace(ProjectId project,
                                                   const model::TraceId& trace) const override;
  Status PutInstance(ProjectId project, const InstanceInfo& info) override;
  Result<std::vector<InstanceInfo>> ListInstances(ProjectId project) const override;
  StoreStats Stats() const override;
  Status AppendEvents(ProjectId project, std::span<const model::Event> events) override;
  Status ScanEvents(ProjectId project, const EventFilter& filter,
                    const EventVisitor& visit) const override;
  Status Close() override {
    closed_.store(true);
    return Status::OK();
  }
  bool has_rollups() const override { return true; }
  Status ScanRollups(ProjectId project, RollupResolution resolution, const RollupFilter& filter,
                     const RollupVisitor& visit) const override;
  Status ScanUsers(ProjectId project, const RollupFilter& filter,
                   const UsersVisitor& visit) const override;

 private:
  Project* FindProject(ProjectId id) const;
  Project* GetOrCreateProject(ProjectId id);
  void AppendRow(Project* p, model::Transaction& tx);
  void MergeLate(Project* p, LateSteps& late);
  // Inlined into Scan's loops: as a call it was ~10 % of a narrow scan.
  [[gnu::always_inline]] inline void FillRow(const Project& p, const Partition& pt, uint32_t r,
                                             uint32_t fields, TxRow* out) const noexcept;
  model::Transaction ReadTx(const Project& p, const Partition& pt, uint32_t r) const;
  void SortSettled(Project* p);
  void EvictIfNeeded();
  void DropPartition(Project* p, std::map<int32_t, std::unique_ptr<Partition>>::iterator it);

  const size_t max_rows_;
  ProjectMap<Project> projects_;
  std::mutex evict_mu_;
  std::atomic<uint64_t> rows_{0}, steps_{0}, dups_{0}, merged_{0}, orphaned_{0};
  std::atomic<bool> closed_{false};
};

Project* MemStore::FindProject(ProjectId id) const { return projects_.Find(id); }

Project* MemStore::GetOrCreateProject(ProjectId id) {
  return projects_.GetOrCreate(id, [](ProjectId) { return std::make_unique<Project>(); });
}

Status MemStore::Append(ProjectId project, WriteBatch batch) {
  if (closed_.load()) return Status::Unavailable("store is closed");
  if (batch.empty()) return Status::OK();
  GroupLateSteps(&batch.late_steps);  // one merge per transaction, outside the lock
  Project* p = GetOrCreateProject(project);
  {
    WriteLock lock(p->mu);
    for (model::Transaction& tx : batch.transactions) AppendRow(p, tx);
    for (LateSteps& late : batch.late_steps) MergeLate(p, late);
    UnparkLate(p->parked, batch.transactions, &orphaned_, [&](LateSteps& l) { MergeLate(p, l); });
    SortSettled(p);
  }
  EvictIfNeeded();
  return Status::OK();
}

void MemStore::AppendRow(Project* p, model::Transaction& tx) {
  int32_t key = PartitionKey(tx.end_us);
  auto [loc, inserted] = p->by_id.Insert(tx.id, Loc{key, 0});
  if (!inserted) {
    dups_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  Partition* pt = p->PartitionFor(key);
  auto row = static_cast<uint32_t>(pt->rows());
  loc->row = row;

  auto [head, new_trace] = p->trace_head.Insert(TraceHash(tx.trace_id), tx.id);
  TxId next = 0;
  if (!new_trace) {
    next = *head;
    *head = tx.id;
  }

  if (pt->in_order && pt->rows() > 0 && tx.end_us < pt->end.back()) {
    pt->in_order = false;
    p->unsorted.push_back(key);
  }
  pt->min_end = std::min(pt->min_end, tx.end_us);
  pt->max_end = std::max(pt->max_end, tx.end_us);
  pt->id.push_back(tx.id);
  pt->trace.push_back(tx.trace_id);
  pt->start.push_back(tx.start_us);
  pt->end.push_back(tx.end_us);
  pt->status.push_back(tx.status);
  pt->error.push_back(tx.error ? 1 : 0);
  uint32_t ids[kNumDictColumns];
  InternColumns(tx, p->dicts, pt->local, ids);
  for (int c = 0; c < kNumDictColumns; ++c) pt->dict[c].push_back(ids[c]);
  pt->summary.push_back(tx.summary);
  pt->trace_next.push_back(next);
  p->rollups.Add(tx.end_us, tx.end_us - tx.start_us, tx.error, tx.summary, ids[kDictService],
                 ids[kDictInstance], ids[kDictEndpoint],
                 !tx.user.empty() ? std::string_view(tx.user) : std::string_view(tx.client_ip));

  thread_local std::string scratch;
  scratch.clear();
  EncodeProfile(tx, &scratch);
  char* blob = pt->arena.Allocate(scratch.size());
  std::memcpy(blob, scratch.data(), scratch.size());
  pt->profile.push_back(blob);
  pt->profile_len.push_back(static_cast<uint32_t>(scratch.size()));
  pt->steps += tx.steps.size();

  rows_.fetch_add(1, std::memory_order_relaxed);
  steps_.fetch_add(tx.steps.size(), std::memory_order_relaxed);
}

// Rows arrive in roughly, not exactly, end order, so most partitions are out
// of order. Walking one through a permutation touches every column at random
// and missed cache on nearly every row (X-View over an hour: 380 ms CPU); once
// a partition is two minutes older than the newest, its columns are
// physically sorted by end time and its index entries moved, so ordered scans
// stream. Only the newest partitions (still receiving rows) use the lazy
// permutation. A late row into a settled partition re-sorts it on that Append.
void MemStore::SortSettled(Project* p) {
  if (p->unsorted.empty() || p->parts.empty()) return;
  const int32_t settled = p->parts.rbegin()->first - 2;
  std::vector<int32_t> keep;
  std::sort(p->unsorted.begin(), p->unsorted.end());
  p->unsorted.erase(std::unique(p->unsorted.begin(), p->unsorted.end()), p->unsorted.end());
  for (int32_t key : p->unsorted) {
    auto it = p->parts.find(key);
    if (it == p->parts.end() || it->second->in_order) continue;
    if (key > settled) {
      keep.push_back(key);
      continue;
    }
    Partition& pt = *it->second;
    const size_t n = pt.rows();
    std::vector<uint32_t> perm(n);
    for (uint32_t i = 0; i < n; ++i) perm[i] = i;
    std::stable_sort(perm.begin(), perm.end(),
                     [&pt](uint32_t a, uint32_t b) { return pt.end[a] < pt.end[b]; });
    auto apply = [&perm, n](auto& col) {
      std::remove_reference_t<decltype(col)> sorted(n);
      for (size_t i = 0; i < n; ++i) sorted[i] = col[perm[i]];
      col.swap(sorted);
    };
    apply(pt.id);
    apply(pt.trace);
    apply(pt.start);
    apply(pt.end);
    apply(pt.status);
    apply(pt.error);
    for (auto& d : pt.dict) apply(d);
    apply(pt.summary);
    apply(pt.trace_next);
    apply(pt.profile);
    apply(pt.profile_len);
    for (uint32_t i = 0; i < n; ++i) p->by_id.Find(pt.id[i])->row = i;
    pt.in_order = true;
    std::lock_guard<std::mutex> lock(pt.order_mu);
    pt.order = {};
    pt.order_rows = 0;
  }
  p->unsorted.swap(keep);
}

// Once per transaction and batch (Append grouped the entries): decode the
// profile, add the steps not there yet, re-encode. The row's summary and the
// rollup cells of its end time and groups take the same increase.
void MemStore::MergeLate(Project* p, LateSteps& late) {
  if (late.steps.empty() && late.dropped_steps == 0) return;
  const Loc* loc = p->by_id.Find(late.tx);
  Partition* pt = loc ? p->At(*loc) : nullptr;
  if (pt == nullptr) {
    orphaned_.fetch_add(late.steps.size(), std::memory_order_relaxed);
    p->parked.Park(late.tx, std::move(late.steps), late.dropped_steps);
    return;
  }
  uint32_t r = loc->row;
  thread_local std::string scratch;
  const ProfileMerge m = MergeIntoProfile(std::string_view(pt->profile[r], pt->profile_len[r]),
                                          pt->start[r], &late, &scratch);
  if (!m.changed) return;
  const size_t merged = m.merged;
  if (merged > 0) {
    AddSummary(&pt->summary[r], m.delta);
    p->rollups.AddLate(pt->end[r], m.delta, pt->dict[kDictService][r], pt->dict[kDictInstance][r],
                       pt->dict[kDictEndpoint][r]);
  }
  char* blob = pt->arena.Allocate(scratch.size());
  std::memcpy(blob, scratch.data(), scratch.size());
  pt->garbage += pt->profile_len[r];
  pt->profile[r] = blob;
  pt->profile_len[r] = static_cast<uint32_t>(scratch.size());
  pt->steps += merged;
  merged_.fetch_add(merged, std::memory_order_relaxed);
  steps_.fetch_add(merged, std::memory_order_relaxed);
}

inline void MemStore::FillRow(const Project& p, const Partition& pt, uint32_t r, uint32_t fields,
                              TxRow* out) const noexcept {
  out->id = pt.id[r];
  out->start_us = pt.start[r];
  out->end_us = pt.end[r];
  out->error = pt.error[r] != 0;
  if (fields & kFieldTraceId) out->trace_id = pt.trace[r];
  if (fields & kFieldStatus) {
    out->status = pt.status[r];
    out->error_type = p.dicts[kDictErrorType].Get(pt.dict[kDictErrorType][r]);
  }
  if (fields & kFieldGroups) {
    out->service_id = pt.dict[kDictService][r];
    out->instance_id = pt.dict[kDictInstance][r];
    out->endpoint_id = pt.dict[kDictEndpoint][r];
    out->service = p.dicts[kDictService].Get(out->service_id);
    out->instance = p.dicts[kDictInstance].Get(out->instance_id);
    out->endpoint = p.dicts[kDictEndpoint].Get(out->endpoint_id);
  }
  if (fields & kFieldClient) {
    out->user = pt.local[LocalSlot(kDictUser)].Get(pt.dict[kDictUser][r]);
    out->client_ip = pt.local[LocalSlot(kDictClientIp)].Get(pt.dict[kDictClientIp][r]);
    out->http_method = p.dicts[kDictMethod].Get(pt.dict[kDictMethod][r]);
  }
  if (fields & kFieldSummary) out->summary = pt.summary[r];
}

// The columns straight from the partitions' vectors: the default (Scan
// through TxRows) made an hour's binned X-View ~40 % slower than the
// single row scan it replaced (query_benchmark BM_XViewHourBinned).
Status MemStore::ScanScatter(ProjectId project, const TxFilter& filter,
                             const ScatterVisitor& visit) const {
  const Project* p = FindProject(project);
  if (p == nullptr) return Status::OK();
  ReadLock lock(p->mu);
  CompiledFilter all;
  if (!all.Compile(p->dicts, filter)) return Status::OK();
  constexpr size_t kRows = 16384;  // per visitor call
  std::vector<int64_t> end, elapsed;
  std::vector<uint8_t> error;
  auto pass_on = [&] {
    const bool more = end.empty() || visit(end, elapsed, error);
    end.clear();
    elapsed.clear();
    error.clear();
    return more;
  };
  for (const auto& [key, ptr] : p->parts) {
    const Partition& pt = *ptr;
    CompiledFilter f = all;
    if (pt.max_end < f.from || pt.min_end >= f.to || !f.BindLocal(pt.local)) continue;
    const bool all_in = pt.min_end >= f.from && pt.max_end < f.to;
    const auto rows = static_cast<uint32_t>(pt.rows());
    for (uint32_t r = 0; r < rows; ++r) {
      if (!all_in && (pt.end[r] < f.from || pt.end[r] >= f.to)) continue;
      if (!MatchRest(f, pt, r)) continue;
      end.push_back(pt.end[r]);
      elapsed.push_back(pt.end[r] - pt.start[r]);
      error.push_back(pt.error[r] != 0 ? 1 : 0);
      if (end.size() == kRows && !pass_on()) return Status::OK();
    }
  }
  pass_on();
  return Status::OK();
}

Status MemStore::Scan(ProjectId project, const TxFilter& filter, ScanOrder order,
                      const RowVisitor& visit) const {
  const Project* p = FindProject(project);
  if (p == nullptr) return Status::OK();
  ReadLock lock(p->mu);
  CompiledFilter all;
  if (!all.Compile(p->dicts, filter)) return Status::OK();

  // One buffer per Scan, reused for every batch.
  std::unique_ptr<TxRow[]> batch(new TxRow[kBatchRows]);
  const uint32_t fields = filter.fields;
  size_t n = 0;
  bool stopped = false;
  auto emit = [&](const Partition& pt, uint32_t r) {
    FillRow(*p, pt, r, fields, &batch[n]);
    if (++n == kBatchRows) {
      n = 0;
      if (!visit(std::span<const TxRow>(batch.get(), kBatchRows))) stopped = true;
    }
  };

  if (order == ScanOrder::kAny) {
    for (const auto& [key, ptr] : p->parts) {
      const Partition& pt = *ptr;
      CompiledFilter f = all;
      if (pt.max_end < f.from || pt.min_end >= f.to || !f.BindLocal(pt.local)) continue;
      const bool all_in = pt.min_end >= f.from && pt.max_end < f.to;
      const auto rows = static_cast<uint32_t>(pt.rows());
      for (uint32_t r = 0; r < rows && !stopped; ++r) {
        if (!all_in && (pt.end[r] < f.from || pt.end[r] >= f.to)) continue;
        if (MatchRest(f, pt, r)) emit(pt, r);
      }
      if (stopped) return Status::OK();
    }
  } else {
    for (auto it = p->parts.rbegin(); it != p->parts.rend(); ++it) {
      const Partition& pt = *it->second;
      CompiledFilter f = all;
      if (pt.max_end < f.from || pt.min_end >= f.to || !f.BindLocal(pt.local)) continue;
      const int64_t* end = pt.end.data();
      if (pt.in_order) {
        // Rows are ascending in end time: bound [lo, hi) by binary search.
        size_t lo = std::lower_bound(end, end + pt.rows(), f.from) - end;
        size_t hi = std::lower_bound(end + lo, end + pt.rows(), f.to) - end;
        for (size_t i = hi; i > lo && !stopped; --i) {
          auto r = static_cast<uint32_t>(i - 1);
          if (MatchRest(f, pt, r)) emit(pt, r);
        }
      } else {
        const std::vector<uint32_t>& ord = pt.SortedOrder();
        auto lo_it = std::lower_bound(ord.begin(), ord.end(), f.from,
                                      [end](uint32_t r, int64_t t) { return end[r] < t; });
        auto hi_it = std::lower_bound(lo_it, ord.end(), f.to,
                                      [end](uint32_t r, int64_t t) { return end[r] < t; });
        for (auto i = hi_it; i != lo_it && !stopped;) {
          --i;
          if (MatchRest(f, pt, *i)) emit(pt, *i);
        }
      }
      if (stopped) return Status::OK();
    }
  }
  if (n > 0) visit(std::span<const TxRow>(batch.get(), n));
  return Status::OK();
}

model::Transaction MemStore::ReadTx(const Project& p, const Partition& pt, uint32_t r) const {
  model::Transaction tx;
  tx.id = pt.id[r];
  tx.trace_id = pt.trace[r];
  tx.service = p.dicts[kDictService].Get(pt.dict[kDictService][r]);
  tx.instance = p.dicts[kDictInstance].Get(pt.dict[kDictInstance][r]);
  tx.endpoint = p.dicts[kDictEndpoint].Get(pt.dict[kDictEndpoint][r]);
  tx.http_method = p.dicts[kDictMethod].Get(pt.dict[kDictMethod][r]);
  tx.start_us = pt.start[r];
  tx.end_us = pt.end[r];
  tx.status = pt.status[r];
  tx.error = pt.error[r] != 0;
  tx.error_type = p.dicts[kDictErrorType].Get(pt.dict[kDictErrorType][r]);
  tx.client_ip = pt.local[LocalSlot(kDictClientIp)].Get(pt.dict[kDictClientIp][r]);
  tx.user = pt.local[LocalSlot(kDictUser)].Get(pt.dict[kDictUser][r]);
  tx.summary = pt.summary[r];
  DecodeProfile(std::string_view(pt.profile[r], pt.profile_len[r]), &tx);
  return tx;
}

Result<model::Transaction> MemStore::Get(ProjectId project, model::TxId id) const {
  const Project* p = FindProject(project);
  if (p != nullptr) {
    ReadLock lock(p->mu);
    const Loc* loc = p->by_id.Find(id);
    const Partition* pt = loc ? p->At(*loc) : nullptr;
    if (pt != nullptr) return ReadTx(*p, *pt, loc->row);
  }
  return Status::NotFound("transaction " + model::TxIdToHex(id));
}

Result<std::vector<model::Transaction>> MemStore::GetTrace(ProjectId project,
                                                           const model::TraceId& trace) const {
  std::vector<model::Transaction> out;
  const Project* p = FindProject(project);
  if (p == nullptr) return out;
  ReadLock lock(p->mu);
  const TxId* head = p->trace_head.Find(TraceHash(trace));
  // The chain covers every tx whose trace hash collides; keep exact matches.
  for (TxId id = head ? *head : 0; head != nullptr;) {
    const Loc* loc = p->by_id.Find(id);
    const Partition* pt = loc ? p->At(*loc) : nullptr;
    if (pt == nullptr) break;
    if (pt->trace[loc->row] == trace) out.push_back(ReadTx(*p, *pt, loc->row));
    id = pt->trace_next[loc->row];
    if (id == 0) break;
  }
  std::sort(out.begin(), out.end(), [](const model::Transaction& a, const model::Transaction& b) {
    return a.start_us != b.start_us ? a.start_us < b.start_us : a.id < b.id;
  });
  return out;
}

Status MemStore::ScanRollups(ProjectId project, RollupResolution resolution,
                             const RollupFilter& filter, const RollupVisitor& visit) const {
  const Project* p = FindProject(project);
  if (p == nullptr) return Status::OK();
  ReadLock lock(p->mu);
  RollupIdFilter ids;
  if (!CompileRollupFilter(p->dicts, filter, 3, &ids)) return Status::OK();
  EmitBuilderCells(p->rollups, resolution, ids, RollupNamerOf(p->dicts), visit);
  return Status::OK();
}

Status MemStore::ScanUsers(ProjectId project, const RollupFilter& filter,
                           const UsersVisitor& visit) const {
  const Project* p = FindProject(project);
  if (p == nullptr) return Status::OK();
  ReadLock lock(p->mu);
  RollupIdFilter ids;
  if (!CompileRollupFilter(p->dicts, filter, 1, &ids)) return Status::OK();
  EmitBuilderUsers(p->rollups, ids, RollupNamerOf(p->dicts), visit);
  return Status::OK();
}

Status MemStore::AppendEvents(ProjectId project, std::span<const model::Event> events) {
  if (closed_.load()) return Status::Unavailable("store is closed");
  if (events.empty()) return Status::OK();
  Project* p = GetOrCreateProject(project);
  WriteLock lock(p->mu);
  for (const model::Event& e : events) {
    if (p->events.size() >= kMaxEventsPerProject) p->events.pop_front();
    p->events.push_back(e);
  }
  return Status::OK();
}

Status MemStore::ScanEvents(ProjectId project, const EventFilter& f,
                            const EventVisitor& visit) const {
  const Project* p = FindProject(project);
  if (p == nullptr) return Status::OK();
  ReadLock lock(p->mu);
  for (auto it = p->events.rbegin(); it != p->events.rend(); ++it) {
    const model::Event& e = *it;
    if (e.time_us < f.from_us || e.time_us >= f.to_us) continue;
    if ((!f.level.empty() && f.level != e.level) || (!f.type.empty() && f.type != e.type) ||
        (!f.service.empty() && f.service != e.service)) {
      continue;
    }
    if (!visit(e)) break;
  }
  return Status::OK();
}

Status MemStore::PutInstance(ProjectId project, const InstanceInfo& info) {
  if (closed_.load()) return Status::Unavailable("store is closed");
  Project* p = GetOrCreateProject(project);
  WriteLock lock(p->mu);
  RecordInstance(&p->instances, info);
  return Status::OK();
}

Result<std::vector<InstanceInfo>> MemStore::ListInstances(ProjectId project) const {
  std::vector<InstanceInfo> out;
  const Project* p = FindProject(project);
  if (p == nullptr) return out;
  ReadLock lock(p->mu);
  out.reserve(p->instances.size());
  for (const auto& [key, info] : p->instances) out.push_back(info);
  return out;
}

StoreStats MemStore::Stats() const {
  StoreStats s;
  s.transactions = rows_.load();
  s.steps = steps_.load();
  s.duplicates_skipped = dups_.load();
  s.late_steps_merged = merged_.load();
  s.late_steps_orphaned = orphaned_.load();
  for (const Project* p : projects_.All()) {
    ReadLock plock(p->mu);
    s.bytes += sizeof(Project) + p->by_id.bytes() + p->trace_head.bytes();
    for (const Dict& d : p->dicts) {
      s.bytes += d.bytes();
      s.dictionary_entries += d.size();
      s.dictionary_bytes += d.bytes();
    }
    for (const auto& [key, pt] : p->parts) {
      s.bytes += pt->bytes();
      for (const Dict& d : pt->local) {
        s.dictionary_entries += d.size();
        s.dictionary_bytes += d.bytes();
      }
    }
    s.bytes += p->instances.size() * (sizeof(InstanceInfo) + 64);
  }
  return s;
}

void MemStore::EvictIfNeeded() {
  if (rows_.load(std::memory_order_relaxed) <= max_rows_) return;
  std::lock_guard<std::mutex> evict_lock(evict_mu_);
  while (rows_.load() > max_rows_) {
    // The globally oldest partition, over all projects.
    Project* victim = nullptr;
    int32_t oldest = std::numeric_limits<int32_t>::max();
    {
      for (Project* p : projects_.All()) {
        ReadLock plock(p->mu);
        if (!p->parts.empty() && (victim == nullptr || p->parts.begin()->first < oldest)) {
          oldest = p->parts.begin()->first;
          victim = p;
        }
      }
    }
    if (victim == nullptr) return;
    WriteLock plock(victim->mu);
    if (!victim->parts.empty()) DropPartition(victim, victim->parts.begin());
  }
}

void MemStore::DropPartition(Project* p,
                             std::map<int32_t, std::unique_ptr<Partition>>::iterator it) {
  Partition& dead = *it->second;
  const int32_t key = dead.key;
  if (dead.rows() > 0) {
    p->rollups.EraseSeconds(dead.min_end / kRollupSecondUs * kRollupSecondUs, dead.max_end);
  }
  // Unlink the dead rows from their trace chains, keeping the survivors
  // chained (newest-inserted first) so GetTrace still finds them.
  std::vector<uint64_t> hashes;
  hashes.reserve(dead.rows());
  for (const model::TraceId& t : dead.trace) hashes.push_back(TraceHash(t));
  std::sort(hashes.begin(), hashes.end());
  hashes.erase(std::unique(hashes.begin(), hashes.end()), hashes.end());
  std::vector<std::pair<Partition*, uint32_t>> kept;
  for (uint64_t h : hashes) {
    TxId* head = p->trace_head.Find(h);
    if (head == nullptr) continue;
    kept.clear();
    for (TxId id = *head; id != 0;) {
      const Loc* loc = p->by_id.Find(id);
      Partition* pt = loc ? p->At(*loc) : nullptr;
      if (pt == nullptr) break;
      if (loc->part != key) kept.emplace_back(pt, loc->row);
      id = pt->trace_next[loc->row];
    }
    if (kept.empty()) {
      p->trace_head.Erase(h);
      continue;
    }
    *head = kept[0].first->id[kept[0].second];
    for (size_t i = 0; i < kept.size(); ++i) {
      kept[i].first->trace_next[kept[i].second] =
          i + 1 < kept.size() ? kept[i + 1].first->id[kept[i + 1].second] : 0;
    }
  }
  for (TxId id : dead.id) p->by_id.Erase(id);
  rows_.fetch_sub(dead.rows());
  steps_.fetch_sub(dead.steps);
  p->parts.erase(it);
}

}  // namespace

std::unique_ptr<Store> NewMemStore(size_t max_transactions) {
  return std::make_unique<MemStore>(max_transactions);
}

}  // namespace loupe::store
