// TimeSeriesStore::Append: series lookup and caps, then each sample into its
// head window's chunk, with the duplicate, order and NaN policies of
// time_series_store.h.
#include <algorithm>
#include <cmath>

#include "store/tsdb/time_series_store.h"
#include "store/tsdb/tsdb_internal.h"

namespace loupe::tsdb {

namespace {

// The times one series holds in one window, decoded once per entry so that
// a replayed batch costs one decode per window, not one per sample.
struct HeldTimes {
  int64_t window = std::numeric_limits<int64_t>::min();
  bool loaded = false;
  std::vector<int64_t> time;
  std::vector<double> scratch;
};

}  // namespace

Status TimeSeriesStore::Append(ProjectId project, std::span<const SeriesSamples> batch) noexcept {
  {
    std::shared_lock lock(projects_mu_);
    if (closed_) return Status::Unavailable("tsdb: closed");
  }
  Project* p = GetOrCreateProject(project);
  const int64_t horizon = horizon_ms_.load(std::memory_order_relaxed);
  const int64_t block_ms = options_.block_ms;
  uint64_t appended = 0, duplicates = 0, out_of_order = 0, invalid = 0, overflowed = 0;
  Labels sorted;
  HeldTimes held;
  Status result;
  std::unique_lock lock(p->mu);
  for (const SeriesSamples& entry : batch) {
    if (entry.metric.empty()) {
      result = Status::InvalidArgument("tsdb: a series without a metric name");
      break;
    }
    const Labels* labels = &entry.labels;
    if (!LabelsNormalized(entry.labels)) {
      sorted = entry.labels;
      NormalizeLabels(&sorted);
      labels = &sorted;
    }
    uint32_t id = p->index.Find(entry.metric, *labels);
    if (id == SeriesIndex::kNone) {
      if (p->index.size() >= options_.max_series_per_project ||
          p->index.MetricSeries(entry.metric) >= options_.max_series_per_metric) {
        ++overflowed;
        const Labels overflow{{std::string(kOverflowLabel), "true"}};
        id = p->index.Find(entry.metric, overflow);
        if (id == SeriesIndex::kNone) id = p->index.Add(entry.metric, overflow, entry.kind);
      } else {
        id = p->index.Add(entry.metric, *labels, entry.kind);
      }
      if (p->last_ms.size() < p->index.id_limit()) {
        p->last_ms.resize(p->index.id_limit(), std::numeric_limits<int64_t>::min());
      }
    }
    int64_t& last = p->last_ms[id];
    held.loaded = false;
    Window* w = nullptr;
    for (const Sample& s : entry.samples) {
      if (!std::isfinite(s.value)) {
        ++invalid;
        continue;
      }
      const int64_t start = WindowStart(s.time_ms, block_ms);
      if (s.time_ms <= last) {
        // Held already (a replay), or older than the series' newest sample.
        if (!held.loaded || held.window != start) {
          held.window = start;
          held.loaded = true;
          held.time.clear();
          auto hw = p->head.find(start);
          if (hw != p->head.end()) {
            const HeadChunk* c = id < hw->second->chunks.size() ? hw->second->chunks[id].get()
                                                                : nullptr;
            if (c != nullptr) {
              DecodeHeadChunk(c->time_bits.Bytes(), c->value_bits.Bytes(), c->n, &held.time,
                              &held.scratch);
            }
          } else if (auto rb = p->raw.find(start); rb != p->raw.end()) {
            if (const Block::Entry* e = rb->second->Find(id)) {
              rb->second->ReadRaw(*e, &held.time, &held.scratch);
            }
          }
        }
        if (std::binary_search(held.time.begin(), held.time.end(), s.time_ms)) {
          ++duplicates;
        } else {
          ++out_of_order;
        }
        continue;
      }
      if (s.time_ms < horizon) {
        ++out_of_order;
        continue;
      }
      if (w == nullptr || w->start_ms != start) {
        auto it = p->head.find(start);
        if (it == p->head.end()) {
          if (AggCovering(p->agg, start) != nullptr) {  // sealed
            ++out_of_order;
            continue;
          }
          auto fresh = std::make_unique<Window>();
          fresh->start_ms = start;
          it = p->head.emplace(start, std::move(fresh)).first;
        }
        w = it->second.get();
      }
      if (w->sealing) {
        ++out_of_order;
        continue;
      }
      if (w->chunks.size() <= id) w->chunks.resize(p->index.id_limit());
      auto& chunk = w->chunks[id];
      if (!chunk) chunk = std::make_unique<HeadChunk>();
      chunk->Append(s.time_ms, s.value);
      // Keep the decoded copy current: a later sample of this entry at the
      // same time is then a duplicate, not out of order.
      if (held.loaded && held.window == start) held.time.push_back(s.time_ms);
      ++w->version;
      last = s.time_ms;
      ++appended;
    }
  }
  lock.unlock();
  samples_appended_.fetch_add(appended, std::memory_order_relaxed);
  duplicates_skipped_.fetch_add(duplicates, std::memory_order_relaxed);
  out_of_order_dropped_.fetch_add(out_of_order, std::memory_order_relaxed);
  invalid_dropped_.fetch_add(invalid, std::memory_order_relaxed);
  series_overflowed_.fetch_add(overflowed, std::memory_order_relaxed);
  return result;
}

}  // namespace loupe::tsdb
