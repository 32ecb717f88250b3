// Open, Flush, Maintain (sealing, downsampling, retention), Stats and
// Verify. Append is in head_append.cc, Query in query.cc.
#include "store/tsdb/time_series_store.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "store/tsdb/tsdb_internal.h"

namespace loupe::tsdb {

namespace {

bool ParseProjectDir(const std::string& name, ProjectId* id) {
  auto [p, ec] = std::from_chars(name.data(), name.data() + name.size(), *id);
  return ec == std::errc() && p == name.data() + name.size();
}
}  // namespace

bool DecodeHeadChunk(const std::string& time_bytes, const std::string& value_bytes, uint32_t n,
                     std::vector<int64_t>* time, std::vector<double>* value) {
  BitReader tr(time_bytes);
  BitReader vr(value_bytes);
  TimestampDecoder td;
  XorDecoder vd;
  time->resize(n);
  value->resize(n);
  for (uint32_t i = 0; i < n; ++i) {
    if (!td.Next(&tr, &(*time)[i]) || !vd.Next(&vr, &(*value)[i])) return false;
  }
  return true;
}

TimeSeriesStore::TimeSeriesStore(TsdbOptions options)
    : options_(std::move(options)),
      env_(options_.env ? options_.env : Env::Default()),
      retention_per_project_(options_.aggregate_retention_per_project) {}

TimeSeriesStore::~TimeSeriesStore() = default;

std::string TimeSeriesStore::ProjectDir(ProjectId id) const {
  return options_.dir + "/" + std::to_string(id);
}

int TimeSeriesStore::AggregateRetentionDays(ProjectId id) const {
  std::lock_guard<std::mutex> l(retention_mu_);
  auto it = retention_per_project_.find(id);
  return it != retention_per_project_.end() ? it->second : options_.aggregate_retention_days;
}

void TimeSeriesStore::SetAggregateRetention(ProjectId project, int days) {
  std::lock_guard<std::mutex> l(retention_mu_);
  retention_per_project_[project] = days;
}

Result<std::unique_ptr<TimeSeriesStore>> TimeSeriesStore::Open(TsdbOptions options) {
  if (options.block_ms <= 0 || options.block_ms % 3'600'000 != 0) {
    return Status::InvalidArgument("tsdb block_ms must be a positive multiple of one hour");
  }
  std::unique_ptr<TimeSeriesStore> s(new TimeSeriesStore(std::move(options)));
  LOUPE_RETURN_IF_ERROR(s->env_->CreateDir(s->options_.dir).Annotate("tsdb: creating dir"));
  auto children = s->env_->GetChildren(s->options_.dir);
  if (!children.ok()) return children.status().Annotate("tsdb: listing " + s->options_.dir);
  std::string corrupt;
  for (const std::string& name : *children) {
    ProjectId id;
    if (!ParseProjectDir(name, &id)) continue;
    LOUPE_RETURN_IF_ERROR(s->LoadProject(id, s->options_.dir + "/" + name, &corrupt));
  }
  if (!corrupt.empty()) s->open_status_ = Status::Corruption("tsdb: skipped blocks: " + corrupt);
  return s;
}

Status TimeSeriesStore::LoadProject(ProjectId id, const std::string& path, std::string* corrupt) {
  auto children = env_->GetChildren(path);
  if (!children.ok()) return children.status().Annotate("tsdb: listing " + path);
  Project* p = GetOrCreateProject(id);
  std::unique_lock lock(p->mu);
  std::vector<std::pair<int64_t, BlockKind>> files;
  for (const std::string& name : *children) {
    BlockKind kind;
    int64_t start;
    if (ParseBlockFileName(name, &kind, &start)) {
      files.emplace_back(start, kind);
    } else if (name.ends_with(".tsb.tmp")) {
      env_->DeleteFile(path + "/" + name);  // a write cut short; its block was never acknowledged
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<BlockSeriesInfo> infos;
  std::vector<uint32_t> ids;
  for (const auto& [start, kind] : files) {
    const std::string file = path + "/" + BlockFileName(kind, start);
    auto block = Block::Open(env_, file, &infos);
    const int64_t window = kind == BlockKind::kDayAggregate ? kDayMs : options_.block_ms;
    if (!block.ok() || (*block)->header().start_ms != start ||
        (*block)->header().kind != kind || (*block)->header().project != id ||
        (*block)->header().window_ms != window) {
      if (!corrupt->empty()) corrupt->append("; ");
      corrupt->append(block.ok() ? "block " + file + ": header does not match its name"
                                 : block.status().message());
      blocks_corrupt_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    ids.clear();
    for (auto& info : infos) {
      NormalizeLabels(&info.labels);
      uint32_t sid = p->index.Find(info.metric, info.labels);
      if (sid == SeriesIndex::kNone) sid = p->index.Add(info.metric, info.labels, info.kind, info.id);
      ids.push_back(sid);
    }
    (*block)->Remap(ids);
    p->last_ms.resize(p->index.id_limit(), std::numeric_limits<int64_t>::min());
    std::shared_ptr<const Block> shared(std::move(block.value()));
    if (kind == BlockKind::kRaw) {
      for (const Block::Entry& e : shared->entries()) {
        p->last_ms[e.id] = std::max(p->last_ms[e.id], e.max_ms);
      }
      p->raw[start] = std::move(shared);
    } else {
      // Files come sorted by (start, kind): a day block replaces the window
      // block of its first window, loaded just before it.
      p->agg[start] = std::move(shared);
    }
  }
  // Window aggregate blocks inside a day block are left over from a crash
  // during compaction (the day block is durable before they are deleted).
  for (const auto& [start, block] : p->agg) {
    if (block->header().kind != BlockKind::kDayAggregate) continue;
    for (int64_t w = start; w < start + kDayMs; w += options_.block_ms) {
      const std::string left = path + "/" + BlockFileName(BlockKind::kAggregate, w);
      if (env_->FileExists(left)) env_->DeleteFile(left);
    }
    for (auto it = p->agg.upper_bound(start); it != p->agg.end() && it->first < start + kDayMs;) {
      it = p->agg.erase(it);
    }
  }
  // A raw block without its aggregates was not sealed: it returns to the
  // head, so that the rest of its window can still be appended. One whose
  // columns do not decode (it passed its checksum, so a writer bug) is
  // skipped like a corrupt block.
  std::vector<int64_t> time;
  std::vector<double> value;
  for (auto it = p->raw.begin(); it != p->raw.end();) {
    const auto& [start, block] = *it;
    if (AggCovering(p->agg, start) != nullptr) {
      ++it;
      continue;
    }
    auto w = std::make_unique<Window>();
    w->start_ms = start;
    w->chunks.resize(p->index.id_limit());
    bool ok = true;
    for (const Block::Entry& e : block->entries()) {
      if (!block->ReadRaw(e, &time, &value)) {
        ok = false;
        break;
      }
      auto chunk = std::make_unique<HeadChunk>();
      for (size_t i = 0; i < time.size(); ++i) chunk->Append(time[i], value[i]);
      w->chunks[e.id] = std::move(chunk);
    }
    if (!ok) {
      if (!corrupt->empty()) corrupt->append("; ");
      corrupt->append("block " + block->path() + ": a series does not decode");
      blocks_corrupt_.fetch_add(1, std::memory_order_relaxed);
      it = p->raw.erase(it);
      continue;
    }
    w->version = w->flushed_version = 1;
    p->head[start] = std::move(w);
    ++it;
  }
  return Status::OK();
}

TimeSeriesStore::Project* TimeSeriesStore::GetProject(ProjectId id) const {
  std::shared_lock lock(projects_mu_);
  auto it = projects_.find(id);
  return it == projects_.end() ? nullptr : it->second.get();
}

TimeSeriesStore::Project* TimeSeriesStore::GetOrCreateProject(ProjectId id) {
  if (Project* p = GetProject(id)) return p;
  std::unique_lock lock(projects_mu_);
  auto& slot = projects_[id];
  if (!slot) {
    slot = std::make_unique<Project>();
    slot->id = id;
    slot->dir = ProjectDir(id);
  }
  return slot.get();
}

namespace {

// A head window copied under the project lock, written without it.
struct WindowSnapshot {
  int64_t start_ms = 0;
  uint64_t version = 0;
  bool write_raw = false;
  bool seal = false;
  struct Series {
    SeriesRef ref;
    std::string time_bytes, value_bytes;
    uint32_t n = 0;
  };
  std::vector<Series> series;
};

}  // namespace

Status TimeSeriesStore::WriteWindows(bool seal, int64_t seal_before) {
  std::vector<Project*> projects;
  {
    std::shared_lock lock(projects_mu_);
    for (auto& [id, p] : projects_) projects.push_back(p.get());
  }
  Status result;
  for (Project* p : projects) {
    std::vector<WindowSnapshot> snaps;
    {
      std::unique_lock lock(p->mu);
      for (auto& [start, w] : p->head) {
        WindowSnapshot s;
        s.start_ms = start;
        s.version = w->version;
        s.write_raw = w->version != w->flushed_version;
        s.seal = seal && start + options_.block_ms <= seal_before;
        if (!s.write_raw && !s.seal) continue;
        if (s.seal) w->sealing = true;
        for (uint32_t id = 0; id < w->chunks.size(); ++id) {
          const HeadChunk* c = w->chunks[id].get();
          if (c == nullptr) continue;
          // SeriesInfo objects are never freed or changed while the store
          // lives, so the references stay valid without the lock.
          const SeriesInfo& info = p->index.info(id);
          s.series.push_back({SeriesRef{id, &info.metric, &info.labels, info.kind},
                              c->time_bits.Bytes(), c->value_bits.Bytes(), c->n});
        }
        snaps.push_back(std::move(s));
      }
    }
    if (!snaps.empty()) {
      Status st = env_->CreateDir(p->dir);
      if (!st.ok()) {
        result = st.Annotate("tsdb: creating " + p->dir);
        // Unmark sealing so that the windows stay writable.
        std::unique_lock lock(p->mu);
        for (auto& s : snaps) {
          auto it = p->head.find(s.start_ms);
          if (it != p->head.end()) it->second->sealing = false;
        }
        continue;
      }
    }
    for (WindowSnapshot& s : snaps) {
      std::vector<RawSeriesData> raw(s.series.size());
      bool decoded = true;
      for (size_t i = 0; i < s.series.size(); ++i) {
        raw[i].ref = s.series[i].ref;
        decoded = decoded && DecodeHeadChunk(s.series[i].time_bytes, s.series[i].value_bytes,
                                             s.series[i].n, &raw[i].time, &raw[i].value);
      }
      Status st = decoded ? Status::OK() : Status::Internal("tsdb: a head chunk does not decode");
      std::shared_ptr<const Block> raw_block, agg_block;
      const BlockHeader header{BlockKind::kRaw, p->id, s.start_ms, options_.block_ms};
      auto write = [&](BlockKind kind, const std::string& bytes,
                       std::shared_ptr<const Block>* out) -> Status {
        const std::string path = p->dir + "/" + BlockFileName(kind, s.start_ms);
        LOUPE_RETURN_IF_ERROR(WriteFileAtomically(env_, path, bytes).Annotate("tsdb: writing"));
        auto b = Block::Open(env_, path, nullptr);
        if (!b.ok()) return b.status().Annotate("tsdb: reopening the block just written");
        std::vector<uint32_t> ids;
        for (const Block::Entry& e : (*b)->entries()) ids.push_back(e.id);
        (*b)->Remap(ids);
        *out = std::move(b.value());
        return Status::OK();
      };
      if (st.ok() && s.write_raw && !raw.empty()) {
        st = write(BlockKind::kRaw, EncodeRawBlock(header, raw), &raw_block);
      }
      if (st.ok() && s.seal && !raw.empty()) {
        std::vector<AggSeriesData> agg(raw.size());
        for (size_t i = 0; i < raw.size(); ++i) {
          agg[i].ref = raw[i].ref;
          Downsample(raw[i].time, raw[i].value, &agg[i]);
        }
        BlockHeader agg_header = header;
        agg_header.kind = BlockKind::kAggregate;
        st = write(BlockKind::kAggregate, EncodeAggBlock(agg_header, agg), &agg_block);
      }
      std::unique_lock lock(p->mu);
      auto it = p->head.find(s.start_ms);
      if (!st.ok()) {
        if (it != p->head.end()) it->second->sealing = false;
        if (result.ok()) result = st;
        continue;
      }
      if (raw_block) p->raw[s.start_ms] = raw_block;
      if (it != p->head.end()) it->second->flushed_version = s.version;
      if (s.seal) {
        if (agg_block) p->agg[s.start_ms] = agg_block;
        p->head.erase(s.start_ms);
      }
    }
  }
  return result;
}

Status TimeSeriesStore::Flush() {
  std::lock_guard lock(write_mu_);
  return WriteWindows(false, 0);
}

Status TimeSeriesStore::Maintain(int64_t now_ms) {
  std::lock_guard lock(write_mu_);
  LOUPE_RETURN_IF_ERROR(WriteWindows(true, now_ms - options_.head_grace_ms));
  LOUPE_RETURN_IF_ERROR(CompactDays(now_ms - options_.head_grace_ms));
  return ApplyRetention(now_ms);
}

Status TimeSeriesStore::ApplyRetention(int64_t now_ms) {
  if (options_.raw_retention_days > 0) {
    const int64_t horizon = now_ms - options_.raw_retention_days * kDayMs;
    if (horizon > horizon_ms_.load()) horizon_ms_.store(horizon);
  }
  std::vector<Project*> projects;
  {
    std::shared_lock lock(projects_mu_);
    for (auto& [id, p] : projects_) projects.push_back(p.get());
  }
  Status result;
  for (Project* p : projects) {
    std::vector<std::shared_ptr<const Block>> doomed;
    {
      std::unique_lock lock(p->mu);
      auto expire = [&](std::map<int64_t, std::shared_ptr<const Block>>* blocks, int days) {
        if (days <= 0) return;
        const int64_t horizon = now_ms - days * kDayMs;
        // Whole blocks only: a block goes once its window has ended before the horizon.
        for (auto it = blocks->begin(); it != blocks->end();) {
          if (it->first >= horizon) break;
          if (it->first + it->second->header().window_ms > horizon ||
              p->head.count(it->first) != 0) {
            ++it;  // ends after the horizon, or still in the head (a later Maintain seals it)
            continue;
          }
          doomed.push_back(it->second);
          it = blocks->erase(it);
        }
      };
      expire(&p->raw, options_.raw_retention_days);
      expire(&p->agg, AggregateRetentionDays(p->id));
    }
    for (const auto& b : doomed) {
      Status st = env_->DeleteFile(b->path());
      if (st.ok()) {
        blocks_deleted_.fetch_add(1, std::memory_order_relaxed);
      } else if (result.ok()) {
        result = st.Annotate("tsdb: retention");
      }
    }
    if (!doomed.empty()) env_->SyncDir(p->dir);
  }
  return result;
}

Status TimeSeriesStore::CompactDays(int64_t sealed_before) {
  if (!options_.compact_aggregate_days || options_.block_ms >= kDayMs ||
      kDayMs % options_.block_ms != 0) {
    return Status::OK();
  }
  std::vector<Project*> projects;
  {
    std::shared_lock lock(projects_mu_);
    for (auto& [id, p] : projects_) projects.push_back(p.get());
  }
  Status result;
  std::vector<AggColumns> cols(2);
  for (Project* p : projects) {
    // Days whose every window is sealed (its end is before sealed_before and
    // no window of it is in the head), with their window aggregate blocks.
    std::map<int64_t, std::vector<std::shared_ptr<const Block>>> days;
    std::map<uint32_t, SeriesRef> refs;
    {
      std::shared_lock lock(p->mu);
      for (const auto& [start, block] : p->agg) {
        if (block->header().kind != BlockKind::kAggregate) continue;
        const int64_t day = WindowStart(start, kDayMs);
        if (day + kDayMs > sealed_before) continue;
        auto head = p->head.lower_bound(day);
        if (head != p->head.end() && head->first < day + kDayMs) continue;
        days[day].push_back(block);
        for (const Block::Entry& e : block->entries()) {
          const SeriesInfo& info = p->index.info(e.id);  // stable; see WriteWindows
          refs.emplace(e.id, SeriesRef{e.id, &info.metric, &info.labels, info.kind});
        }
      }
    }
    for (const auto& [day, blocks] : days) {
      std::map<uint32_t, AggSeriesData> merged;
      Status st;
      for (const auto& block : blocks) {  // ascending start
        for (const Block::Entry& e : block->entries()) {
          AggSeriesData& out = merged[e.id];
          out.ref = refs[e.id];
          for (int r = 0; r < 2 && st.ok(); ++r) {
            if (!block->ReadAgg(e, r, kAllColumns, &cols[r])) {
              st = Status::Corruption("tsdb: block " + block->path() + " does not decode");
              break;
            }
            AggColumns& dst = out.res[r];
            dst.time.insert(dst.time.end(), cols[r].time.begin(), cols[r].time.end());
            for (int c = 0; c < AggColumns::kColumns; ++c) {
              dst.column(c)->insert(dst.column(c)->end(), cols[r].column(c)->begin(),
                                    cols[r].column(c)->end());
            }
          }
        }
      }
      std::shared_ptr<const Block> day_block;
      const std::string path = p->dir + "/" + BlockFileName(BlockKind::kDayAggregate, day);
      if (st.ok()) {
        std::vector<AggSeriesData> series;
        series.reserve(merged.size());
        for (auto& [id, data] : merged) series.push_back(std::move(data));
        const BlockHeader header{BlockKind::kDayAggregate, p->id, day, kDayMs};
        st = WriteFileAtomically(env_, path, EncodeAggBlock(header, series));
      }
      if (st.ok()) {
        auto b = Block::Open(env_, path, nullptr);
        if (b.ok()) {
          std::vector<uint32_t> ids;
          for (const Block::Entry& e : (*b)->entries()) ids.push_back(e.id);
          (*b)->Remap(ids);
          day_block = std::move(b.value());
        } else {
          st = b.status();
        }
      }
      if (!st.ok()) {
        if (result.ok()) result = st.Annotate("tsdb: compacting day " + std::to_string(day));
        continue;
      }
      {
        std::unique_lock lock(p->mu);
        for (const auto& block : blocks) p->agg.erase(block->header().start_ms);
        p->agg[day] = day_block;
      }
      for (const auto& block : blocks) env_->DeleteFile(block->path());
      env_->SyncDir(p->dir);
    }
  }
  return result;
}

TsdbStats TimeSeriesStore::Stats() const {
  TsdbStats st;
  st.samples_appended = samples_appended_.load(std::memory_order_relaxed);
  st.duplicates_skipped = duplicates_skipped_.load(std::memory_order_relaxed);
  st.out_of_order_dropped = out_of_order_dropped_.load(std::memory_order_relaxed);
  st.invalid_dropped = invalid_dropped_.load(std::memory_order_relaxed);
  st.series_overflowed = series_overflowed_.load(std::memory_order_relaxed);
  st.blocks_corrupt = blocks_corrupt_.load(std::memory_order_relaxed);
  st.blocks_deleted = blocks_deleted_.load(std::memory_order_relaxed);
  std::shared_lock lock(projects_mu_);
  for (const auto& [id, p] : projects_) {
    std::shared_lock plock(p->mu);
    st.series += p->index.size();
    st.head_windows += p->head.size();
    for (const auto& [start, w] : p->head) {
      for (const auto& c : w->chunks) {
        if (c) st.head_bytes += c->MemoryBytes();
      }
    }
    for (const auto* blocks : {&p->raw, &p->agg}) {
      for (const auto& [start, b] : *blocks) {
        ++st.blocks;
        st.block_bytes += b->size();
      }
    }
  }
  return st;
}

Status TimeSeriesStore::Close() {
  std::lock_guard lock(write_mu_);
  {
    std::unique_lock plock(projects_mu_);
    closed_ = true;
  }
  return WriteWindows(false, 0);
}

Result<std::vector<BlockCheck>> Verify(Env* env, const std::string& dir) {
  auto projects = env->GetChildren(dir);
  if (!projects.ok()) return projects.status().Annotate("tsdb verify: listing " + dir);
  std::vector<BlockCheck> out;
  std::vector<int64_t> time;
  std::vector<double> value;
  AggColumns cols;
  std::sort(projects->begin(), projects->end());
  for (const std::string& pname : *projects) {
    ProjectId id;
    if (!ParseProjectDir(pname, &id)) continue;
    auto files = env->GetChildren(dir + "/" + pname);
    if (!files.ok()) {
      out.push_back({dir + "/" + pname, files.status()});
      continue;
    }
    std::sort(files->begin(), files->end());
    for (const std::string& name : *files) {
      BlockKind kind;
      int64_t start;
      if (!ParseBlockFileName(name, &kind, &start)) continue;
      BlockCheck check;
      check.file = dir + "/" + pname + "/" + name;
      auto block = Block::Open(env, check.file, nullptr);
      if (!block.ok()) {
        check.status = block.status();
        out.push_back(std::move(check));
        continue;
      }
      const Block& b = **block;
      if (b.header().kind != kind || b.header().start_ms != start || b.header().project != id ||
          (kind == BlockKind::kDayAggregate && b.header().window_ms != kDayMs)) {
        check.status = Status::Corruption("block " + check.file + ": header does not match its name");
      }
      for (const Block::Entry& e : b.entries()) {
        if (!check.status.ok()) break;
        ++check.series;
        const std::string where = "block " + check.file + ": series " + std::to_string(e.id);
        if (kind == BlockKind::kRaw) {
          if (!b.ReadRaw(e, &time, &value)) {
            check.status = Status::Corruption(where + " does not decode");
          } else if (time.empty() || !std::is_sorted(time.begin(), time.end()) ||
                     std::adjacent_find(time.begin(), time.end()) != time.end() ||
                     time.front() != e.min_ms || time.back() != e.max_ms ||
                     time.front() < start || time.back() >= start + b.header().window_ms) {
            check.status = Status::Corruption(where + ": times out of order or outside the window");
          }
          check.samples += time.size();
        } else {
          for (int r = 0; r < 2 && check.status.ok(); ++r) {
            if (!b.ReadAgg(e, r, kAllColumns, &cols)) {
              check.status = Status::Corruption(where + " aggregates do not decode");
            } else if (!std::is_sorted(cols.time.begin(), cols.time.end())) {
              check.status = Status::Corruption(where + ": aggregate times out of order");
            }
            check.samples += cols.time.size();
          }
        }
      }
      out.push_back(std::move(check));
    }
  }
  return out;
}

}  // namespace loupe::tsdb
