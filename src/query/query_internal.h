// Private to src/query: helpers shared by the query/*.cc files (query.cc,
// query_series.cc, query_endpoints.cc). Not part of the query interface;
// nothing outside src/query includes it.
#ifndef LOUPE_QUERY_QUERY_INTERNAL_H_
#define LOUPE_QUERY_QUERY_INTERNAL_H_

#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "common/status.h"
#include "query/query.h"
#include "store/store.h"

namespace loupe::query::internal {

using store::ScanOrder;
using store::TxFilter;
using store::TxRow;

constexpr int64_t kOpenTo = std::numeric_limits<int64_t>::max();

inline bool HasFrom(const TxFilter& f) { return f.from_us > 0; }
inline bool HasTo(const TxFilter& f) { return f.to_us != kOpenTo; }

inline int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

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

inline int64_t CeilTo(int64_t t, int64_t step) { return -FloorDiv(-t, step) * step; }

inline int64_t SourceStep(Source s) {
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
inline void CoverWith(int64_t from, int64_t to, std::span<const Source> levels,
                      std::vector<Piece>* out) {
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

inline std::vector<Piece> Cover(int64_t from, int64_t to, std::vector<Source> levels) {
  std::vector<Piece> out;
  CoverWith(from, to, levels, &out);
  return out;
}

// Rollups can answer a filter on time, service, instance and endpoint only.
inline bool RollupsCanAnswer(const store::Store& s, const TxFilter& f) {
  return s.has_rollups() && f.user.empty() && f.client_ip.empty() && f.min_elapsed_us <= 0 &&
         f.max_elapsed_us == std::numeric_limits<int64_t>::max() && !f.errors_only;
}

inline const char* SourceName(const std::vector<Piece>& pieces) {
  bool raw = false, rollups = false;
  for (const Piece& pc : pieces) (pc.src == Source::kRaw ? raw : rollups) = true;
  return rollups ? (raw ? "rollups+raw" : "rollups") : "raw";
}

// Visits every piece: raw rows through on_rows(span<const TxRow>), rollup
// cells through on_cells(span<const RollupRow>). Either returns false to stop.
template <typename OnRows, typename OnCells>
Status VisitPieces(const store::Store& s, model::ProjectId p, const TxFilter& f,
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

}  // namespace loupe::query::internal

#endif  // LOUPE_QUERY_QUERY_INTERNAL_H_
