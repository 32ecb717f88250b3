// DeliveryQueue: the durable FIFO of one notification channel.
//
// Why the WAL: the queue is "a log of its own" (STYLE.md): every change is a
// record appended to a write-ahead log in the channel's directory, through
// the same Wal/WalReader the ingest log uses (log/wal.h). That gives
// checksummed, fsync'd records, torn-tail handling after a crash and segment
// deletion for free, so this class only defines three records
// (docs/design/notify.md, "Queue format"):
//   'E' enqueue:  seq, enqueue time, encoded Notification
//   'D' done:     seq (delivered, failed for good, expired or dropped)
//   'S' snapshot: next seq and every pending entry; written by
//                 Wal::Checkpoint, which deletes the older segments.
// Replay applies them in order; what is enqueued and not done is pending.
// Push returns only once its record is durable, so an acknowledged
// notification survives kill -9 and machine crashes. A crash between a
// delivery and its 'D' record delivers that notification again after restart
// (at least once; receivers de-duplicate by the notification id).
//
// Bounded: at most max_entries pending. Push into a full queue drops the
// OLDEST pending entry (recorded with a 'D' record) and reports it, so fresh
// alerts keep flowing when a receiver has been dead for long.
//
// Thread-safety: thread-safe; appends are serialized by the queue's mutex
// (a channel enqueues a few notifications a minute, so group commit buys
// nothing here, and serializing keeps a snapshot from racing an append).
#ifndef LOUPE_NOTIFY_DELIVERY_QUEUE_H_
#define LOUPE_NOTIFY_DELIVERY_QUEUE_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/env.h"
#include "common/status.h"
#include "notify/notification.h"
#include "log/wal.h"

namespace loupe::notify {

// Push refuses larger encoded notifications (kInvalidArgument): one message
// never needs more, and the bound keeps snapshots small.
inline constexpr size_t kMaxNotificationBytes = 256 << 10;

struct DeliveryQueueOptions {
  Env* env = Env::Default();  // not owned
  std::string dir;            // created if missing; one queue per directory
  size_t max_entries = 10'000;
  // A snapshot is written (and older segments deleted) after this many
  // records since the last one.
  size_t checkpoint_every = 256;
  bool sync = true;  // false only in tests that do not test durability
};

struct QueueEntry {
  uint64_t seq = 0;         // position in the channel's order, from 1
  int64_t enqueued_ms = 0;  // wall clock at Push
  Notification notification;
};

struct QueueReplayStats {
  uint64_t pending = 0;      // entries pending after replay
  uint64_t undecodable = 0;  // entries skipped: their notification did not decode
  bool torn_tail = false;    // the log ended in a torn commit (a crash mid-write)
};

class DeliveryQueue {
 public:
  // Replays the log in options.dir and opens it for appending. Takes a lock
  // file in dir (kUnavailable if another queue holds it). kCorruption when
  // the log is damaged other than by a torn tail.
  static Result<std::unique_ptr<DeliveryQueue>> Open(const DeliveryQueueOptions& options);

  ~DeliveryQueue();
  DeliveryQueue(const DeliveryQueue&) = delete;
  DeliveryQueue& operator=(const DeliveryQueue&) = delete;

  // Appends n durably. If the queue was full, the oldest entry was removed
  // first and is returned in *dropped (else *dropped is reset). On error the
  // notification is not queued (kResourceExhausted: disk full;
  // kInvalidArgument: over kMaxNotificationBytes).
  Status Push(const Notification& n, int64_t now_ms, std::optional<QueueEntry>* dropped);

  // A copy of the oldest pending entry, if any.
  std::optional<QueueEntry> Front() const;

  // Marks entry `seq` done. No-op (OK) when it is not pending (already
  // removed, e.g. dropped while it was being delivered). The entry leaves the
  // in-memory queue even when writing the record fails; the error is
  // returned and the entry may then come back after a restart.
  Status Remove(uint64_t seq);

  size_t size() const;

  // Closes the log and releases the directory lock; later Push and Remove
  // fail with kUnavailable (pending entries stay readable). Idempotent; the
  // destructor calls it.
  void Close();

  const QueueReplayStats& replay_stats() const { return replay_; }

 private:
  explicit DeliveryQueue(const DeliveryQueueOptions& options);
  Status Replay();
  // REQUIRES: mu_ held.
  Status AppendLocked(const std::string& record);
  Status MaybeCheckpointLocked();

  const DeliveryQueueOptions options_;
  QueueReplayStats replay_;

  mutable std::mutex mu_;
  std::unique_ptr<log::Wal> wal_;      // GUARDED_BY(mu_)
  std::unique_ptr<FileLock> lock_;       // GUARDED_BY(mu_)
  std::deque<QueueEntry> entries_;       // GUARDED_BY(mu_); ascending seq
  uint64_t next_seq_ = 1;                // GUARDED_BY(mu_)
  size_t records_since_checkpoint_ = 0;  // GUARDED_BY(mu_)
};

}  // namespace loupe::notify

#endif  // LOUPE_NOTIFY_DELIVERY_QUEUE_H_
