// EventJournal: the embedded engine's event table (store.h, "Events";
// byte layout: docs/format/events.md).
//
// Events of every project go to one write-ahead log (log/wal.h) in
// `dir`: AppendEvents queues them in memory, where reads see them at once,
// and a writer thread commits what is queued as one record per commit (group
// commit: an error storm costs one fsync per batch, and the pipeline thread
// that produces events never waits on the disk). Sync() waits until
// everything queued before it is durable and then writes a mark record:
// the ingest log's checkpoint calls it (through Store::Flush) before it
// deletes the requests whose transactions made those events.
//
// After a crash the ingest log replays the requests logged since its last
// checkpoint, and the replay produces their transactions' events again. At
// Open the journal reads back from its end to the second-to-last mark, which
// precedes every event a replay can produce again (the last mark may belong
// to a checkpoint that did not commit), and remembers the (project,
// transaction id, type) of those events: until the next Sync, Append skips
// an event with such a key (counted in replay_duplicates). Events without a
// transaction (agent start/stop, throttling, alerts) are not replayed and
// never skipped.
//
// Segments roll over when a UTC day begins (and at segment_bytes), so
// retention deletes whole days: DropBefore deletes the oldest segments whose
// newest event is older than the cutoff. The time range and count of every
// closed segment is kept in `segments.idx` (a line per segment, each with
// its own checksum), so Open does not read old segments and a query reads
// only the segments that overlap its range.
//
// Thread-safety: all methods are thread-safe.
#ifndef LOUPE_STORE_EMBEDDED_EVENT_JOURNAL_H_
#define LOUPE_STORE_EMBEDDED_EVENT_JOURNAL_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <span>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "common/clock.h"
#include "common/env.h"
#include "common/status.h"
#include "log/wal.h"
#include "model/event.h"
#include "store/store.h"

namespace loupe::store {

struct EventJournalOptions {
  Env* env = Env::Default();  // not owned
  Clock* clock = Clock::Real();  // not owned; its UTC day rolls segments over
  std::string dir;            // created if missing
  bool sync = true;           // fdatasync each commit (false: tests)
  uint64_t segment_bytes = 16 << 20;
  // Events queued beyond this are refused (kResourceExhausted) until the
  // writer catches up: a dead disk must not grow memory without bound.
  size_t max_queued = 100'000;
};

struct EventJournalStats {
  uint64_t events = 0;              // appended and durable (since Open)
  uint64_t replay_duplicates = 0;   // skipped: already journaled before a crash
  uint64_t refused = 0;             // queue full or the log failed
  uint64_t write_errors = 0;        // failed commits (their events are retried)
  uint64_t corrupt_reads = 0;       // scans that met a damaged segment (and skipped its rest)
  uint64_t segments = 0;            // on disk
  uint64_t bytes = 0;               // on disk
};

class EventJournal {
 public:
  static Result<std::unique_ptr<EventJournal>> Open(const EventJournalOptions& options);
  ~EventJournal();  // Close()
  EventJournal(const EventJournal&) = delete;
  EventJournal& operator=(const EventJournal&) = delete;

  // Queues the events; visible to Scan when this returns.
  Status Append(ProjectId project, std::span<const model::Event> events);

  // Events of `project` matching filter with time_us >= not_before_us,
  // newest first (append order). visit runs without the journal's lock.
  Status Scan(ProjectId project, const EventFilter& filter, int64_t not_before_us,
              const EventVisitor& visit) const;

  // Returns once every event appended before the call is durable (no mark).
  Status WaitDurable();

  // Makes every event appended before the call durable, then writes a mark
  // (see above) and ends the replay de-duplication.
  Status Sync();

  // Deletes the oldest closed segments whose newest event is before cutoff_us.
  Status DropBefore(int64_t cutoff_us);

  // Writes what is queued and stops the writer. Idempotent.
  Status Close();

  EventJournalStats stats() const;

 private:
  struct SegmentInfo {
    int64_t min_us = INT64_MAX;
    int64_t max_us = INT64_MIN;
    uint64_t events = 0;
    uint64_t bytes = 0;
  };
  struct Queued {
    uint64_t seq;
    ProjectId project;
    model::Event event;
  };
  using ReplayKey = std::tuple<ProjectId, model::TxId, std::string>;

  explicit EventJournal(const EventJournalOptions& options);
  Status Load();
  void WriterLoop();
  Status WriteIndexLocked();

  const EventJournalOptions options_;
  Env* const env_;
  std::unique_ptr<log::Wal> wal_;

  // Held exclusively by a commit and by DropBefore, shared by Scan. Lock
  // order: commit_mu_, then mu_.
  mutable std::shared_mutex commit_mu_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;     // the writer waits here for events
  std::condition_variable durable_cv_;  // Sync waits here
  std::vector<Queued> queue_;           // not yet taken by the writer
  std::vector<Queued> inflight_;        // being committed
  uint64_t next_seq_ = 1;
  uint64_t durable_seq_ = 0;            // every seq up to here is on disk
  std::map<uint64_t, SegmentInfo> segments_;  // by segment number; the last may be open
  uint64_t open_segment_ = 0;           // the segment commits go to (0: none yet)
  int64_t open_day_ = INT64_MIN;        // UTC day of the open segment's first event
  std::set<ReplayKey> replay_keys_;
  EventJournalStats stats_;
  Status writer_error_;                 // the last failed commit (cleared by a good one)
  uint64_t failed_commits_ = 0;         // Sync gives up when one fails after it began
  bool closing_ = false;
  mutable std::atomic<uint64_t> corrupt_reads_{0};
  std::thread writer_;
};

}  // namespace loupe::store

#endif  // LOUPE_STORE_EMBEDDED_EVENT_JOURNAL_H_
