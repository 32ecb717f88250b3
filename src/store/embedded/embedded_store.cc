// The embedded engine (embedded_store.h): open, append, flush, instances.
// Reads are in embedded_store_read.cc; shared structures in
// embedded_store_internal.h.
#include "store/embedded/embedded_store.h"

#include <chrono>
#include <cstring>
#include <limits>
#include <unordered_set>

#include "common/coding.h"
#include "common/logging.h"
#include "log/crc32c.h"
#include "store/embedded/embedded_store_internal.h"
#include "store/late_merge.h"
#include "store/profile_codec.h"

namespace loupe::store {
namespace embedded_internal {
namespace {

constexpr char kInstancesFile[] = "INSTANCES";
constexpr char kLockFile[] = "LOCK";
constexpr uint32_t kInstancesVersion = 1;

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

const std::vector<uint32_t>& MemTable::SortedOrder() const {
  std::lock_guard<std::mutex> lock(order_mu);
  if (order.size() != rows.size()) {
    order.resize(rows.size());
    for (uint32_t i = 0; i < rows.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [this](uint32_t a, uint32_t b) { return rows[a].end_us < rows[b].end_us; });
  }
  return order;
}

void AddLateEntry(Partition* part, const LateRecord& l) {
  LateEntry& e = part->late[l.tx];
  AddSummary(&e.delta, l.delta);
  e.blobs.push_back(l.blob);
  e.dropped_steps = std::max(e.dropped_steps, l.dropped_steps);
}

void ApplyLate(const Partition& part, model::Transaction* tx) {
  if (part.late.empty()) return;
  auto it = part.late.find(tx->id);
  if (it == part.late.end()) return;
  AddSummary(&tx->summary, it->second.delta);
  tx->dropped_steps = std::max(tx->dropped_steps, it->second.dropped_steps);
  for (const std::string& blob : it->second.blobs) DecodeSteps(blob, 0, &tx->steps);
  std::stable_sort(
      tx->steps.begin(), tx->steps.end(),
      [](const model::Step& a, const model::Step& b) { return a.start_us < b.start_us; });
}

SegmentedStore::SegmentedStore(const EmbeddedOptions& options)
    : options_(options),
      env_(options.env),
      retention_(options.retention),
      scatter_budget_(options.scatter_cache_bytes) {}

SegmentedStore::~SegmentedStore() { Close(); }

int64_t SegmentedStore::PartitionKey(int64_t end_us) const noexcept {
  int64_t q = end_us / options_.partition_us;
  if (end_us % options_.partition_us < 0) --q;
  return q;
}

Project* SegmentedStore::FindProject(ProjectId id) const { return projects_.Find(id); }

Project* SegmentedStore::GetOrCreateProject(ProjectId id) {
  return projects_.GetOrCreate(id, [this](ProjectId id) {
    auto p = std::make_unique<Project>(id);
    InitRetention(p.get());  // projects_mu_ is held
    return p;
  });
}

int64_t SegmentedStore::FirstLiveKey(int64_t retention_us, int64_t now_us) const noexcept {
  if (retention_us <= 0) return std::numeric_limits<int64_t>::min();
  return PartitionKey(now_us - retention_us);
}

Status SegmentedStore::OpenFiles() {
  const std::string& dir = options_.dir;
  LOUPE_RETURN_IF_ERROR(env_->CreateDir(dir));
  auto lock = env_->LockFile(dir + "/" + kLockFile);
  if (!lock.ok()) return lock.status();
  lock_ = std::move(*lock);

  auto names = env_->GetChildren(dir);
  if (!names.ok()) return names.status();
  struct Found {
    uint64_t seq;
    uint32_t project;
    int64_t partition;
    std::string name;
  };
  std::vector<Found> found;
  const int64_t now_us = options_.clock->NowMicros();
  uint64_t expired = 0;
  std::vector<std::string> rollup_names;
  for (const std::string& name : *names) {
    if (EndsWith(name, ".seg.tmp") || EndsWith(name, ".r1s.tmp") || EndsWith(name, ".r1m.tmp") ||
        EndsWith(name, ".rollup.tmp")) {
      // An interrupted flush or compaction; its data is in memory, the log
      // or the segments it was built from.
      env_->DeleteFile(dir + "/" + name);
      continue;
    }
    Found f;
    RollupResolution res;
    if (ParseRollupFileName(name, &f.project, &f.partition, &f.seq, &res)) {
      next_seq_ = std::max(next_seq_, f.seq + 1);
      // One-second rollups are kept as long as the segments.
      if (res == RollupResolution::kSecond && ExpiredAtOpen(f.project, f.partition, now_us)) {
        env_->DeleteFile(dir + "/" + name);
        rollups_dropped_.fetch_add(1);
        continue;
      }
      rollup_names.push_back(name);
      continue;
    }
    if (ParseSegmentFileName(name, &f.project, &f.partition, &f.seq)) {
      next_seq_ = std::max(next_seq_, f.seq + 1);
      if (ExpiredAtOpen(f.project, f.partition, now_us)) {
        // Retention at open: an expired partition is never read.
        Status d = env_->DeleteFile(dir + "/" + name);
        if (!d.ok()) LogError("retention: " + d.ToString());
        ++expired;
        continue;
      }
      f.name = name;
      found.push_back(std::move(f));
    }
  }
  if (expired > 0) {
    segments_dropped_.fetch_add(expired);
    env_->SyncDir(dir);
    LogInfo("retention: deleted " + std::to_string(expired) + " expired segment(s) at open");
  }
  std::sort(found.begin(), found.end(),
            [](const Found& a, const Found& b) { return a.seq < b.seq; });
  for (const Found& f : found) {
    next_seq_ = std::max(next_seq_, f.seq + 1);
    const std::string path = dir + "/" + f.name;
    auto seg = Segment::Open(env_, path);
    if (seg.ok() && ((*seg)->project() != f.project || (*seg)->partition() != f.partition)) {
      seg = Status::Corruption(path + ": project/partition differ from the file name");
    }
    if (!seg.ok()) {
      if (seg.status().code() != Status::Code::kCorruption) {
        return seg.status().Annotate("opening segment " + path);
      }
      LogError("skipping damaged segment: " + seg.status().ToString());
      corrupt_segments_.fetch_add(1);
      continue;
    }
    std::shared_ptr<const Segment> s = std::move(*seg);
    Project* p = GetOrCreateProject(f.project);
    std::unique_lock<RwMutex> plock(p->mu);
    Partition& part = p->PartitionFor(f.partition);
    SegmentRef ref;
    ref.seg = s;
    ref.seq = f.seq;
    for (int c = 0; c < kNumDictColumns; ++c) {
      if (IsHighCardinality(c)) continue;
      ref.to_global[c].reserve(s->dict(c).size());
      for (const std::string& str : s->dict(c)) ref.to_global[c].push_back(p->dicts[c].Intern(str));
    }
    for (const LateRecord& l : s->late()) AddLateEntry(&part, l);
    part.segments.push_back(std::move(ref));
    txs_.fetch_add(s->rows());
    steps_.fetch_add(s->steps());
    segments_.fetch_add(1);
    segment_bytes_.fetch_add(s->file_size());
  }
  EventJournalOptions jo;
  jo.env = env_;
  jo.clock = options_.clock;
  jo.dir = dir + "/events";
  auto journal = EventJournal::Open(jo);
  if (!journal.ok()) return journal.status().Annotate("opening the events in " + jo.dir);
  events_ = std::move(*journal);
  AddRollupFiles(rollup_names);
  DropReplacedSegments();
  LOUPE_RETURN_IF_ERROR(LoadInstances());
  {
    std::lock_guard<std::mutex> maint(maint_mu_);
    Status r = RollupRetention(now_us);
    if (!r.ok()) LogError("rollup retention at open: " + r.ToString());
    r = RebuildMissingRollups();
    if (!r.ok()) LogError("rebuilding rollups at open: " + r.ToString());
  }
  if (options_.background_flush) flusher_ = std::thread([this] { FlushLoop(); });
  if (options_.background_maintenance) maintainer_ = std::thread([this] { MaintenanceLoop(); });
  return Status::OK();
}

// ---- Append ----

Status SegmentedStore::Append(ProjectId project, WriteBatch batch) {
  std::shared_lock<std::shared_mutex> close_lock(close_mu_);
  if (closed_) return Status::Unavailable("store is closed");
  if (batch.empty()) return Status::OK();
  MaybeStall();
  GroupLateSteps(&batch.late_steps);  // one merge per transaction, outside the lock
  Project* p = GetOrCreateProject(project);
  const int64_t retention_us = p->retention_us.load(std::memory_order_relaxed);
  const int64_t first_live_key = retention_us > 0
                                     ? FirstLiveKey(retention_us, options_.clock->NowMicros())
                                     : std::numeric_limits<int64_t>::min();
  {
    std::unique_lock<RwMutex> lock(p->mu);
    for (model::Transaction& tx : batch.transactions) {
      if (PartitionKey(tx.end_us) < first_live_key) {
        // Its partition is expired (and maybe dropped already): storing it
        // would bring back a partition retention removed.
        expired_rejected_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      AppendRow(p, tx);
    }
    for (LateSteps& late : batch.late_steps) MergeLate(p, late);
    UnparkLate(p->parked, batch.transactions, &orphaned_, [&](LateSteps& l) { MergeLate(p, l); });
  }
  if (options_.background_flush &&
      mem_bytes_.load(std::memory_order_relaxed) > options_.memtable_bytes) {
    bg_cv_.notify_one();
  }
  return Status::OK();
}

void SegmentedStore::MaybeStall() {
  if (!options_.background_flush) return;
  const uint64_t limit =
      options_.memtable_bytes * static_cast<uint64_t>(std::max(1, options_.stall_factor));
  if (mem_bytes_.load(std::memory_order_relaxed) <= limit) return;
  std::unique_lock<std::mutex> lock(bg_mu_);
  bg_cv_.notify_one();
  // Bounded: a flush that keeps failing must not block ingest forever.
  for (int i = 0; i < 100 && !stop_ && mem_bytes_.load() > limit; ++i) {
    stall_cv_.wait_for(lock, std::chrono::milliseconds(100));
  }
}

bool SegmentedStore::FindInSegments(const Project& p, TxId id, const Partition** part,
                                    const SegmentRef** ref, uint32_t* row) const {
  for (auto it = p.parts.rbegin(); it != p.parts.rend(); ++it) {
    for (const SegmentRef& r : it->second.segments) {
      Result<bool> found = r.seg->FindId(id, row);
      if (!found.ok()) {
        if (r.seg->FirstDamageReport()) {
          corrupt_chunks_.fetch_add(1, std::memory_order_relaxed);
          LogError("id lookups skip a damaged segment: " + found.status().ToString());
        }
        continue;
      }
      if (*found) {
        *part = &it->second;
        *ref = &r;
        return true;
      }
    }
  }
  return false;
}

void SegmentedStore::AppendRow(Project* p, model::Transaction& tx) {
  if (p->mem_index.count(tx.id) != 0) {
    dups_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // A transaction's end time fixes its partition, so only that partition's
  // segments can hold it: probing every segment of the project made appends
  // slower the more history was kept (Segment::FindId was the top function
  // loading a day; docs/benchmarks.md, "Embedded engine vs ClickHouse").
  const int64_t key = PartitionKey(tx.end_us);
  if (const Partition* existing = p->FindPartition(key)) {
    uint32_t seg_row;
    for (const SegmentRef& r : existing->segments) {
      Result<bool> found = r.seg->FindId(tx.id, &seg_row);
      if (found.ok() && *found) {
        dups_.fetch_add(1, std::memory_order_relaxed);
        return;
      }
    }
  }
  Partition& part = p->PartitionFor(key);
  if (!part.mem) part.mem = std::make_shared<MemTable>();
  MemRow row;
  row.id = tx.id;
  row.trace = tx.trace_id;
  row.start_us = tx.start_us;
  row.end_us = tx.end_us;
  row.status = tx.status;
  row.error = tx.error;
  MemTable& mem = *part.mem;
  // User and client IP go into the memtable's dictionaries, which the flush
  // drops: a project-wide dictionary grew by every distinct visitor for
  // ever (issue 10; EmbeddedStoreTest.DistinctUsersLeaveNoDictionaryBehind).
  const size_t local_added = InternColumns(tx, p->dicts, mem.local, row.dict);
  row.summary = tx.summary;
  row.steps = static_cast<uint32_t>(tx.steps.size());
  EncodeProfile(tx, &row.profile);
  row.profile.shrink_to_fit();
  const size_t rollup_before = mem.rollup.bytes();
  mem.rollup.Add(tx.end_us, tx.end_us - tx.start_us, tx.error, tx.summary, row.dict[kDictService],
                 row.dict[kDictInstance], row.dict[kDictEndpoint],
                 !tx.user.empty() ? std::string_view(tx.user) : std::string_view(tx.client_ip));
  const size_t bytes = row.bytes() + (mem.rollup.bytes() - rollup_before) + local_added;
  if (mem.rows.empty() || tx.end_us < mem.min_end) mem.min_end = tx.end_us;
  if (mem.rows.empty() || tx.end_us > mem.max_end) mem.max_end = tx.end_us;
  mem.rows.push_back(std::move(row));
  mem.bytes += bytes;
  p->mem_index[tx.id] = MemLoc{key, &mem, static_cast<uint32_t>(mem.rows.size() - 1)};
  mem_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  mem_rows_.fetch_add(1, std::memory_order_relaxed);
  txs_.fetch_add(1, std::memory_order_relaxed);
  steps_.fetch_add(tx.steps.size(), std::memory_order_relaxed);
}

// Once per transaction and batch (Append grouped the entries). A row of the
// mutable memtable is decoded, merged and re-encoded; a frozen or flushed
// one gets a late record (de-duplicated against its profile and earlier
// records). Either way the summary increase also goes to the rollup cells
// of the transaction's end time and groups, in the partition's mutable
// memtable, so the rollup files written from it count it.
void SegmentedStore::MergeLate(Project* p, LateSteps& late) {
  if (late.steps.empty() && late.dropped_steps == 0) return;
  std::unordered_set<model::SpanId> seen;
  uint32_t stored_dropped = 0;
  auto add_profile = [&](std::string_view blob) {
    model::Transaction t;
    if (!DecodeProfile(blob, &t)) return false;
    AddSpanIds(t.steps, &seen);
    stored_dropped = t.dropped_steps;
    return true;
  };
  Partition* part = nullptr;
  LateRecord rec;
  rec.tx = late.tx;
  auto it = p->mem_index.find(late.tx);
  if (it != p->mem_index.end()) {
    part = &p->PartitionFor(it->second.part);
    const MemRow& base = it->second.table->rows[it->second.row];
    if (it->second.table == part->mem.get()) {
      // Still mutable: merge into the row itself.
      MemRow& row = part->mem->rows[it->second.row];
      MemTable& mem = *part->mem;
      const size_t old_bytes = row.bytes() + mem.rollup.bytes();
      std::string merged_profile;
      const ProfileMerge m = MergeIntoProfile(row.profile, row.start_us, &late, &merged_profile);
      if (!m.changed) return;
      const size_t merged = m.merged;
      if (merged > 0) {
        AddSummary(&row.summary, m.delta);
        mem.rollup.AddLate(row.end_us, m.delta, row.dict[kDictService], row.dict[kDictInstance],
                           row.dict[kDictEndpoint]);
      }
      row.steps += static_cast<uint32_t>(merged);
      row.profile = std::move(merged_profile);
      const size_t new_bytes = row.bytes() + mem.rollup.bytes();
      if (new_bytes > old_bytes) {
        mem.bytes += new_bytes - old_bytes;
        mem_bytes_.fetch_add(new_bytes - old_bytes, std::memory_order_relaxed);
      }
      merged_.fetch_add(merged, std::memory_order_relaxed);
      steps_.fetch_add(merged, std::memory_order_relaxed);
      return;
    }
    add_profile(base.profile);
    rec.has_cell = true;
    rec.end_us = base.end_us;
    for (int c = 0; c < 3; ++c) rec.cell[c] = base.dict[kDictService + c];
  } else {
    const Partition* seg_part;
    const SegmentRef* ref;
    uint32_t row;
    if (!FindInSegments(*p, late.tx, &seg_part, &ref, &row)) {
      orphaned_.fetch_add(late.steps.size(), std::memory_order_relaxed);
      p->parked.Park(late.tx, std::move(late.steps), late.dropped_steps);
      return;
    }
    std::string blob;
    Status s = ref->seg->ReadProfile(row, &blob);
    if (!s.ok() || !add_profile(blob)) {
      // The stored profile is unreadable: keep the steps rather than lose them.
      corrupt_chunks_.fetch_add(1, std::memory_order_relaxed);
      LogError("late steps: reading stored profile: " + s.ToString());
    }
    // The row's end time and groups: the rollup cell of its late steps.
    const size_t gi = ref->seg->GroupOf(row);
    DecodedGroup g;
    constexpr int kDict = kColDictFirst;
    constexpr uint32_t kCellColumns = ColumnBit(kColEnd) |
                                      ColumnBit(kDict + static_cast<int>(kDictService)) |
                                      ColumnBit(kDict + static_cast<int>(kDictInstance)) |
                                      ColumnBit(kDict + static_cast<int>(kDictEndpoint));
    if (ref->seg->ReadGroup(gi, &g, kCellColumns).ok()) {
      const uint32_t i = row - ref->seg->groups()[gi].first_row;
      rec.has_cell = true;
      rec.end_us = g.end[i];
      for (int c = 0; c < 3; ++c) {
        const uint32_t local = g.dict[kDictService + c][i];
        const auto& map = ref->to_global[kDictService + c];
        rec.cell[c] = local < map.size() ? map[local] : 0;
      }
    } else {
      corrupt_chunks_.fetch_add(1, std::memory_order_relaxed);
    }
    part = &p->PartitionFor(seg_part->key);
  }
  auto entry = part->late.find(late.tx);
  if (entry != part->late.end()) {
    std::vector<model::Step> known;
    for (const std::string& b : entry->second.blobs) DecodeSteps(b, 0, &known);
    AddSpanIds(known, &seen);
    stored_dropped = std::max(stored_dropped, entry->second.dropped_steps);
  }
  std::vector<model::Step> fresh = TakeFreshSteps(&late.steps, &seen);
  const bool more_dropped = late.dropped_steps > stored_dropped;
  if (fresh.empty() && !more_dropped) return;
  rec.delta = SummaryOf(fresh);
  rec.steps = static_cast<uint32_t>(fresh.size());
  rec.dropped_steps = more_dropped ? late.dropped_steps : 0;
  EncodeSteps(fresh, 0, &rec.blob);
  AddLateEntry(part, rec);
  size_t bytes = rec.blob.size() + sizeof(LateRecord);
  if (rec.has_cell && !fresh.empty()) {
    if (!part->mem) part->mem = std::make_shared<MemTable>();
    MemTable& mem = *part->mem;
    const size_t before = mem.rollup.bytes();
    mem.rollup.AddLate(rec.end_us, rec.delta, rec.cell[0], rec.cell[1], rec.cell[2]);
    mem.bytes += mem.rollup.bytes() - before;
    bytes += mem.rollup.bytes() - before;
  }
  mem_bytes_.fetch_add(bytes, std::memory_order_relaxed);
  part->late_pending.push_back(std::move(rec));
  merged_.fetch_add(fresh.size(), std::memory_order_relaxed);
  steps_.fetch_add(fresh.size(), std::memory_order_relaxed);
}

// ---- Flush ----

Status SegmentedStore::Flush() {
  Status s = FlushAll();
  if (events_) {
    Status e = events_->Sync();
    if (s.ok()) s = e;
  }
  return s;
}

// ---- Events (event_journal.h) ----

Status SegmentedStore::AppendEvents(ProjectId project, std::span<const model::Event> events) {
  std::shared_lock<std::shared_mutex> close_lock(close_mu_);
  if (closed_) return Status::Unavailable("store is closed");
  return events_->Append(project, events);
}

Status SegmentedStore::ScanEvents(ProjectId project, const EventFilter& filter,
                                  const EventVisitor& visit) const {
  // Kept as long as the project's transactions: older events are not read
  // even while their segment (shared by every project) is still on disk.
  int64_t not_before_us = INT64_MIN;
  {
    std::shared_lock<std::shared_mutex> lock(projects_mu_);
    auto it = retention_.find(project);
    const Retention& r = it == retention_.end() ? options_.default_retention : it->second;
    if (r.retention_days > 0) {
      not_before_us = options_.clock->NowMicros() - int64_t{r.retention_days} * 86'400'000'000;
    }
  }
  return events_->Scan(project, filter, not_before_us, visit);
}

Status SegmentedStore::FlushAll() {
  std::lock_guard<std::mutex> flush_lock(flush_mu_);
  const std::vector<Project*> projects = projects_.All();
  Status first_error;
  for (Project* p : projects) {
    struct Job {
      int64_t key;
      std::vector<std::shared_ptr<MemTable>> tables;
      std::vector<LateRecord> late;        // cell ids: the project's
      std::vector<LateRecord> late_local;  // the same, cell ids: the segment's
      std::vector<std::string> dicts[kNumDictColumns];
      std::vector<uint32_t> to_global[kNumDictColumns];
      std::vector<SegmentRow> rows;
      size_t bytes = 0;
      RollupBuilder merged;  // when there are several tables
      const RollupBuilder* rollup = nullptr;
      RollupNamer names;
    };
    std::vector<Job> jobs;
    {
      // Freeze: the partition's memtable becomes immutable and the segment
      // is built from it without the lock; reads keep seeing it meanwhile.
      std::unique_lock<RwMutex> lock(p->mu);
      for (auto& [key, part] : p->parts) {
        // A memtable may hold only the rollup cells of late steps.
        if (part.mem && (!part.mem->rows.empty() || !part.mem->rollup.empty())) {
          part.imm.push_back(std::move(part.mem));
        }
        part.mem.reset();
        if (part.imm.empty() && part.late_pending.empty()) continue;
        Job& j = jobs.emplace_back();
        j.key = key;
        j.tables = part.imm;
        j.late = std::move(part.late_pending);
        part.late_pending.clear();
        // Segment-local ids: by project id for the bounded columns, by
        // string for user and client IP (each table has its own ids).
        std::unordered_map<uint32_t, uint32_t> local[kNumDictColumns];
        std::unordered_map<std::string_view, uint32_t> local_str[2];
        for (int c = 0; c < kNumDictColumns; ++c) {
          j.dicts[c].emplace_back();
          j.to_global[c].push_back(0);
          local[c].emplace(0, 0);
        }
        for (auto& m : local_str) m.emplace("", 0);
        for (const auto& t : j.tables) {
          j.bytes += t->bytes;
          for (const MemRow& r : t->rows) {
            SegmentRow& sr = j.rows.emplace_back();
            sr.id = r.id;
            sr.trace = r.trace;
            sr.start_us = r.start_us;
            sr.end_us = r.end_us;
            sr.status = r.status;
            sr.error = r.error;
            sr.summary = r.summary;
            sr.steps = r.steps;
            sr.profile = r.profile;
            for (int c = 0; c < kNumDictColumns; ++c) {
              if (IsHighCardinality(c)) {
                const std::string_view str = t->local[LocalSlot(c)].Get(r.dict[c]);
                auto [slot, added] =
                    local_str[LocalSlot(c)].emplace(str, static_cast<uint32_t>(j.dicts[c].size()));
                if (added) j.dicts[c].emplace_back(str);
                sr.dict[c] = slot->second;
                continue;
              }
              auto [slot, added] =
                  local[c].emplace(r.dict[c], static_cast<uint32_t>(j.dicts[c].size()));
              if (added) {
                j.dicts[c].emplace_back(p->dicts[c].Get(r.dict[c]));
                j.to_global[c].push_back(r.dict[c]);
              }
              sr.dict[c] = slot->second;
            }
          }
        }
        for (const LateRecord& l : j.late) {
          j.bytes += l.blob.size() + sizeof(LateRecord);
          LateRecord& w = j.late_local.emplace_back(l);
          if (!w.has_cell) continue;
          for (int c = 0; c < 3; ++c) {
            const int col = kDictService + c;
            auto [slot, added] =
                local[col].emplace(w.cell[c], static_cast<uint32_t>(j.dicts[col].size()));
            if (added) {
              j.dicts[col].emplace_back(p->dicts[col].Get(w.cell[c]));
              j.to_global[col].push_back(w.cell[c]);
            }
            w.cell[c] = slot->second;
          }
        }
        if (j.tables.size() == 1) {
          j.rollup = &j.tables[0]->rollup;  // frozen: read without the lock below
        } else {
          for (const auto& t : j.tables) j.merged.Merge(t->rollup);
          j.rollup = &j.merged;
        }
        j.names = SnapshotNames(*p, *j.rollup);
      }
    }
    for (Job& j : jobs) {
      const uint64_t seq = next_seq_++;
      const std::string path = options_.dir + "/" + SegmentFileName(p->id, j.key, seq);
      Status s =
          WriteSegment(env_, path, options_.segment, p->id, j.key, j.dicts, &j.rows, j.late_local);
      std::shared_ptr<const Segment> seg;
      if (s.ok()) {
        auto opened = Segment::Open(env_, path);
        if (opened.ok()) {
          seg = std::move(*opened);
        } else {
          s = opened.status();
        }
      }
      // The rollups beside the segment, before it is installed (so a reader
      // finds the cells in the memtable until the file is there). A failure
      // does not fail the flush: the segment holds the rows and the next
      // maintenance pass (or Open) rebuilds the files from it.
      std::vector<RollupRef> rollup_refs;
      if (s.ok() && j.rollup != nullptr && !j.rollup->empty()) {
        Status r = WriteRollups(p->id, j.key, seq, *j.rollup, j.names, &rollup_refs);
        if (!r.ok()) {
          rollup_write_failures_.fetch_add(1);
          LogError("flush: " + r.ToString() + " (rebuilt from the segment later)");
        }
      }
      std::unique_lock<RwMutex> lock(p->mu);
      Partition& part = p->PartitionFor(j.key);
      if (!s.ok()) {
        // Keep everything in memory; the next flush retries.
        failed_flushes_.fetch_add(1);
        LogError("flush: " + s.ToString());
        if (first_error.ok()) first_error = s;
        part.late_pending.insert(part.late_pending.begin(), std::make_move_iterator(j.late.begin()),
                                 std::make_move_iterator(j.late.end()));
        continue;
      }
      SegmentRef ref;
      ref.seg = seg;
      ref.seq = seq;
      for (int c = 0; c < kNumDictColumns; ++c) {
        if (!IsHighCardinality(c)) ref.to_global[c] = std::move(j.to_global[c]);
      }
      part.segments.push_back(std::move(ref));
      if (!rollup_refs.empty()) {
        auto& files = p->rollups[j.key];
        for (RollupRef& r : rollup_refs) files.push_back(std::move(r));
      }
      ++p->rollup_gen;
      uint64_t rows = 0;
      for (const auto& t : j.tables) {
        rows += t->rows.size();
        for (const MemRow& r : t->rows) {
          auto it = p->mem_index.find(r.id);
          if (it != p->mem_index.end() && it->second.table == t.get()) p->mem_index.erase(it);
        }
        part.imm.erase(std::remove(part.imm.begin(), part.imm.end(), t), part.imm.end());
      }
      mem_bytes_.fetch_sub(std::min<uint64_t>(j.bytes, mem_bytes_.load()));
      mem_rows_.fetch_sub(rows);
      segments_.fetch_add(1);
      segment_bytes_.fetch_add(seg->file_size());
      flushes_.fetch_add(1);
    }
  }
  if (instances_changed_.exchange(false)) {
    Status s = WriteInstances();
    if (!s.ok()) {
      instances_changed_.store(true);
      if (first_error.ok()) first_error = s;
    }
  }
  return first_error;
}

void SegmentedStore::FlushLoop() {
  std::unique_lock<std::mutex> lock(bg_mu_);
  while (!stop_) {
    bg_cv_.wait_for(lock, std::chrono::seconds(1),
                    [this] { return stop_ || mem_bytes_.load() > options_.memtable_bytes; });
    if (stop_) break;
    if (mem_bytes_.load() <= options_.memtable_bytes) continue;
    lock.unlock();
    Status s = FlushAll();
    lock.lock();
    stall_cv_.notify_all();
    if (!s.ok()) bg_cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; });
  }
}

// ---- Instances ----

Status SegmentedStore::PutInstance(ProjectId project, const InstanceInfo& info) {
  std::shared_lock<std::shared_mutex> close_lock(close_mu_);
  if (closed_) return Status::Unavailable("store is closed");
  Project* p = GetOrCreateProject(project);
  std::unique_lock<RwMutex> lock(p->mu);
  instances_changed_.store(true);
  RecordInstance(&p->instances, info);
  return Status::OK();
}

Result<std::vector<InstanceInfo>> SegmentedStore::ListInstances(ProjectId project) const {
  std::vector<InstanceInfo> out;
  const Project* p = FindProject(project);
  if (p == nullptr) return out;
  std::shared_lock<RwMutex> lock(p->mu);
  for (const auto& [key, info] : p->instances) out.push_back(info);
  return out;
}

// INSTANCES: fixed32 version, varint count, per instance: varint project,
// strings service, instance, host, kind, sdk, zigzag first/last seen; then a
// masked CRC32C of everything before it (docs/format/segment.md).
Status SegmentedStore::WriteInstances() {
  std::string out;
  PutFixed32(&out, kInstancesVersion);
  std::vector<std::pair<ProjectId, InstanceInfo>> all;
  {
    std::shared_lock<std::shared_mutex> lock(projects_mu_);
    for (const auto& [id, p] : projects_) {
      std::shared_lock<RwMutex> plock(p->mu);
      for (const auto& [key, info] : p->instances) all.emplace_back(id, info);
    }
  }
  PutVarint(&out, all.size());
  for (const auto& [id, info] : all) {
    PutVarint(&out, id);
    PutString(&out, info.service);
    PutString(&out, info.instance);
    PutString(&out, info.host);
    PutString(&out, info.kind);
    PutString(&out, info.sdk);
    PutZigZag(&out, info.first_seen_us);
    PutZigZag(&out, info.last_seen_us);
  }
  PutFixed32(&out, crc32c::Mask(crc32c::Value(out)));
  return WriteFileAtomically(env_, options_.dir + "/" + kInstancesFile, out)
      .Annotate("writing instance list");
}

Status SegmentedStore::LoadInstances() {
  const std::string path = options_.dir + "/" + kInstancesFile;
  if (!env_->FileExists(path)) return Status::OK();
  auto data = ReadFileToString(env_, path);
  if (!data.ok()) return data.status();
  const std::string& s = *data;
  if (s.size() < 8 || crc32c::Unmask(DecodeFixed32(s.data() + s.size() - 4)) !=
                          crc32c::Value(s.data(), s.size() - 4)) {
    // The list is rebuilt as agents report again; losing it is not fatal.
    LogError(path + ": checksum mismatch; instance list starts empty");
    corrupt_segments_.fetch_add(1);
    return Status::OK();
  }
  Decoder d(std::string_view(s.data(), s.size() - 4));
  if (d.Fixed32() != kInstancesVersion) return Status::Corruption(path + ": unsupported version");
  uint64_t n = d.Varint();
  for (uint64_t i = 0; i < n && d.ok(); ++i) {
    auto id = static_cast<ProjectId>(d.Varint());
    InstanceInfo info;
    info.service = d.String();
    info.instance = d.String();
    info.host = d.String();
    info.kind = d.String();
    info.sdk = d.String();
    info.first_seen_us = d.ZigZag();
    info.last_seen_us = d.ZigZag();
    if (!d.ok()) break;
    Project* p = GetOrCreateProject(id);
    std::unique_lock<RwMutex> lock(p->mu);
    p->instances[{info.service, info.instance}] = info;
  }
  if (!d.ok()) return Status::Corruption(path + ": malformed");
  return Status::OK();
}

size_t SegmentedStore::ReleaseIdleSegmentPages() {
  std::vector<std::shared_ptr<const Segment>> segs;
  {
    std::shared_lock<std::shared_mutex> lock(projects_mu_);
    for (const auto& [id, p] : projects_) {
      std::shared_lock<RwMutex> plock(p->mu);
      for (const auto& [key, part] : p->parts) {
        for (const SegmentRef& ref : part.segments) segs.push_back(ref.seg);
      }
    }
  }
  size_t released = 0;
  for (const auto& s : segs) released += s->ReleasePagesIfIdle();  // no lock: madvise only
  return released;
}

// ---- Stats, Close ----

StoreStats SegmentedStore::Stats() const {
  StoreStats s;
  s.transactions = txs_.load();
  s.steps = steps_.load();
  s.duplicates_skipped = dups_.load();
  s.late_steps_merged = merged_.load();
  s.late_steps_orphaned = orphaned_.load();
  s.bytes = segment_bytes_.load() + mem_bytes_.load();
  std::shared_lock<std::shared_mutex> lock(projects_mu_);
  for (const auto& [id, p] : projects_) {
    std::shared_lock<RwMutex> plock(p->mu);
    for (const Dict& d : p->dicts) {
      s.dictionary_entries += d.size();
      s.dictionary_bytes += d.bytes();
    }
    for (const auto& [key, part] : p->parts) {
      auto add_table = [&](const MemTable& t) {
        for (const Dict& d : t.local) {
          s.dictionary_entries += d.size();
          s.dictionary_bytes += d.bytes();
        }
      };
      if (part.mem) add_table(*part.mem);
      for (const auto& t : part.imm) add_table(*t);
      for (const SegmentRef& ref : part.segments) {
        s.dictionary_entries += ref.seg->resident_dict_entries();
        s.dictionary_bytes += ref.seg->resident_dict_bytes();
        for (const auto& g : ref.to_global) s.dictionary_bytes += g.capacity() * sizeof(uint32_t);
      }
    }
  }
  return s;
}

EmbeddedStats SegmentedStore::embedded_stats() const {
  EmbeddedStats s;
  if (events_) s.events = events_->stats();
  s.segments = segments_.load();
  s.segment_bytes = segment_bytes_.load();
  s.memtable_bytes = mem_bytes_.load();
  s.memtable_rows = mem_rows_.load();
  s.flushes = flushes_.load();
  s.failed_flushes = failed_flushes_.load();
  s.corrupt_segments = corrupt_segments_.load();
  s.corrupt_chunks = corrupt_chunks_.load();
  s.compactions = compactions_.load();
  s.failed_compactions = failed_compactions_.load();
  s.segments_compacted = segments_compacted_.load();
  s.partitions_dropped = partitions_dropped_.load();
  s.segments_dropped = segments_dropped_.load();
  s.transactions_dropped = txs_dropped_.load();
  s.expired_rejected = expired_rejected_.load();
  s.rollup_files_dropped = rollups_dropped_.load();
  s.scatter_cache_hits = scatter_hits_.load();
  s.scatter_cache_misses = scatter_misses_.load();
  {
    std::lock_guard<std::mutex> lock(scatter_mu_);
    s.scatter_cache_bytes = scatter_bytes_;
  }
  return s;
}

Status SegmentedStore::Close() {
  std::unique_lock<std::shared_mutex> close_lock(close_mu_);
  if (closed_) return Status::OK();
  closed_ = true;
  stopping_.store(true);
  {
    std::lock_guard<std::mutex> lock(bg_mu_);
    stop_ = true;
  }
  bg_cv_.notify_all();
  maint_cv_.notify_all();
  stall_cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  if (maintainer_.joinable()) maintainer_.join();
  Status s = FlushAll();
  if (events_) {
    Status e = events_->Close();
    if (s.ok()) s = e;
  }
  if (lock_) {
    Status u = env_->UnlockFile(std::move(lock_));
    if (s.ok()) s = u;
  }
  return s;
}

}  // namespace embedded_internal

Result<std::unique_ptr<EmbeddedStore>> EmbeddedStore::Open(const EmbeddedOptions& options) {
  if (options.dir.empty()) return Status::InvalidArgument("EmbeddedOptions.dir is empty");
  if (options.partition_us <= 0) return Status::InvalidArgument("partition_us must be positive");
  if (options.env == nullptr) return Status::InvalidArgument("EmbeddedOptions.env is null");
  auto store = std::make_unique<embedded_internal::SegmentedStore>(options);
  Status s = store->OpenFiles();
  if (!s.ok()) {
    store->Close();
    return s.Annotate("opening embedded store in " + options.dir);
  }
  return std::unique_ptr<EmbeddedStore>(std::move(store));
}

Result<std::unique_ptr<Store>> NewEmbeddedStore(const EmbeddedOptions& options) {
  auto store = EmbeddedStore::Open(options);
  if (!store.ok()) return store.status();
  return std::unique_ptr<Store>(std::move(*store));
}

}  // namespace loupe::store
