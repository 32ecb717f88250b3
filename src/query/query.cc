// Query computations over Store::Scan. Each function makes one pass over the
// matching rows (ComputeSeries makes two with group_by or an open time range;
// ListTransactions by a non-time sort reads its winners with Get), asks the
// store only for the TxRow fields it uses (TxFilter::fields), keeps per-row
// work to a few loads and adds, and allocates per result row or per group,
// never per scanned row. Timings quoted below are CPU time from
// bench/query_benchmark.cc (one hour at 1,000 TPS).
#include "query/query.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "query/xview_bins.h"

namespace loupe::query {
namespace {

using internal::XBins;
using internal::YBins;

// Value-initialization that leaves the words unwritten: the X-View's
// packed rows grow by a batch at a time and are written right after, and
// zeroing ~29 MB first was ~2.5 % of an hour's X-View (perf).
template <typename T>
struct DefaultInitAllocator : std::allocator<T> {
  template <typename U>
  struct rebind {
    using other = DefaultInitAllocator<U>;
  };
  template <typename U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <typename U, typename... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};
using PackedWords = std::vector<uint64_t, DefaultInitAllocator<uint64_t>>;

using store::ScanOrder;
using store::TxFilter;
using store::TxRow;

constexpr int64_t kOpenTo = std::numeric_limits<int64_t>::max();
constexpr size_t kMaxSeriesBuckets = 1'000'000;
constexpr size_t kMaxXViewCells = 10'000'000;

bool HasFrom(const TxFilter& f) { return f.from_us > 0; }
bool HasTo(const TxFilter& f) { return f.to_us != kOpenTo; }

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

void CopyRow(const TxRow& r, TxListRow* out) {
  out->id = r.id;
  out->trace_id = r.trace_id;
  out->service.assign(r.service);
  out->instance.assign(r.instance);
  out->endpoint.assign(r.endpoint);
  out->user.assign(r.user);
  out->client_ip.assign(r.client_ip);
  out->http_method.assign(r.http_method);
  out->error_type.assign(r.error_type);
  out->start_us = r.start_us;
  out->end_us = r.end_us;
  out->status = r.status;
  out->error = r.error;
  out->summary = r.summary;
}

void CopyTx(const model::Transaction& t, TxListRow* out) {
  out->id = t.id;
  out->trace_id = t.trace_id;
  out->service = t.service;
  out->instance = t.instance;
  out->endpoint = t.endpoint;
  out->user = t.user;
  out->client_ip = t.client_ip;
  out->http_method = t.http_method;
  out->error_type = t.error_type;
  out->start_us = t.start_us;
  out->end_us = t.end_us;
  out->status = t.status;
  out->error = t.error;
  out->summary = t.summary;
}

int64_t SortKey(const TxRow& r, TxSort sort) {
  switch (sort) {
    case TxSort::kSlowest:
      return r.elapsed_us();
    case TxSort::kSqlTime:
      return r.summary.sql_us;
    case TxSort::kExternalTime:
      return r.summary.external_us;
    case TxSort::kNewest:
      return r.end_us;
  }
  return 0;
}

// Ranking of the bounded heap: larger key first, then newer, then larger id.
struct Ranked {
  int64_t key;
  int64_t end_us;
  model::TxId id;
};
bool Before(const Ranked& a, const Ranked& b) {
  if (a.key != b.key) return a.key > b.key;
  if (a.end_us != b.end_us) return a.end_us > b.end_us;
  return a.id > b.id;
}

// Nearest-rank percentile of v (which it partially reorders): the value at
// rank ceil(p * n), 1-based. `from` is a prefix already known to hold values
// <= the answer (from an earlier, smaller percentile).
int64_t Percentile(std::vector<int64_t>& v, double p, size_t from) {
  size_t n = v.size();
  auto rank = static_cast<size_t>(std::ceil(p * static_cast<double>(n) - 1e-9));
  size_t idx = std::clamp<size_t>(rank, 1, n) - 1;
  from = std::min(from, idx);
  std::nth_element(v.begin() + static_cast<ptrdiff_t>(from),
                   v.begin() + static_cast<ptrdiff_t>(idx), v.end());
  return v[idx];
}

// The end-time range [from, to) of the rows matching f (from > to if none).
Status DataRange(const store::Store& s, store::ProjectId p, const TxFilter& f, int64_t* from,
                 int64_t* to) {
  int64_t lo = std::numeric_limits<int64_t>::max(), hi = std::numeric_limits<int64_t>::min();
  TxFilter narrow = f;
  narrow.fields = 0;
  Status st = s.Scan(p, narrow, ScanOrder::kAny, [&](std::span<const TxRow> rows) {
    for (const TxRow& r : rows) {
      lo = std::min(lo, r.end_us);
      hi = std::max(hi, r.end_us);
    }
    return true;
  });
  *from = lo;
  *to = hi == std::numeric_limits<int64_t>::min() ? hi : hi + 1;
  return st;
}

template <typename Row>
uint32_t GroupId(const Row& r, GroupBy g) {
  switch (g) {
    case GroupBy::kService:
      return r.service_id;
    case GroupBy::kInstance:
      return r.instance_id;
    case GroupBy::kEndpoint:
      return r.endpoint_id;
    case GroupBy::kNone:
      return 0;
  }
  return 0;
}

template <typename Row>
std::string_view GroupName(const Row& r, GroupBy g) {
  switch (g) {
    case GroupBy::kService:
      return r.service;
    case GroupBy::kInstance:
      return r.instance;
    case GroupBy::kEndpoint:
      return r.endpoint;
    case GroupBy::kNone:
      return {};
  }
  return {};
}

struct Buckets {
  std::vector<uint64_t> count, errors;
  std::vector<int64_t> elapsed_sum;
  explicit Buckets(size_t n) : count(n), errors(n), elapsed_sum(n) {}
};

// ---- rollups or raw rows ----
//
// A range is answered from whole rollup buckets where it can be and from raw
// rows at its ragged edges: [from, to) takes the coarsest allowed cells over
// the whole buckets inside it, then the next finer ones over what is left at
// each end, and raw rows for the sub-second rest — a few hundred rows at
// most, so the cost is the cells'.

enum class Source { kRaw, kSecond, kMinute, kFiveMinutes };
struct Piece {
  int64_t from, to;
  Source src;
};

int64_t CeilTo(int64_t t, int64_t step) { return -FloorDiv(-t, step) * step; }

int64_t SourceStep(Source s) {
  switch (s) {
    case Source::kSecond:
      return store::kRollupSecondUs;
    case Source::kMinute:
      return store::kRollupMinuteUs;
    case Source::kFiveMinutes:
      return store::kRollupFiveMinutesUs;
    case Source::kRaw:
      break;
  }
  return 0;
}

// levels: allowed cell sources, coarsest first.
void CoverWith(int64_t from, int64_t to, std::span<const Source> levels, std::vector<Piece>* out) {
  if (from >= to) return;
  if (levels.empty()) {
    out->push_back({from, to, Source::kRaw});
    return;
  }
  const int64_t step = SourceStep(levels[0]);
  const int64_t a = CeilTo(from, step), b = FloorDiv(to, step) * step;
  if (a >= b) {
    CoverWith(from, to, levels.subspan(1), out);
    return;
  }
  CoverWith(from, a, levels.subspan(1), out);
  out->push_back({a, b, levels[0]});
  CoverWith(b, to, levels.subspan(1), out);
}

std::vector<Piece> Cover(int64_t from, int64_t to, std::vector<Source> levels) {
  std::vector<Piece> out;
  CoverWith(from, to, levels, &out);
  return out;
}

// Rollups can answer a filter on time, service, instance and endpoint only.
bool RollupsCanAnswer(const store::Store& s, const TxFilter& f) {
  return s.has_rollups() && f.user.empty() && f.client_ip.empty() && f.min_elapsed_us <= 0 &&
         f.max_elapsed_us == std::numeric_limits<int64_t>::max() && !f.errors_only;
}

const char* SourceName(const std::vector<Piece>& pieces) {
  bool raw = false, rollups = false;
  for (const Piece& pc : pieces) (pc.src == Source::kRaw ? raw : rollups) = true;
  return rollups ? (raw ? "rollups+raw" : "rollups") : "raw";
}

// Visits every piece: raw rows through on_rows(span<const TxRow>), rollup
// cells through on_cells(span<const RollupRow>). Either returns false to stop.
template <typename OnRows, typename OnCells>
Status VisitPieces(const store::Store& s, store::ProjectId p, const TxFilter& f,
                   const std::vector<Piece>& pieces, bool with_hist, OnRows&& on_rows,
                   OnCells&& on_cells) {
  for (const Piece& pc : pieces) {
    if (pc.src == Source::kRaw) {
      TxFilter edge = f;
      edge.from_us = pc.from;
      edge.to_us = pc.to;
      LOUPE_RETURN_IF_ERROR(s.Scan(p, edge, ScanOrder::kAny, on_rows));
      continue;
    }
    store::RollupFilter rf;
    rf.from_us = pc.from;
    rf.to_us = pc.to;
    rf.service = f.service;
    rf.instance = f.instance;
    rf.endpoint = f.endpoint;
    rf.with_hist = with_hist;
    const auto res = pc.src == Source::kSecond   ? store::RollupResolution::kSecond
                     : pc.src == Source::kMinute ? store::RollupResolution::kMinute
                                                 : store::RollupResolution::kFiveMinutes;
    LOUPE_RETURN_IF_ERROR(s.ScanRollups(p, res, rf, on_cells));
  }
  return Status::OK();
}

}  // namespace

Result<TxList> ListTransactions(const store::Store& s, store::ProjectId p, const TxFilter& f,
                                size_t limit, TxSort sort) {
  TxList out;
  if (sort == TxSort::kNewest) {
    out.rows.reserve(std::min<size_t>(limit, 4096));
    TxFilter all = f;
    all.fields = store::kFieldAll;
    Status st = s.Scan(p, all, ScanOrder::kNewestFirst, [&](std::span<const TxRow> rows) {
      for (const TxRow& r : rows) {
        if (out.rows.size() == limit) {
          out.truncated = true;
          return false;
        }
        CopyRow(r, &out.rows.emplace_back());
      }
      return true;
    });
    if (!st.ok()) return st.Annotate("listing transactions");
    return out;
  }

  // Top `limit` by key in a bounded min-heap (worst on top) over a narrow
  // scan (ids, times and the summary only); then the winners are read by id.
  // Copying full rows while ranking made this a full-width scan: 82 ms CPU for
  // an hour at 1,000 TPS.
  TxFilter narrow = f;
  narrow.fields = sort == TxSort::kSlowest ? 0u : uint32_t{store::kFieldSummary};
  std::vector<Ranked> heap;
  heap.reserve(std::min<size_t>(limit, 1 << 16));
  uint64_t matched = 0;
  Status st = s.Scan(p, narrow, ScanOrder::kAny, [&](std::span<const TxRow> rows) {
    matched += rows.size();
    if (limit == 0) return true;
    for (const TxRow& r : rows) {
      Ranked c{SortKey(r, sort), r.end_us, r.id};
      if (heap.size() < limit) {
        heap.push_back(c);
        std::push_heap(heap.begin(), heap.end(), Before);
      } else if (Before(c, heap.front())) {
        std::pop_heap(heap.begin(), heap.end(), Before);
        heap.back() = c;
        std::push_heap(heap.begin(), heap.end(), Before);
      }
    }
    return true;
  });
  if (!st.ok()) return st.Annotate("listing transactions");
  std::sort_heap(heap.begin(), heap.end(), Before);
  out.rows.reserve(heap.size());
  for (const Ranked& r : heap) {
    Result<model::Transaction> tx = s.Get(p, r.id);
    if (tx.ok()) {
      CopyTx(*tx, &out.rows.emplace_back());
    } else if (tx.status().code() != Status::Code::kNotFound) {  // NotFound: evicted meanwhile
      return tx.status().Annotate("listing transactions");
    }
  }
  out.truncated = matched > limit;
  return out;
}

namespace {

// Counts packed rows (x << 48 | error << 47 | elapsed) into b->count and
// b->errors. Errors (~1 % of rows) are added behind a branch: an add of 0
// or 1 per row loaded and stored a second counter for every row (~10 % of
// this loop). Tried: four counters per cell, rows round-robin, against
// increments of one counter waiting for each other: slower.
template <typename BinFn>
void CountPacked(const PackedWords& packed, size_t y_bins, BinFn&& bin, XViewBins* b) {
  constexpr uint64_t kElMask = (uint64_t{1} << 47) - 1;
  uint32_t* const count = b->count.data();
  uint32_t* const errors = b->errors.data();
  for (const uint64_t w : packed) {
    const size_t cell = (w >> 48) * y_bins + bin(static_cast<int64_t>(w & kElMask));
    ++count[cell];
    if (w & (uint64_t{1} << 47)) [[unlikely]]
      ++errors[cell];
  }
}

}  // namespace

Result<XView> ComputeXView(const store::Store& s, store::ProjectId p, const TxFilter& f,
                           const XViewOptions& o) {
  if (o.x_bins < 1 || o.y_bins < 1 ||
      static_cast<size_t>(o.x_bins) * static_cast<size_t>(o.y_bins) > kMaxXViewCells) {
    return Status::InvalidArgument("x_bins and y_bins must be >= 1 with at most 10M cells");
  }
  XView out;
  XViewPoints& pts = out.points;
  XViewBins& b = out.bins;
  b.x_bins = o.x_bins;
  b.y_bins = o.y_bins;
  b.from_us = f.from_us;
  b.to_us = f.to_us;
  // Past max_points with a known x range, a row is kept as one word
  // (x << 48 | error << 47 | elapsed) until the y range is known: 8 bytes a
  // row instead of 17 (end, elapsed, error), which cut an hour's X-View by a
  // third. With an open range the x range is the data's: keep end times.
  constexpr uint64_t kElMask = (uint64_t{1} << 47) - 1;
  const bool pack = HasFrom(f) && HasTo(f) && o.x_bins < (1 << 16);
  XBins xbins(pack ? f.from_us : 0, pack ? f.to_us : 1, o.x_bins);
  // Reused across calls on a thread: growing a fresh 29 MB vector per query
  // spent ~10 % in page faults and copies.
  thread_local PackedWords tl_packed;
  PackedWords packed;
  packed.swap(tl_packed);
  packed.clear();
  struct Return {  // hands the buffer back unless it is very large
    PackedWords& from;
    ~Return() {
      if (from.capacity() <= (size_t{64} << 20) / sizeof(uint64_t)) tl_packed.swap(from);
    }
  } give_back{packed};
  int64_t min_el = std::numeric_limits<int64_t>::max(), max_el = 0;
  int64_t min_end = std::numeric_limits<int64_t>::max(), max_end = 0;
  TxFilter narrow = f;
  narrow.fields = 0;
  // Exact points first, newest first, so they come out in end order after
  // one reverse. Past max_points the row scan stops and the grid comes from
  // a second, columnar pass over everything (Store::ScanScatter): the rows
  // read twice are at most max_points, and the grid's pass needs no TxRow,
  // id or order (over a compacted hour the row scan with its visitor was
  // ~40 % of the X-View: docs/benchmarks.md).
  Status st = s.Scan(p, narrow, ScanOrder::kNewestFirst, [&](std::span<const TxRow> rows) {
    for (const TxRow& r : rows) {
      pts.id.push_back(r.id);
      pts.end_us.push_back(r.end_us);
      pts.elapsed_us.push_back(r.elapsed_us());
      pts.error.push_back(r.error ? 1 : 0);
    }
    out.total += rows.size();
    if (out.total > o.max_points) {
      out.binned = true;
      return false;
    }
    return true;
  });
  if (!st.ok()) return st.Annotate("computing x-view");

  if (!out.binned) {
    std::reverse(pts.id.begin(), pts.id.end());
    std::reverse(pts.end_us.begin(), pts.end_us.end());
    std::reverse(pts.elapsed_us.begin(), pts.elapsed_us.end());
    std::reverse(pts.error.begin(), pts.error.end());
    b = {};
    return out;
  }
  pts = {};
  out.total = 0;
  int cur_x = 0;
  auto bin_batch = [&](std::span<const int64_t> end, std::span<const int64_t> elapsed,
                       std::span<const uint8_t> error) {
    const size_t n = end.size();
    out.total += n;
    int64_t lo = min_el, hi = max_el;
    if (pack) {
      // Locals and a raw output pointer keep the loop state in registers
      // (the stores into `packed` may alias it otherwise).
      const size_t base = packed.size();
      packed.resize(base + n);
      uint64_t* w = packed.data() + base;
      // Batches of the embedded engine hold runs of ascending end times (a
      // row group, a memtable's order): keep the previous row's cell while
      // the row falls in it (two compares) and compute it otherwise
      // (XBins::Bin per row was ~half of this loop).
      // The cell's bounds live in locals (Lower() loads per row were ~10 %
      // of this loop).
      int x = cur_x;
      auto bounds = [&](int64_t* x_lo, int64_t* x_hi, uint64_t* xw) {
        *x_lo = x > 0 ? xbins.Lower(x) : std::numeric_limits<int64_t>::min();
        *x_hi = x + 1 < o.x_bins ? xbins.Lower(x + 1) : std::numeric_limits<int64_t>::max();
        *xw = static_cast<uint64_t>(x) << 48;
      };
      int64_t x_lo, x_hi;
      uint64_t xw;
      bounds(&x_lo, &x_hi, &xw);
      for (size_t i = 0; i < n; ++i) {
        const int64_t t = end[i];
        if (t < x_lo || t >= x_hi) [[unlikely]] {
          x = xbins.Bin(t);
          bounds(&x_lo, &x_hi, &xw);
        }
        const int64_t el = elapsed[i];
        lo = std::min(lo, el);
        hi = std::max(hi, el);
        const auto e = static_cast<uint64_t>(std::clamp<int64_t>(el, 0, kElMask));
        w[i] = xw | uint64_t{error[i] != 0} << 47 | e;
      }
      cur_x = x;
    } else {
      for (size_t i = 0; i < n; ++i) {
        lo = std::min(lo, elapsed[i]);
        hi = std::max(hi, elapsed[i]);
        min_end = std::min(min_end, end[i]);
        max_end = std::max(max_end, end[i]);
      }
      pts.end_us.insert(pts.end_us.end(), end.begin(), end.end());
      pts.elapsed_us.insert(pts.elapsed_us.end(), elapsed.begin(), elapsed.end());
      pts.error.insert(pts.error.end(), error.begin(), error.end());
    }
    min_el = lo;
    max_el = hi;
    return true;
  };
  st = s.ScanScatter(p, narrow, bin_batch);
  if (!st.ok()) return st.Annotate("computing x-view");

  if (!HasFrom(f)) b.from_us = min_end;
  if (!HasTo(f)) b.to_us = max_end + 1;
  b.y_min_ms = std::max(0.1, static_cast<double>(min_el) / 1000.0);
  b.y_max_ms = static_cast<double>(max_el) / 1000.0;
  if (b.y_max_ms <= b.y_min_ms) b.y_max_ms = b.y_min_ms * 10;
  b.count.assign(static_cast<size_t>(o.x_bins) * o.y_bins, 0);
  b.errors.assign(b.count.size(), 0);
  const YBins ybins(b.y_min_ms * 1000.0, b.y_max_ms * 1000.0, o.y_bins);
  const auto y_bins = static_cast<size_t>(o.y_bins);
  if (ybins.one_step()) {
    CountPacked(
        packed, y_bins, [&](int64_t v) { return ybins.BinOneStep(v); }, &b);
  } else {
    CountPacked(
        packed, y_bins, [&](int64_t v) { return ybins.BinLoop(v); }, &b);
  }
  if (!pts.end_us.empty()) xbins = XBins(b.from_us, b.to_us, o.x_bins);
  for (size_t i = 0; i < pts.end_us.size(); ++i) {
    size_t cell =
        static_cast<size_t>(xbins.Bin(pts.end_us[i])) * y_bins + ybins.Bin(pts.elapsed_us[i]);
    ++b.count[cell];
    b.errors[cell] += pts.error[i];
  }
  pts = {};
  return out;
}

namespace {

// Accumulates count, errors and elapsed sums per line and bucket into
// out->acc, choosing the max_groups largest groups first (a pass over the
// totals) and folding the rest into "(other)".
struct SeriesAcc {
  std::vector<Buckets> lines;
};

// floor(off / step) by a multiply, corrected by one step either way: a
// 64-bit division per row was a third of an hour's series.
inline int64_t BucketOf(int64_t off, int64_t step_us, double inv_step) {
  auto b = static_cast<int64_t>(static_cast<double>(off) * inv_step);
  b -= b * step_us > off;
  b += (b + 1) * step_us <= off;
  return b;
}

// Grouped series in one pass: per-group buckets for every group met, then
// the max_groups largest lines and "(other)". Sets *too_big (and stops)
// when the groups would pass kSeriesOnePassGroups or groups × buckets
// max_cells; the caller then makes two passes (totals first) in bounded
// memory. One pass halves the cost of a
// day grouped by endpoint from rollups (bench/rollup_benchmark.cc).
Status FillGroupedOnePass(const store::Store& s, store::ProjectId p, const TxFilter& f,
                          const std::vector<Piece>& pieces, int64_t step_us, GroupBy group_by,
                          size_t max_groups, size_t max_cells, std::vector<Buckets>* acc,
                          Series* out, bool* too_big) {
  const size_t buckets = out->buckets;
  std::vector<std::unique_ptr<Buckets>> by_group;
  std::vector<std::string> names;
  std::vector<uint64_t> totals;
  size_t groups = 0;
  *too_big = false;
  auto slot = [&](const auto& r) -> Buckets* {
    const uint32_t g = GroupId(r, group_by);
    if (g >= by_group.size()) {
      by_group.resize(g + 1);
      names.resize(g + 1);
      totals.resize(g + 1);
    }
    if (!by_group[g]) {
      if (groups + 1 > kSeriesOnePassGroups || (groups + 1) * buckets > max_cells) {
        *too_big = true;
        return nullptr;
      }
      by_group[g] = std::make_unique<Buckets>(buckets);
      names[g] = GroupName(r, group_by);
      ++groups;
      out->peak_bucket_arrays = std::max(out->peak_bucket_arrays, groups);
    }
    return by_group[g].get();
  };
  const int64_t from = out->from_us;
  const double inv_step = 1.0 / static_cast<double>(step_us);
  LOUPE_RETURN_IF_ERROR(VisitPieces(
      s, p, f, pieces, false,
      [&](std::span<const TxRow> rows) {
        for (const TxRow& r : rows) {
          Buckets* a = slot(r);
          if (a == nullptr) return false;
          const int64_t b = BucketOf(r.end_us - from, step_us, inv_step);
          ++a->count[b];
          a->errors[b] += r.error;
          a->elapsed_sum[b] += r.elapsed_us();
          ++totals[GroupId(r, group_by)];
        }
        return true;
      },
      [&](std::span<const store::RollupRow> cells) {
        for (const store::RollupRow& c : cells) {
          Buckets* a = slot(c);
          if (a == nullptr) return false;
          const auto b = static_cast<size_t>((c.bucket_us - from) / step_us);
          a->count[b] += c.counts->count;
          a->errors[b] += c.counts->errors;
          a->elapsed_sum[b] += c.counts->elapsed_sum_us;
          totals[GroupId(c, group_by)] += c.counts->count;
        }
        return true;
      }));
  if (*too_big) return Status::OK();
  std::vector<uint32_t> seen;
  for (uint32_t g = 0; g < by_group.size(); ++g) {
    if (by_group[g]) seen.push_back(g);
  }
  std::sort(seen.begin(), seen.end(), [&](uint32_t a, uint32_t b) {
    return totals[a] != totals[b] ? totals[a] > totals[b] : names[a] < names[b];
  });
  for (size_t i = 0; i < seen.size(); ++i) {
    Buckets& g = *by_group[seen[i]];
    if (i < max_groups) {
      out->lines.push_back({names[seen[i]], {}});
      acc->push_back(std::move(g));
      continue;
    }
    if (i == max_groups) {
      out->lines.push_back({"(other)", {}});
      acc->emplace_back(buckets);
      out->peak_bucket_arrays = std::max(out->peak_bucket_arrays, groups + 1);
    }
    Buckets& o = acc->back();
    for (size_t b = 0; b < buckets; ++b) {
      o.count[b] += g.count[b];
      o.errors[b] += g.errors[b];
      o.elapsed_sum[b] += g.elapsed_sum[b];
    }
  }
  return Status::OK();
}

Status FillSeries(const store::Store& s, store::ProjectId p, const TxFilter& f,
                  const std::vector<Piece>& pieces, int64_t step_us, GroupBy group_by,
                  size_t max_groups, size_t one_pass_cells, std::vector<Buckets>* acc_out,
                  Series* out) {
  const size_t buckets = out->buckets;
  std::vector<Buckets>& acc = *acc_out;
  acc.clear();
  if (group_by != GroupBy::kNone) {
    bool too_big = false;
    LOUPE_RETURN_IF_ERROR(FillGroupedOnePass(s, p, f, pieces, step_us, group_by, max_groups,
                                             one_pass_cells, acc_out, out, &too_big));
    if (!too_big) return Status::OK();
    acc.clear();
    out->lines.clear();
  }
  std::vector<int32_t> line_of;  // by group id
  int32_t other = -1;
  if (group_by == GroupBy::kNone) {
    acc.emplace_back(buckets);
    out->lines.push_back({});
  } else {
    // Pass 1: totals per group pick the max_groups largest lines.
    std::vector<uint64_t> totals;
    std::vector<std::string> names;
    auto count = [&](const auto& r, uint64_t n) {
      uint32_t g = GroupId(r, group_by);
      if (g >= totals.size()) {
        totals.resize(g + 1);
        names.resize(g + 1);
      }
      if (totals[g] == 0) names[g] = GroupName(r, group_by);
      totals[g] += n;
    };
    LOUPE_RETURN_IF_ERROR(VisitPieces(
        s, p, f, pieces, false,
        [&](std::span<const TxRow> rows) {
          for (const TxRow& r : rows) count(r, 1);
          return true;
        },
        [&](std::span<const store::RollupRow> cells) {
          for (const store::RollupRow& c : cells) count(c, c.counts->count);
          return true;
        }));
    std::vector<uint32_t> seen;
    for (uint32_t g = 0; g < totals.size(); ++g) {
      if (totals[g] > 0) seen.push_back(g);
    }
    std::sort(seen.begin(), seen.end(), [&](uint32_t a, uint32_t b) {
      return totals[a] != totals[b] ? totals[a] > totals[b] : names[a] < names[b];
    });
    line_of.assign(totals.size(), -1);
    for (size_t i = 0; i < seen.size() && i < max_groups; ++i) {
      line_of[seen[i]] = static_cast<int32_t>(i);
      out->lines.push_back({names[seen[i]], {}});
      acc.emplace_back(buckets);
    }
    if (seen.size() > max_groups) {
      other = static_cast<int32_t>(acc.size());
      out->lines.push_back({"(other)", {}});
      acc.emplace_back(buckets);
    }
  }

  // (A group born between the passes may still add "(other)".)
  out->peak_bucket_arrays = std::max(
      out->peak_bucket_arrays, acc.size() + (group_by != GroupBy::kNone && other < 0 ? 1 : 0));
  auto line_for = [&](const auto& r) -> size_t {
    if (group_by == GroupBy::kNone) return 0;
    uint32_t g = GroupId(r, group_by);
    int32_t l = g < line_of.size() ? line_of[g] : -1;
    if (l < 0) {
      if (other < 0) {  // a group born between the two passes
        other = static_cast<int32_t>(acc.size());
        out->lines.push_back({"(other)", {}});
        acc.emplace_back(buckets);
      }
      l = other;
    }
    return static_cast<size_t>(l);
  };
  const int64_t from = out->from_us;
  const double inv_step = 1.0 / static_cast<double>(step_us);
  return VisitPieces(
      s, p, f, pieces, false,
      [&](std::span<const TxRow> rows) {
        for (const TxRow& r : rows) {
          // floor(off / step) by a multiply, corrected by one step either way:
          // a 64-bit division per row was a third of an hour's series.
          const int64_t off = r.end_us - from;
          auto b = static_cast<int64_t>(static_cast<double>(off) * inv_step);
          b -= b * step_us > off;
          b += (b + 1) * step_us <= off;
          Buckets& a = acc[line_for(r)];
          ++a.count[b];
          a.errors[b] += r.error;
          a.elapsed_sum[b] += r.elapsed_us();
        }
        return true;
      },
      [&](std::span<const store::RollupRow> cells) {
        for (const store::RollupRow& c : cells) {
          const auto b = static_cast<size_t>((c.bucket_us - from) / step_us);
          Buckets& a = acc[line_for(c)];
          a.count[b] += c.counts->count;
          a.errors[b] += c.counts->errors;
          a.elapsed_sum[b] += c.counts->elapsed_sum_us;
        }
        return true;
      });
}

void FinishSeries(Metric metric, const std::vector<Buckets>& acc, Series* out) {
  const double step_s = static_cast<double>(out->step_us) / 1e6;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (size_t l = 0; l < acc.size(); ++l) {
    std::vector<double>& v = out->lines[l].values;
    const Buckets& a = acc[l];
    v.resize(out->buckets);
    for (size_t b = 0; b < out->buckets; ++b) {
      auto c = static_cast<double>(a.count[b]);
      switch (metric) {
        case Metric::kTps:
          v[b] = c / step_s;
          break;
        case Metric::kCount:
          v[b] = c;
          break;
        case Metric::kErrors:
          v[b] = static_cast<double>(a.errors[b]);
          break;
        case Metric::kResponseTime:
          v[b] = a.count[b] ? static_cast<double>(a.elapsed_sum[b]) / c / 1000.0 : nan;
          break;
        case Metric::kErrorRate:
          v[b] = a.count[b] ? static_cast<double>(a.errors[b]) * 100.0 / c : nan;
          break;
        case Metric::kUsers:
          break;
      }
    }
  }
}

// Distinct users per bucket from the hourly sketches: each bucket is the
// union of the hours it covers; hours cut by the range's ends count whole.
Result<Series> ComputeUsers(const store::Store& s, store::ProjectId p, const TxFilter& f,
                            int64_t step_us, GroupBy group_by, size_t max_groups) {
  if (!s.has_rollups()) return Status::InvalidArgument("users needs a store with rollups");
  if (step_us % store::kRollupHourUs != 0) {
    return Status::InvalidArgument("users is counted per hour: step must be a multiple of 3600 s");
  }
  if (group_by != GroupBy::kNone && group_by != GroupBy::kService) {
    return Status::InvalidArgument("users can be grouped by service only");
  }
  if (!f.instance.empty() || !f.endpoint.empty() || !RollupsCanAnswer(s, f)) {
    return Status::InvalidArgument("users can be filtered by service only");
  }
  if (!HasFrom(f) || !HasTo(f)) return Status::InvalidArgument("users needs from and to");
  Series out;
  out.step_us = step_us;
  out.source = "rollups";
  out.from_us = FloorDiv(f.from_us, step_us) * step_us;
  const int64_t to = CeilTo(f.to_us, store::kRollupHourUs);
  if (f.from_us >= f.to_us) {
    if (group_by == GroupBy::kNone) out.lines.push_back({});
    return out;
  }
  const auto buckets = static_cast<size_t>((to - out.from_us + step_us - 1) / step_us);
  if (buckets > kMaxSeriesBuckets) return Status::InvalidArgument("step too small for the range");
  out.buckets = buckets;
  // Sketches per (group, bucket); groups by service id.
  std::map<uint32_t, std::pair<std::string, std::vector<std::optional<HyperLogLog>>>> groups;
  store::RollupFilter rf;
  rf.from_us = FloorDiv(f.from_us, store::kRollupHourUs) * store::kRollupHourUs;
  rf.to_us = to;
  rf.service = f.service;
  LOUPE_RETURN_IF_ERROR(s.ScanUsers(p, rf, [&](std::span<const store::UsersRow> rows) {
    for (const store::UsersRow& r : rows) {
      const uint32_t g = group_by == GroupBy::kNone ? 0 : r.service_id;
      auto& [name, sketches] = groups[g];
      if (sketches.empty()) {
        sketches.resize(buckets);
        if (group_by != GroupBy::kNone) name = r.service;
      }
      auto& slot = sketches[static_cast<size_t>((r.hour_us - out.from_us) / step_us)];
      if (!slot) slot.emplace(r.users->precision());
      slot->Merge(*r.users);
    }
    return true;
  }));
  struct Line {
    std::string name;
    std::vector<double> values;
    double total = 0;
  };
  std::vector<Line> lines;
  for (auto& [g, entry] : groups) {
    Line& l = lines.emplace_back();
    l.name = entry.first;
    l.values.resize(buckets);
    for (size_t b = 0; b < buckets; ++b) {
      l.values[b] = entry.second[b] ? std::round(entry.second[b]->Estimate()) : 0;
      l.total += l.values[b];
    }
  }
  if (group_by == GroupBy::kNone) {
    out.lines.push_back({"", lines.empty() ? std::vector<double>(buckets) : lines[0].values});
    return out;
  }
  std::sort(lines.begin(), lines.end(), [](const Line& a, const Line& b) {
    return a.total != b.total ? a.total > b.total : a.name < b.name;
  });
  // Distinct users do not add up across services: past max_groups the rest
  // are left out rather than folded.
  for (size_t i = 0; i < lines.size() && i < max_groups; ++i) {
    out.lines.push_back({std::move(lines[i].name), std::move(lines[i].values)});
  }
  return out;
}

}  // namespace

Result<Series> ComputeSeries(const store::Store& s, store::ProjectId p, const TxFilter& filter,
                             Metric metric, int64_t step_us, GroupBy group_by, size_t max_groups,
                             size_t one_pass_cells) {
  if (step_us <= 0) return Status::InvalidArgument("step must be positive");
  if (metric == Metric::kUsers) return ComputeUsers(s, p, filter, step_us, group_by, max_groups);
  TxFilter f = filter;
  f.fields = group_by == GroupBy::kNone ? 0u : uint32_t{store::kFieldGroups};
  if (!HasFrom(f) || !HasTo(f)) {
    int64_t lo, hi;
    LOUPE_RETURN_IF_ERROR(DataRange(s, p, f, &lo, &hi));
    if (!HasFrom(f)) f.from_us = lo;
    if (!HasTo(f)) f.to_us = hi;
  }
  Series out;
  out.step_us = step_us;
  out.source = "raw";
  if (f.from_us >= f.to_us) {  // nothing matched an open range, or an empty range
    out.from_us = HasFrom(filter) ? FloorDiv(filter.from_us, step_us) * step_us : 0;
    if (group_by == GroupBy::kNone) out.lines.push_back({});
    return out;
  }
  out.from_us = FloorDiv(f.from_us, step_us) * step_us;
  const uint64_t span = static_cast<uint64_t>(f.to_us) - static_cast<uint64_t>(out.from_us);
  const uint64_t buckets = span / step_us + (span % step_us != 0);
  if (buckets > kMaxSeriesBuckets) {
    return Status::InvalidArgument("step too small for the range (over 1,000,000 buckets)");
  }
  out.buckets = buckets;

  // Whole rollup buckets fall into one series bucket when the step is a
  // multiple of the rollup step (series buckets are aligned to the step).
  // Without the endpoint dimension, minute cells (per service and instance)
  // are the cheapest; with it, five-minute cells; one-second cells for the
  // rest.
  std::vector<Source> levels;
  if (RollupsCanAnswer(s, f) && step_us % store::kRollupSecondUs == 0) {
    const bool by_endpoint = group_by == GroupBy::kEndpoint || !f.endpoint.empty();
    if (!by_endpoint && step_us % store::kRollupMinuteUs == 0) {
      levels.push_back(Source::kMinute);
    } else if (by_endpoint && step_us % store::kRollupFiveMinutesUs == 0) {
      levels.push_back(Source::kFiveMinutes);
    }
    levels.push_back(Source::kSecond);
  }
  std::vector<Piece> pieces = Cover(f.from_us, f.to_us, levels);
  std::vector<Buckets> acc;
  Status st =
      FillSeries(s, p, f, pieces, step_us, group_by, max_groups, one_pass_cells, &acc, &out);
  if (!st.ok() && SourceName(pieces) != std::string_view("raw")) {
    // A damaged rollup file: the raw rows still answer.
    pieces = {{f.from_us, f.to_us, Source::kRaw}};
    out.lines.clear();
    st = FillSeries(s, p, f, pieces, step_us, group_by, max_groups, one_pass_cells, &acc, &out);
  }
  LOUPE_RETURN_IF_ERROR(st);
  out.source = SourceName(pieces);
  FinishSeries(metric, acc, &out);
  return out;
}

namespace {

struct EndpointAcc {
  std::string service, endpoint;
  uint64_t count = 0, errors = 0, sql_count = 0, ext_count = 0;
  int64_t el_sum = 0, el_max = std::numeric_limits<int64_t>::min(), sql_us = 0, ext_us = 0;
  std::vector<int64_t> elapsed;  // raw rows
  // Rollup cells' histograms, dense by bin (a few KiB per group; merging
  // sparse bins allocated per cell and was most of an hour's cost).
  std::vector<uint64_t> hist;
};

constexpr size_t kDenseBins = 64 * store::kBinsPerOctave;

Status FillEndpoints(const store::Store& s, store::ProjectId p, const TxFilter& f,
                     const std::vector<Piece>& pieces, std::vector<EndpointAcc>* out) {
  std::vector<EndpointAcc>& groups = *out;
  groups.clear();
  // (service, endpoint) → group: a direct slot per endpoint id for the first
  // service seen with it, a hash map for the (rare) others.
  struct Slot {
    uint32_t service = 0;
    int32_t group = -1;
  };
  std::vector<Slot> by_endpoint;
  std::unordered_map<uint64_t, uint32_t> spill;
  auto group_of = [&](const auto& r) -> EndpointAcc& {
    if (r.endpoint_id >= by_endpoint.size()) by_endpoint.resize(r.endpoint_id + 1);
    Slot& slot = by_endpoint[r.endpoint_id];
    if (slot.group >= 0 && slot.service == r.service_id) return groups[slot.group];
    const bool fresh = slot.group < 0;
    const uint64_t key = static_cast<uint64_t>(r.service_id) << 32 | r.endpoint_id;
    auto it = fresh ? spill.end() : spill.find(key);
    if (it != spill.end()) return groups[it->second];
    const auto g = static_cast<uint32_t>(groups.size());
    EndpointAcc& a = groups.emplace_back();
    a.service = r.service;
    a.endpoint = r.endpoint;
    if (fresh) {
      slot = {r.service_id, static_cast<int32_t>(g)};
    } else {
      spill.emplace(key, g);
    }
    return a;
  };
  TxFilter narrow = f;
  narrow.fields = store::kFieldGroups | store::kFieldSummary;
  return VisitPieces(
      s, p, narrow, pieces, true,
      [&](std::span<const TxRow> rows) {
        for (const TxRow& r : rows) {
          EndpointAcc& a = group_of(r);
          int64_t el = r.elapsed_us();
          ++a.count;
          a.errors += r.error;
          a.el_sum += el;
          a.el_max = std::max(a.el_max, el);
          a.sql_count += r.summary.sql_count;
          a.sql_us += r.summary.sql_us;
          a.ext_count += r.summary.external_count;
          a.ext_us += r.summary.external_us;
          a.elapsed.push_back(el);
        }
        return true;
      },
      [&](std::span<const store::RollupRow> cells) {
        for (const store::RollupRow& c : cells) {
          EndpointAcc& a = group_of(c);
          const store::RollupCounts& n = *c.counts;
          a.count += n.count;
          a.errors += n.errors;
          a.el_sum += n.elapsed_sum_us;
          // A cell of late steps alone (count 0) carries sums, no elapsed.
          if (n.count > 0) a.el_max = std::max(a.el_max, n.elapsed_max_us);
          a.sql_count += n.sql_count;
          a.sql_us += n.sql_us;
          a.ext_count += n.external_count;
          a.ext_us += n.external_us;
          if (a.hist.empty()) a.hist.resize(kDenseBins);
          for (const store::HistBin& b : c.hist) a.hist[b.bin] += b.count;
        }
        return true;
      });
}

}  // namespace

Result<std::vector<EndpointStats>> ComputeEndpoints(const store::Store& s, store::ProjectId p,
                                                    const TxFilter& f, std::string* source) {
  std::vector<Piece> pieces =
      RollupsCanAnswer(s, f) && HasFrom(f) && HasTo(f)
          ? Cover(f.from_us, f.to_us, {Source::kFiveMinutes, Source::kSecond})
          : std::vector<Piece>{{f.from_us, f.to_us, Source::kRaw}};
  std::vector<EndpointAcc> groups;
  Status st = FillEndpoints(s, p, f, pieces, &groups);
  if (!st.ok() && SourceName(pieces) != std::string_view("raw")) {
    pieces = {{f.from_us, f.to_us, Source::kRaw}};  // a damaged rollup file
    st = FillEndpoints(s, p, f, pieces, &groups);
  }
  if (!st.ok()) return st.Annotate("computing endpoint statistics");
  if (source != nullptr) *source = SourceName(pieces);

  std::vector<EndpointStats> out;
  out.reserve(groups.size());
  for (EndpointAcc& a : groups) {
    EndpointStats e;
    e.service = std::move(a.service);
    e.endpoint = std::move(a.endpoint);
    e.count = a.count;
    e.errors = a.errors;
    auto n = static_cast<double>(a.count);
    e.avg_ms = static_cast<double>(a.el_sum) / n / 1000.0;
    e.max_ms = static_cast<double>(a.el_max) / 1000.0;
    if (a.hist.empty()) {
      // Exact nearest-rank percentiles; each nth_element starts where the
      // previous, smaller percentile left its partition.
      size_t n50 = static_cast<size_t>(std::ceil(0.5 * n - 1e-9));
      e.p50_ms = static_cast<double>(Percentile(a.elapsed, 0.50, 0)) / 1000.0;
      size_t n95 = static_cast<size_t>(std::ceil(0.95 * n - 1e-9));
      e.p95_ms = static_cast<double>(Percentile(a.elapsed, 0.95, n50)) / 1000.0;
      e.p99_ms = static_cast<double>(Percentile(a.elapsed, 0.99, n95)) / 1000.0;
    } else {
      // Rollup histograms (plus the raw edge rows binned the same way).
      for (int64_t el : a.elapsed) ++a.hist[store::ElapsedBin(el)];
      e.p50_ms = store::DenseHistPercentileUs(a.hist, 0.50, a.el_max) / 1000.0;
      e.p95_ms = store::DenseHistPercentileUs(a.hist, 0.95, a.el_max) / 1000.0;
      e.p99_ms = store::DenseHistPercentileUs(a.hist, 0.99, a.el_max) / 1000.0;
    }
    e.avg_sql_count = static_cast<double>(a.sql_count) / n;
    e.avg_sql_ms = static_cast<double>(a.sql_us) / n / 1000.0;
    e.avg_external_count = static_cast<double>(a.ext_count) / n;
    e.avg_external_ms = static_cast<double>(a.ext_us) / n / 1000.0;
    out.push_back(std::move(e));
    a.elapsed = {};
  }
  std::sort(out.begin(), out.end(), [](const EndpointStats& a, const EndpointStats& b) {
    if (a.count != b.count) return a.count > b.count;
    if (a.service != b.service) return a.service < b.service;
    return a.endpoint < b.endpoint;
  });
  return out;
}

Result<Hitmap> ComputeHitmap(const store::Store& s, store::ProjectId p, const TxFilter& filter,
                             int64_t step_us, size_t max_x_bins) {
  if (step_us <= 0) return Status::InvalidArgument("step must be positive");
  if (!HasFrom(filter) || !HasTo(filter))
    return Status::InvalidArgument("hitmap needs from and to");
  Hitmap out;
  out.step_us = step_us;
  out.from_us = FloorDiv(filter.from_us, step_us) * step_us;
  if (filter.from_us >= filter.to_us) return out;
  const uint64_t span = static_cast<uint64_t>(filter.to_us - out.from_us);
  out.x_bins = span / step_us + (span % step_us != 0);
  if (out.x_bins > max_x_bins) {
    return Status::InvalidArgument("step too small for the range (over " +
                                   std::to_string(max_x_bins) + " time buckets)");
  }
  TxFilter f = filter;
  f.fields = 0;
  std::vector<Source> levels;
  if (RollupsCanAnswer(s, f) && step_us % store::kRollupSecondUs == 0) {
    if (f.endpoint.empty() && step_us % store::kRollupMinuteUs == 0) {
      levels.push_back(Source::kMinute);
    } else if (!f.endpoint.empty() && step_us % store::kRollupFiveMinutesUs == 0) {
      levels.push_back(Source::kFiveMinutes);
    }
    levels.push_back(Source::kSecond);
  }
  // Dense while filling: x_bins × all bins, trimmed to the used rows after.
  constexpr size_t kBins = 64 * store::kBinsPerOctave;
  std::vector<std::vector<Piece>> tries = {Cover(f.from_us, f.to_us, levels)};
  if (!levels.empty()) tries.push_back({{f.from_us, f.to_us, Source::kRaw}});
  std::vector<uint32_t> count, errors;
  Status st;
  for (const std::vector<Piece>& pieces : tries) {
    count.assign(out.x_bins * kBins, 0);
    errors.assign(out.x_bins * kBins, 0);
    auto x_of = [&](int64_t t) { return static_cast<size_t>((t - out.from_us) / step_us); };
    st = VisitPieces(
        s, p, f, pieces, true,
        [&](std::span<const TxRow> rows) {
          for (const TxRow& r : rows) {
            const size_t cell = x_of(r.end_us) * kBins + store::ElapsedBin(r.elapsed_us());
            ++count[cell];
            errors[cell] += r.error;
          }
          return true;
        },
        [&](std::span<const store::RollupRow> cells) {
          for (const store::RollupRow& c : cells) {
            const size_t row = x_of(c.bucket_us) * kBins;
            for (const store::HistBin& b : c.hist) {
              count[row + b.bin] += b.count;
              errors[row + b.bin] += b.errors;
            }
          }
          return true;
        });
    out.source = SourceName(pieces);
    if (st.ok()) break;  // else a damaged rollup file: raw rows answer
  }
  LOUPE_RETURN_IF_ERROR(st);
  size_t lo = kBins, hi = 0;
  for (size_t x = 0; x < out.x_bins; ++x) {
    for (size_t b = 0; b < kBins; ++b) {
      if (count[x * kBins + b] == 0) continue;
      lo = std::min(lo, b);
      hi = std::max(hi, b);
    }
  }
  if (lo > hi) return out;  // nothing in the range
  out.min_bin = static_cast<uint16_t>(lo);
  out.max_bin = static_cast<uint16_t>(hi);
  const size_t rows = hi - lo + 1;
  out.count.resize(out.x_bins * rows);
  out.errors.resize(out.x_bins * rows);
  for (size_t x = 0; x < out.x_bins; ++x) {
    std::copy_n(count.begin() + static_cast<ptrdiff_t>(x * kBins + lo), rows,
                out.count.begin() + static_cast<ptrdiff_t>(x * rows));
    std::copy_n(errors.begin() + static_cast<ptrdiff_t>(x * kBins + lo), rows,
                out.errors.begin() + static_cast<ptrdiff_t>(x * rows));
  }
  return out;
}

Result<std::vector<TraceTx>> GetTrace(const store::Store& s, store::ProjectId p,
                                      const model::TraceId& trace) {
  Result<std::vector<model::Transaction>> txs = s.GetTrace(p, trace);
  if (!txs.ok()) return txs.status().Annotate("reading trace");
  // Span id → the transaction holding it (its root span or one of its steps).
  std::unordered_map<model::SpanId, model::TxId> holder;
  for (const model::Transaction& tx : *txs) {
    if (tx.span_id != 0) holder.emplace(tx.span_id, tx.id);
    for (const model::Step& st : tx.steps) {
      if (st.span_id != 0) holder.emplace(st.span_id, tx.id);
    }
  }
  std::vector<TraceTx> out;
  out.reserve(txs->size());
  for (model::Transaction& tx : *txs) {
    model::TxId parent = 0;
    if (tx.parent_span_id != 0) {
      auto it = holder.find(tx.parent_span_id);
      if (it != holder.end() && it->second != tx.id) parent = it->second;
    }
    out.push_back({std::move(tx), parent});
  }
  return out;
}

}  // namespace loupe::query
