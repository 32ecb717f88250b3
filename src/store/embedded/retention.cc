// Retention by dropping whole partitions, the background maintenance loop,
// and disk use per project (embedded_store.h, "Retention").
#include <sys/statvfs.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <limits>

#include "common/logging.h"
#include "store/embedded/embedded_store_internal.h"

namespace loupe::store::embedded_internal {
namespace {

constexpr int64_t kMicrosPerDay = int64_t{86'400} * 1'000'000;

}  // namespace

void SegmentedStore::InitRetention(Project* p) const {
  auto it = retention_.find(p->id);
  const Retention& r = it == retention_.end() ? options_.default_retention : it->second;
  p->retention_us.store(int64_t{r.retention_days} * kMicrosPerDay);
  p->rollup_retention_us.store(int64_t{r.rollup_retention_days} * kMicrosPerDay);
}

Status SegmentedStore::SetRetention(ProjectId project, const Retention& r) {
  if (r.retention_days < 0 || r.rollup_retention_days < 0) {
    return Status::InvalidArgument("retention must not be negative");
  }
  std::unique_lock<std::shared_mutex> lock(projects_mu_);
  retention_[project] = r;
  auto it = projects_.find(project);
  if (it != projects_.end()) InitRetention(it->second.get());
  return Status::OK();
}

bool SegmentedStore::ExpiredAtOpen(uint32_t project, int64_t partition, int64_t now_us) const {
  std::shared_lock<std::shared_mutex> lock(projects_mu_);
  auto it = retention_.find(project);
  const Retention& r = it == retention_.end() ? options_.default_retention : it->second;
  return partition < FirstLiveKey(int64_t{r.retention_days} * kMicrosPerDay, now_us);
}

Status SegmentedStore::ApplyRetention() {
  std::lock_guard<std::mutex> maint(maint_mu_);
  const int64_t now_us = options_.clock->NowMicros();
  std::vector<Project*> projects;
  {
    std::shared_lock<std::shared_mutex> lock(projects_mu_);
    for (const auto& [id, p] : projects_) projects.push_back(p.get());
  }
  Status first_error;
  for (Project* p : projects) {
    const int64_t retention_us = p->retention_us.load();
    if (retention_us <= 0) continue;
    Status s = DropExpired(p, FirstLiveKey(retention_us, now_us));
    if (!s.ok() && first_error.ok()) first_error = s;
  }
  Status r = RollupRetention(now_us);
  if (!r.ok() && first_error.ok()) first_error = r;
  // Events of every project share one log: a day goes when the longest
  // retention has passed it (reads cut each project at its own).
  int64_t longest_us = 0;
  {
    std::shared_lock<std::shared_mutex> lock(projects_mu_);
    longest_us = int64_t{options_.default_retention.retention_days} * kMicrosPerDay;
    for (const auto& [id, rt] : retention_) {
      if (rt.retention_days <= 0 || longest_us <= 0) {
        longest_us = 0;
        break;
      }
      longest_us = std::max(longest_us, int64_t{rt.retention_days} * kMicrosPerDay);
    }
  }
  if (longest_us > 0 && events_) {
    Status e = events_->DropBefore(now_us - longest_us);
    if (!e.ok() && first_error.ok()) first_error = e;
  }
  return first_error;
}

Status SegmentedStore::DropExpired(Project* p, int64_t first_live_key) {
  std::vector<std::string> files;
  {
    // flush_mu_: no flush is between freezing a memtable of these partitions
    // and installing its segment, which would bring the partition back.
    std::lock_guard<std::mutex> flush_lock(flush_mu_);
    std::unique_lock<RwMutex> lock(p->mu);
    while (!p->parts.empty() && p->parts.begin()->first < first_live_key) {
      Partition& part = p->parts.begin()->second;
      uint64_t rows = 0, steps = 0;
      std::vector<std::shared_ptr<MemTable>> tables = part.imm;
      if (part.mem) tables.push_back(part.mem);
      for (const auto& t : tables) {
        for (const MemRow& r : t->rows) {
          auto it = p->mem_index.find(r.id);
          if (it != p->mem_index.end() && it->second.table == t.get()) p->mem_index.erase(it);
          steps += r.steps;
        }
        rows += t->rows.size();
        mem_rows_.fetch_sub(std::min<uint64_t>(t->rows.size(), mem_rows_.load()));
        mem_bytes_.fetch_sub(std::min<uint64_t>(t->bytes, mem_bytes_.load()));
      }
      for (const LateRecord& l : part.late_pending) {
        steps += l.steps;
        const uint64_t b = l.blob.size() + sizeof(LateRecord);
        mem_bytes_.fetch_sub(std::min<uint64_t>(b, mem_bytes_.load()));
      }
      for (const SegmentRef& r : part.segments) {
        rows += r.seg->rows();
        steps += r.seg->steps();
        files.push_back(r.seg->path());
        segments_.fetch_sub(1);
        segment_bytes_.fetch_sub(std::min<uint64_t>(r.seg->file_size(), segment_bytes_.load()));
      }
      txs_.fetch_sub(std::min<uint64_t>(rows, txs_.load()));
      steps_.fetch_sub(std::min<uint64_t>(steps, steps_.load()));
      txs_dropped_.fetch_add(rows);
      partitions_dropped_.fetch_add(1);
      p->parts.erase(p->parts.begin());
    }
  }
  // Outside the lock: readers no longer see these files. A crash before the
  // deletes leaves them for Open, which drops expired partitions by name.
  Status first_error;
  for (const std::string& f : files) {
    Status d = env_->DeleteFile(f);
    if (!d.ok()) {
      LogError("retention: " + d.ToString());
      if (first_error.ok()) first_error = d;
      continue;
    }
    segments_dropped_.fetch_add(1);
  }
  if (!files.empty()) env_->SyncDir(options_.dir);
  return first_error;
}

Status SegmentedStore::RollupRetention(int64_t now_us) {
  std::vector<Project*> projects;
  {
    std::shared_lock<std::shared_mutex> lock(projects_mu_);
    for (const auto& [id, p] : projects_) projects.push_back(p.get());
  }
  Status first_error;
  for (Project* p : projects) {
    // One-second files go with the segments (retention_days), five-minute
    // files and user sketches after rollup_retention_days.
    const int64_t first_second = FirstLiveKey(p->retention_us.load(), now_us);
    const int64_t first_minute = FirstLiveKey(p->rollup_retention_us.load(), now_us);
    std::vector<std::string> expired;
    {
      std::unique_lock<RwMutex> lock(p->mu);
      for (auto it = p->rollups.begin(); it != p->rollups.end();) {
        std::vector<RollupRef> keep;
        for (RollupRef& r : it->second) {
          const int64_t first =
              r.res == RollupResolution::kSecond ? first_second : first_minute;
          if (it->first < first) {
            expired.push_back(r.path);
          } else {
            keep.push_back(std::move(r));
          }
        }
        it->second = std::move(keep);
        it = it->second.empty() ? p->rollups.erase(it) : std::next(it);
      }
      if (!expired.empty()) ++p->rollup_gen;
    }
    for (const std::string& f : expired) {
      ForgetRollup(f);
      Status d = env_->DeleteFile(f);
      if (d.ok()) {
        rollups_dropped_.fetch_add(1);
        continue;
      }
      LogError("rollup retention: " + d.ToString());
      if (first_error.ok()) first_error = d;
    }
    if (!expired.empty()) env_->SyncDir(options_.dir);
  }
  return first_error;
}

void SegmentedStore::MaintenanceLoop() {
  const auto interval =
      std::chrono::microseconds(std::max<int64_t>(1, options_.maintenance_interval_us));
  std::unique_lock<std::mutex> lock(bg_mu_);
  while (!stop_) {
    if (maint_cv_.wait_for(lock, interval, [this] { return stop_; })) break;
    lock.unlock();
    Status s = ApplyRetention();
    if (!s.ok()) LogError("retention pass: " + s.ToString());
    s = CompactClosedPartitions();
    if (!s.ok() && !stopping_.load()) LogError("compaction pass: " + s.ToString());
    {
      std::lock_guard<std::mutex> maint(maint_mu_);
      s = RebuildMissingRollups();
    }
    if (!s.ok() && !stopping_.load()) LogError("rollup rebuild pass: " + s.ToString());
    lock.lock();
  }
}

StorageUsage SegmentedStore::Usage() const {
  StorageUsage out;
  std::vector<const Project*> projects;
  {
    std::shared_lock<std::shared_mutex> lock(projects_mu_);
    for (const auto& [id, p] : projects_) projects.push_back(p.get());
  }
  for (const Project* p : projects) {
    ProjectUsage u;
    u.project = p->id;
    int64_t oldest = std::numeric_limits<int64_t>::max();
    int64_t newest = std::numeric_limits<int64_t>::min();
    {
      std::shared_lock<RwMutex> lock(p->mu);
      for (const auto& [key, files] : p->rollups) {
        for (const RollupRef& r : files) u.rollup_bytes += r.bytes;
      }
      for (const auto& [key, part] : p->parts) {
        bool data = false;
        for (const SegmentRef& r : part.segments) {
          ++u.segments;
          u.segment_bytes += r.seg->file_size();
          if (r.seg->rows() == 0) continue;
          data = true;
          oldest = std::min(oldest, r.seg->min_end());
          newest = std::max(newest, r.seg->max_end());
        }
        std::vector<std::shared_ptr<MemTable>> tables = part.imm;
        if (part.mem) tables.push_back(part.mem);
        for (const auto& t : tables) {
          u.memtable_bytes += t->bytes;
          if (t->rows.empty()) continue;
          data = true;
          oldest = std::min(oldest, t->min_end);
          newest = std::max(newest, t->max_end);
        }
        for (const LateRecord& l : part.late_pending) {
          u.memtable_bytes += l.blob.size() + sizeof(LateRecord);
        }
        if (data) ++u.partitions;
      }
    }
    if (u.partitions > 0) {
      u.oldest_us = oldest;
      u.newest_us = newest;
    }
    out.projects.push_back(u);
  }
  std::sort(out.projects.begin(), out.projects.end(),
            [](const ProjectUsage& a, const ProjectUsage& b) { return a.project < b.project; });
  // A plain statvfs: the Env seam covers reads and writes, not file-system figures.
  struct statvfs fs;
  if (::statvfs(options_.dir.c_str(), &fs) == 0) {
    out.free_disk_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  }
  return out;
}

}  // namespace loupe::store::embedded_internal
