// LiveState: in-memory real-time figures per project, fed by ingest with
// every stored transaction and read once a second by the live stream
// (GET /api/v1/live) and by GET /api/v1/summary. See docs/api.md.
//
// Per project it keeps:
//  - a per-second ring of the last `window_seconds` (count, errors, summed
//    elapsed), bucketed by the transaction's END second. Transactions ending
//    before the ring's start are ignored for live figures (they still count in
//    today's calls); ends in the future (agent clock skew) count in the
//    current second.
//  - today's calls: transactions ending since the server's local midnight;
//    resets at midnight.
//  - distinct users (user id, else client IP) per minute in HyperLogLogs, for
//    "concurrent users" = distinct users in the last `users_window_minutes`
//    (at minute granularity: the current minute and the N before it).
//  - the X-View points recorded since the last frame (at most
//    max_points_per_frame; the excess is counted in points_dropped).
//  - error events, appended to the EventLog (live/event_log.h) shared with
//    the other event producers (ActiveRegistry): at most
//    max_events_per_frame errors are recorded per frame interval, the excess
//    is counted in events_dropped (a storm of errors must not flood the
//    stream, nor push agent events out of the log). A frame carries the
//    log's events of every type appended since the previous frame (at most
//    max_events_per_frame, the newest; the rest count as dropped).
//
// Thread-safety: all methods are thread-safe. Record() takes a per-project
// mutex for ~100 ns and does not allocate once a project's buffers have
// grown (the first transaction of a project allocates its state, and error
// events may grow their strings).
#ifndef LOUPE_LIVE_LIVE_STATE_H_
#define LOUPE_LIVE_LIVE_STATE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <functional>
#include <vector>

#include "common/clock.h"
#include "live/event_log.h"
#include "model/event.h"
#include "model/project.h"
#include "model/transaction.h"

namespace loupe::live {

struct LiveOptions {
  int window_seconds = 600;      // per-second ring length
  int users_window_minutes = 5;  // concurrent users window
  int hll_precision = 12;        // 4 KiB per minute per project, ~1.6% error
  size_t max_points_per_frame = 5000;
  size_t max_events_per_frame = 50;
  size_t recent_events = 200;  // capacity of the EventLog LiveState makes when given none
  // A transaction slower than this (µs) for its service is a BAD_RESPONSE_TIME
  // event (when it did not fail: a failure is its own event). Null, or 0 for
  // a service: none. The server uses the service's highest active band.
  std::function<int64_t(model::ProjectId, const std::string& service)> bad_response_us;
};

// One X-View point (a finished transaction).
struct LivePoint {
  model::TxId id = 0;
  int64_t end_us = 0;
  int64_t elapsed_us = 0;
  bool error = false;
};

// An error event's time is the transaction's end; its message the error
// type, else "HTTP <status>", else "error".
using LiveEvent = model::Event;

// One tick of the live stream.
struct LiveFrame {
  int64_t t_us = 0;       // now, rounded down to the second
  int64_t second_us = 0;  // start of the last whole second (t_us - 1 s)
  uint64_t tps = 0;       // transactions that ended in that second
  double avg_ms = 0;      // their mean elapsed; NaN when there were none
  uint64_t errors = 0;    // errors among them
  uint64_t today_calls = 0;
  uint64_t concurrent_users = 0;
  std::vector<LivePoint> points;  // recorded since the previous frame, in arrival order
  uint64_t points_dropped = 0;
  std::vector<LiveEvent> events;  // recorded since the previous frame
  uint64_t events_dropped = 0;
};

// Figures for GET /api/v1/summary.
struct LiveSummary {
  uint64_t today_calls = 0;
  double tps = 0;         // over the last 60 whole seconds
  double avg_ms = 0;      // NaN when no transaction
  double error_rate = 0;  // percent; NaN when no transaction
  uint64_t concurrent_users = 0;
};

// What a restarted server knows of a project's recent past, from its store
// (LiveState::Restore): the figures LiveState would hold had it run all day.
struct LiveSeed {
  // Transactions that ended since the local midnight of now_us.
  uint64_t today_calls = 0;
  // Per-second figures of the last window_seconds (older seconds are
  // ignored), by the transactions' end second.
  struct Second {
    int64_t sec = 0;  // Unix seconds
    uint32_t count = 0;
    uint32_t errors = 0;
    int64_t sum_elapsed_us = 0;
  };
  std::vector<Second> seconds;
  // Users (user id, else client IP) of transactions that ended in the last
  // users_window_minutes + 1 minutes: (end time µs, user). Older ones are
  // ignored.
  std::vector<std::pair<int64_t, std::string>> users;
};

// Start of the local day containing t_us (server time zone), in µs.
int64_t LocalMidnightMicros(int64_t t_us);

class LiveState {
 public:
  // `clock` and `events` must outlive the LiveState. With `events` null the
  // LiveState keeps its own log of options.recent_events per project.
  explicit LiveState(Clock* clock, LiveOptions options = {}, EventLog* events = nullptr);
  ~LiveState();
  LiveState(const LiveState&) = delete;
  LiveState& operator=(const LiveState&) = delete;

  // Called by ingest for every stored transaction (once per transaction).
  // Reads id, start/end, status, error, user (else client_ip), and for errors
  // service, endpoint and error_type; ingest passes only those (pipeline.cc).
  void Record(model::ProjectId project, const model::Transaction& tx) noexcept;

  // The BAD_RESPONSE_TIME threshold of a service (µs; 0: none), from
  // options.bad_response_us, asked at most once a second per service.
  // Callers that copy transactions for Record use it to keep the names of
  // the slow ones only.
  int64_t BadResponseUs(model::ProjectId project, const std::string& service) noexcept;

  // Replaces the project's today's calls, per-second ring and users with
  // `seed` (as of now_us), so that a restart does not blank "today" and the
  // recent figures. Points and events are left alone. Meant for start-up,
  // before ingest runs: a Record() racing with it may be lost.
  void Restore(model::ProjectId project, int64_t now_us, const LiveSeed& seed);

  // Fills *frame (reusing its buffers) for `project` at now_us and resets the
  // project's per-frame points and events. Call once per tick per project;
  // a project never recorded yields an empty frame.
  void TakeFrame(model::ProjectId project, int64_t now_us, LiveFrame* frame);

  // Moves only the pending X-View points (and their drop count) into *frame's
  // points/points_dropped, leaving the per-second figures and events for the
  // next TakeFrame. Lets the stream deliver dots several times a second.
  // Returns false (and leaves *frame's points empty) when there are none.
  bool TakePoints(model::ProjectId project, LiveFrame* frame);

  LiveSummary Summary(model::ProjectId project, int64_t now_us) const;

  // Up to `limit` most recent events (of every type), newest first.
  std::vector<LiveEvent> RecentEvents(model::ProjectId project, size_t limit) const;

  // Projects that have recorded anything.
  std::vector<model::ProjectId> Projects() const;

  const LiveOptions& options() const { return options_; }
  // The event log error events go to (owned or borrowed).
  EventLog* events() const { return events_; }

 private:
  struct ProjectLive;

  ProjectLive* Find(model::ProjectId project) const;
  // REQUIRES: p->mu held.
  int64_t BadResponseLocked(ProjectLive* p, model::ProjectId project, const std::string& service,
                            int64_t now_sec) noexcept;
  ProjectLive* FindOrCreate(model::ProjectId project);
  // [start, end) of the local day containing now_us, cached.
  void DayBounds(int64_t now_us, int64_t* start, int64_t* end) const;

  Clock* const clock_;
  const LiveOptions options_;
  std::unique_ptr<EventLog> own_events_;
  EventLog* const events_;

  mutable std::shared_mutex projects_mu_;
  std::unordered_map<model::ProjectId, std::unique_ptr<ProjectLive>> projects_;

  mutable std::mutex day_mu_;
  mutable std::atomic<int64_t> day_start_us_{0};
  mutable std::atomic<int64_t> day_end_us_{0};
};

}  // namespace loupe::live

#endif  // LOUPE_LIVE_LIVE_STATE_H_
