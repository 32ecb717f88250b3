// Query computations over Store::Scan. Each function makes one pass over the
// matching rows (ComputeSeries makes two with group_by or an open time range;
// ListTransactions by a non-time sort reads its winners with Get), asks the
// store only for the TxRow fields it uses (TxFilter::fields), keeps per-row
// work to a few loads and adds, and allocates per result row or per group,
// never per scanned row. Timings quoted below are CPU time from
// bench/query_benchmark.cc (one hour at 1,000 TPS).
#include "query/query.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "query/query_internal.h"
#include "query/xview_bins.h"

namespace loupe::query {
namespace {

using internal::HasFrom;
using internal::HasTo;
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

constexpr size_t kMaxXViewCells = 10'000'000;

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

}  // namespace

Result<TxList> ListTransactions(const store::Store& s, model::ProjectId p, const TxFilter& f,
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

Result<XView> ComputeXView(const store::Store& s, model::ProjectId p, const TxFilter& f,
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

Result<std::vector<TraceTx>> GetTrace(const store::Store& s, model::ProjectId p,
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
