// ComputeEndpoints (statistics per service and endpoint) and ComputeHitmap
// (counts per time bucket and elapsed bin), from rollup cells where they can
// answer and raw rows otherwise. See query.cc for the cost rules all queries
// follow.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "query/query.h"
#include "query/query_internal.h"

namespace loupe::query {
namespace {

using internal::Cover;
using internal::FloorDiv;
using internal::HasFrom;
using internal::HasTo;
using internal::Piece;
using internal::RollupsCanAnswer;
using internal::Source;
using internal::SourceName;
using internal::VisitPieces;

using store::ScanOrder;
using store::TxFilter;
using store::TxRow;

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

Status FillEndpoints(const store::Store& s, model::ProjectId p, const TxFilter& f,
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

Result<std::vector<EndpointStats>> ComputeEndpoints(const store::Store& s, model::ProjectId p,
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

Result<Hitmap> ComputeHitmap(const store::Store& s, model::ProjectId p, const TxFilter& filter,
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
}  // namespace loupe::query
