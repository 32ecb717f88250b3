// The embedded engine's reads (embedded_store.h): Scan, Get, GetTrace.
//
// A Scan walks the partitions that overlap the time range. Each partition
// is a few sorted runs — the memtable (through its cached sort order), the
// frozen memtables and the segments (rows sorted by end time, row groups
// with min/max end time) — and every run becomes a RowSource that skips
// what the filter excludes. kAny drains the sources one after another;
// kNewestFirst merges them with a heap on end time, so a caller with a
// limit stops after decoding only the newest groups.
#include <algorithm>
#include <cstring>
#include <limits>

#include "common/coding.h"
#include "common/logging.h"
#include "store/embedded/embedded_store_internal.h"
#include "store/profile_codec.h"

namespace loupe::store::embedded_internal {
namespace {

// Rows per visitor call: 256 TxRows (~60 KB) stay in L2 while the visitor runs.
constexpr size_t kBatchRows = 256;

constexpr uint32_t DictBit(int c) { return ColumnBit(kColDictFirst + c); }

// A CompiledFilter (store/filter.h) with the segment columns a scan decodes.
struct ScanFilter : CompiledFilter {
  uint32_t fields = kFieldAll;  // TxFields the caller reads
  uint32_t columns = kReadAll;  // segment columns to decode for them and the filter

  // False when nothing can match (CompiledFilter::Compile).
  bool Compile(const Project& p, const TxFilter& f) {
    fields = f.fields & kFieldAll;
    // A projection decodes only what the caller reads: the X-View (no
    // fields) needs 3 of 18 columns, about 7x less work over an hour
    // (bench/store_append_benchmark.cc, BM_XViewHour).
    columns = ColumnBit(kColEnd) | ColumnBit(kColElapsed) | ColumnBit(kColError) | kMapIds;
    if (fields & kFieldTraceId) columns |= kReadTraces;
    if (fields & kFieldStatus) columns |= ColumnBit(kColStatus) | DictBit(kDictErrorType);
    if (fields & kFieldGroups) {
      columns |= DictBit(kDictService) | DictBit(kDictInstance) | DictBit(kDictEndpoint);
    }
    if (fields & kFieldClient) {
      columns |= DictBit(kDictUser) | DictBit(kDictClientIp) | DictBit(kDictMethod);
    }
    if (fields & kFieldSummary) {
      for (int c = kColSqlCount; c <= kColCpuUs; ++c) columns |= ColumnBit(c);
    }
    if (!CompiledFilter::Compile(p.dicts, f)) return false;
    for (int i = 0; i < nstr; ++i) columns |= DictBit(column[i]);
    return true;
  }
};

// Damage met while scanning.
struct ScanErrors {
  Status first;
  uint64_t count = 0;
  void Add(const Status& s) {
    if (first.ok()) first = s;
    ++count;
  }
};

class RowSource {
 public:
  virtual ~RowSource() = default;
  bool valid() const { return valid_; }
  int64_t end() const { return end_; }
  // Fills up to max rows from the current one on, advancing past them, and
  // stops before the first row past `limit` (descending sources: end <
  // limit; ascending: end > limit); returns how many. One virtual call per
  // run of rows: the kNewestFirst merge hands the newest source the run of
  // its rows down to the next source's head, so a single source (a
  // compacted partition) drains a batch per call with no heap work per row.
  virtual size_t FillRun(TxRow* out, size_t max, int64_t limit) = 0;

 protected:
  bool valid_ = false;
  int64_t end_ = 0;
};

const model::Summary* LateDelta(const Partition& part, TxId id) {
  if (part.late.empty()) return nullptr;
  auto it = part.late.find(id);
  return it == part.late.end() ? nullptr : &it->second.delta;
}

class MemSource final : public RowSource {
 public:
  MemSource(const Project& p, const Partition& part, const MemTable& t, const ScanFilter& f,
            bool descending)
      : p_(p), part_(part), t_(t), f_(f), bound_(f), desc_(descending), order_(t.SortedOrder()) {
    if (!bound_.BindLocal(t.local)) return;  // no row of this table can match
    const std::vector<MemRow>& rows = t.rows;
    auto lo = std::lower_bound(order_.begin(), order_.end(), f.from,
                               [&](uint32_t r, int64_t v) { return rows[r].end_us < v; });
    auto hi = std::lower_bound(lo, order_.end(), f.to,
                               [&](uint32_t r, int64_t v) { return rows[r].end_us < v; });
    lo_ = static_cast<size_t>(lo - order_.begin());
    hi_ = static_cast<size_t>(hi - order_.begin());
    cursor_ = desc_ ? hi_ : lo_;
    Next();
  }

  void Next() {
    while (desc_ ? cursor_ > lo_ : cursor_ < hi_) {
      pos_ = desc_ ? --cursor_ : cursor_++;
      const MemRow& r = t_.rows[order_[pos_]];
      if (Matches(r)) {
        valid_ = true;
        end_ = r.end_us;
        return;
      }
    }
    valid_ = false;
  }

  size_t FillRun(TxRow* out, size_t max, int64_t limit) override {
    size_t n = 0;
    for (; n < max && valid_ && (desc_ ? end_ >= limit : end_ <= limit); Next()) Fill(&out[n++]);
    return n;
  }

  void Fill(TxRow* out) const {
    const MemRow& r = t_.rows[order_[pos_]];
    const uint32_t fields = f_.fields;
    out->id = r.id;
    out->start_us = r.start_us;
    out->end_us = r.end_us;
    out->error = r.error;
    if (fields & kFieldTraceId) out->trace_id = r.trace;
    if (fields & kFieldStatus) {
      out->status = r.status;
      out->error_type = p_.dicts[kDictErrorType].Get(r.dict[kDictErrorType]);
    }
    if (fields & kFieldGroups) {
      out->service_id = r.dict[kDictService];
      out->instance_id = r.dict[kDictInstance];
      out->endpoint_id = r.dict[kDictEndpoint];
      out->service = p_.dicts[kDictService].Get(r.dict[kDictService]);
      out->instance = p_.dicts[kDictInstance].Get(r.dict[kDictInstance]);
      out->endpoint = p_.dicts[kDictEndpoint].Get(r.dict[kDictEndpoint]);
    }
    if (fields & kFieldClient) {
      out->user = t_.local[LocalSlot(kDictUser)].Get(r.dict[kDictUser]);
      out->client_ip = t_.local[LocalSlot(kDictClientIp)].Get(r.dict[kDictClientIp]);
      out->http_method = p_.dicts[kDictMethod].Get(r.dict[kDictMethod]);
    }
    if (fields & kFieldSummary) {
      out->summary = r.summary;
      if (const model::Summary* d = LateDelta(part_, r.id)) AddSummary(&out->summary, *d);
    }
  }

 private:
  bool Matches(const MemRow& r) const {
    return bound_.MatchRest(r.end_us - r.start_us, r.error, [&r](int c) { return r.dict[c]; });
  }

  const Project& p_;
  const Partition& part_;
  const MemTable& t_;
  const ScanFilter& f_;
  CompiledFilter bound_;  // f_ bound to this table's user and client-IP ids
  const bool desc_;
  const std::vector<uint32_t>& order_;
  size_t lo_ = 0, hi_ = 0;  // the rows of order_ inside the time range
  size_t cursor_ = 0;       // next position of order_ to examine
  size_t pos_ = 0;          // the current row's position in order_
};

// A CompiledFilter bound to one segment's local dictionary ids.
struct LocalFilter {
  CompiledFilter f;
  bool none = false;  // a filter value is absent from the segment: nothing matches

  // Reads the segment's user or client-IP dictionary through *dicts when
  // the filter names one (a damaged one matches nothing: dicts->status()).
  LocalFilter(const CompiledFilter& compiled, const SegmentRef& ref, SegmentLocalDicts* dicts)
      : f(compiled) {
    none = !f.Bind([&](int c, uint32_t project, std::string_view value) -> int64_t {
      if (IsHighCardinality(c)) {
        const StringTable* t = dicts->Get(c);
        return t != nullptr ? t->Find(value) : -1;
      }
      const std::vector<uint32_t>& g = ref.to_global[c];
      auto it = std::find(g.begin(), g.end(), project);
      return it == g.end() ? -1 : it - g.begin();
    });
  }

  // True when every row of group g matches.
  bool AllMatch(const Segment::Group& g) const {
    return !f.rest && g.min_end >= f.from && g.max_end < f.to;
  }

  bool Matches(const DecodedGroup& g, uint32_t i) const {
    return f.InRange(g.end[i]) &&
           f.MatchRest(g.elapsed[i], g.error[i] != 0, [&g, i](int c) { return g.dict[c][i]; });
  }
};

class SegmentSource final : public RowSource {
 public:
  SegmentSource(const Project& p, const Partition& part, const SegmentRef& ref, const ScanFilter& f,
                bool descending, ScanErrors* errors)
      : p_(p),
        part_(part),
        ref_(ref),
        f_(f),
        desc_(descending),
        errors_(errors),
        dicts_(*ref.seg),
        local_(f, ref, &dicts_) {
    if (!dicts_.status().ok()) errors_->Add(dicts_.status());
    if (local_.none) return;
    const auto& groups = ref.seg->groups();
    next_group_ = desc_ ? static_cast<int64_t>(groups.size()) - 1 : 0;
    empty_ = false;
    NextGroupAndRow();
  }

  size_t FillRun(TxRow* out, size_t max, int64_t limit) override {
    size_t n = 0;
    while (n < max && valid_ && (desc_ ? end_ >= limit : end_ <= limit)) {
      if (!all_match_) {
        Fill(&out[n++], row_);
        NextGroupAndRow();
        continue;
      }
      // Every row of the group matches (the usual case: the group lies
      // inside the time range and no row filter is set): copy the run to the
      // group's edge, the batch's end or the limit in one loop. The X-View
      // of a compacted hour spent ~30 % of its time in per-row Next/Fill
      // calls and heap steps before (docs/benchmarks.md).
      const int64_t* e = group_.end.data();  // ascending
      const uint32_t rows = group_.rows;
      if (desc_) {
        const auto lo = static_cast<uint32_t>(std::lower_bound(e, e + row_ + 1, limit) - e);
        const auto k = static_cast<uint32_t>(std::min<size_t>(max - n, row_ + 1 - lo));
        for (uint32_t j = 0; j < k; ++j) Fill(&out[n + j], row_ - j);
        n += k;
        if (k <= row_) {
          row_ -= k;
          end_ = e[row_];
          continue;
        }
        row_ = 0;  // the group is done: NextGroupAndRow loads the next one
      } else {
        const auto hi = static_cast<uint32_t>(std::upper_bound(e + row_, e + rows, limit) - e);
        const auto k = static_cast<uint32_t>(std::min<size_t>(max - n, hi - row_));
        for (uint32_t j = 0; j < k; ++j) Fill(&out[n + j], row_ + j);
        n += k;
        if (row_ + k < rows) {
          row_ += k;
          end_ = e[row_];
          continue;
        }
        row_ = rows - 1;
      }
      NextGroupAndRow();
    }
    return n;
  }

  void Fill(TxRow* out, uint32_t i) const {
    const DecodedGroup& g = group_;
    const uint32_t fields = f_.fields;
    out->id = DecodeFixed64(g.mapped_ids + 8 * size_t{i});
    out->end_us = g.end[i];
    out->start_us = g.end[i] - g.elapsed[i];
    out->error = g.error[i] != 0;
    auto global = [&](int c) { return ref_.to_global[c][g.dict[c][i]]; };
    if (fields & kFieldTraceId) out->trace_id = g.trace[i];
    if (fields & kFieldStatus) {
      out->status = g.status[i];
      out->error_type = p_.dicts[kDictErrorType].Get(global(kDictErrorType));
    }
    if (fields & kFieldGroups) {
      out->service_id = global(kDictService);
      out->instance_id = global(kDictInstance);
      out->endpoint_id = global(kDictEndpoint);
      out->service = p_.dicts[kDictService].Get(out->service_id);
      out->instance = p_.dicts[kDictInstance].Get(out->instance_id);
      out->endpoint = p_.dicts[kDictEndpoint].Get(out->endpoint_id);
    }
    if (fields & kFieldClient) {
      out->user = dicts_.Name(kDictUser, g.dict[kDictUser][i]);
      out->client_ip = dicts_.Name(kDictClientIp, g.dict[kDictClientIp][i]);
      out->http_method = p_.dicts[kDictMethod].Get(global(kDictMethod));
    }
    if (fields & kFieldSummary) {
      out->summary = g.summary[i];
      if (const model::Summary* d = LateDelta(part_, out->id)) AddSummary(&out->summary, *d);
    }
  }

 private:
  // Advances to the next matching row, loading groups as needed.
  void NextGroupAndRow() {
    valid_ = false;
    if (empty_) return;
    for (;;) {
      if (loaded_) {
        while (desc_ ? row_ > 0 : row_ + 1 < group_.rows) {
          row_ = desc_ ? row_ - 1 : row_ + 1;
          if (Matches(row_)) {
            valid_ = true;
            end_ = group_.end[row_];
            return;
          }
        }
        // Also consider the first position of a freshly loaded group.
      }
      if (!LoadNextGroup()) return;
      if (Matches(row_)) {
        valid_ = true;
        end_ = group_.end[row_];
        return;
      }
    }
  }

  bool LoadNextGroup() {
    const auto& groups = ref_.seg->groups();
    while (next_group_ >= 0 && next_group_ < static_cast<int64_t>(groups.size())) {
      const size_t gi = static_cast<size_t>(next_group_);
      next_group_ += desc_ ? -1 : 1;
      const Segment::Group& g = groups[gi];
      if (g.max_end < f_.from || g.min_end >= f_.to) continue;
      Status s = ref_.seg->ReadGroup(gi, &group_, f_.columns);
      if (!s.ok()) {
        errors_->Add(s);
        continue;
      }
      loaded_ = true;
      all_match_ = local_.AllMatch(g);
      row_ = desc_ ? group_.rows - 1 : 0;
      return true;
    }
    loaded_ = false;
    return false;
  }

  bool Matches(uint32_t i) const { return local_.Matches(group_, i); }

  const Project& p_;
  const Partition& part_;
  const SegmentRef& ref_;
  const ScanFilter& f_;
  const bool desc_;
  ScanErrors* const errors_;
  // User and client-IP strings, decoded on the first row that needs them
  // (Fill is const for the caller, not for this cache).
  mutable SegmentLocalDicts dicts_;
  const LocalFilter local_;
  bool empty_ = true;
  bool loaded_ = false;
  bool all_match_ = false;  // every row of the loaded group matches
  int64_t next_group_ = 0;
  DecodedGroup group_;
  uint32_t row_ = 0;
};

}  // namespace

Status SegmentedStore::Scan(ProjectId project, const TxFilter& filter, ScanOrder order,
                            const RowVisitor& visit) const {
  const Project* p = FindProject(project);
  if (p == nullptr) return Status::OK();
  std::shared_lock<RwMutex> lock(p->mu);
  ScanFilter f;
  if (!f.Compile(*p, filter)) return Status::OK();
  const bool desc = order == ScanOrder::kNewestFirst;
  const int64_t first_key = PartitionKey(f.from);
  const int64_t last_key = PartitionKey(f.to - 1);

  std::unique_ptr<TxRow[]> batch(new TxRow[kBatchRows]);
  size_t n = 0;
  bool stopped = false;
  ScanErrors errors;
  // Every source fills exactly the fields of f.fields, so the slots of the
  // reused batch never show another row's values in the other fields.
  // Fills from src up to limit (RowSource::FillRun), passing full batches on.
  auto fill = [&](RowSource& src, int64_t limit) {
    n += src.FillRun(&batch[n], kBatchRows - n, limit);
    if (n == kBatchRows) {
      n = 0;
      if (!visit(std::span<const TxRow>(batch.get(), kBatchRows))) stopped = true;
    }
  };

  // A segment source's user and client-IP strings live in its decoded
  // dictionaries (SegmentLocalDicts), which go with the source: a batch
  // holding such rows is passed on before its sources are destroyed.
  auto pass_partial = [&] {
    if ((f.fields & kFieldClient) == 0 || n == 0 || stopped) return;
    if (!visit(std::span<const TxRow>(batch.get(), n))) stopped = true;
    n = 0;
  };

  auto scan_partition = [&](const Partition& part) {
    std::vector<std::shared_ptr<MemTable>> tables = part.imm;
    if (part.mem) tables.push_back(part.mem);
    auto overlaps = [&](const SegmentRef& ref) {
      return ref.seg->rows() > 0 && ref.seg->max_end() >= f.from && ref.seg->min_end() < f.to;
    };
    auto drain = [&](RowSource& src) {
      while (src.valid() && !stopped) fill(src, std::numeric_limits<int64_t>::max());
    };
    if (!desc) {
      // One source at a time: each holds a decoded row group, and only one
      // needs to be in memory.
      for (const auto& t : tables) {
        if (t->rows.empty() || stopped) continue;
        MemSource src(*p, part, *t, f, false);
        drain(src);
      }
      for (const SegmentRef& ref : part.segments) {
        if (!overlaps(ref) || stopped) continue;
        SegmentSource src(*p, part, ref, f, false, &errors);
        drain(src);
        pass_partial();  // its rows' user strings die with src
      }
      return;
    }
    std::vector<std::unique_ptr<RowSource>> sources;
    for (const auto& t : tables) {
      if (!t->rows.empty()) sources.push_back(std::make_unique<MemSource>(*p, part, *t, f, true));
    }
    for (const SegmentRef& ref : part.segments) {
      if (overlaps(ref)) {
        sources.push_back(std::make_unique<SegmentSource>(*p, part, ref, f, true, &errors));
      }
    }
    // Merge the runs: newest end time first. The newest source gives its
    // rows down to the next source's head in one run.
    std::vector<RowSource*> heap;
    for (auto& src : sources) {
      if (src->valid()) heap.push_back(src.get());
    }
    auto older = [](const RowSource* a, const RowSource* b) { return a->end() < b->end(); };
    std::make_heap(heap.begin(), heap.end(), older);
    while (!heap.empty() && !stopped) {
      std::pop_heap(heap.begin(), heap.end(), older);
      RowSource* top = heap.back();
      fill(*top, heap.size() > 1 ? heap.front()->end() : std::numeric_limits<int64_t>::min());
      if (top->valid()) {
        std::push_heap(heap.begin(), heap.end(), older);
      } else {
        heap.pop_back();
      }
    }
    pass_partial();  // the sources' user strings die with them
  };

  if (desc) {
    for (auto it = p->parts.rbegin(); it != p->parts.rend() && !stopped; ++it) {
      if (it->first < first_key || it->first > last_key) continue;
      scan_partition(it->second);
    }
  } else {
    for (auto it = p->parts.begin(); it != p->parts.end() && !stopped; ++it) {
      if (it->first < first_key || it->first > last_key) continue;
      scan_partition(it->second);
    }
  }
  if (n > 0 && !stopped) visit(std::span<const TxRow>(batch.get(), n));
  if (errors.count > 0) {
    corrupt_chunks_.fetch_add(errors.count, std::memory_order_relaxed);
    return errors.first.Annotate("scan skipped " + std::to_string(errors.count) +
                                 " damaged row group(s)");
  }
  return Status::OK();
}

namespace {

// A decoded group's scatter columns in 9 bytes a row, or null when a value
// does not fit (a group spanning 2^32 µs or more, an elapsed time outside
// [0, 2^32) µs): such a group is decoded every time.
std::shared_ptr<const ScatterColumns> NarrowScatter(const DecodedGroup& g, int64_t min_end) {
  auto c = std::make_shared<ScatterColumns>();
  c->min_end = min_end;
  c->end_off.resize(g.rows);
  c->elapsed.resize(g.rows);
  c->error.assign(g.error.begin(), g.error.begin() + g.rows);
  bool fits = true;
  for (uint32_t i = 0; i < g.rows; ++i) {
    const uint64_t off = static_cast<uint64_t>(g.end[i] - min_end);
    const auto el = static_cast<uint64_t>(g.elapsed[i]);
    fits &= (off | el) <= UINT32_MAX;
    c->end_off[i] = static_cast<uint32_t>(off);
    c->elapsed[i] = static_cast<uint32_t>(el);
  }
  if (!fits) return nullptr;
  return c;
}

void WidenScatter(const ScatterColumns& c, DecodedGroup* g) {
  const auto n = static_cast<uint32_t>(c.end_off.size());
  g->rows = n;
  g->end.resize(n);
  g->elapsed.resize(n);
  g->error.resize(n);
  for (uint32_t i = 0; i < n; ++i) {
    g->end[i] = c.min_end + c.end_off[i];
    g->elapsed[i] = c.elapsed[i];
  }
  std::memcpy(g->error.data(), c.error.data(), n);
}

}  // namespace

std::shared_ptr<const ScatterColumns> SegmentedStore::FindScatter(uint64_t key) const {
  std::lock_guard<std::mutex> lock(scatter_mu_);
  auto it = scatter_cache_.find(key);
  if (it == scatter_cache_.end()) return nullptr;
  scatter_lru_.splice(scatter_lru_.begin(), scatter_lru_, it->second.second);
  scatter_hits_.fetch_add(1, std::memory_order_relaxed);
  return it->second.first;
}

void SegmentedStore::AddScatter(uint64_t key, std::shared_ptr<const ScatterColumns> c) const {
  std::lock_guard<std::mutex> lock(scatter_mu_);
  const size_t budget = scatter_budget_.load();  // under the lock: see SetScatterCacheBytes
  if (c->bytes() > budget || scatter_cache_.count(key)) return;  // or another reader was first
  scatter_lru_.push_front(key);
  scatter_bytes_ += c->bytes();
  scatter_cache_.emplace(key, std::make_pair(std::move(c), scatter_lru_.begin()));
  TrimScatter(budget);
}

void SegmentedStore::TrimScatter(size_t budget) const {
  while (scatter_bytes_ > budget && !scatter_lru_.empty()) {
    auto it = scatter_cache_.find(scatter_lru_.back());
    scatter_bytes_ -= it->second.first->bytes();
    scatter_cache_.erase(it);
    scatter_lru_.pop_back();
  }
}

void SegmentedStore::SetScatterCacheBytes(size_t bytes) {
  std::lock_guard<std::mutex> lock(scatter_mu_);
  scatter_budget_.store(bytes);
  TrimScatter(bytes);
}

// Like a kAny Scan, but a row group whose rows all match is handed over as
// its decoded columns: no TxRow per row and no id section read. Over a
// compacted hour this is what the binned X-View needs (end, elapsed, error)
// at the cost of the decode alone (docs/benchmarks.md).
Status SegmentedStore::ScanScatter(ProjectId project, const TxFilter& filter,
                                   const ScatterVisitor& visit) const {
  const Project* p = FindProject(project);
  if (p == nullptr) return Status::OK();
  std::shared_lock<RwMutex> lock(p->mu);
  TxFilter narrow = filter;
  narrow.fields = 0;
  ScanFilter f;
  if (!f.Compile(*p, narrow)) return Status::OK();
  const uint32_t columns = f.columns & ~(kMapIds | kReadIds);
  const int64_t first_key = PartitionKey(f.from);
  const int64_t last_key = PartitionKey(f.to - 1);
  // The cache holds end, elapsed and error only: a filter on a dictionary
  // column decodes.
  constexpr uint32_t kScatterColumns =
      ColumnBit(kColEnd) | ColumnBit(kColElapsed) | ColumnBit(kColError);
  const bool use_cache =
      (columns & ~kScatterColumns) == 0 && scatter_budget_.load(std::memory_order_relaxed) > 0;

  // Rows of memtables and of partly matching groups, collected here.
  std::vector<int64_t> end, elapsed;
  std::vector<uint8_t> error;
  bool stopped = false;
  auto pass_on = [&](bool force) {
    if (stopped || end.empty() || (!force && end.size() < kBatchRows * 16)) return;
    stopped = !visit(end, elapsed, error);
    end.clear();
    elapsed.clear();
    error.clear();
  };
  auto add = [&](int64_t e, int64_t el, bool err) {
    end.push_back(e);
    elapsed.push_back(el);
    error.push_back(err ? 1 : 0);
  };
  ScanErrors errors;
  std::unique_ptr<TxRow[]> batch(new TxRow[kBatchRows]);
  DecodedGroup g;
  for (auto it = p->parts.begin(); it != p->parts.end() && !stopped; ++it) {
    if (it->first < first_key || it->first > last_key) continue;
    const Partition& part = it->second;
    std::vector<std::shared_ptr<MemTable>> tables = part.imm;
    if (part.mem) tables.push_back(part.mem);
    for (const auto& t : tables) {
      if (t->rows.empty()) continue;
      MemSource src(*p, part, *t, f, false);
      while (src.valid() && !stopped) {
        const size_t n = src.FillRun(batch.get(), kBatchRows, std::numeric_limits<int64_t>::max());
        for (size_t i = 0; i < n; ++i) add(batch[i].end_us, batch[i].elapsed_us(), batch[i].error);
        pass_on(false);
      }
    }
    for (const SegmentRef& ref : part.segments) {
      const Segment& seg = *ref.seg;
      if (stopped || seg.rows() == 0 || seg.max_end() < f.from || seg.min_end() >= f.to) continue;
      SegmentLocalDicts dicts(seg);
      const LocalFilter local(f, ref, &dicts);
      if (!dicts.status().ok()) errors.Add(dicts.status());
      if (local.none) continue;
      for (size_t gi = 0; gi < seg.groups().size() && !stopped; ++gi) {
        const Segment::Group& group = seg.groups()[gi];
        if (group.max_end < f.from || group.min_end >= f.to) continue;
        const bool cacheable = use_cache && gi < (size_t{1} << 24);
        std::shared_ptr<const ScatterColumns> hit;
        if (cacheable) hit = FindScatter(ScatterKey(ref.seq, gi));
        if (hit) {
          WidenScatter(*hit, &g);
        } else {
          Status s = seg.ReadGroup(gi, &g, columns);
          if (!s.ok()) {
            errors.Add(s);
            continue;
          }
          if (cacheable) {
            scatter_misses_.fetch_add(1, std::memory_order_relaxed);
            if (auto c = NarrowScatter(g, group.min_end)) AddScatter(ScatterKey(ref.seq, gi), c);
          }
        }
        if (local.AllMatch(group)) {
          stopped = !visit(std::span<const int64_t>(g.end.data(), g.rows),
                           std::span<const int64_t>(g.elapsed.data(), g.rows),
                           std::span<const uint8_t>(g.error.data(), g.rows));
          continue;
        }
        for (uint32_t i = 0; i < g.rows; ++i) {
          if (local.Matches(g, i)) add(g.end[i], g.elapsed[i], g.error[i] != 0);
        }
        pass_on(false);
      }
    }
  }
  pass_on(true);
  if (errors.count > 0) {
    corrupt_chunks_.fetch_add(errors.count, std::memory_order_relaxed);
    return errors.first.Annotate("scan skipped " + std::to_string(errors.count) +
                                 " damaged row group(s)");
  }
  return Status::OK();
}

model::Transaction SegmentedStore::TxFromMem(const Project& p, const Partition& part,
                                             const MemTable& t, const MemRow& r) const {
  model::Transaction tx;
  tx.id = r.id;
  tx.trace_id = r.trace;
  tx.service = p.dicts[kDictService].Get(r.dict[kDictService]);
  tx.instance = p.dicts[kDictInstance].Get(r.dict[kDictInstance]);
  tx.endpoint = p.dicts[kDictEndpoint].Get(r.dict[kDictEndpoint]);
  tx.http_method = p.dicts[kDictMethod].Get(r.dict[kDictMethod]);
  tx.user = t.local[LocalSlot(kDictUser)].Get(r.dict[kDictUser]);
  tx.client_ip = t.local[LocalSlot(kDictClientIp)].Get(r.dict[kDictClientIp]);
  tx.error_type = p.dicts[kDictErrorType].Get(r.dict[kDictErrorType]);
  tx.start_us = r.start_us;
  tx.end_us = r.end_us;
  tx.status = r.status;
  tx.error = r.error;
  tx.summary = r.summary;
  DecodeProfile(r.profile, &tx);
  ApplyLate(part, &tx);
  return tx;
}

Status SegmentedStore::TxFromSegment(const Project& p, const Partition& part, const SegmentRef& ref,
                                     uint32_t row, model::Transaction* tx) const {
  const Segment& seg = *ref.seg;
  DecodedGroup g;
  Status s = seg.ReadGroup(seg.GroupOf(row), &g);
  std::string blob;
  if (s.ok()) s = seg.ReadProfile(row, &blob);
  if (!s.ok()) {
    corrupt_chunks_.fetch_add(1, std::memory_order_relaxed);
    return s;
  }
  const uint32_t i = row - g.first_row;
  tx->id = g.id[i];
  tx->trace_id = g.trace[i];
  auto str = [&](int c) { return std::string(p.dicts[c].Get(ref.to_global[c][g.dict[c][i]])); };
  tx->service = str(kDictService);
  tx->instance = str(kDictInstance);
  tx->endpoint = str(kDictEndpoint);
  tx->http_method = str(kDictMethod);
  tx->error_type = str(kDictErrorType);
  SegmentLocalDicts local(seg);
  tx->user = local.Name(kDictUser, g.dict[kDictUser][i]);
  tx->client_ip = local.Name(kDictClientIp, g.dict[kDictClientIp][i]);
  if (!local.status().ok()) {
    corrupt_chunks_.fetch_add(1, std::memory_order_relaxed);
    return local.status();
  }
  tx->end_us = g.end[i];
  tx->start_us = g.end[i] - g.elapsed[i];
  tx->status = g.status[i];
  tx->error = g.error[i] != 0;
  tx->summary = g.summary[i];
  if (!DecodeProfile(blob, tx)) {
    corrupt_chunks_.fetch_add(1, std::memory_order_relaxed);
    return Status::Corruption(seg.path() + ": profile of row " + std::to_string(row) +
                              " does not decode");
  }
  ApplyLate(part, tx);
  return Status::OK();
}

Result<model::Transaction> SegmentedStore::Get(ProjectId project, model::TxId id) const {
  const Project* p = FindProject(project);
  if (p != nullptr) {
    std::shared_lock<RwMutex> lock(p->mu);
    auto it = p->mem_index.find(id);
    if (it != p->mem_index.end()) {
      const Partition* part = p->FindPartition(it->second.part);
      return TxFromMem(*p, *part, *it->second.table, it->second.table->rows[it->second.row]);
    }
    const Partition* part;
    const SegmentRef* ref;
    uint32_t row;
    if (FindInSegments(*p, id, &part, &ref, &row)) {
      model::Transaction tx;
      Status s = TxFromSegment(*p, *part, *ref, row, &tx);
      if (!s.ok()) return s.Annotate("reading transaction " + model::TxIdToHex(id));
      return tx;
    }
  }
  return Status::NotFound("transaction " + model::TxIdToHex(id));
}

Result<std::vector<model::Transaction>> SegmentedStore::GetTrace(
    ProjectId project, const model::TraceId& trace) const {
  std::vector<model::Transaction> out;
  const Project* p = FindProject(project);
  if (p == nullptr) return out;
  std::shared_lock<RwMutex> lock(p->mu);
  Status first_error;
  std::vector<uint32_t> rows;
  for (const auto& [key, part] : p->parts) {
    std::vector<std::shared_ptr<MemTable>> tables = part.imm;
    if (part.mem) tables.push_back(part.mem);
    for (const auto& t : tables) {
      for (const MemRow& r : t->rows) {
        if (r.trace == trace) out.push_back(TxFromMem(*p, part, *t, r));
      }
    }
    for (const SegmentRef& ref : part.segments) {
      rows.clear();
      Status s = ref.seg->FindTrace(trace, &rows);
      for (uint32_t row : rows) {
        model::Transaction tx;
        if (s.ok()) s = TxFromSegment(*p, part, ref, row, &tx);
        if (s.ok()) out.push_back(std::move(tx));
      }
      if (!s.ok() && first_error.ok()) first_error = s;
    }
  }
  if (!first_error.ok() && out.empty()) return first_error;
  if (!first_error.ok()) LogError("trace read skipped damaged data: " + first_error.ToString());
  std::sort(out.begin(), out.end(), [](const model::Transaction& a, const model::Transaction& b) {
    return a.start_us != b.start_us ? a.start_us < b.start_us : a.id < b.id;
  });
  return out;
}

}  // namespace loupe::store::embedded_internal
