#include "store/tsdb/series_index.h"

#include <algorithm>
#include <regex>
#include <set>

#include "common/hash.h"

#include "store/tsdb/time_series_store.h"

namespace loupe::tsdb {

void NormalizeLabels(Labels* labels) {
  // stable_sort keeps the given order among equal names, so the last given wins.
  std::stable_sort(labels->begin(), labels->end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  Labels out;
  out.reserve(labels->size());
  for (auto& kv : *labels) {
    if (!out.empty() && out.back().first == kv.first) {
      out.back().second = std::move(kv.second);
    } else {
      out.push_back(std::move(kv));
    }
  }
  *labels = std::move(out);
}

bool LabelsNormalized(const Labels& labels) noexcept {
  for (size_t i = 1; i < labels.size(); ++i) {
    if (!(labels[i - 1].first < labels[i].first)) return false;
  }
  return true;
}

std::string_view SeriesInfo::Label(std::string_view name) const noexcept {
  auto it = std::lower_bound(labels.begin(), labels.end(), name,
                             [](const auto& kv, std::string_view n) { return kv.first < n; });
  if (it == labels.end() || it->first != name) return {};
  return it->second;
}

uint64_t SeriesIndex::Hash(std::string_view metric, const Labels& labels) noexcept {
  // The strings are hashed independently (so the CPU overlaps them) and
  // combined with one multiply each; chaining each hash into the next's seed
  // made hashing 40 % of Append (perf on BM_TsdbAppend). Names and values
  // use different multipliers so that swapping them changes the hash.
  uint64_t h = Hash64(metric);
  for (const auto& [k, v] : labels) {
    h = (h ^ Hash64(k)) * 0x9e3779b97f4a7c15ULL;
    h = (h ^ Hash64(v)) * 0xc2b2ae3d27d4eb4fULL;
  }
  return Mix64(h);
}

uint32_t SeriesIndex::Find(std::string_view metric, const Labels& labels) const {
  auto it = by_hash_.find(Hash(metric, labels));
  if (it == by_hash_.end()) return kNone;
  for (uint32_t id = it->second; id != kNone; id = by_id_[id]->next_same_hash) {
    const SeriesInfo& s = *by_id_[id];
    if (s.metric == metric && s.labels == labels) return id;
  }
  return kNone;
}

namespace {
void InsertSorted(std::vector<uint32_t>* ids, uint32_t id) {
  if (ids->empty() || ids->back() < id) {
    ids->push_back(id);
  } else {
    ids->insert(std::lower_bound(ids->begin(), ids->end(), id), id);
  }
}
std::string PostingKey(std::string_view name, std::string_view value) {
  std::string k(name);
  k.push_back('\0');
  k.append(value);
  return k;
}
}  // namespace

uint32_t SeriesIndex::Add(std::string_view metric, const Labels& labels, SeriesKind kind,
                          uint32_t want_id) {
  uint32_t id = want_id;
  if (id == kNone || (id < by_id_.size() && by_id_[id] != nullptr)) id = id_limit();
  if (id >= by_id_.size()) by_id_.resize(static_cast<size_t>(id) + 1);
  auto info = std::make_unique<SeriesInfo>();
  info->id = id;
  info->metric = std::string(metric);
  info->labels = labels;
  info->kind = kind;
  info->overflow = info->Label(kOverflowLabel) == "true";
  auto [slot, added] = by_hash_.emplace(Hash(metric, labels), id);
  if (!added) {  // a collision: chain behind the first
    info->next_same_hash = slot->second;
    slot->second = id;
  }
  ++size_;
  InsertSorted(&by_metric_[info->metric], id);
  for (const auto& [k, v] : labels) InsertSorted(&postings_[PostingKey(k, v)], id);
  by_id_[id] = std::move(info);
  return id;
}

size_t SeriesIndex::MetricSeries(std::string_view metric) const {
  auto it = by_metric_.find(std::string(metric));
  return it == by_metric_.end() ? 0 : it->second.size();
}

Result<std::vector<uint32_t>> SeriesIndex::Select(
    std::string_view metric, const std::vector<LabelMatcher>& matchers) const {
  auto mit = by_metric_.find(std::string(metric));
  if (mit == by_metric_.end()) return std::vector<uint32_t>{};
  std::vector<uint32_t> ids = mit->second;
  // Equality on a non-empty value intersects posting lists; the rest filter.
  std::vector<const LabelMatcher*> filters;
  for (const auto& m : matchers) {
    if (m.op == LabelMatcher::Op::kEqual && !m.value.empty()) {
      auto pit = postings_.find(PostingKey(m.name, m.value));
      if (pit == postings_.end()) return std::vector<uint32_t>{};
      std::vector<uint32_t> both;
      std::set_intersection(ids.begin(), ids.end(), pit->second.begin(), pit->second.end(),
                            std::back_inserter(both));
      ids = std::move(both);
    } else {
      filters.push_back(&m);
    }
  }
  if (filters.empty()) return ids;
  std::vector<std::regex> regexes(filters.size());
  for (size_t i = 0; i < filters.size(); ++i) {
    const auto op = filters[i]->op;
    if (op != LabelMatcher::Op::kRegex && op != LabelMatcher::Op::kNotRegex) continue;
    // std::regex reports a bad pattern by throwing; convert it here.
    try {
      regexes[i] = std::regex(filters[i]->value, std::regex::ECMAScript | std::regex::optimize);
    } catch (const std::regex_error& e) {
      return Status::InvalidArgument("label matcher " + filters[i]->name + ": bad regex \"" +
                                     filters[i]->value + "\": " + e.what());
    }
  }
  std::vector<uint32_t> out;
  for (uint32_t id : ids) {
    const SeriesInfo& s = *by_id_[id];
    bool keep = true;
    for (size_t i = 0; i < filters.size() && keep; ++i) {
      const std::string_view v = s.Label(filters[i]->name);
      switch (filters[i]->op) {
        case LabelMatcher::Op::kEqual: keep = v == filters[i]->value; break;
        case LabelMatcher::Op::kNotEqual: keep = v != filters[i]->value; break;
        case LabelMatcher::Op::kRegex:
        case LabelMatcher::Op::kNotRegex: {
          const bool match = std::regex_match(v.begin(), v.end(), regexes[i]);
          keep = match == (filters[i]->op == LabelMatcher::Op::kRegex);
          break;
        }
      }
    }
    if (keep) out.push_back(id);
  }
  return out;
}

std::vector<std::string> SeriesIndex::MetricNames() const {
  std::vector<std::string> names;
  names.reserve(by_metric_.size());
  for (const auto& [name, ids] : by_metric_) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> SeriesIndex::LabelValues(std::string_view metric,
                                                  std::string_view name) const {
  std::set<std::string> values;
  if (metric.empty()) {
    const std::string prefix = PostingKey(name, "");
    for (const auto& [key, ids] : postings_) {
      if (key.size() > prefix.size() && key.compare(0, prefix.size(), prefix) == 0) {
        values.insert(key.substr(prefix.size()));
      }
    }
  } else {
    auto it = by_metric_.find(std::string(metric));
    if (it != by_metric_.end()) {
      for (uint32_t id : it->second) {
        const std::string_view v = by_id_[id]->Label(name);
        if (!v.empty()) values.emplace(v);
      }
    }
  }
  return {values.begin(), values.end()};
}

}  // namespace loupe::tsdb
