// Merging late steps (store.h, LateSteps) into a stored transaction, shared
// by both stores so their rules cannot drift apart:
//  - a batch's LateSteps entries are grouped per transaction first, so a
//    transaction is decoded, merged and re-encoded once per batch (the
//    assembler emits one entry per late span subtree: a request carrying
//    10,000 late children of one root used to mean 10,000 decode/sort/encode
//    rounds of a growing profile under the project lock, 31.6 s);
//  - duplicates (by span id; id 0 is never a duplicate) are found with a
//    hash set, not a sorted vector with inserts;
//  - the new steps are sorted among themselves and merged into the stored
//    order in one linear pass.
// Thread-safety: pure functions over the caller's values.
#ifndef LOUPE_STORE_LATE_MERGE_H_
#define LOUPE_STORE_LATE_MERGE_H_

#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "model/transaction.h"
#include "store/store.h"

namespace loupe::store {

// Merges the entries of *late that name the same transaction into its first
// entry (steps in arrival order, dropped_steps the largest), dropping the
// others and the entries that carry nothing. O(entries + steps).
void GroupLateSteps(std::vector<LateSteps>* late);

// Moves the steps of *late whose span id is not in *seen (or is 0) out, adds
// their ids to *seen, and returns them sorted by start time (stable: equal
// starts keep their arrival order).
std::vector<model::Step> TakeFreshSteps(std::vector<model::Step>* late,
                                        std::unordered_set<model::SpanId>* seen);

// Merges `fresh` (sorted by start) into *steps (sorted by start) in one
// pass; on equal starts the steps already there come first, as a stable sort
// of the concatenation would give.
void MergeByStart(std::vector<model::Step>* steps, std::vector<model::Step>&& fresh);

// The span ids (non-zero) of steps, inserted into *seen.
void AddSpanIds(const std::vector<model::Step>& steps, std::unordered_set<model::SpanId>* seen);

// The summary increase of steps: only the fields late steps change (cpu_us 0).
model::Summary SummaryOf(const std::vector<model::Step>& steps);

// Adds the fields of delta that late steps change (counts and times of SQL,
// fetches and external calls; not cpu_us) to *s.
void AddSummary(model::Summary* s, const model::Summary& delta) noexcept;

// What merging late steps into a stored profile changed.
struct ProfileMerge {
  bool changed = false;  // false: nothing new (every step known, no larger dropped total)
  size_t merged = 0;     // steps added
  model::Summary delta;  // their summary increase (SummaryOf)
};

// Merges *late into a transaction's encoded profile (`start_us` is the
// transaction's start, which the codec stores steps against): the steps not
// in it yet (by span id) join in start order and a larger dropped total
// replaces its own. When something changed, *out (cleared first) holds the
// new encoded profile; otherwise *out is left alone. O(steps).
ProfileMerge MergeIntoProfile(std::string_view profile, int64_t start_us, LateSteps* late,
                              std::string* out);

}  // namespace loupe::store

#endif  // LOUPE_STORE_LATE_MERGE_H_
