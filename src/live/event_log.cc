#include "live/event_log.h"

#include <algorithm>
#include <cstring>
#include <new>

namespace loupe::live {

struct EventLog::Ring {
  mutable std::mutex mu;
  std::vector<model::Event> slots;  // grows up to capacity, then wraps
  uint64_t total = 0;               // events ever appended; the n-th (1-based) is at (n-1) % cap
};

EventLog::EventLog(size_t capacity_per_project)
    : capacity_(std::max<size_t>(1, capacity_per_project)) {}

EventLog::~EventLog() = default;

EventLog::Ring* EventLog::Find(model::ProjectId project) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  auto it = rings_.find(project);
  return it == rings_.end() ? nullptr : it->second.get();
}

EventLog::Ring* EventLog::FindOrCreate(model::ProjectId project) {
  if (Ring* r = Find(project)) return r;
  std::unique_lock<std::shared_mutex> l(mu_);
  auto& slot = rings_[project];
  if (!slot) slot = std::make_unique<Ring>();
  return slot.get();
}

uint64_t EventLog::Append(model::ProjectId project, const model::Event& e) noexcept {
  try {
    uint64_t seq;
    {
      Ring* r = FindOrCreate(project);
      std::lock_guard<std::mutex> l(r->mu);
      const size_t at = r->total % capacity_;
      if (r->slots.size() < capacity_) {
        // Grow by doubling rather than to capacity at once: most projects see
        // few events, and 10,000 empty events are ~1.3 MB.
        r->slots.push_back(e);
      } else {
        r->slots[at] = e;
        evicted_.fetch_add(1, std::memory_order_relaxed);
      }
      seq = ++r->total;
    }
    if (sink_) sink_(project, e);
    return seq;
  } catch (...) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
}

EventPage EventLog::Query(model::ProjectId project, const EventQuery& q) const {
  EventPage page;
  const Ring* r = Find(project);
  if (r == nullptr) return page;
  std::lock_guard<std::mutex> l(r->mu);
  const uint64_t n = r->slots.size();
  const uint64_t first = r->total - n;  // sequence - 1 of the oldest kept
  for (uint64_t i = r->total; i > first; --i) {
    const model::Event& e = r->slots[(i - 1) % capacity_];
    if (e.time_us < q.from_us || e.time_us >= q.to_us) continue;
    if (!q.level.empty() && q.level != e.level) continue;
    if (!q.type.empty() && q.type != e.type) continue;
    if (!q.service.empty() && q.service != e.service) continue;
    if (page.events.size() >= q.limit) {
      page.truncated = true;
      break;
    }
    page.events.push_back(e);
  }
  return page;
}

uint64_t EventLog::Since(model::ProjectId project, uint64_t after, size_t max,
                         std::vector<model::Event>* out, uint64_t* skipped) const {
  *skipped = 0;
  const Ring* r = Find(project);
  if (r == nullptr) return after;
  std::lock_guard<std::mutex> l(r->mu);
  if (r->total <= after) return r->total;
  const uint64_t oldest_kept = r->total - r->slots.size();  // sequences > this are kept
  uint64_t start = std::max(after, oldest_kept);
  *skipped = start - after;
  if (r->total - start > max) {
    *skipped += r->total - start - max;
    start = r->total - max;
  }
  for (uint64_t i = start; i < r->total; ++i) out->push_back(r->slots[i % capacity_]);
  return r->total;
}

uint64_t EventLog::LastSeq(model::ProjectId project) const {
  const Ring* r = Find(project);
  if (r == nullptr) return 0;
  std::lock_guard<std::mutex> l(r->mu);
  return r->total;
}

uint64_t EventLog::evicted() const { return evicted_.load(std::memory_order_relaxed); }
uint64_t EventLog::dropped() const { return dropped_.load(std::memory_order_relaxed); }

}  // namespace loupe::live
