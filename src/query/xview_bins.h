// The X-View grid's cell lookups: XBins (linear end-time cells) and YBins
// (log-scaled elapsed cells), shared by query.cc and its tests. Both are
// exact: XBins gives floor((t - from) * n / (to - from)) clamped to [0, n),
// YBins the cell whose floating-point edges (below) hold the value, with
// integer arithmetic per value. Thread-safety: immutable after construction.
#ifndef LOUPE_QUERY_XVIEW_BINS_H_
#define LOUPE_QUERY_XVIEW_BINS_H_

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace loupe::query::internal {

// Cell k holds elapsed values v (µs) with edge(k) <= v < edge(k+1), where
// edge(k) = exp2(log2(y_min) + (log2(y_max) - log2(y_min)) * k / n) in
// doubles, except that values below edge(1) fall into cell 0 and values at
// or above edge(n-1) into cell n-1.
//
// Values are integers, so v >= edge(k) exactly when v >= ceil(edge(k)):
// Bin compares against those integer thresholds (lower_). The start cell
// comes from a table indexed by the value's exponent and top 7 mantissa
// bits as a double (sub-ranges 0.54 % wide); when cells are wider than a
// sub-range (n / log2(y_max / y_min) <= 128) at most one edge lies past it,
// else Bin loops. A log per value cost ~40 % of an hour's binned X-View.
class YBins {
 public:
  YBins(double y_min_us, double y_max_us, int n) : n_(n), lower_(n + 1) {
    const double log_min = std::log2(y_min_us);
    const double span = std::log2(y_max_us) - log_min;
    std::vector<double> edge(n + 1);
    for (int k = 0; k <= n; ++k) edge[k] = std::exp2(log_min + span * k / n);
    edge[0] = -std::numeric_limits<double>::infinity();
    edge[n] = std::numeric_limits<double>::infinity();
    lower_[0] = std::numeric_limits<int64_t>::min();
    lower_[n] = std::numeric_limits<int64_t>::max();
    for (int k = 1; k < n; ++k) {
      const double c = std::ceil(edge[k]);
      lower_[k] = !(c < 0x1p62) ? std::numeric_limits<int64_t>::max()
                  : c < -0x1p62 ? std::numeric_limits<int64_t>::min()
                                : static_cast<int64_t>(c);
    }
    one_step_ = n / span <= kSub;
    // table_[i]: the last cell whose edge is at or below the sub-range's
    // smallest real value, so a value's cell is table_[i] or above.
    table_.resize(kExponents * kSub);
    int k = 0;
    for (size_t i = 0; i < table_.size(); ++i) {
      double lo = std::bit_cast<double>((i + kBase) << kShift);
      while (lo >= edge[k + 1]) ++k;
      table_[i] = k;
    }
  }

  int n() const { return n_; }
  // True when Bin needs at most one step from the table (BinOneStep applies).
  bool one_step() const { return one_step_; }

  int Bin(int64_t v) const { return one_step_ ? BinOneStep(v) : BinLoop(v); }

  // REQUIRES: one_step().
  int BinOneStep(int64_t v) const {
    int k;
    if (!Start(v, &k)) return k;
    return k + (v >= lower_[k + 1]);
  }

  int BinLoop(int64_t v) const {
    int k;
    if (!Start(v, &k)) return k;
    while (v >= lower_[k + 1]) ++k;
    return k;
  }

 private:
  // The table's cell for v >= 1 (true), or the final cell (false).
  bool Start(int64_t v, int* k) const {
    if (v < 1) {
      *k = 0;
      return false;
    }
    // The index from the double's bits (exact for v < 2^53; past the table
    // anyway): a count-leading-zeros here compiles to bsr without -mlzcnt,
    // whose false dependency on its output register chained every value to
    // the one before (twice the time of this loop).
    const uint64_t i = (std::bit_cast<uint64_t>(static_cast<double>(v)) >> kShift) - kBase;
    if (i >= table_.size()) {
      *k = n_ - 1;
      return false;
    }
    *k = table_[i];
    return true;
  }

  static constexpr int kSub = 128;                        // sub-ranges per doubling: 7 bits
  static constexpr int kShift = 52 - 7;                   // a double's exponent and 7 mantissa bits
  static constexpr uint64_t kBase = uint64_t{1023} << 7;  // 1.0
  static constexpr size_t kExponents = 48;                // 1 µs .. 2^48 µs
  int n_;
  std::vector<int64_t> lower_;  // lower_[k] = ceil(edge(k)); ±max at the ends
  std::vector<int32_t> table_;
  bool one_step_;
};

// Cell x holds end times t with floor((t - from) * n / (to - from)) == x,
// clamped to [0, n). Computed with a multiply and corrected against exact
// integer cell edges (a division per row was ~10 % of an hour's X-View).
class XBins {
 public:
  XBins(int64_t from, int64_t to, int n) : from_(from), n_(n), edge_(n + 2) {
    const __int128 width = std::max<__int128>(1, static_cast<__int128>(to) - from);
    // edge_[x] = smallest offset in cell x = ceil(x * width / n).
    for (int x = 0; x <= n; ++x) {
      __int128 e = (x * width + n - 1) / n;
      edge_[x] = static_cast<int64_t>(std::min<__int128>(e, std::numeric_limits<int64_t>::max()));
    }
    edge_[0] = std::numeric_limits<int64_t>::min();
    edge_[n] = std::numeric_limits<int64_t>::max();
    scale_ = n / static_cast<double>(width);
  }
  // The first end time of cell x (x in [1, n)).
  int64_t Lower(int x) const { return from_ + edge_[x]; }
  int Bin(int64_t t) const {
    int64_t off = t - from_;
    double g = static_cast<double>(off) * scale_;
    int x = g <= 0 ? 0 : g >= n_ - 1 ? n_ - 1 : static_cast<int>(g);
    while (off < edge_[x]) --x;       // rounding puts the guess within one
    while (off >= edge_[x + 1]) ++x;  // cell; these run at most once
    return x;
  }

 private:
  int64_t from_;
  int n_;
  std::vector<int64_t> edge_;
  double scale_;
};

}  // namespace loupe::query::internal

#endif  // LOUPE_QUERY_XVIEW_BINS_H_
