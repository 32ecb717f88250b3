// CompiledFilter: a TxFilter resolved to dictionary ids, as both stores'
// scans test it row by row.
//
// Compile resolves the bounded columns' strings against the project's
// dictionaries once per scan. The ids a set of rows uses differ by set for
// user and client IP (their own dictionaries, dict.h) and, in the embedded
// engine, for every column of a segment (the segment's local ids), so each
// set binds the filter to its ids (Bind, BindLocal) before testing its rows.
// A set that holds a filtered value not at all is skipped whole.
//
// CompileRollupFilter does the same for rollup reads.
//
// Cost: no allocation and no virtual call; MatchRest reads only the string
// tests in use. A CompiledFilter holds views into the TxFilter it was
// compiled from, which must outlive it. Not thread-safe; cheap to copy (one
// copy per partition or source, bound to that set of rows).
#ifndef LOUPE_STORE_FILTER_H_
#define LOUPE_STORE_FILTER_H_

#include <cstdint>
#include <limits>
#include <string_view>

#include "store/dict.h"
#include "store/rollup.h"
#include "store/store.h"

namespace loupe::store {

struct CompiledFilter {
  // The string filters of TxFilter, as dictionary columns.
  static constexpr int kMaxStringTests = 5;

  // Time range on end time, [from, to).
  int64_t from = 0, to = 0;
  // Elapsed bounds, inclusive; min_el is INT64_MIN when the TxFilter sets
  // none (min_elapsed_us <= 0: negative elapsed is bad data, still shown).
  int64_t min_el = 0, max_el = 0;
  bool errors_only = false;
  bool rest = false;  // any test besides the time range
  int nstr = 0;       // string tests in use, the first nstr entries below
  int column[kMaxStringTests] = {};
  // The project's id of the value, for a bounded column (unused for user and
  // client IP, which have none).
  uint32_t project_id[kMaxStringTests] = {};
  // The value's id in the set of rows bound last (Bind); after Compile, the
  // project's ids.
  uint32_t want[kMaxStringTests] = {};
  std::string_view value[kMaxStringTests];  // the filter strings (views into the TxFilter)

  // Returns false when no row can match: an empty time or elapsed range, or
  // a bounded-column value the project never saw.
  bool Compile(const ProjectDicts& project, const TxFilter& f);

  // Binds the string tests to one set of rows' ids: resolve(column,
  // project_id, value) returns the id those rows use for the value, or a
  // negative number when they hold none. Returns false when one is missing
  // (no row of the set can match; want is then partly bound). May be called
  // again for another set.
  template <typename Resolve>
  bool Bind(Resolve&& resolve) {
    for (int i = 0; i < nstr; ++i) {
      const int64_t id = resolve(column[i], project_id[i], value[i]);
      if (id < 0) return false;
      want[i] = static_cast<uint32_t>(id);
    }
    return true;
  }

  // Bind for rows that use the project's ids for the bounded columns and
  // `local` for user and client IP (a MemStore partition, an embedded
  // memtable).
  bool BindLocal(const LocalDicts& local) noexcept {
    return Bind([&local](int c, uint32_t project, std::string_view v) -> int64_t {
      return IsHighCardinality(c) ? local[LocalSlot(c)].Find(v) : project;
    });
  }

  bool InRange(int64_t end_us) const noexcept { return end_us >= from && end_us < to; }

  // Every test but the time range, for a row with this elapsed time and
  // error flag whose id in column c is id_of(c). REQUIRES: bound to the
  // row's set.
  template <typename IdOf>
  bool MatchRest(int64_t elapsed, bool error, IdOf&& id_of) const noexcept {
    if (!rest) return true;
    if (elapsed < min_el || elapsed > max_el) return false;
    if (errors_only && !error) return false;
    for (int i = 0; i < nstr; ++i) {
      if (id_of(column[i]) != want[i]) return false;
    }
    return true;
  }
};

// The dictionary columns of a rollup cell's ids, by RollupNamer column:
// 0 service, 1 instance, 2 endpoint.
inline constexpr int kRollupDictColumn[3] = {kDictService, kDictInstance, kDictEndpoint};

// A RollupFilter resolved against a project's dictionaries into *out: its
// range and the ids of its first `columns` strings (3: service, instance and
// endpoint; 1: service alone, as ScanUsers reads). Returns false when one
// names a value never seen (no cell can match).
bool CompileRollupFilter(const ProjectDicts& project, const RollupFilter& f, int columns,
                         RollupIdFilter* out);

// Names rollup ids through the project's dictionaries. REQUIRES: `project`
// outlives the namer, and its lock is held while the namer is used.
RollupNamer RollupNamerOf(const ProjectDicts& project);

}  // namespace loupe::store

#endif  // LOUPE_STORE_FILTER_H_
