// Rollups of the embedded engine (embedded_store.h, "Rollups"): the cells of
// memtables (built at Append), rollup files written beside each segment, their
// rebuild from segments, and reads.
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "common/logging.h"
#include "store/embedded/embedded_store_internal.h"

namespace loupe::store::embedded_internal {
namespace {

constexpr uint32_t DictBit(int d) { return ColumnBit(static_cast<int>(kColDictFirst) + d); }

// Column bits BuildRollups reads: everything but ids, traces and status.
constexpr uint32_t kRollupColumns =
    ColumnBit(kColEnd) | ColumnBit(kColElapsed) | ColumnBit(kColError) | DictBit(kDictService) |
    DictBit(kDictInstance) | DictBit(kDictEndpoint) | DictBit(kDictUser) | DictBit(kDictClientIp) |
    ColumnBit(kColSqlCount) | ColumnBit(kColSqlUs) | ColumnBit(kColFetchCount) |
    ColumnBit(kColFetchUs) | ColumnBit(kColExternalCount) | ColumnBit(kColExternalUs) |
    ColumnBit(kColCpuUs);

// Calls fn with the rollup builder of every memtable (frozen ones first) of
// the partitions in [first_key, last_key]; false as soon as fn returns false.
// REQUIRES: p.mu held.
template <typename Fn>
bool EachMemRollup(const Project& p, int64_t first_key, int64_t last_key, Fn&& fn) {
  for (auto it = p.parts.lower_bound(first_key); it != p.parts.end() && it->first <= last_key;
       ++it) {
    for (const auto& t : it->second.imm) {
      if (!fn(t->rollup)) return false;
    }
    if (it->second.mem && !fn(it->second.mem->rollup)) return false;
  }
  return true;
}

}  // namespace

RollupNamer SegmentedStore::SnapshotNames(const Project& p, const RollupBuilder& b) {
  auto names = std::make_shared<std::unordered_map<uint64_t, std::string>>();
  auto add = [&](int col, uint32_t id) {
    const uint64_t key = uint64_t{static_cast<uint32_t>(col)} << 32 | id;
    if (names->count(key) == 0) names->emplace(key, p.dicts[kRollupDictColumn[col]].Get(id));
  };
  for (RollupResolution r : kRollupResolutions) {
    for (const auto& [k, st] : b.cells(r)) {
      add(0, k.service);
      add(1, k.instance);
      add(2, k.endpoint);
    }
  }
  for (const auto& [k, hll] : b.users()) add(0, k.service);
  return [names](int col, uint32_t id) -> std::string_view {
    auto it = names->find(uint64_t{static_cast<uint32_t>(col)} << 32 | id);
    return it == names->end() ? std::string_view() : std::string_view(it->second);
  };
}

Status SegmentedStore::WriteRollups(ProjectId project, int64_t key, uint64_t seq,
                                    const RollupBuilder& b, const RollupNamer& name,
                                    std::vector<RollupRef>* refs) {
  for (RollupResolution r : kRollupResolutions) {
    RollupRef ref;
    ref.seq = seq;
    ref.res = r;
    ref.path = options_.dir + "/" + RollupFileName(project, key, seq, r);
    LOUPE_RETURN_IF_ERROR(
        WriteRollupFile(env_, ref.path, project, key, r, b, name, options_.segment.zstd_level));
    if (!env_->FileExists(ref.path)) continue;  // nothing to write
    Result<uint64_t> size = env_->GetFileSize(ref.path);
    ref.bytes = size.ok() ? *size : 0;
    refs->push_back(std::move(ref));
  }
  return Status::OK();
}

Status SegmentedStore::BuildRollups(const SegmentRef& ref, RollupBuilder* out) const {
  const Segment& seg = *ref.seg;
  StringTable users, ips;
  LOUPE_RETURN_IF_ERROR(seg.ReadDict(kDictUser, &users));
  LOUPE_RETURN_IF_ERROR(seg.ReadDict(kDictClientIp, &ips));
  DecodedGroup g;
  for (size_t i = 0; i < seg.groups().size(); ++i) {
    LOUPE_RETURN_IF_ERROR(seg.ReadGroup(i, &g, kRollupColumns));
    for (uint32_t r = 0; r < g.rows; ++r) {
      const uint32_t u = g.dict[kDictUser][r];
      std::string_view user = u < users.size() ? users.Get(u) : std::string_view();
      if (user.empty()) {
        const uint32_t ip = g.dict[kDictClientIp][r];
        if (ip < ips.size()) user = ips.Get(ip);
      }
      auto global = [&](int col) {
        const uint32_t local = g.dict[col][r];
        const auto& map = ref.to_global[col];
        return local < map.size() ? map[local] : 0u;
      };
      out->Add(g.end[r], g.elapsed[r], g.error[r] != 0, g.summary[r], global(kDictService),
               global(kDictInstance), global(kDictEndpoint), user);
    }
  }
  // The segment's late records add their steps' sums to their transaction's
  // cells (records of files before meta version 3 carry no cell: their
  // rollup files never counted them, and rebuilt ones do not either).
  for (const LateRecord& l : seg.late()) {
    if (!l.has_cell) continue;
    uint32_t ids[3];
    for (int c = 0; c < 3; ++c) {
      const auto& map = ref.to_global[kDictService + c];
      ids[c] = l.cell[c] < map.size() ? map[l.cell[c]] : 0u;
    }
    out->AddLate(l.end_us, l.delta, ids[0], ids[1], ids[2]);
  }
  return Status::OK();
}

bool HasRollupCells(const Segment& seg) {
  return seg.rows() > 0 || std::any_of(seg.late().begin(), seg.late().end(),
                                       [](const LateRecord& l) { return l.has_cell; });
}

void SegmentedStore::AddRollupFiles(const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    uint32_t project;
    int64_t key;
    uint64_t seq;
    RollupResolution r;
    if (!ParseRollupFileName(name, &project, &key, &seq, &r)) continue;
    RollupRef ref;
    ref.seq = seq;
    ref.res = r;
    ref.path = options_.dir + "/" + name;
    Result<uint64_t> size = env_->GetFileSize(ref.path);
    if (!size.ok()) continue;  // deleted by retention at open
    ref.bytes = *size;
    Project* p = GetOrCreateProject(project);
    std::unique_lock<RwMutex> lock(p->mu);
    p->rollups[key].push_back(std::move(ref));
    ++p->rollup_gen;
  }
}

std::vector<std::string> SegmentedStore::TakeRollupRefs(Project* p, int64_t key,
                                                        const std::vector<uint64_t>& seqs) {
  std::vector<std::string> paths;
  auto it = p->rollups.find(key);
  if (it == p->rollups.end()) return paths;
  std::vector<RollupRef> keep;
  for (RollupRef& r : it->second) {
    if (std::find(seqs.begin(), seqs.end(), r.seq) != seqs.end()) {
      paths.push_back(r.path);
    } else {
      keep.push_back(std::move(r));
    }
  }
  it->second = std::move(keep);
  if (it->second.empty()) p->rollups.erase(it);
  ++p->rollup_gen;
  return paths;
}

Status SegmentedStore::RebuildMissingRollups() {
  std::vector<Project*> projects;
  {
    std::shared_lock<std::shared_mutex> lock(projects_mu_);
    for (const auto& [id, p] : projects_) projects.push_back(p.get());
  }
  Status first_error;
  for (Project* p : projects) {
    struct Missing {
      int64_t key;
      SegmentRef ref;
    };
    std::vector<Missing> missing;
    {
      std::shared_lock<RwMutex> lock(p->mu);
      for (const auto& [key, part] : p->parts) {
        const auto files = p->rollups.find(key);
        for (const SegmentRef& s : part.segments) {
          if (!HasRollupCells(*s.seg)) continue;
          int found = 0;
          if (files != p->rollups.end()) {
            for (const RollupRef& r : files->second) found += r.seq == s.seq;
          }
          // A segment with cells has all three files (.r1s, .r1m, .rollup).
          if (found < 3) missing.push_back({key, s});
        }
      }
    }
    for (const Missing& m : missing) {
      if (stopping_.load()) return first_error;
      RollupBuilder b;
      Status s = BuildRollups(m.ref, &b);
      RollupNamer name;
      if (s.ok()) {
        std::shared_lock<RwMutex> lock(p->mu);
        name = SnapshotNames(*p, b);
      }
      std::vector<RollupRef> refs;
      if (s.ok()) s = WriteRollups(p->id, m.key, m.ref.seq, b, name, &refs);
      if (!s.ok()) {
        LogError("rebuilding the rollups of " + m.ref.seg->path() + ": " + s.ToString());
        if (first_error.ok()) first_error = s;
        continue;
      }
      std::unique_lock<RwMutex> lock(p->mu);
      // Still there (retention or compaction may have replaced it meanwhile)?
      const Partition* part = p->FindPartition(m.key);
      const bool live =
          part != nullptr && std::any_of(part->segments.begin(), part->segments.end(),
                                         [&](const SegmentRef& r) { return r.seg == m.ref.seg; });
      if (!live) {
        lock.unlock();
        for (const RollupRef& r : refs) env_->DeleteFile(r.path);
        continue;
      }
      TakeRollupRefs(p, m.key, {m.ref.seq});  // a lone file of the pair is rewritten too
      auto& list = p->rollups[m.key];
      for (RollupRef& r : refs) list.push_back(std::move(r));
      ++p->rollup_gen;
      rollups_rebuilt_.fetch_add(1);
    }
  }
  return first_error;
}

Result<std::shared_ptr<const SegmentedStore::OpenRollup>> SegmentedStore::GetRollup(
    Project* p, const RollupRef& ref) const {
  {
    std::lock_guard<std::mutex> lock(rollup_cache_mu_);
    auto it = rollup_cache_.find(ref.path);
    if (it != rollup_cache_.end()) {
      rollup_lru_.splice(rollup_lru_.begin(), rollup_lru_, it->second.second);
      return it->second.first;
    }
  }
  auto file = RollupFile::Open(env_, ref.path);
  if (!file.ok()) return file.status();
  auto open = std::make_shared<OpenRollup>();
  open->file = std::move(*file);
  {
    std::unique_lock<RwMutex> lock(p->mu);
    for (int c = 0; c < 3; ++c) {
      const auto& names = open->file->dict(c);
      open->to_global[c].reserve(names.size());
      for (const std::string& s : names) {
        open->to_global[c].push_back(p->dicts[kRollupDictColumn[c]].Intern(s));
      }
    }
  }
  std::lock_guard<std::mutex> lock(rollup_cache_mu_);
  auto it = rollup_cache_.find(ref.path);
  if (it != rollup_cache_.end()) return it->second.first;  // another reader was first
  rollup_lru_.push_front(ref.path);
  rollup_cache_.emplace(ref.path, std::make_pair(open, rollup_lru_.begin()));
  while (rollup_cache_.size() > kRollupCache) {
    rollup_cache_.erase(rollup_lru_.back());
    rollup_lru_.pop_back();
  }
  return std::shared_ptr<const OpenRollup>(std::move(open));
}

void SegmentedStore::ForgetRollup(const std::string& path) const {
  std::lock_guard<std::mutex> lock(rollup_cache_mu_);
  auto it = rollup_cache_.find(path);
  if (it == rollup_cache_.end()) return;
  rollup_lru_.erase(it->second.second);
  rollup_cache_.erase(it);
}

void SegmentedStore::OpenRollupsThen(Project* p, RollupResolution res, int64_t first_key,
                                     int64_t last_key,
                                     std::vector<std::shared_ptr<const OpenRollup>>* files,
                                     Status* damaged, const std::function<void()>& in_lock) const {
  for (int attempt = 0;; ++attempt) {
    // 1. The files of the range, opened without the project lock (opening
    //    interns their names, which takes it exclusively).
    std::vector<RollupRef> refs;
    uint64_t gen;
    {
      std::shared_lock<RwMutex> lock(p->mu);
      gen = p->rollup_gen;
      for (auto it = p->rollups.lower_bound(first_key);
           it != p->rollups.end() && it->first <= last_key; ++it) {
        for (const RollupRef& r : it->second) {
          if (r.res == res) refs.push_back(r);
        }
      }
    }
    files->clear();
    bool retry = false;
    for (const RollupRef& r : refs) {
      auto f = GetRollup(p, r);
      if (f.ok()) {
        files->push_back(std::move(*f));
      } else if (f.status().code() == Status::Code::kNotFound && attempt < 3) {
        retry = true;  // compacted or expired meanwhile: list again
        break;
      } else {
        corrupt_chunks_.fetch_add(1, std::memory_order_relaxed);
        LogError("rollups skip a damaged file: " + f.status().ToString());
        if (damaged->ok()) *damaged = f.status();
      }
    }
    if (retry) continue;
    // 2. The memtables, under the lock, if the files listed are still the
    //    current ones (a flush moves cells from a memtable to a file under
    //    the exclusive lock and changes rollup_gen).
    std::shared_lock<RwMutex> lock(p->mu);
    if (p->rollup_gen != gen && attempt < 3) continue;
    in_lock();
    return;
  }
}

Status SegmentedStore::ScanRollups(ProjectId project, RollupResolution res,
                                   const RollupFilter& filter, const RollupVisitor& visit) const {
  Project* p = FindProject(project);
  if (p == nullptr || filter.from_us >= filter.to_us) return Status::OK();
  const int64_t step = RollupStepUs(res);
  const int64_t first_key = PartitionKey(filter.from_us);
  const int64_t last_key = PartitionKey(filter.to_us - 1);
  RollupIdFilter ids;
  ids.from_us = filter.from_us;
  ids.to_us = filter.to_us;
  std::vector<std::shared_ptr<const OpenRollup>> files;
  Status damaged;
  bool done = false;  // nothing can match, or the visitor stopped
  OpenRollupsThen(p, res, first_key, last_key, &files, &damaged, [&] {
    done = !CompileRollupFilter(p->dicts, filter, 3, &ids) ||
           !EachMemRollup(*p, first_key, last_key, [&](const RollupBuilder& b) {
             return EmitBuilderCells(b, res, ids, RollupNamerOf(p->dicts), visit);
           });
  });
  if (done) return Status::OK();

  // 3. The files' cells, without the lock (files are immutable; an open file
  //    stays readable after retention or compaction deletes it).
  RollupBlock block;
  std::vector<RollupRow> rows;
  for (const auto& f : files) {
    const RollupFile& file = *f->file;
    for (size_t b = 0; b < file.blocks().size(); ++b) {
      const RollupBlockInfo& info = file.blocks()[b];
      if (info.last_bucket_us < ids.from_us || info.first_bucket_us > ids.to_us - step) continue;
      Status s = file.ReadBlock(b, &block, filter.with_hist);
      if (!s.ok()) {
        corrupt_chunks_.fetch_add(1, std::memory_order_relaxed);
        LogError("rollups skip a damaged block: " + s.ToString());
        if (damaged.ok()) damaged = s;
        continue;
      }
      rows.clear();
      for (size_t i = 0; i < block.size(); ++i) {
        const RollupKey& lk = block.keys[i];
        const RollupKey k{lk.bucket_us, f->to_global[0][lk.service], f->to_global[1][lk.instance],
                          f->to_global[2][lk.endpoint]};
        if (!ids.Matches(k, step)) continue;
        RollupRow& row = rows.emplace_back();
        row.bucket_us = k.bucket_us;
        row.service_id = k.service;
        row.instance_id = k.instance;
        row.endpoint_id = k.endpoint;
        row.service = file.dict(0)[lk.service];
        row.instance = file.dict(1)[lk.instance];
        row.endpoint = file.dict(2)[lk.endpoint];
        row.counts = &block.counts[i];
        row.hist = block.hist(i);
      }
      if (!rows.empty() && !visit(rows)) return Status::OK();
    }
  }
  return damaged;
}

Status SegmentedStore::ScanUsers(ProjectId project, const RollupFilter& filter,
                                 const UsersVisitor& visit) const {
  Project* p = FindProject(project);
  if (p == nullptr || filter.from_us >= filter.to_us) return Status::OK();
  const int64_t first_key = PartitionKey(filter.from_us);
  const int64_t last_key = PartitionKey(filter.to_us - 1);
  RollupIdFilter ids;
  ids.from_us = filter.from_us;
  ids.to_us = filter.to_us;
  std::vector<std::shared_ptr<const OpenRollup>> files;
  Status damaged;
  bool done = false;
  // Sketches live in the five-minute files.
  OpenRollupsThen(p, RollupResolution::kFiveMinutes, first_key, last_key, &files, &damaged, [&] {
    done = !CompileRollupFilter(p->dicts, filter, 1, &ids) ||
           !EachMemRollup(*p, first_key, last_key, [&](const RollupBuilder& b) {
             return EmitBuilderUsers(b, ids, RollupNamerOf(p->dicts), visit);
           });
  });
  if (done) return Status::OK();
  std::vector<std::pair<UsersKey, HyperLogLog>> sketches;
  std::vector<UsersRow> rows;
  for (const auto& f : files) {
    Status s = f->file->ReadUsers(&sketches);
    if (!s.ok()) {
      if (damaged.ok()) damaged = s;
      continue;
    }
    rows.clear();
    for (const auto& [lk, hll] : sketches) {
      const UsersKey k{lk.hour_us, f->to_global[0][lk.service]};
      if (!ids.HourMatches(k)) continue;
      rows.push_back(UsersRow{k.hour_us, k.service, f->file->dict(0)[lk.service], &hll});
    }
    if (!rows.empty() && !visit(rows)) return Status::OK();
  }
  return damaged;
}

}  // namespace loupe::store::embedded_internal
