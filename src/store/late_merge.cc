#include "store/late_merge.h"

#include <algorithm>
#include <iterator>
#include <unordered_map>

#include "store/profile_codec.h"

namespace loupe::store {

void GroupLateSteps(std::vector<LateSteps>* late) {
  if (late->size() < 2) {
    if (late->size() == 1 && late->front().steps.empty() && late->front().dropped_steps == 0) {
      late->clear();
    }
    return;
  }
  std::unordered_map<model::TxId, size_t> first;  // tx → index in out
  first.reserve(late->size());
  std::vector<LateSteps> out;
  for (LateSteps& l : *late) {
    if (l.steps.empty() && l.dropped_steps == 0) continue;
    auto [it, added] = first.try_emplace(l.tx, out.size());
    if (added) {
      out.push_back(std::move(l));
      continue;
    }
    LateSteps& into = out[it->second];
    into.dropped_steps = std::max(into.dropped_steps, l.dropped_steps);
    if (into.steps.empty()) {
      into.steps = std::move(l.steps);
    } else {
      into.steps.insert(into.steps.end(), std::make_move_iterator(l.steps.begin()),
                        std::make_move_iterator(l.steps.end()));
    }
  }
  late->swap(out);
}

std::vector<model::Step> TakeFreshSteps(std::vector<model::Step>* late,
                                        std::unordered_set<model::SpanId>* seen) {
  std::vector<model::Step> fresh;
  fresh.reserve(late->size());
  seen->reserve(seen->size() + late->size());
  for (model::Step& s : *late) {
    if (s.span_id != 0 && !seen->insert(s.span_id).second) continue;
    fresh.push_back(std::move(s));
  }
  if (!std::is_sorted(fresh.begin(), fresh.end(), [](const model::Step& a, const model::Step& b) {
        return a.start_us < b.start_us;
      })) {
    std::stable_sort(fresh.begin(), fresh.end(), [](const model::Step& a, const model::Step& b) {
      return a.start_us < b.start_us;
    });
  }
  return fresh;
}

void MergeByStart(std::vector<model::Step>* steps, std::vector<model::Step>&& fresh) {
  if (fresh.empty()) return;
  const auto by_start = [](const model::Step& a, const model::Step& b) {
    return a.start_us < b.start_us;
  };
  if (steps->empty() || !by_start(fresh.front(), steps->back())) {
    // All new steps start at or after the last one: the common case (a
    // batch of children that ended after their parent was exported).
    steps->insert(steps->end(), std::make_move_iterator(fresh.begin()),
                  std::make_move_iterator(fresh.end()));
    return;
  }
  const auto mid = static_cast<std::ptrdiff_t>(steps->size());
  steps->insert(steps->end(), std::make_move_iterator(fresh.begin()),
                std::make_move_iterator(fresh.end()));
  std::inplace_merge(steps->begin(), steps->begin() + mid, steps->end(), by_start);
}

void AddSpanIds(const std::vector<model::Step>& steps, std::unordered_set<model::SpanId>* seen) {
  seen->reserve(seen->size() + steps.size());
  for (const model::Step& s : steps) {
    if (s.span_id != 0) seen->insert(s.span_id);
  }
}

model::Summary SummaryOf(const std::vector<model::Step>& steps) {
  model::Summary d;
  d.cpu_us = 0;
  d.Add(steps);
  return d;
}

void AddSummary(model::Summary* s, const model::Summary& d) noexcept {
  s->sql_count += d.sql_count;
  s->sql_us += d.sql_us;
  s->fetch_count += d.fetch_count;
  s->fetch_us += d.fetch_us;
  s->external_count += d.external_count;
  s->external_us += d.external_us;
}

ProfileMerge MergeIntoProfile(std::string_view profile, int64_t start_us, LateSteps* late,
                              std::string* out) {
  ProfileMerge m;
  model::Transaction tx;
  tx.start_us = start_us;
  DecodeProfile(profile, &tx);
  std::unordered_set<model::SpanId> seen;
  AddSpanIds(tx.steps, &seen);
  std::vector<model::Step> fresh = TakeFreshSteps(&late->steps, &seen);
  const bool more_dropped = late->dropped_steps > tx.dropped_steps;
  if (fresh.empty() && !more_dropped) return m;
  if (more_dropped) tx.dropped_steps = late->dropped_steps;
  m.changed = true;
  m.merged = fresh.size();
  if (m.merged > 0) m.delta = SummaryOf(fresh);
  MergeByStart(&tx.steps, std::move(fresh));
  out->clear();
  EncodeProfile(tx, out);
  return m;
}

}  // namespace loupe::store
