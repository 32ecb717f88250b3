// Compaction of closed partitions (embedded_store.h, "Compaction"): the
// segments of a partition are merged into one, streamed through
// SegmentWriter without any store lock, then swapped in under the project
// lock. Format of the replaced-segments list: docs/format/segment.md.
//
// Why: the X-View over an hour merges one source per segment (58 with the
// default 64 MiB memtable); one segment per closed hour makes the newest-first
// merge a single run and keeps every row group full
// (bench/store_append_benchmark.cc, BM_XViewHour variants 0 and 3).
#include <algorithm>
#include <limits>
#include <unordered_map>
#include <unordered_set>

#include "common/coding.h"
#include "common/logging.h"
#include "store/embedded/embedded_store_internal.h"
#include "store/profile_codec.h"

namespace loupe::store::embedded_internal {
namespace {

void SubtractSummary(model::Summary* s, const model::Summary& d) noexcept {
  s->sql_count -= d.sql_count;
  s->sql_us -= d.sql_us;
  s->fetch_count -= d.fetch_count;
  s->fetch_us -= d.fetch_us;
  s->external_count -= d.external_count;
  s->external_us -= d.external_us;
}

// Reads one input segment in row order: its row groups (all columns) and
// its profile blobs.
class InputCursor {
 public:
  InputCursor(const Segment& seg, size_t index) : seg_(seg), index_(index), profiles_(seg) {}

  // Loads the first row; false at the end or on error (see status()).
  bool Start() { return LoadGroup(); }
  bool valid() const { return valid_; }
  const Status& status() const { return status_; }
  size_t index() const { return index_; }
  int64_t end() const { return g_.end[i_]; }
  const DecodedGroup& group() const { return g_; }
  uint32_t row() const { return i_; }

  // The profile blob of the current row; valid until the next call.
  Result<std::string_view> Profile() { return profiles_.Next(); }

  void Next() {
    if (++i_ < g_.rows) return;
    LoadGroup();
  }

 private:
  bool LoadGroup() {
    valid_ = false;
    if (next_group_ >= seg_.groups().size()) return false;
    status_ = seg_.ReadGroup(next_group_++, &g_, kReadAll);
    if (!status_.ok()) return false;
    i_ = 0;
    valid_ = g_.rows > 0;
    return valid_;
  }

  const Segment& seg_;
  const size_t index_;
  size_t next_group_ = 0;
  DecodedGroup g_;
  uint32_t i_ = 0;
  bool valid_ = false;
  Status status_;
  Segment::ProfileCursor profiles_;
};

}  // namespace

Status SegmentedStore::CompactClosedPartitions() {
  std::lock_guard<std::mutex> maint(maint_mu_);
  const int64_t now_us = options_.clock->NowMicros();
  std::vector<Project*> projects;
  {
    std::shared_lock<std::shared_mutex> lock(projects_mu_);
    for (const auto& [id, p] : projects_) projects.push_back(p.get());
  }
  Status first_error;
  for (Project* p : projects) {
    std::vector<int64_t> keys;
    {
      std::shared_lock<RwMutex> lock(p->mu);
      for (const auto& [key, part] : p->parts) {
        const int64_t closes_at = (key + 1) * options_.partition_us + options_.compaction_grace_us;
        if (closes_at <= now_us && part.segments.size() > 1) keys.push_back(key);
      }
    }
    for (int64_t key : keys) {
      if (stopping_.load()) return first_error;
      Status s = CompactPartition(p, key);
      if (!s.ok()) {
        failed_compactions_.fetch_add(1);
        LogError("compaction of project " + std::to_string(p->id) + " partition " +
                 std::to_string(key) + " failed; its segments stay as they are: " + s.ToString());
        if (first_error.ok()) first_error = s;
      }
    }
  }
  return first_error;
}

Status SegmentedStore::CompactPartition(Project* p, int64_t key) {
  // 1. Snapshot the inputs. Segments are immutable; the shared_ptrs keep
  //    them mapped even if retention or another swap drops them meanwhile.
  std::vector<SegmentRef> inputs;
  {
    std::shared_lock<RwMutex> lock(p->mu);
    const Partition* part = p->FindPartition(key);
    if (part == nullptr || part->segments.size() < 2) return Status::OK();
    inputs = part->segments;
  }

  // 2. One dictionary set: the union of the inputs', id 0 = "".
  std::vector<std::string> dicts[kNumDictColumns];
  std::vector<std::vector<uint32_t>> remap[kNumDictColumns];
  for (int c = 0; c < kNumDictColumns; ++c) {
    std::unordered_map<std::string_view, uint32_t> index;
    dicts[c].emplace_back();
    index.emplace("", 0);
    remap[c].resize(inputs.size());
    // The user and client-IP dictionaries are not kept by open segments:
    // decoded here for the length of the union.
    std::vector<StringTable> decoded(IsHighCardinality(c) ? inputs.size() : 0);
    for (size_t i = 0; i < inputs.size(); ++i) {
      auto add = [&](std::string_view str) {
        auto [it, added] = index.emplace(str, static_cast<uint32_t>(dicts[c].size()));
        if (added) dicts[c].emplace_back(str);
        remap[c][i].push_back(it->second);
      };
      if (IsHighCardinality(c)) {
        LOUPE_RETURN_IF_ERROR(inputs[i].seg->ReadDict(c, &decoded[i]));
        for (uint32_t k = 0; k < decoded[i].size(); ++k) add(decoded[i].Get(k));
      } else {
        for (const std::string& str : inputs[i].seg->dict(c)) add(str);
      }
    }
    // index holds views into the inputs' dictionaries; dicts[c] owns copies.
  }

  // 3. Late steps of the inputs: those of a row of the inputs are folded
  //    into its profile and summary; the others (their row is in a segment
  //    flushed after the snapshot) stay late records of the new segment.
  std::unordered_map<TxId, std::vector<const LateRecord*>> fold;
  std::vector<LateRecord> keep;  // cell ids remapped to the new dictionaries
  std::vector<uint64_t> replaces;
  uint64_t total_steps = 0;
  for (size_t in_index = 0; in_index < inputs.size(); ++in_index) {
    const SegmentRef& in = inputs[in_index];
    replaces.push_back(in.seq);
    // A crash may leave files an input itself replaced (their deletion
    // failed): list them too, so Open removes them after this one.
    for (uint64_t r : in.seg->replaces()) replaces.push_back(r);
    total_steps += in.seg->steps();
    for (const LateRecord& l : in.seg->late()) {
      bool local = false;
      uint32_t row;
      for (const SegmentRef& other : inputs) {
        Result<bool> found = other.seg->FindId(l.tx, &row);
        if (!found.ok()) return found.status();
        if (*found) {
          local = true;
          break;
        }
      }
      if (local) {
        fold[l.tx].push_back(&l);
      } else {
        LateRecord& k = keep.emplace_back(l);
        if (k.has_cell) {
          for (int c = 0; c < 3; ++c) k.cell[c] = remap[kDictService + c][in_index][k.cell[c]];
        }
      }
    }
  }
  std::sort(replaces.begin(), replaces.end());
  replaces.erase(std::unique(replaces.begin(), replaces.end()), replaces.end());
  for (const LateRecord& l : keep) total_steps -= l.steps;  // Finish counts them again

  // 4. Merge the inputs by end time into a new segment, outside every lock.
  uint64_t seq;
  {
    std::lock_guard<std::mutex> flush_lock(flush_mu_);
    seq = next_seq_++;
  }
  const std::string path = options_.dir + "/" + SegmentFileName(p->id, key, seq);
  auto writer = SegmentWriter::Create(env_, path, options_.segment, p->id, key);
  if (!writer.ok()) return writer.status();
  std::vector<std::unique_ptr<InputCursor>> cursors;
  std::vector<InputCursor*> heap;
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto& c = cursors.emplace_back(std::make_unique<InputCursor>(*inputs[i].seg, i));
    if (c->Start()) {
      heap.push_back(c.get());
    } else if (!c->status().ok()) {
      return c->status();
    }
  }
  // Oldest end first; equal ends in input (write) order, so rows keep the
  // order a reader of the inputs would see.
  auto later = [](const InputCursor* a, const InputCursor* b) {
    return a->end() != b->end() ? a->end() > b->end() : a->index() > b->index();
  };
  std::make_heap(heap.begin(), heap.end(), later);
  std::string folded;
  uint64_t n = 0;
  while (!heap.empty()) {
    if ((++n & 8191) == 0 && stopping_.load()) return Status::Unavailable("store is closing");
    std::pop_heap(heap.begin(), heap.end(), later);
    InputCursor* cur = heap.back();
    const DecodedGroup& g = cur->group();
    const uint32_t i = cur->row();
    SegmentRow r;
    r.id = g.id[i];
    r.trace = g.trace[i];
    r.end_us = g.end[i];
    r.start_us = g.end[i] - g.elapsed[i];
    r.status = g.status[i];
    r.error = g.error[i] != 0;
    for (int c = 0; c < kNumDictColumns; ++c) r.dict[c] = remap[c][cur->index()][g.dict[c][i]];
    r.summary = g.summary[i];
    Result<std::string_view> blob = cur->Profile();
    if (!blob.ok()) return blob.status();
    r.profile = *blob;
    if (auto it = fold.find(r.id); it != fold.end()) {
      model::Transaction tx;
      tx.start_us = r.start_us;
      if (!DecodeProfile(*blob, &tx)) {
        return Status::Corruption(inputs[cur->index()].seg->path() + ": profile does not decode");
      }
      for (const LateRecord* l : it->second) {
        AddSummary(&r.summary, l->delta);
        DecodeSteps(l->blob, 0, &tx.steps);
        tx.dropped_steps = std::max(tx.dropped_steps, l->dropped_steps);
      }
      std::stable_sort(
          tx.steps.begin(), tx.steps.end(),
          [](const model::Step& a, const model::Step& b) { return a.start_us < b.start_us; });
      folded.clear();
      EncodeProfile(tx, &folded);
      r.profile = folded;
    }
    LOUPE_RETURN_IF_ERROR((*writer)->Add(r));
    cur->Next();
    if (cur->valid()) {
      std::push_heap(heap.begin(), heap.end(), later);
    } else {
      if (!cur->status().ok()) return cur->status();
      heap.pop_back();
    }
  }
  (*writer)->AddSteps(total_steps);
  LOUPE_RETURN_IF_ERROR((*writer)->Finish(dicts, keep, replaces));
  writer->reset();
  auto opened = Segment::Open(env_, path);
  if (!opened.ok()) {
    env_->DeleteFile(path);
    return opened.status().Annotate("reopening compacted segment");
  }
  std::shared_ptr<const Segment> seg = std::move(*opened);
  SegmentRef ref;
  ref.seg = seg;
  ref.seq = seq;
  {
    std::unique_lock<RwMutex> lock(p->mu);
    for (int c = 0; c < kNumDictColumns; ++c) {
      if (IsHighCardinality(c)) continue;
      ref.to_global[c].reserve(dicts[c].size());
      for (const std::string& str : dicts[c]) ref.to_global[c].push_back(p->dicts[c].Intern(str));
    }
  }
  // The new segment's rollup files, computed from its rows (the inputs'
  // files are deleted with them). Without them the swap does not happen.
  std::vector<RollupRef> rollup_refs;
  {
    RollupBuilder rollup;
    Status r = BuildRollups(ref, &rollup);
    if (r.ok()) {
      RollupNamer names;
      {
        std::shared_lock<RwMutex> lock(p->mu);
        names = SnapshotNames(*p, rollup);
      }
      r = WriteRollups(p->id, key, seq, rollup, names, &rollup_refs);
    }
    if (!r.ok()) {
      env_->DeleteFile(path);
      for (const RollupRef& f : rollup_refs) env_->DeleteFile(f.path);
      return r.Annotate("writing the compacted segment's rollups");
    }
  }

  // 5. Swap under the project lock: readers see either all inputs or the
  //    new segment, never both or neither.
  std::vector<std::string> old_files, old_rollups;
  uint64_t old_bytes = 0;
  {
    std::unique_lock<RwMutex> lock(p->mu);
    auto pit = p->parts.find(key);
    bool present = pit != p->parts.end();
    if (present) {
      for (const SegmentRef& in : inputs) {
        const auto& segs = pit->second.segments;
        present &= std::any_of(segs.begin(), segs.end(),
                               [&](const SegmentRef& r) { return r.seg == in.seg; });
      }
    }
    if (!present) {
      // Dropped meanwhile (retention); the inputs are gone, so is the output.
      lock.unlock();
      env_->DeleteFile(path);
      for (const RollupRef& f : rollup_refs) env_->DeleteFile(f.path);
      return Status::OK();
    }
    Partition& part = pit->second;
    old_rollups = TakeRollupRefs(p, key, replaces);
    auto& files = p->rollups[key];
    for (RollupRef& f : rollup_refs) files.push_back(std::move(f));
    std::vector<SegmentRef> next;
    bool placed = false;
    for (SegmentRef& r : part.segments) {
      const bool replaced = std::any_of(inputs.begin(), inputs.end(),
                                        [&](const SegmentRef& in) { return in.seg == r.seg; });
      if (!replaced) {
        next.push_back(std::move(r));
        continue;
      }
      old_files.push_back(r.seg->path());
      old_bytes += r.seg->file_size();
      if (!placed) {
        next.push_back(std::move(ref));
        placed = true;
      }
    }
    part.segments = std::move(next);
    // The folded late steps are in the new segment's profiles now.
    for (const auto& [tx, records] : fold) {
      auto e = part.late.find(tx);
      if (e == part.late.end()) continue;
      for (const LateRecord* l : records) {
        auto b = std::find(e->second.blobs.begin(), e->second.blobs.end(), l->blob);
        if (b == e->second.blobs.end()) continue;
        e->second.blobs.erase(b);
        SubtractSummary(&e->second.delta, l->delta);
      }
      if (e->second.blobs.empty()) part.late.erase(e);
    }
  }
  segments_.fetch_sub(old_files.size() - 1);
  segment_bytes_.fetch_add(seg->file_size());
  segment_bytes_.fetch_sub(std::min<uint64_t>(old_bytes, segment_bytes_.load()));
  compactions_.fetch_add(1);
  segments_compacted_.fetch_add(old_files.size());

  // 6. Delete the inputs. A failure (or a crash before this) leaves files
  //    that Open deletes because the new segment lists them as replaced.
  for (const std::string& f : old_files) {
    Status d = env_->DeleteFile(f);
    if (!d.ok()) LogError("compaction: deleting a replaced segment: " + d.ToString());
  }
  for (const std::string& f : old_rollups) {
    ForgetRollup(f);
    Status d = env_->DeleteFile(f);
    if (!d.ok()) LogError("compaction: deleting a replaced rollup file: " + d.ToString());
  }
  env_->SyncDir(options_.dir);
  return Status::OK();
}

void SegmentedStore::DropReplacedSegments() {
  std::vector<Project*> projects;
  {
    std::shared_lock<std::shared_mutex> lock(projects_mu_);
    for (const auto& [id, p] : projects_) projects.push_back(p.get());
  }
  uint64_t dropped = 0;
  for (Project* p : projects) {
    std::unique_lock<RwMutex> lock(p->mu);
    for (auto& [key, part] : p->parts) {
      std::unordered_set<uint64_t> replaced;
      for (const SegmentRef& r : part.segments) {
        replaced.insert(r.seg->replaces().begin(), r.seg->replaces().end());
      }
      if (replaced.empty()) continue;
      std::vector<SegmentRef> next;
      bool changed = false;
      for (SegmentRef& r : part.segments) {
        if (replaced.count(r.seq) == 0) {
          next.push_back(std::move(r));
          continue;
        }
        // An interrupted compaction: the newer segment holds these rows.
        changed = true;
        ++dropped;
        txs_.fetch_sub(r.seg->rows());
        steps_.fetch_sub(r.seg->steps());
        segments_.fetch_sub(1);
        segment_bytes_.fetch_sub(r.seg->file_size());
        Status d = env_->DeleteFile(r.seg->path());
        if (!d.ok()) LogError("deleting a replaced segment: " + d.ToString());
      }
      part.segments = std::move(next);
      if (!changed) continue;
      for (const std::string& f :
           TakeRollupRefs(p, key, std::vector<uint64_t>(replaced.begin(), replaced.end()))) {
        Status d = env_->DeleteFile(f);
        if (!d.ok()) LogError("deleting a replaced rollup file: " + d.ToString());
      }
      // Late records were loaded from every file; keep only the live ones'.
      part.late.clear();
      for (const SegmentRef& r : part.segments) {
        for (const LateRecord& l : r.seg->late()) AddLateEntry(&part, l);
      }
    }
  }
  if (dropped > 0) {
    env_->SyncDir(options_.dir);
    LogInfo("deleted " + std::to_string(dropped) +
            " segment(s) left by an interrupted compaction (replaced by a newer one)");
  }
}

}  // namespace loupe::store::embedded_internal
