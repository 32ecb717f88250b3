// Internal structures of the embedded engine, shared by embedded_store.cc
// (open, append, flush) and embedded_store_read.cc (scan, get, trace).
// Not part of any public contract.
//
// Locking: SegmentedStore::projects_mu_ guards the project map (projects
// are never removed); Project::mu guards everything in a Project (Append,
// memtable freeze and segment install exclusive; reads shared);
// MemTable::order_mu guards the lazily built sort order. maint_mu_ lets one
// compaction or retention pass run at a time. Lock order: close_mu_ →
// maint_mu_ → flush_mu_ → projects_mu_ → Project::mu → MemTable::order_mu.
#ifndef LOUPE_STORE_EMBEDDED_EMBEDDED_STORE_INTERNAL_H_
#define LOUPE_STORE_EMBEDDED_EMBEDDED_STORE_INTERNAL_H_

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "store/dict.h"
#include "store/embedded/embedded_store.h"
#include "store/embedded/event_journal.h"
#include "store/embedded/rollup_file.h"
#include "store/embedded/segment.h"
#include "store/filter.h"
#include "store/instances.h"
#include "store/late_merge.h"
#include "store/parked_late.h"
#include "store/project_map.h"
#include "store/rollup.h"
#include "store/rw_lock.h"

namespace loupe::store::embedded_internal {

using model::TxId;

// The project lock (store/rw_lock.h) under its old name here, which
// compaction.cc (being changed on another branch) still uses; to be renamed
// to RwLock once that branch is in.
using RwMutex = RwLock;

// A transaction in a memtable: list columns plus the encoded profile.
struct MemRow {
  TxId id = 0;
  model::TraceId trace{};
  int64_t start_us = 0, end_us = 0;
  int32_t status = 0;
  bool error = false;
  // Project dictionary ids; for user and client IP, ids into the memtable's
  // own dictionaries (MemTable::local).
  uint32_t dict[kNumDictColumns] = {};
  model::Summary summary;
  uint32_t steps = 0;
  std::string profile;  // EncodeProfile blob

  size_t bytes() const noexcept { return sizeof(MemRow) + profile.capacity(); }
};

// Rows of one partition in arrival order. Mutable while it is the
// partition's `mem`; immutable once frozen for a flush.
struct MemTable {
  std::vector<MemRow> rows;
  RollupBuilder rollup;              // the rows' rollup cells, written beside their segment
  LocalDicts local;                  // user and client IP strings of the rows (dict.h)
  size_t bytes = 0;                  // rows, rollup and local dictionaries
  int64_t min_end = 0, max_end = 0;  // over rows; meaningless when empty

  // Row numbers by ascending end time, built lazily, cached until rows change.
  const std::vector<uint32_t>& SortedOrder() const;

  mutable std::mutex order_mu;
  mutable std::vector<uint32_t> order;  // GUARDED_BY(order_mu)
};

// A segment and the map of its dictionaries' local ids to project ids
// (empty for the high-cardinality columns: they have no project ids, and
// reads take their strings from the segment's own dictionary).
struct SegmentRef {
  std::shared_ptr<const Segment> seg;
  uint64_t seq = 0;  // from the file name
  std::vector<uint32_t> to_global[kNumDictColumns];
};

// The user and client-IP dictionaries of one segment, decoded on first use
// and held only as long as this object (a scan, a Get). Not thread-safe.
class SegmentLocalDicts {
 public:
  explicit SegmentLocalDicts(const Segment& seg) : seg_(seg) {}
  // Column c's dictionary (IsHighCardinality(c)), or nullptr when it no
  // longer decodes (status() says why).
  const StringTable* Get(int c) {
    const int slot = LocalSlot(c);
    if (!loaded_[slot]) {
      loaded_[slot] = true;
      Status s = seg_.ReadDict(c, &tables_[slot]);
      if (!s.ok()) {
        if (status_.ok()) status_ = s;
        failed_[slot] = true;
      }
    }
    return failed_[slot] ? nullptr : &tables_[slot];
  }
  // The string of local id `id` of column c; "" when the dictionary is damaged.
  std::string_view Name(int c, uint32_t id) {
    const StringTable* t = Get(c);
    return t != nullptr && id < t->size() ? t->Get(id) : std::string_view();
  }
  const Status& status() const { return status_; }

 private:
  const Segment& seg_;
  StringTable tables_[2];
  bool loaded_[2] = {false, false};
  bool failed_[2] = {false, false};
  Status status_;
};

// All late steps known for one flushed transaction of a partition.
struct LateEntry {
  model::Summary delta{0, 0, 0, 0, 0, 0, 0};
  std::vector<std::string> blobs;  // EncodeSteps blobs, absolute times
  uint32_t dropped_steps = 0;      // the largest total of its records
};

struct Partition {
  int64_t key = 0;
  std::shared_ptr<MemTable> mem;               // receives appends; may be null
  std::vector<std::shared_ptr<MemTable>> imm;  // frozen, being (or failed to be) flushed
  std::vector<SegmentRef> segments;            // in write order
  std::unordered_map<TxId, LateEntry> late;    // flushed and pending late steps
  // Not yet in a segment; cell ids are the project's. Their rollup deltas
  // are in `mem`'s builder (a memtable may hold such cells and no rows).
  std::vector<LateRecord> late_pending;
};

// Adds a late record (read from a segment, or just merged) to part->late.
void AddLateEntry(Partition* part, const LateRecord& l);

// A rollup file of a partition (rollup_file.h).
struct RollupRef {
  uint64_t seq = 0;  // of the segment its cells were computed from
  RollupResolution res = RollupResolution::kSecond;
  std::string path;
  uint64_t bytes = 0;
};

// Where a memtable row is.
struct MemLoc {
  int64_t part = 0;
  const MemTable* table = nullptr;
  uint32_t row = 0;
};

struct Project {
  explicit Project(ProjectId i) : id(i) {}
  const ProjectId id;
  mutable RwMutex mu;
  std::map<int64_t, Partition> parts;
  std::unordered_map<TxId, MemLoc> mem_index;  // rows of mem and imm tables
  // Bounded columns only: dicts[kDictUser] and dicts[kDictClientIp] hold ""
  // alone (those strings live in memtables and segments, dict.h).
  ProjectDicts dicts;
  InstanceMap instances;
  ParkedLateSteps parked;  // late steps that came before their transaction
  // Rollup files by partition; they outlive the partition's segments
  // (rollup_retention_days). rollup_gen changes whenever this map or a
  // memtable's place (mem → imm → segment) does.
  std::map<int64_t, std::vector<RollupRef>> rollups;
  uint64_t rollup_gen = 0;
  // Retention in µs (0: keep everything); read by Append without p->mu.
  std::atomic<int64_t> retention_us{0};
  std::atomic<int64_t> rollup_retention_us{0};

  Partition& PartitionFor(int64_t key) {
    Partition& p = parts[key];
    p.key = key;
    return p;
  }
  const Partition* FindPartition(int64_t key) const {
    auto it = parts.find(key);
    return it == parts.end() ? nullptr : &it->second;
  }
};

// Whether a segment has rollup cells (rows, or late records with a cell):
// such a segment has its three rollup files.
bool HasRollupCells(const Segment& seg);

// Late steps and summary of a partition applied to a transaction read from
// an immutable memtable or a segment.
void ApplyLate(const Partition& part, model::Transaction* tx);

// A segment row group's end, elapsed and error columns as kept by the
// ScanScatter cache (SegmentedStore::FindScatter): 9 bytes a row.
struct ScatterColumns {
  int64_t min_end = 0;
  std::vector<uint32_t> end_off;  // end - min_end
  std::vector<uint32_t> elapsed;
  std::vector<uint8_t> error;
  // Memory held, with the allocations' and the cache's bookkeeping.
  size_t bytes() const { return sizeof(*this) + end_off.size() * 9 + 128; }
};

class SegmentedStore final : public EmbeddedStore {
 public:
  explicit SegmentedStore(const EmbeddedOptions& options);
  ~SegmentedStore() override;

  Status OpenFiles();

  // Store
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
  Status SetRetention(ProjectId project, const Retention& retention) override;
  StorageUsage Usage() const override;
  bool has_rollups() const override { return true; }
  Status ScanRollups(ProjectId project, RollupResolution resolution, const RollupFilter& filter,
                     const RollupVisitor& visit) const override;
  Status ScanUsers(ProjectId project, const RollupFilter& filter,
                   const UsersVisitor& visit) const override;
  Status AppendEvents(ProjectId project, std::span<const model::Event> events) override;
  Status ScanEvents(ProjectId project, const EventFilter& filter,
                    const EventVisitor& visit) const override;
  Status SyncEvents() override { return events_->WaitDurable(); }
  Status Close() override;

  // EmbeddedStore
  Status Flush() override;
  EmbeddedStats embedded_stats() const override;
  void SetScatterCacheBytes(size_t bytes) override;
  size_t ReleaseIdleSegmentPages() override;
  Status CompactClosedPartitions() override;
  Status ApplyRetention() override;

 private:
  int64_t PartitionKey(int64_t end_us) const noexcept;
  Project* FindProject(ProjectId id) const;
  Project* GetOrCreateProject(ProjectId id);

  // REQUIRES: p->mu held exclusively.
  void AppendRow(Project* p, model::Transaction& tx);
  void MergeLate(Project* p, LateSteps& late);
  // REQUIRES: p->mu held (shared or exclusive). Finds id in the segments.
  bool FindInSegments(const Project& p, TxId id, const Partition** part, const SegmentRef** ref,
                      uint32_t* row) const;

  // Readers. REQUIRES: p.mu held.
  model::Transaction TxFromMem(const Project& p, const Partition& part, const MemTable& t,
                               const MemRow& r) const;
  Status TxFromSegment(const Project& p, const Partition& part, const SegmentRef& ref, uint32_t row,
                       model::Transaction* tx) const;

  // The first partition key that is not expired for project p at now_us
  // (INT64_MIN when p keeps everything). A partition k is expired when its
  // end, (k + 1) * partition_us, is at or before now - retention.
  int64_t FirstLiveKey(int64_t retention_us, int64_t now_us) const noexcept;
  void InitRetention(Project* p) const;  // REQUIRES: projects_mu_ held

  // compaction.cc. REQUIRES: maint_mu_ held.
  Status CompactPartition(Project* p, int64_t key);
  // At open: deletes segments a later compacted segment replaces.
  void DropReplacedSegments();

  // retention.cc. REQUIRES: maint_mu_ held.
  Status DropExpired(Project* p, int64_t first_live_key);
  // Deletes the rollup files past retention: .r1s with the segments
  // (retention_days), .rollup after rollup_retention_days.
  Status RollupRetention(int64_t now_us);
  // At open, by file name: true when the segment's partition is expired.
  bool ExpiredAtOpen(uint32_t project, int64_t partition, int64_t now_us) const;
  void MaintenanceLoop();

  // embedded_store_rollup.cc.
  // Names of the dictionary ids b uses (service, instance, endpoint), copied
  // so files can be written without the lock. REQUIRES: p.mu held.
  static RollupNamer SnapshotNames(const Project& p, const RollupBuilder& b);
  // Writes the .r1s and .rollup files of segment seq; appends their refs.
  Status WriteRollups(ProjectId project, int64_t key, uint64_t seq, const RollupBuilder& b,
                      const RollupNamer& name, std::vector<RollupRef>* refs);
  // The rollup cells of a segment's rows (global ids). No lock needed.
  Status BuildRollups(const SegmentRef& ref, RollupBuilder* out) const;
  // Rebuilds the rollup files of every segment that lacks them (a crash
  // between a segment and its rollups; a directory from before rollups; a
  // failed write).
  Status RebuildMissingRollups();
  // At open: the rollup files in the directory (names listed by OpenFiles).
  void AddRollupFiles(const std::vector<std::string>& names);
  // Removes the refs of `seqs` of a partition (compaction, replaced files);
  // returns their paths. REQUIRES: p->mu held exclusively.
  std::vector<std::string> TakeRollupRefs(Project* p, int64_t key,
                                          const std::vector<uint64_t>& seqs);
  struct OpenRollup {
    std::shared_ptr<const RollupFile> file;
    std::vector<uint32_t> to_global[3];
  };
  // The open file of ref with its ids mapped to p's dictionaries (cached).
  Result<std::shared_ptr<const OpenRollup>> GetRollup(Project* p, const RollupRef& ref) const;
  // Opens the rollup files of `res` in partitions [first_key, last_key] into
  // *files (damaged ones skipped, counted, the first error in *damaged), then
  // runs in_lock with p->mu held shared while those files are still the
  // current ones, so the memtables it reads and the files do not overlap.
  void OpenRollupsThen(Project* p, RollupResolution res, int64_t first_key, int64_t last_key,
                       std::vector<std::shared_ptr<const OpenRollup>>* files, Status* damaged,
                       const std::function<void()>& in_lock) const;
  void ForgetRollup(const std::string& path) const;

  Status FlushAll();
  Status WriteInstances();
  Status LoadInstances();
  void FlushLoop();
  void MaybeStall();

  const EmbeddedOptions options_;
  Env* const env_;

  std::shared_mutex close_mu_;  // Append/PutInstance shared, Close exclusive
  bool closed_ = false;         // GUARDED_BY(close_mu_)
  std::unique_ptr<FileLock> lock_;
  std::unique_ptr<EventJournal> events_;  // dir/events (event_journal.h)

  ProjectMap<Project> projects_;
  // The map's lock, which also guards retention_ (project_map.h).
  std::shared_mutex& projects_mu_ = projects_.mu();

  std::mutex flush_mu_;    // one flush at a time
  uint64_t next_seq_ = 1;  // GUARDED_BY(flush_mu_)

  std::mutex bg_mu_;
  std::condition_variable bg_cv_;     // wakes the flush thread
  std::condition_variable stall_cv_;  // wakes stalled appenders after a flush
  bool stop_ = false;                 // GUARDED_BY(bg_mu_)
  std::thread flusher_;
  std::thread maintainer_;

  std::mutex maint_mu_;                       // one compaction/retention pass at a time
  std::map<ProjectId, Retention> retention_;  // GUARDED_BY(projects_mu_)

  std::atomic<uint64_t> mem_bytes_{0}, mem_rows_{0};
  std::atomic<uint64_t> txs_{0}, steps_{0}, dups_{0}, merged_{0}, orphaned_{0};
  std::atomic<uint64_t> segments_{0}, segment_bytes_{0}, flushes_{0}, failed_flushes_{0};
  std::atomic<uint64_t> corrupt_segments_{0};
  mutable std::atomic<uint64_t> corrupt_chunks_{0};
  std::atomic<bool> instances_changed_{false};
  std::atomic<uint64_t> compactions_{0}, failed_compactions_{0}, segments_compacted_{0};
  std::atomic<uint64_t> partitions_dropped_{0}, segments_dropped_{0}, txs_dropped_{0};
  std::atomic<uint64_t> expired_rejected_{0}, rollups_dropped_{0};
  std::atomic<bool> stopping_{false};  // Close() started: long passes give up
  std::atomic<uint64_t> rollup_write_failures_{0}, rollups_rebuilt_{0};

  // Open rollup files, least recently used first evicted past kRollupCache.
  static constexpr size_t kRollupCache = 512;
  mutable std::mutex rollup_cache_mu_;
  mutable std::list<std::string> rollup_lru_;  // GUARDED_BY(rollup_cache_mu_), newest first
  mutable std::unordered_map<
      std::string, std::pair<std::shared_ptr<const OpenRollup>, std::list<std::string>::iterator>>
      rollup_cache_;                  // GUARDED_BY(rollup_cache_mu_)
  std::condition_variable maint_cv_;  // with bg_mu_: wakes the maintenance thread

  // Decoded end/elapsed/error columns of segment row groups for ScanScatter
  // (EmbeddedOptions::scatter_cache_bytes), keyed by ScatterKey (segment
  // seq and group: seqs are store-wide and never reused, so an entry can
  // only ever describe its own immutable group). Entries of deleted
  // segments are never hit again and age out.
  static uint64_t ScatterKey(uint64_t seq, size_t group) { return seq << 24 | group; }
  std::shared_ptr<const ScatterColumns> FindScatter(uint64_t key) const;
  void AddScatter(uint64_t key, std::shared_ptr<const ScatterColumns> c) const;
  void TrimScatter(size_t budget) const;  // REQUIRES: scatter_mu_ held
  std::atomic<size_t> scatter_budget_{0};
  mutable std::mutex scatter_mu_;
  mutable std::list<uint64_t> scatter_lru_;  // GUARDED_BY(scatter_mu_), newest first
  mutable std::unordered_map<
      uint64_t, std::pair<std::shared_ptr<const ScatterColumns>, std::list<uint64_t>::iterator>>
      scatter_cache_;                 // GUARDED_BY(scatter_mu_)
  mutable size_t scatter_bytes_ = 0;  // GUARDED_BY(scatter_mu_)
  mutable std::atomic<uint64_t> scatter_hits_{0}, scatter_misses_{0};
};

}  // namespace loupe::store::embedded_internal

#endif  // LOUPE_STORE_EMBEDDED_EMBEDDED_STORE_INTERNAL_H_
