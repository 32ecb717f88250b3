// EventLog: the recent events of each project (docs/api.md, GET
// /api/v1/events and the live stream's `events`), in memory.
//
// Per project a ring of the last `capacity` events in append order; the
// oldest is overwritten (and counted in evicted()). Every append gets a
// per-project sequence number (1, 2, ...), so readers can take "what is new
// since seq N" (the live stream) without a second buffer.
// Producers: LiveState (transaction errors, with its per-frame storm cap),
// ActiveRegistry (agent_start, agent_stop, throttle), AlertService (alert).
// The ring is what the live stream and alert rules read; the durable copy
// of every event is the store's (store.h, "Events"), which the server keeps
// by setting a sink that receives each appended event.
//
// Thread-safety: all methods are thread-safe (one mutex per project, held
// for the copy of one event on append).
#ifndef LOUPE_LIVE_EVENT_LOG_H_
#define LOUPE_LIVE_EVENT_LOG_H_

#include <atomic>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/event.h"
#include "model/project.h"

namespace loupe::live {

struct EventQuery {
  int64_t from_us = 0;        // time_us >= from_us
  int64_t to_us = INT64_MAX;  // time_us < to_us
  std::string level;          // exact ("WARNING"); empty: any
  std::string type;           // exact ("agent_stop"); empty: any
  std::string service;        // exact; empty: any
  size_t limit = 1000;
};

struct EventPage {
  std::vector<model::Event> events;  // newest first (by append order)
  bool truncated = false;            // more events matched than `limit`
};

class EventLog {
 public:
  explicit EventLog(size_t capacity_per_project = 10000);
  ~EventLog();
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  // Called with every appended event, after the ring took it, outside the
  // ring's lock; it must not call back into the log. Set before the first
  // Append (not thread-safe against Append).
  using Sink = std::function<void(model::ProjectId, const model::Event&)>;
  void SetSink(Sink sink) { sink_ = std::move(sink); }

  // Appends (copying) the event and hands it to the sink; returns its
  // sequence number, 0 if memory ran out (the event is then dropped and
  // counted in dropped()).
  uint64_t Append(model::ProjectId project, const model::Event& e) noexcept;

  // Matching events newest first, in append order (agents' clocks may
  // disagree, so the order is arrival, not time_us).
  EventPage Query(model::ProjectId project, const EventQuery& q) const;

  // Appends to *out the events with sequence > after (oldest first), at most
  // `max` of them — the newest `max` when more are pending; *skipped gets the
  // number left out (not counting those already evicted from the ring, which
  // add to it too). Returns the sequence of the newest event (the next
  // `after`).
  uint64_t Since(model::ProjectId project, uint64_t after, size_t max,
                 std::vector<model::Event>* out, uint64_t* skipped) const;

  // Sequence of the newest event of the project; 0 if none.
  uint64_t LastSeq(model::ProjectId project) const;

  size_t capacity() const { return capacity_; }
  uint64_t evicted() const;  // overwritten by newer events, all projects
  uint64_t dropped() const;  // lost to allocation failure

 private:
  struct Ring;
  Ring* Find(model::ProjectId project) const;
  Ring* FindOrCreate(model::ProjectId project);

  const size_t capacity_;
  Sink sink_;
  mutable std::shared_mutex mu_;  // guards rings_ (the map, not the rings)
  std::unordered_map<model::ProjectId, std::unique_ptr<Ring>> rings_;
  std::atomic<uint64_t> evicted_{0};
  std::atomic<uint64_t> dropped_{0};
};

}  // namespace loupe::live

#endif  // LOUPE_LIVE_EVENT_LOG_H_
