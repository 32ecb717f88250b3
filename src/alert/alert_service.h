// AlertService: runs the alert rules of every project (issue 12 §2).
//
// Every tick (5 s) it reads the rules and silences of AlertConfig, has the
// Evaluator advance every alert over fresh signal samples, and then
//  - appends each state change to the EventLog as an `alert` event (level
//    WARNING or FATAL when firing, NORMAL when resolved) and to the
//    project's alert history;
//  - hands the notifications of the tick to the AlertSink, grouped: the
//    alerts of one rule that changed in one tick make one notice (thirty
//    endpoints firing at once is one message listing thirty, not thirty).
// The sink queues; it must not block (notify/ delivers on its own threads).
//
// Durable state: with options.state_path set, the evaluator's alerts (ids,
// `for` timers, firing levels, repeat timers) and the history are written
// there (alert_state.h; temporary file, fsync, rename, directory fsync) after
// each tick that changed them, after the tick's notices were queued, and read
// back on construction: a restart continues every alert (same id and since,
// no second "firing" message) and keeps the history. A file that cannot be
// decoded is logged, renamed to "<state_path>.bad" and the service starts
// empty; a failed write is logged and retried on the next tick.
//
// Cost: one rollup scan per project and rule window per tick (StoreSignalSource),
// then constant work per rule and scope. CPU time per tick is kept for
// /metrics (evaluation_cpu_us_total) — the budget is 5 % of a core for 1,000
// rules over 1,000 endpoints (docs/benchmarks.md).
//
// Thread-safety: Start/Stop from one thread; everything else is thread-safe.
#ifndef LOUPE_ALERT_ALERT_SERVICE_H_
#define LOUPE_ALERT_ALERT_SERVICE_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "alert/alert_config.h"
#include "alert/evaluator.h"
#include "common/clock.h"
#include "common/env.h"
#include "common/metrics.h"
#include "live/event_log.h"

namespace loupe::alert {

// The alerts of one rule that are to be sent in one tick.
struct AlertNotice {
  AlertRule rule;
  std::vector<AlertChange> changes;  // each with notify set, same rule
};

class AlertSink {
 public:
  virtual ~AlertSink() = default;
  // Queues the notice for the rule's channels. Must not block.
  virtual void Notify(const AlertNotice& notice) = 0;
};

struct AlertServiceOptions {
  int64_t tick_us = 5'000'000;
  size_t history_per_project = 10'000;  // state changes kept for GET /api/v1/alerts
  std::string state_path;               // DATA_DIR/alert-state.bin; empty: memory only
  Env* env = nullptr;                   // file I/O for state_path; null: Env::Default()
};

class AlertService {
 public:
  using SourceFactory = std::function<std::unique_ptr<SignalSource>()>;

  // All pointers must outlive the service; events and sink may be null.
  AlertService(AlertConfig* config, SourceFactory sources, live::EventLog* events,
               AlertSink* sink, Clock* clock, AlertServiceOptions options = {});
  ~AlertService();
  AlertService(const AlertService&) = delete;
  AlertService& operator=(const AlertService&) = delete;

  // Runs Tick every options.tick_us on a thread of its own until Stop.
  void Start();
  void Stop();

  // One evaluation at the clock's now (the thread's body; tests call it).
  void Tick();

  // Pending and firing alerts of a project.
  std::vector<Alert> Current(uint32_t project) const;
  // State changes of a project with at_us in [from_us, to_us), newest first.
  std::vector<AlertChange> History(uint32_t project, int64_t from_us, int64_t to_us,
                                   size_t limit) const;

  // What `rule` would have done over [from_us, to_us), evaluated every
  // step_us against past data (POST /api/v1/alert-rules/{id}/test).
  std::vector<AlertChange> Test(const AlertRule& rule, int64_t from_us, int64_t to_us,
                                int64_t step_us) const;

  struct Stats {
    uint64_t ticks = 0;
    uint64_t evaluation_cpu_us = 0;  // thread CPU time spent in Tick, total
    uint64_t last_tick_cpu_us = 0;
    uint64_t rules = 0;              // enabled rules at the last tick
    uint64_t firing = 0;             // firing alerts after the last tick
    uint64_t notices = 0;            // notices handed to the sink
    uint64_t state_writes = 0;       // durable state files written
    uint64_t state_write_errors = 0;
  };
  Stats stats() const;

  // Adds to /metrics, read at scrape time: loupe_alert_rules,
  // loupe_alerts_firing (gauges), loupe_alert_evaluations_total,
  // loupe_alert_evaluation_cpu_seconds_total, loupe_alert_notices_total,
  // loupe_alert_config_refused_total (rules, channels, silences over a cap).
  // The service must outlive the registry's last Render().
  void RegisterMetrics(MetricsRegistry* metrics);

 private:
  void Run();
  void Record(const std::vector<AlertChange>& changes, const std::vector<AlertRule>& rules);
  // Reads options_.state_path (constructor); moves a bad file aside.
  void LoadState();
  // Writes the state if it changed since the last write. REQUIRES: tick_mu_ held.
  void SaveState();

  AlertConfig* const config_;
  const SourceFactory sources_;
  live::EventLog* const events_;
  AlertSink* const sink_;
  Clock* const clock_;
  const AlertServiceOptions options_;

  std::mutex tick_mu_;  // one Tick at a time; guards evaluator_, source_, rules_
  Evaluator evaluator_;
  std::unique_ptr<SignalSource> source_;
  std::vector<AlertRule> rules_;
  uint64_t rules_version_ = 0;
  Env* const env_;
  uint64_t saved_state_version_ = 0;  // evaluator_.state_version() last written
  bool history_dirty_ = false;        // history changed since the last write (under mu_)

  mutable std::mutex mu_;  // guards what readers see
  std::map<uint32_t, std::vector<Alert>> current_;
  std::map<uint32_t, std::deque<AlertChange>> history_;  // oldest first
  Stats stats_;

  std::mutex run_mu_;
  std::condition_variable run_cv_;
  bool stop_ = false;
  std::thread thread_;
};

// The dashboard view of an alert, relative to the dashboard's root: the
// X-View of its scope from a window before since_us to a minute after
// until_us (errors only for error signals), "/#/xview?project=…".
std::string AlertLink(std::string_view project, const AlertRule& rule, const ScopeKey& scope,
                      int64_t since_us, int64_t until_us);

// The text of an alert event: "identity errors · error_rate 12.5 ≥ 10
// (critical) · identity POST /login".
std::string AlertText(const AlertRule& rule, const AlertChange& change);

}  // namespace loupe::alert

#endif  // LOUPE_ALERT_ALERT_SERVICE_H_
