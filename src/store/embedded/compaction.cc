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
#include <bit>
#include <functional>
#include <limits>
#include <unordered_map>
#include <unordered_set>

#include "common/coding.h"
#include "common/logging.h"
#include "common/memory.h"
#include "store/embedded/embedded_store_internal.h"
#include "store/embedded/rollup_file.h"
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

// The union of the inputs' dictionaries of one column, id 0 = "", kept as
// a segment stores it (varint length, bytes) with each entry's offset, and an
// open-addressing index of the ids while the union is built: ~5 bytes an
// entry over the strings' own, where a vector of std::string with an
// unordered_map index cost ~90. With a user id or client IP per request
// there are as many entries as rows, so those two are freed once built (see
// CompactPartition).
class DictUnion {
 public:
  // expected: an upper bound of the entries (the inputs' dictionary sizes).
  explicit DictUnion(size_t expected)
      : slots_(std::bit_ceil(std::max<size_t>(16, expected * 2)), 0) {
    offsets_.reserve(expected + 1);
    Add("");
  }

  // The id of s, added if new; 0 and too_large() once the union passed 4 GiB.
  uint32_t Add(std::string_view s) {
    if (offsets_.size() * 2 > slots_.size()) Grow();
    const size_t mask = slots_.size() - 1;
    for (size_t i = Hash(s) & mask;; i = (i + 1) & mask) {
      if (slots_[i] == 0) {
        if (bytes_.size() + s.size() + 10 > std::numeric_limits<uint32_t>::max()) {
          too_large_ = true;
          return 0;
        }
        offsets_.push_back(static_cast<uint32_t>(bytes_.size()));
        PutString(&bytes_, s);
        slots_[i] = static_cast<uint32_t>(offsets_.size());
        return slots_[i] - 1;
      }
      if (Get(slots_[i] - 1) == s) return slots_[i] - 1;
    }
  }
  bool too_large() const { return too_large_; }
  uint32_t size() const { return static_cast<uint32_t>(offsets_.size()); }
  // Bytes of the entries as stored.
  size_t bytes() const { return bytes_.size(); }
  std::string_view Get(uint32_t id) const {
    const auto* p = reinterpret_cast<const uint8_t*>(bytes_.data()) + offsets_[id];
    uint64_t len = 0;
    for (int shift = 0;; shift += 7) {
      const uint8_t b = *p++;
      len |= uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) break;
    }
    return {reinterpret_cast<const char*>(p), static_cast<size_t>(len)};
  }
  // Frees the index: the union is complete.
  void DropIndex() { std::vector<uint32_t>().swap(slots_); }
  // Appends the dictionary as SegmentWriter::DictSerializer does.
  void Serialize(std::string* out) const {
    PutVarint(out, offsets_.size());
    out->append(bytes_);
  }
  void Free() {
    std::string().swap(bytes_);
    std::vector<uint32_t>().swap(offsets_);
  }

 private:
  static size_t Hash(std::string_view s) { return std::hash<std::string_view>()(s); }
  void Grow() {
    std::vector<uint32_t> old(slots_.size() * 2, 0);
    old.swap(slots_);
    const size_t mask = slots_.size() - 1;
    for (uint32_t v : old) {
      if (v == 0) continue;
      size_t i = Hash(Get(v - 1)) & mask;
      while (slots_[i] != 0) i = (i + 1) & mask;
      slots_[i] = v;
    }
  }

  std::string bytes_;
  std::vector<uint32_t> offsets_;  // of each entry's length in bytes_
  std::vector<uint32_t> slots_;    // id + 1; 0 = empty
  bool too_large_ = false;
};

int64_t FloorTo(int64_t us, int64_t step) {
  const int64_t r = us % step;
  return us - (r < 0 ? r + step : r);
}

constexpr uint32_t DictBit(int d) { return ColumnBit(static_cast<int>(kColDictFirst) + d); }

// Rows merged between two releases of the inputs' mapped pages: each
// release costs the re-faults of the pages the cursors are on (a group and
// a profile block per input) and frees those of ~10 MiB of input rows.
constexpr uint64_t kRowsPerPageRelease = 65536;

// Reads one input segment in row order: its row groups (all columns) and
// its profile blobs.
class InputCursor {
 public:
  InputCursor(const Segment& seg, size_t index) : seg_(seg), index_(index), profiles_(seg) {}

  // Before Load nothing is decoded and end() is the segment's first end
  // time: flushed segments hold consecutive stretches of the hour, so only
  // the inputs the merge has reached hold a decoded group (~1 MiB each).
  bool loaded() const { return loaded_; }
  // Decodes the first row group; false when there is none or on error
  // (see status()).
  bool Load() {
    loaded_ = true;
    return LoadGroup();
  }
  bool valid() const { return valid_; }
  const Status& status() const { return status_; }
  size_t index() const { return index_; }
  int64_t end() const { return loaded_ ? g_.end[i_] : seg_.min_end(); }
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
  bool loaded_ = false;
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
      // Its buffers (dictionaries, rows' ids, rollup cells) are freed: give
      // the pages back now rather than at the next periodic trim, so the
      // compaction's peak does not stay in the RSS.
      ReleaseFreedMemory(std::numeric_limits<size_t>::max());
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

  // 2. One dictionary set: the union of the inputs', id 0 = "". The
  //    high-cardinality dictionaries (not kept by open segments) are decoded
  //    one input at a time.
  std::vector<std::unique_ptr<DictUnion>> dicts;
  std::vector<std::vector<uint32_t>> remap[kNumDictColumns];
  uint32_t union_size[kNumDictColumns] = {};
  size_t union_bytes[kNumDictColumns] = {};
  for (int c = 0; c < kNumDictColumns; ++c) {
    size_t expected = 0;
    for (const SegmentRef& in : inputs) expected += in.seg->dict_size(c);
    DictUnion& dict = *dicts.emplace_back(std::make_unique<DictUnion>(expected));
    remap[c].resize(inputs.size());
    StringTable decoded;
    for (size_t i = 0; i < inputs.size(); ++i) {
      std::vector<uint32_t>& ids = remap[c][i];
      if (IsHighCardinality(c)) {
        LOUPE_RETURN_IF_ERROR(inputs[i].seg->ReadDict(c, &decoded));
        ids.reserve(decoded.size());
        for (uint32_t k = 0; k < decoded.size(); ++k) ids.push_back(dict.Add(decoded.Get(k)));
      } else {
        for (const std::string& str : inputs[i].seg->dict(c)) ids.push_back(dict.Add(str));
      }
    }
    dict.DropIndex();
    if (dict.too_large()) {
      return Status::ResourceExhausted("compaction: a dictionary of the partition passed 4 GiB");
    }
    // Ids are assigned in input order, so remap alone says which entry
    // came first: Finish re-reads the inputs' dictionaries instead of the
    // union holding an hour of user ids and client IPs.
    union_size[c] = dict.size();
    union_bytes[c] = dict.bytes();
    if (IsHighCardinality(c)) dict.Free();
  }
  // The new segment's ids of the bounded columns in the project's
  // dictionaries, which its rollup cells use.
  SegmentRef ref;
  {
    std::unique_lock<RwMutex> lock(p->mu);
    for (int c = 0; c < kNumDictColumns; ++c) {
      if (IsHighCardinality(c)) continue;
      ref.to_global[c].reserve(dicts[c]->size());
      for (uint32_t id = 0; id < dicts[c]->size(); ++id) {
        ref.to_global[c].push_back(p->dicts[c].Intern(dicts[c]->Get(id)));
      }
    }
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

  // 4. Merge the inputs by end time into a new segment, outside every lock,
  //    and compute its rollup files from the merged rows as they pass: the
  //    one-second cells are written a minute at a time and dropped, so the
  //    rollups hold a minute of one-second cells plus the hour's minute and
  //    five-minute cells and user sketches, not the hour's one-second cells
  //    (the inputs' files are deleted with them).
  uint64_t seq;
  {
    std::lock_guard<std::mutex> flush_lock(flush_mu_);
    seq = next_seq_++;
  }
  const std::string path = options_.dir + "/" + SegmentFileName(p->id, key, seq);
  auto writer = SegmentWriter::Create(env_, path, options_.segment, p->id, key);
  if (!writer.ok()) return writer.status();
  size_t rows = 0;
  for (const SegmentRef& in : inputs) rows += in.seg->rows();
  (*writer)->Reserve(rows);  // not twice that after the vectors' last doubling
  std::unordered_map<uint32_t, uint32_t> global_to_local[3];
  for (int c = 0; c < 3; ++c) {
    const std::vector<uint32_t>& ids = ref.to_global[kDictService + c];
    for (uint32_t local = 0; local < ids.size(); ++local)
      global_to_local[c].emplace(ids[local], local);
  }
  const RollupNamer name = [&](int col, uint32_t id) -> std::string_view {
    auto it = global_to_local[col].find(id);
    return it == global_to_local[col].end() ? std::string_view()
                                            : dicts[kDictService + col]->Get(it->second);
  };
  std::vector<std::unique_ptr<RollupFileWriter>> rollup_writers;
  for (RollupResolution r : kRollupResolutions) {
    rollup_writers.push_back(std::make_unique<RollupFileWriter>(
        env_, options_.dir + "/" + RollupFileName(p->id, key, seq, r), p->id, key, r, name,
        options_.segment.zstd_level));
  }
  RollupFileWriter& seconds = *rollup_writers[0];
  static_assert(kRollupResolutions[0] == RollupResolution::kSecond);
  RollupBuilder rollup;
  auto global = [&](int c, uint32_t local) {
    const std::vector<uint32_t>& map = ref.to_global[c];
    return local < map.size() ? map[local] : 0u;
  };
  // The kept late records' sums go to their transactions' cells (records
  // of files before meta version 3 carry no cell, as in BuildRollups). Their
  // end times may lie anywhere in the hour: added before the rows, they are
  // in their one-second cells when those are written.
  for (const LateRecord& l : keep) {
    if (!l.has_cell) continue;
    rollup.AddLate(l.end_us, l.delta, global(kDictService, l.cell[0]),
                   global(kDictInstance, l.cell[1]), global(kDictEndpoint, l.cell[2]));
  }
  // The hourly user sketches (user id, else client IP, by service), one
  // input at a time with its own dictionaries: a sketch does not depend on
  // the order its values come in.
  {
    StringTable users, ips;
    DecodedGroup g;
    constexpr uint32_t kUserColumns =
        DictBit(kDictService) | DictBit(kDictUser) | DictBit(kDictClientIp);
    for (size_t i = 0; i < inputs.size(); ++i) {
      const Segment& in = *inputs[i].seg;
      LOUPE_RETURN_IF_ERROR(in.ReadDict(kDictUser, &users));
      LOUPE_RETURN_IF_ERROR(in.ReadDict(kDictClientIp, &ips));
      const std::vector<uint32_t>& service = remap[kDictService][i];
      for (size_t k = 0; k < in.groups().size(); ++k) {
        LOUPE_RETURN_IF_ERROR(in.ReadGroup(k, &g, kUserColumns));
        for (uint32_t r = 0; r < g.rows; ++r) {
          const uint32_t u = g.dict[kDictUser][r];
          std::string_view user = u < users.size() ? users.Get(u) : std::string_view();
          if (user.empty()) {
            const uint32_t ip = g.dict[kDictClientIp][r];
            if (ip < ips.size()) user = ips.Get(ip);
          }
          if (user.empty()) continue;
          const UsersKey key{FloorTo(g.end[r], kRollupHourUs),
                             global(kDictService, service[g.dict[kDictService][r]])};
          rollup.mutable_users().try_emplace(key, kUsersHllPrecision).first->second.Add(user);
        }
      }
      in.ReleasePages();
    }
  }
  std::vector<std::unique_ptr<InputCursor>> cursors;
  std::vector<InputCursor*> heap;
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto& c = cursors.emplace_back(std::make_unique<InputCursor>(*inputs[i].seg, i));
    if (inputs[i].seg->rows() > 0) heap.push_back(c.get());
  }
  // Oldest end first; equal ends in input (write) order, so rows keep the
  // order a reader of the inputs would see.
  auto later = [](const InputCursor* a, const InputCursor* b) {
    return a->end() != b->end() ? a->end() > b->end() : a->index() > b->index();
  };
  std::make_heap(heap.begin(), heap.end(), later);
  std::string folded;
  uint64_t n = 0;
  int64_t next_rollup_write = std::numeric_limits<int64_t>::min();
  while (!heap.empty()) {
    if ((++n & 8191) == 0 && stopping_.load()) return Status::Unavailable("store is closing");
    if (n % kRowsPerPageRelease == 0) {
      // Each input's rows are read once: the pages behind the cursors are
      // not needed again, and without this the whole hour's inputs became
      // resident (file-backed RSS doubled in the 2026-12-07 soak).
      for (const SegmentRef& in : inputs) in.seg->ReleasePages();
    }
    std::pop_heap(heap.begin(), heap.end(), later);
    InputCursor* cur = heap.back();
    if (!cur->loaded()) {
      // Its turn has come: decode, and place it again by its first row's
      // end (the same unless the meta block disagrees with the rows).
      if (cur->Load()) {
        std::push_heap(heap.begin(), heap.end(), later);
      } else {
        if (!cur->status().ok()) return cur->status();
        heap.pop_back();
      }
      continue;
    }
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
    rollup.Add(r.end_us, r.end_us - r.start_us, r.error, r.summary,
               global(kDictService, r.dict[kDictService]),
               global(kDictInstance, r.dict[kDictInstance]),
               global(kDictEndpoint, r.dict[kDictEndpoint]), /*user=*/"");
    if (r.end_us >= next_rollup_write) {
      // Later rows end at or after this one: the cells of earlier seconds
      // are complete.
      const int64_t second = FloorTo(r.end_us, kRollupSecondUs);
      LOUPE_RETURN_IF_ERROR(seconds.WriteBlocks(rollup, second));
      if (seconds.written_until() != std::numeric_limits<int64_t>::min()) {
        rollup.EraseSeconds(std::numeric_limits<int64_t>::min(), seconds.written_until() - 1);
      }
      next_rollup_write = second + kRollupSecondUs;
    }
    cur->Next();
    if (cur->valid()) {
      std::push_heap(heap.begin(), heap.end(), later);
    } else {
      if (!cur->status().ok()) return cur->status();
      heap.pop_back();
      cursors[cur->index()].reset();  // its decoded group and profile block
    }
  }
  cursors.clear();
  for (const SegmentRef& in : inputs) in.seg->ReleasePages();
  // The segment first, its rollup files after it: a crash between them
  // leaves a segment whose rollups Open rebuilds, never rollup files that
  // would count the inputs' rows twice.
  std::vector<RollupRef> rollup_refs;
  auto drop_outputs = [&] {
    env_->DeleteFile(path);
    for (const RollupRef& f : rollup_refs) env_->DeleteFile(f.path);
  };
  (*writer)->AddSteps(total_steps);
  Status dict_status;
  LOUPE_RETURN_IF_ERROR((*writer)->Finish(
      [&](int c, std::string* out) {
        if (!IsHighCardinality(c)) {
          dicts[c]->Serialize(out);
          return;
        }
        // The union again, in id order: an input's entry is new when its
        // id is the next one (the union added them in this order).
        out->reserve(out->size() + 10 + union_bytes[c]);  // not twice that as it grows
        PutVarint(out, union_size[c]);
        PutString(out, "");
        uint32_t next = 1;
        StringTable decoded;
        for (size_t i = 0; i < inputs.size() && dict_status.ok(); ++i) {
          dict_status = inputs[i].seg->ReadDict(c, &decoded);
          const std::vector<uint32_t>& ids = remap[c][i];
          for (uint32_t k = 0; dict_status.ok() && k < decoded.size(); ++k) {
            if (ids[k] == next) {
              PutString(out, decoded.Get(k));
              ++next;
            }
          }
        }
        if (dict_status.ok() && next != union_size[c]) {
          dict_status = Status::Corruption("an input dictionary changed while compacting");
        }
        std::vector<std::vector<uint32_t>>().swap(remap[c]);
      },
      keep, replaces));
  writer->reset();
  if (!dict_status.ok()) {
    drop_outputs();
    return dict_status.Annotate("writing the compacted segment's dictionaries");
  }
  for (size_t w = 0; w < rollup_writers.size(); ++w) {
    RollupRef rr;
    rr.seq = seq;
    rr.res = kRollupResolutions[w];
    rr.path = options_.dir + "/" + RollupFileName(p->id, key, seq, rr.res);
    Status st = rollup_writers[w]->Finish(rollup);
    if (st.ok() && env_->FileExists(rr.path)) {
      Result<uint64_t> size = env_->GetFileSize(rr.path);
      rr.bytes = size.ok() ? *size : 0;
      rollup_refs.push_back(std::move(rr));
    }
    if (!st.ok()) {
      // Without its rollup files the swap does not happen.
      drop_outputs();
      return st.Annotate("writing the compacted segment's rollups");
    }
  }
  rollup_writers.clear();
  rollup = RollupBuilder();
  dicts.clear();
  auto opened = Segment::Open(env_, path);
  if (!opened.ok()) {
    drop_outputs();
    return opened.status().Annotate("reopening compacted segment");
  }
  std::shared_ptr<const Segment> seg = std::move(*opened);
  ref.seg = seg;
  ref.seq = seq;

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
