// Late steps that reached a store before their transaction did. Two ingest
// requests can pass each other between the assembler and the store: the one
// whose assembler call emitted a transaction, and a later one whose spans
// became late steps of it (the log replay runs requests on several threads,
// so a root may be assembled first and appended last). Both stores park such
// steps here, count them as orphaned, and merge them (no longer orphaned)
// when their transaction is appended; past `max_transactions` the oldest are
// dropped and stay counted as orphaned.
// Thread-safety: none; the stores guard it with the project lock.
#ifndef LOUPE_STORE_PARKED_LATE_H_
#define LOUPE_STORE_PARKED_LATE_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <unordered_map>
#include <utility>
#include <vector>

#include "model/transaction.h"
#include "store/store.h"

namespace loupe::store {

class ParkedLateSteps {
 public:
  explicit ParkedLateSteps(size_t max_transactions = 4096) : max_(max_transactions) {}

  bool empty() const { return by_tx_.empty(); }

  // dropped_steps: LateSteps::dropped_steps (a total; the largest is kept).
  void Park(model::TxId tx, std::vector<model::Step>&& steps, uint32_t dropped_steps = 0) {
    auto [it, added] = by_tx_.try_emplace(tx);
    if (added) order_.push_back(tx);
    for (model::Step& s : steps) it->second.steps.push_back(std::move(s));
    it->second.dropped_steps = std::max(it->second.dropped_steps, dropped_steps);
    while (by_tx_.size() > max_ && !order_.empty()) {
      by_tx_.erase(order_.front());
      order_.pop_front();
    }
    // Ids taken since stay in order_; drop them once they are half of it.
    if (order_.size() > 2 * by_tx_.size() + 16) {
      std::erase_if(order_, [this](model::TxId id) { return by_tx_.count(id) == 0; });
    }
  }

  // Moves the steps parked for tx into *steps (and the largest dropped_steps
  // total into *dropped_steps when given); false when there are none.
  bool Take(model::TxId tx, std::vector<model::Step>* steps, uint32_t* dropped_steps = nullptr) {
    auto it = by_tx_.find(tx);
    if (it == by_tx_.end()) return false;
    *steps = std::move(it->second.steps);
    if (dropped_steps != nullptr) *dropped_steps = it->second.dropped_steps;
    by_tx_.erase(it);
    return true;
  }

 private:
  struct Parked {
    std::vector<model::Step> steps;
    uint32_t dropped_steps = 0;
  };
  const size_t max_;
  std::unordered_map<model::TxId, Parked> by_tx_;
  std::deque<model::TxId> order_;  // first park of each id, oldest first (and taken ones)
};

// After a store appended `txs`: hands the steps parked for any of them to
// merge(LateSteps&) and takes them off the *orphaned count.
template <typename Merge>
void UnparkLate(ParkedLateSteps& parked, const std::vector<model::Transaction>& txs,
                std::atomic<uint64_t>* orphaned, Merge&& merge) {
  if (parked.empty()) return;
  for (const model::Transaction& tx : txs) {
    LateSteps late;
    late.tx = tx.id;
    if (!parked.Take(tx.id, &late.steps, &late.dropped_steps)) continue;
    orphaned->fetch_sub(late.steps.size(), std::memory_order_relaxed);
    merge(late);
  }
}

}  // namespace loupe::store

#endif  // LOUPE_STORE_PARKED_LATE_H_
