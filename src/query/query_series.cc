// ComputeSeries: time series per bucket (and per group), from rollup cells
// where they can answer and raw rows otherwise; distinct users from the
// hourly sketches. See query.cc for the cost rules all queries follow.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "query/query.h"
#include "query/query_internal.h"

namespace loupe::query {
namespace {

using internal::CeilTo;
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

constexpr size_t kMaxSeriesBuckets = 1'000'000;

// The end-time range [from, to) of the rows matching f (from > to if none).
Status DataRange(const store::Store& s, model::ProjectId p, const TxFilter& f, int64_t* from,
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
Status FillGroupedOnePass(const store::Store& s, model::ProjectId p, const TxFilter& f,
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

Status FillSeries(const store::Store& s, model::ProjectId p, const TxFilter& f,
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
Result<Series> ComputeUsers(const store::Store& s, model::ProjectId p, const TxFilter& f,
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

Result<Series> ComputeSeries(const store::Store& s, model::ProjectId p, const TxFilter& filter,
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
}  // namespace loupe::query
