// ActiveRegistry: what Loupe agents report as running right now
// (POST /v1/loupe/active, docs/format/agent-protocol.md) and the stack
// samples they took, for GET /api/v1/active and /api/v1/active-stack
// (docs/api.md). In memory only.
//
// Per project it keeps:
//  - the latest snapshot of each (service, instance) with the server time it
//    was received. A snapshot received more than stale_after ago is stale
//    (its active list is not shown); an instance unseen for omit_after is
//    forgotten. At most max_instances_per_project instances: a snapshot of a
//    new instance past it is refused (ResourceExhausted → 429).
//  - agent start/stop, as events in the EventLog: agent_start (NORMAL) for the
//    first snapshot of an instance, a new `started_ms`, or a snapshot after
//    an agent_stop; agent_stop (WARNING) when no snapshot came for
//    stop_after (found by Sweep(), which Start()'s thread runs every second).
//  - throttle events (WARNING), one per throttled entry, at most
//    max_throttle_events_per_snapshot per snapshot; the rest are folded into
//    one more event.
//  - stack samples in a ring per project, oldest first, received within
//    stack_window and at most max_stack_samples; older or excess samples are
//    dropped (counted in stack_samples_evicted()). Frame, endpoint and name
//    texts are interned with reference counts; when the distinct texts of a
//    project would pass max_stack_text_bytes, new samples that need new
//    texts are dropped (counted in stack_samples_dropped()).
//
// Thread-safety: all methods are thread-safe (one mutex per project).
#ifndef LOUPE_LIVE_ACTIVE_REGISTRY_H_
#define LOUPE_LIVE_ACTIVE_REGISTRY_H_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "live/event_log.h"
#include "model/active.h"
#include "model/project.h"

namespace loupe::live {

struct ActiveOptions {
  int64_t stale_after_us = 5'000'000;
  int64_t stop_after_us = 30'000'000;
  int64_t omit_after_us = 600'000'000;
  size_t max_instances_per_project = 10000;
  int64_t stack_window_us = 3600'000'000;
  size_t max_stack_samples = 1'000'000;     // per project
  size_t max_stack_text_bytes = 64u << 20;  // distinct interned texts per project
  size_t max_throttle_events_per_snapshot = 10;
};

// What Submit() did with a snapshot.
struct SubmitStats {
  size_t stack_samples_kept = 0;
  size_t stack_samples_dropped = 0;  // text budget exhausted
  size_t stack_samples_evicted = 0;  // older samples pushed out by the sample cap
  size_t events = 0;                 // events appended to the log
};

struct ActiveQuery {
  std::string service;   // exact; empty: any
  std::string instance;  // exact; empty: any
  size_t limit = 1000;   // active transactions listed per instance
  // Band thresholds (µs, increasing) of a service: n thresholds make n + 1
  // bands. Called once per listed instance; null: no bands.
  std::function<std::vector<int64_t>(const std::string& service)> thresholds;
};

struct InstanceActive {
  std::string service, instance, host, agent;
  int64_t time_us = 0;      // the snapshot's time (agent clock)
  int64_t received_us = 0;  // when the server received it
  int64_t started_us = 0;
  bool stale = false;
  std::vector<uint64_t> bands;  // thresholds.size() + 1 counts; empty when stale
  int64_t throttled_total = 0;  // the agent's cumulative throttled counter
  size_t active_total = 0;      // before `limit`; 0 when stale
  // Elapsed extrapolated to now (elapsed + now - received), longest first,
  // at most `limit`; empty when stale.
  std::vector<model::ActiveTx> active;
};

struct StackQuery {
  int64_t from_us = 0;  // sample time_us in [from_us, to_us)
  int64_t to_us = INT64_MAX;
  std::string service, instance, endpoint;  // exact; empty: any
  size_t limit = 100;                       // frames listed
};

struct StackFrameCount {
  std::string frame;
  uint64_t samples = 0;       // samples with this frame anywhere (once per sample)
  uint64_t self_samples = 0;  // samples with this frame innermost
};

struct StackAggregate {
  uint64_t samples = 0;
  std::vector<StackFrameCount> frames;  // by samples desc, then frame; at most limit
  std::vector<std::pair<std::string, uint64_t>> endpoints;  // by samples desc
};

class ActiveRegistry {
 public:
  // `clock` and `events` must outlive the registry.
  ActiveRegistry(Clock* clock, EventLog* events, ActiveOptions options = {});
  ~ActiveRegistry();  // Stop()s
  ActiveRegistry(const ActiveRegistry&) = delete;
  ActiveRegistry& operator=(const ActiveRegistry&) = delete;

  // Records a decoded snapshot (REQUIRES: service and instance non-empty).
  // ResourceExhausted if it is a new instance past the project's cap;
  // Unavailable if memory ran out.
  Result<SubmitStats> Submit(model::ProjectId project, model::ActiveSnapshot snapshot) noexcept;

  // Instances of the project seen within omit_after, sorted by service and
  // instance.
  std::vector<InstanceActive> Active(model::ProjectId project, const ActiveQuery& q) const;

  StackAggregate Stacks(model::ProjectId project, const StackQuery& q) const;

  // Emits agent_stop events, forgets old instances and expires stack samples.
  void Sweep();
  // Start() runs Sweep() every second on a thread until Stop(). Idempotent.
  void Start();
  void Stop();

  uint64_t stack_samples_dropped() const { return stack_dropped_.load(); }
  uint64_t stack_samples_evicted() const { return stack_evicted_.load(); }
  const ActiveOptions& options() const { return options_; }

 private:
  struct Project;
  Project* Find(model::ProjectId project) const;
  Project* FindOrCreate(model::ProjectId project);
  void Expire(Project* p, int64_t now_us);  // REQUIRES: p->mu held

  Clock* const clock_;
  EventLog* const events_;
  const ActiveOptions options_;

  mutable std::shared_mutex mu_;  // guards projects_ (the map)
  std::unordered_map<model::ProjectId, std::unique_ptr<Project>> projects_;

  std::atomic<uint64_t> stack_dropped_{0};
  std::atomic<uint64_t> stack_evicted_{0};

  std::mutex loop_mu_;
  std::condition_variable loop_cv_;
  bool stop_ = false;  // guarded by loop_mu_
  std::thread loop_;
};

}  // namespace loupe::live

#endif  // LOUPE_LIVE_ACTIVE_REGISTRY_H_
