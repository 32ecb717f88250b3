#include "live/active_registry.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <string_view>
#include <utility>

namespace loupe::live {
namespace {

constexpr uint32_t kNone = UINT32_MAX;
// Bookkeeping per interned text (entry, index slot) counted against the
// byte budget besides the text itself; a rough figure, so that a flood of
// tiny distinct texts is bounded too.
constexpr size_t kEntryOverhead = 64;

// Reference-counted string interner: ids are reused once their last
// reference is released. Not thread-safe (the project mutex guards it).
class RefDict {
 public:
  // Takes a reference to s's id, adding s if new; kNone when s is new and
  // *bytes would pass budget.
  uint32_t Intern(std::string_view s, size_t budget, size_t* bytes) {
    if (auto it = index_.find(s); it != index_.end()) {
      ++entries_[it->second].refs;
      return it->second;
    }
    const size_t cost = s.size() + kEntryOverhead;
    if (*bytes + cost > budget) return kNone;
    uint32_t id;
    if (!free_.empty()) {
      id = free_.back();
      free_.pop_back();
    } else {
      id = static_cast<uint32_t>(entries_.size());
      entries_.emplace_back();  // a deque: earlier entries (and index_'s views) stay put
    }
    Entry& e = entries_[id];
    e.text.assign(s);
    e.refs = 1;
    index_.emplace(std::string_view(e.text), id);
    *bytes += cost;
    return id;
  }
  uint32_t Find(std::string_view s) const {
    auto it = index_.find(s);
    return it == index_.end() ? kNone : it->second;
  }
  // Drops one reference; the text goes when the last one does.
  void Release(uint32_t id, size_t* bytes) {
    Entry& e = entries_[id];
    if (--e.refs > 0) return;
    index_.erase(std::string_view(e.text));
    *bytes -= e.text.size() + kEntryOverhead;
    std::string().swap(e.text);
    free_.push_back(id);
  }
  const std::string& Get(uint32_t id) const { return entries_[id].text; }
  uint32_t Refs(uint32_t id) const { return entries_[id].refs; }

 private:
  struct Entry {
    std::string text;
    uint32_t refs = 0;
  };
  std::deque<Entry> entries_;
  std::vector<uint32_t> free_;
  std::unordered_map<std::string_view, uint32_t> index_;
};

std::string PackIds(const std::vector<uint32_t>& ids) {
  std::string s(ids.size() * 4, '\0');
  if (!ids.empty()) std::memcpy(s.data(), ids.data(), s.size());
  return s;
}

void UnpackIds(std::string_view s, std::vector<uint32_t>* ids) {
  ids->resize(s.size() / 4);
  if (!ids->empty()) std::memcpy(ids->data(), s.data(), ids->size() * 4);
}

std::string Plural(int64_t n, const char* what) {
  return std::to_string(n) + " " + what + (n == 1 ? "" : "s");
}

}  // namespace

struct ActiveRegistry::Project {
  struct Instance {
    model::ActiveSnapshot snap;  // without stacks and throttled
    int64_t received_us = 0;
    bool stopped = false;
  };
  struct Sample {
    int64_t time_us;
    int64_t received_us;
    uint32_t service, instance, endpoint, stack;
  };

  std::mutex mu;
  // Guarded by mu:
  std::map<std::pair<std::string, std::string>, Instance> instances;
  size_t text_bytes = 0;  // of texts and stacks together
  RefDict texts;          // names, endpoints, frames
  RefDict stacks;         // packed frame-id sequences; each holds a reference per frame
  std::deque<Sample> samples;

  void ReleaseStack(uint32_t id) {
    if (stacks.Refs(id) == 1) {
      std::vector<uint32_t> frames;
      UnpackIds(stacks.Get(id), &frames);
      for (uint32_t f : frames) texts.Release(f, &text_bytes);
    }
    stacks.Release(id, &text_bytes);
  }
  void PopSample() {
    const Sample& s = samples.front();
    texts.Release(s.service, &text_bytes);
    texts.Release(s.instance, &text_bytes);
    texts.Release(s.endpoint, &text_bytes);
    ReleaseStack(s.stack);
    samples.pop_front();
  }
  // Interns one sample's texts; false (with nothing held) past the budget.
  bool Add(const model::ActiveSnapshot& snap, const model::StackSample& st, int64_t now_us,
           size_t budget) {
    uint32_t ids[3];
    const std::string_view names[3] = {snap.service, snap.instance, st.endpoint};
    size_t held = 0;
    std::vector<uint32_t> frames;
    frames.reserve(st.frames.size());
    auto undo = [&] {
      for (size_t i = 0; i < held; ++i) texts.Release(ids[i], &text_bytes);
      for (uint32_t f : frames) texts.Release(f, &text_bytes);
      return false;
    };
    for (; held < 3; ++held) {
      ids[held] = texts.Intern(names[held], budget, &text_bytes);
      if (ids[held] == kNone) return undo();
    }
    for (const auto& f : st.frames) {
      uint32_t id = texts.Intern(f, budget, &text_bytes);
      if (id == kNone) return undo();
      frames.push_back(id);
    }
    const std::string key = PackIds(frames);
    uint32_t stack = stacks.Find(key);
    if (stack != kNone) {
      stacks.Intern(key, budget, &text_bytes);                  // one more reference
      for (uint32_t f : frames) texts.Release(f, &text_bytes);  // the stack holds its own
    } else {
      stack = stacks.Intern(key, budget, &text_bytes);
      if (stack == kNone) return undo();
    }
    samples.push_back(Sample{st.time_us, now_us, ids[0], ids[1], ids[2], stack});
    return true;
  }
};

ActiveRegistry::ActiveRegistry(Clock* clock, EventLog* events, ActiveOptions options)
    : clock_(clock), events_(events), options_(options) {}

ActiveRegistry::~ActiveRegistry() { Stop(); }

ActiveRegistry::Project* ActiveRegistry::Find(model::ProjectId project) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  auto it = projects_.find(project);
  return it == projects_.end() ? nullptr : it->second.get();
}

ActiveRegistry::Project* ActiveRegistry::FindOrCreate(model::ProjectId project) {
  if (Project* p = Find(project)) return p;
  std::unique_lock<std::shared_mutex> l(mu_);
  auto& slot = projects_[project];
  if (!slot) slot = std::make_unique<Project>();
  return slot.get();
}

void ActiveRegistry::Expire(Project* p, int64_t now_us) {
  const int64_t cutoff = now_us - options_.stack_window_us;
  uint64_t n = 0;
  while (!p->samples.empty() && p->samples.front().received_us < cutoff) {
    p->PopSample();
    ++n;
  }
  if (n > 0) stack_evicted_.fetch_add(n);
}

Result<SubmitStats> ActiveRegistry::Submit(model::ProjectId project,
                                           model::ActiveSnapshot snap) noexcept {
  try {
    const int64_t now = clock_->NowMicros();
    Project* p = FindOrCreate(project);
    SubmitStats stats;
    std::vector<model::Event> events;
    auto event = [&](const char* level, const char* type, std::string message,
                     int64_t time_us) -> model::Event& {
      model::Event& e = events.emplace_back();
      e.time_us = time_us;
      e.level = level;
      e.type = type;
      e.message = std::move(message);
      e.service = snap.service;
      e.instance = snap.instance;
      return e;
    };
    {
      std::lock_guard<std::mutex> l(p->mu);
      Expire(p, now);
      auto key = std::make_pair(snap.service, snap.instance);
      auto it = p->instances.find(key);
      std::string who = snap.agent.empty() ? "agent" : "agent " + snap.agent;
      if (!snap.host.empty()) who += " on " + snap.host;
      if (snap.pid != 0) who += " (pid " + std::to_string(snap.pid) + ")";
      if (it == p->instances.end()) {
        if (p->instances.size() >= options_.max_instances_per_project) {
          return Status::ResourceExhausted(
              "the project already has " + std::to_string(p->instances.size()) +
              " instances reporting active transactions (limit " +
              std::to_string(options_.max_instances_per_project) + ")");
        }
        it = p->instances.emplace(std::move(key), Project::Instance{}).first;
        event(model::kLevelNormal, model::kEventAgentStart, who + " started",
              snap.started_us != 0 ? snap.started_us : now);
      } else if (it->second.stopped) {
        event(model::kLevelNormal, model::kEventAgentStart, who + " is reporting again",
              snap.started_us != it->second.snap.started_us && snap.started_us != 0
                  ? snap.started_us
                  : now);
      } else if (snap.started_us != 0 && snap.started_us != it->second.snap.started_us) {
        event(model::kLevelNormal, model::kEventAgentStart, who + " restarted", snap.started_us);
      }

      // Throttling: one event per folded entry, the excess folded once more.
      const size_t cap = options_.max_throttle_events_per_snapshot;
      int64_t rest_count = 0;
      size_t rest_entries = 0;
      for (size_t i = 0; i < snap.throttled.size(); ++i) {
        const model::ThrottleEntry& t = snap.throttled[i];
        if (i < cap) {
          std::string verb = t.action == "redirect" ? "redirected " : "rejected ";
          model::Event& e =
              event(model::kLevelWarning, model::kEventThrottled,
                    verb + Plural(t.count, "request") + ": " + std::to_string(t.active) +
                        " active, limit " + std::to_string(t.limit),
                    t.time_us != 0 ? t.time_us : snap.time_us);
          e.endpoint = t.endpoint;
          e.count = std::max<int64_t>(t.count, 1);
        } else {
          rest_count += t.count;
          ++rest_entries;
        }
      }
      if (rest_entries > 0) {
        event(model::kLevelWarning, model::kEventThrottled,
              "throttled " + Plural(rest_count, "more request") + " on " +
                  Plural(static_cast<int64_t>(rest_entries), "more endpoint"),
              snap.time_us)
            .count = std::max<int64_t>(rest_count, 1);
      }

      for (const auto& st : snap.stacks) {
        if (p->Add(snap, st, now, options_.max_stack_text_bytes)) {
          ++stats.stack_samples_kept;
        } else {
          ++stats.stack_samples_dropped;
        }
      }
      uint64_t evicted = 0;
      while (p->samples.size() > options_.max_stack_samples) {
        p->PopSample();
        ++evicted;
      }
      if (evicted > 0) stack_evicted_.fetch_add(evicted);
      stats.stack_samples_evicted = evicted;
      if (stats.stack_samples_dropped > 0) stack_dropped_.fetch_add(stats.stack_samples_dropped);

      snap.stacks.clear();
      snap.stacks.shrink_to_fit();
      snap.throttled.clear();
      snap.throttled.shrink_to_fit();
      it->second.snap = std::move(snap);
      it->second.received_us = now;
      it->second.stopped = false;
    }
    for (const auto& e : events) {
      if (events_->Append(project, e) != 0) ++stats.events;
    }
    return stats;
  } catch (const std::bad_alloc&) {
    return Status::Unavailable("out of memory recording an active snapshot");
  }
}

std::vector<InstanceActive> ActiveRegistry::Active(model::ProjectId project,
                                                   const ActiveQuery& q) const {
  std::vector<InstanceActive> out;
  Project* p = Find(project);
  if (p == nullptr) return out;
  const int64_t now = clock_->NowMicros();
  std::lock_guard<std::mutex> l(p->mu);
  for (const auto& [key, inst] : p->instances) {
    if (!q.service.empty() && key.first != q.service) continue;
    if (!q.instance.empty() && key.second != q.instance) continue;
    const int64_t age = now - inst.received_us;
    if (age >= options_.omit_after_us) continue;
    InstanceActive& ia = out.emplace_back();
    const model::ActiveSnapshot& s = inst.snap;
    ia.service = s.service;
    ia.instance = s.instance;
    ia.host = s.host;
    ia.agent = s.agent;
    ia.time_us = s.time_us;
    ia.received_us = inst.received_us;
    ia.started_us = s.started_us;
    ia.throttled_total = s.counters.throttled;
    ia.stale = age > options_.stale_after_us;
    if (ia.stale) continue;
    const int64_t delta = std::max<int64_t>(0, age);
    std::vector<int64_t> thresholds;
    if (q.thresholds) thresholds = q.thresholds(s.service);
    ia.bands.assign(thresholds.size() + 1, 0);
    ia.active_total = s.active.size();
    for (const auto& a : s.active) {
      const int64_t elapsed = a.elapsed_us + delta;
      size_t band = 0;
      while (band < thresholds.size() && elapsed >= thresholds[band]) ++band;
      ++ia.bands[band];
    }
    // The longest `limit`, longest first.
    std::vector<const model::ActiveTx*> order;
    order.reserve(s.active.size());
    for (const auto& a : s.active) order.push_back(&a);
    const size_t n = std::min(q.limit, order.size());
    auto longer = [](const model::ActiveTx* a, const model::ActiveTx* b) {
      return a->elapsed_us != b->elapsed_us ? a->elapsed_us > b->elapsed_us : a->id < b->id;
    };
    std::partial_sort(order.begin(), order.begin() + static_cast<ptrdiff_t>(n), order.end(),
                      longer);
    ia.active.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      ia.active.push_back(*order[i]);
      ia.active.back().elapsed_us += delta;
    }
  }
  return out;
}

StackAggregate ActiveRegistry::Stacks(model::ProjectId project, const StackQuery& q) const {
  StackAggregate agg;
  Project* p = Find(project);
  if (p == nullptr) return agg;
  std::lock_guard<std::mutex> l(p->mu);
  auto filter_id = [&](const std::string& s, uint32_t* id) {
    *id = s.empty() ? kNone : p->texts.Find(s);
    return s.empty() || *id != kNone;
  };
  uint32_t service, instance, endpoint;
  if (!filter_id(q.service, &service) || !filter_id(q.instance, &instance) ||
      !filter_id(q.endpoint, &endpoint)) {
    return agg;
  }
  std::unordered_map<uint32_t, uint64_t> by_stack, by_endpoint;
  for (const auto& s : p->samples) {
    if (s.time_us < q.from_us || s.time_us >= q.to_us) continue;
    if (service != kNone && s.service != service) continue;
    if (instance != kNone && s.instance != instance) continue;
    if (endpoint != kNone && s.endpoint != endpoint) continue;
    ++agg.samples;
    ++by_stack[s.stack];
    ++by_endpoint[s.endpoint];
  }
  struct Counts {
    uint64_t incl = 0, self = 0;
  };
  std::unordered_map<uint32_t, Counts> by_frame;
  std::vector<uint32_t> frames;
  for (const auto& [stack, n] : by_stack) {
    UnpackIds(p->stacks.Get(stack), &frames);
    if (frames.empty()) continue;
    by_frame[frames.back()].self += n;
    // A frame counts once per sample even when it recurs in the stack.
    std::sort(frames.begin(), frames.end());
    frames.erase(std::unique(frames.begin(), frames.end()), frames.end());
    for (uint32_t f : frames) by_frame[f].incl += n;
  }
  agg.frames.reserve(by_frame.size());
  for (const auto& [f, c] : by_frame) {
    agg.frames.push_back(StackFrameCount{p->texts.Get(f), c.incl, c.self});
  }
  auto by_samples = [](const StackFrameCount& a, const StackFrameCount& b) {
    if (a.samples != b.samples) return a.samples > b.samples;
    if (a.self_samples != b.self_samples) return a.self_samples > b.self_samples;
    return a.frame < b.frame;
  };
  const size_t n = std::min(q.limit, agg.frames.size());
  std::partial_sort(agg.frames.begin(), agg.frames.begin() + static_cast<ptrdiff_t>(n),
                    agg.frames.end(), by_samples);
  agg.frames.resize(n);
  for (const auto& [e, c] : by_endpoint) agg.endpoints.emplace_back(p->texts.Get(e), c);
  std::sort(agg.endpoints.begin(), agg.endpoints.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  return agg;
}

void ActiveRegistry::Sweep() {
  std::vector<std::pair<model::ProjectId, Project*>> projects;
  {
    std::shared_lock<std::shared_mutex> l(mu_);
    for (const auto& [id, p] : projects_) projects.emplace_back(id, p.get());
  }
  const int64_t now = clock_->NowMicros();
  std::vector<model::Event> events;
  for (auto [id, p] : projects) {
    events.clear();
    {
      std::lock_guard<std::mutex> l(p->mu);
      Expire(p, now);
      for (auto it = p->instances.begin(); it != p->instances.end();) {
        Project::Instance& inst = it->second;
        const int64_t age = now - inst.received_us;
        if (age >= options_.stop_after_us && !inst.stopped) {
          inst.stopped = true;
          model::Event& e = events.emplace_back();
          e.time_us = now;
          e.level = model::kLevelWarning;
          e.type = model::kEventAgentStop;
          e.message = "agent stopped reporting: no active snapshot for " +
                      std::to_string(options_.stop_after_us / 1'000'000) + " s";
          e.service = inst.snap.service;
          e.instance = inst.snap.instance;
        }
        if (age >= options_.omit_after_us) {
          it = p->instances.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (const auto& e : events) events_->Append(id, e);
  }
}

void ActiveRegistry::Start() {
  std::lock_guard<std::mutex> l(loop_mu_);
  if (loop_.joinable()) return;
  stop_ = false;
  loop_ = std::thread([this] {
    std::unique_lock<std::mutex> lk(loop_mu_);
    while (!loop_cv_.wait_for(lk, std::chrono::seconds(1), [this] { return stop_; })) {
      lk.unlock();
      Sweep();
      lk.lock();
    }
  });
}

void ActiveRegistry::Stop() {
  {
    std::lock_guard<std::mutex> l(loop_mu_);
    stop_ = true;
  }
  loop_cv_.notify_all();
  if (loop_.joinable()) loop_.join();
}

}  // namespace loupe::live
