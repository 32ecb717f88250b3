// String dictionaries shared by the stores: each dictionary-encoded column
// of a transaction (service, instance, endpoint, user, client IP, HTTP
// method, error type) is kept as dense uint32 ids into a Dict.
//
// Two kinds of column, two lifetimes (docs/design/storage.md):
//  - bounded columns (service, instance, endpoint, method, error type:
//    capped at ingest) have one Dict per project for the store's lifetime,
//    so their ids are stable and cheap to group by;
//  - high-cardinality columns (user, client IP: one new value per visitor,
//    millions a week) have no project-wide Dict. Each set of rows (a
//    MemStore partition, an embedded memtable or segment) keeps its own,
//    which goes with its rows, so memory follows the rows kept and not every
//    user ever seen.
// InternColumns applies that split; CompiledFilter (filter.h) resolves
// filter strings the same way.
#ifndef LOUPE_STORE_DICT_H_
#define LOUPE_STORE_DICT_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/transaction.h"

namespace loupe::store {

// The dictionary-encoded columns. The order is also the embedded engine's
// file order (docs/format/segment.md): do not reorder.
enum DictColumn : int {
  kDictService = 0,
  kDictInstance,
  kDictEndpoint,
  kDictUser,
  kDictClientIp,
  kDictMethod,
  kDictErrorType,
  kNumDictColumns,
};

// Columns whose values come with each request (user ids, client IPs): no
// project-wide dictionary (see above). An open embedded Segment does not
// keep their dictionaries in memory either (Segment::ReadDict).
constexpr bool IsHighCardinality(int c) { return c == kDictUser || c == kDictClientIp; }

// The slot of a high-cardinality column in a set of rows' own dictionaries
// (LocalDicts).
constexpr int LocalSlot(int c) { return c == kDictUser ? 0 : 1; }
constexpr int kNumLocalDicts = 2;

// String <-> dense id; id 0 is "". Ids are given in order of first Intern.
// Views returned by Get stay valid for the Dict's lifetime (the strings
// live in a deque and never move). Not thread-safe: the stores guard their
// dictionaries with the project's lock.
class Dict {
 public:
  Dict() { Intern(""); }
  Dict(const Dict&) = delete;
  Dict& operator=(const Dict&) = delete;

  // The id of s, adding it when new.
  uint32_t Intern(std::string_view s);
  // The id of s, or -1 when s was never interned.
  int64_t Find(std::string_view s) const {
    auto it = index_.find(s);
    // Cast first: `cond ? -1 : uint32_t` is unsigned, and -1 became 2^32 - 1.
    return it == index_.end() ? int64_t{-1} : int64_t{it->second};
  }
  // REQUIRES: id < size().
  std::string_view Get(uint32_t id) const noexcept { return views_[id]; }
  size_t size() const noexcept { return views_.size(); }
  // Approximate memory held: the strings, their views and the index.
  size_t bytes() const noexcept { return bytes_ + views_.capacity() * sizeof(std::string_view); }

 private:
  std::deque<std::string> strings_;
  std::vector<std::string_view> views_;
  std::unordered_map<std::string_view, uint32_t> index_;
  size_t bytes_ = 0;
};

// A project's dictionaries, one per column. Those of the high-cardinality
// columns hold "" alone (their strings go to LocalDicts).
using ProjectDicts = Dict[kNumDictColumns];
// A set of rows' own dictionaries of the high-cardinality columns, by LocalSlot.
using LocalDicts = Dict[kNumLocalDicts];

// Interns tx's seven dictionary columns, the bounded ones into `project`
// and user and client IP into `local`, and stores the ids in ids[column].
// Returns the bytes `local` grew by (the memory the rows' set now owns).
size_t InternColumns(const model::Transaction& tx, ProjectDicts& project, LocalDicts& local,
                     uint32_t (&ids)[kNumDictColumns]);

// The string of id in column c, from `project` or, for a high-cardinality
// column, from `local`. REQUIRES: id came from the same dictionaries.
inline std::string_view ColumnString(const ProjectDicts& project, const LocalDicts& local, int c,
                                     uint32_t id) noexcept {
  return IsHighCardinality(c) ? local[LocalSlot(c)].Get(id) : project[c].Get(id);
}

}  // namespace loupe::store

#endif  // LOUPE_STORE_DICT_H_
