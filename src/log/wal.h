// Wal: a generic write-ahead log of opaque records with group commit, and
// WalReader, which replays it. Byte layout: docs/format/wal.md.
//
// The log is a directory of segment files (000…001.wal, 000…002.wal, …).
// Records are written in commits: the records of all threads waiting in
// Append when a commit starts are framed as one checksummed chunk, written
// with one write and made durable with one fdatasync (group commit). Append
// returns only after its record's commit is durable (or failed).
//
// Failure model. A commit that fails (write or fsync error, disk full) fails
// every Append in it, and the segment is abandoned: the next commit starts a
// new segment whose header records where the valid data of the previous one
// ends, so the reader ignores whatever the failed commit left behind. An
// fsync error is never retried on the same file (after a failed fsync the
// kernel may have dropped the dirty pages). A crash leaves at most the last
// commit of the last segment torn; Wal::Open finds where the valid data ends
// and starts a new segment after it, and WalReader cuts the torn tail.
//
// Thread-safety: Append, Checkpoint, Rollover, DeleteSegmentsBefore and
// stats() may be called concurrently. WalReader is not thread-safe.
#ifndef LOUPE_LOG_WAL_H_
#define LOUPE_LOG_WAL_H_

#include <compare>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/env.h"
#include "common/status.h"

namespace loupe::log {

// Where a record is: segment number, byte offset of its commit chunk in the
// segment file, and its index among the chunk's records. Ordered like the log.
struct WalPosition {
  uint64_t segment = 0;
  uint64_t offset = 0;
  uint32_t index = 0;
  auto operator<=>(const WalPosition&) const = default;
};

struct WalOptions {
  Env* env = Env::Default();  // not owned; must outlive the Wal
  std::string dir;            // created if missing
  // A commit that would grow the segment past this starts a new segment
  // (a single commit larger than this gets a segment of its own).
  uint64_t segment_bytes = 64 << 20;
  // fdatasync each commit. false only for tests and benchmarks: records are
  // then handed to the OS but not durable.
  bool sync = true;
  // Before writing, a commit waits up to this long for more records to join
  // it, unless max_commit_bytes are already waiting (PostgreSQL commit_delay).
  // 0: commit at once; concurrent writers still share fsyncs because records
  // that arrive during a commit's fsync form the next commit.
  int64_t commit_delay_us = 0;
  // Upper bound of one commit's payload (a larger single record still goes alone).
  size_t max_commit_bytes = 4 << 20;
  // Append rejects larger records with kInvalidArgument.
  size_t max_record_bytes = 256 << 20;
};

struct WalStats {
  uint64_t records = 0;  // appended successfully
  uint64_t commits = 0;  // successful commits (one write + one fsync each)
  uint64_t bytes = 0;    // bytes written by successful commits
  uint64_t failed_commits = 0;
  uint64_t segment = 0;  // current segment number
};

class Wal {
 public:
  // Opens or creates the log in options.dir: finds the end of valid data of
  // the newest segment (cutting a torn tail) and starts a new segment after
  // it. Returns kCorruption (naming the file and offset) when the newest
  // segment is damaged before its end, i.e. not merely torn.
  static Result<std::unique_ptr<Wal>> Open(const WalOptions& options);

  // Waits for in-flight commits, then closes the segment file.
  ~Wal();

  Wal(const Wal&) = delete;
  Wal& operator=(const Wal&) = delete;

  // Appends one record and returns its position once durable. On error the
  // record may or may not be in the log (a reader never returns it unless the
  // commit became durable); the caller may retry, and must tolerate
  // duplicates if the reader sees both. kResourceExhausted: disk full.
  // kUnavailable: closed. REQUIRES: record.size() <= max_record_bytes.
  Result<WalPosition> Append(std::string_view record);

  // Makes the next commit start a new segment.
  void Rollover();

  // For a checkpoint taken by the caller: makes the next commit start a new
  // segment (unless the current one holds no record yet) and returns the
  // number of the segment every record appended from now on goes to, or
  // after. REQUIRES: no Append in progress (the caller quiesces its writers),
  // so no record can land before the returned segment afterwards.
  uint64_t RolloverForCheckpoint();

  // Starts a new segment, appends `record` as the first record of it and
  // deletes all older segments: replay from the oldest remaining segment then
  // begins with this record. Records appended concurrently may land before
  // it in the new segment; a caller that cares quiesces its writers first.
  Result<WalPosition> Checkpoint(std::string_view record);

  // Deletes segment files numbered below `segment` (never the current one).
  Status DeleteSegmentsBefore(uint64_t segment);

  // Waits for in-flight commits and closes the file. Later Appends fail
  // with kUnavailable. Idempotent.
  Status Close();

  WalStats stats() const;

 private:
  struct Writer;

  explicit Wal(const WalOptions& options);
  Status Recover();
  // Leader-only helpers (the thread at the front of queue_).
  Status WriteCommit(const std::vector<Writer*>& batch, WalPosition* first);
  Status StartSegment();

  const WalOptions options_;
  Env* const env_;

  mutable std::mutex mu_;
  std::condition_variable leader_cv_;  // a delayed leader waits here for company
  std::condition_variable idle_cv_;    // Close waits here for the queue to drain
  std::deque<Writer*> queue_;          // GUARDED_BY(mu_); front() is the leader
  size_t queued_bytes_ = 0;            // GUARDED_BY(mu_)
  bool closed_ = false;                // GUARDED_BY(mu_)
  bool rollover_ = false;              // GUARDED_BY(mu_)
  WalStats stats_;                     // GUARDED_BY(mu_)

  // Owned by the leader (or by Open/Close when queue_ is empty).
  std::unique_ptr<WritableFile> file_;
  uint64_t segment_ = 0;  // number of file_ (0: none yet)
  uint64_t offset_ = 0;   // bytes in file_ that are valid log data
  bool broken_ = false;   // file_ had a failed write/sync: abandon it
  std::string buf_;
};

struct WalReadStats {
  uint64_t records = 0;
  uint64_t segments = 0;
  bool torn_tail = false;        // the newest segment ended in a torn commit
  uint64_t torn_bytes = 0;       // bytes cut from it
  uint64_t abandoned_bytes = 0;  // bytes after failed commits, skipped
};

// Reads the records of a log directory in order, from a position on.
// Record views stay valid until the next call of Next.
class WalReader {
 public:
  // REQUIRES: no Wal is being written in dir, or only records appended before
  // Open are wanted.
  static Result<std::unique_ptr<WalReader>> Open(Env* env, const std::string& dir,
                                                 WalPosition from = {});

  // Sets *record and *pos to the next record and returns true; returns false
  // at the end of the log or on error (then status() is not OK: kCorruption
  // with file name and offset for damage other than a torn tail).
  bool Next(std::string_view* record, WalPosition* pos);

  const Status& status() const { return status_; }
  const WalReadStats& stats() const { return stats_; }

 private:
  WalReader(Env* env, std::string dir, std::vector<uint64_t> segments, WalPosition from);
  bool LoadSegment();

  Env* const env_;
  const std::string dir_;
  const std::vector<uint64_t> segments_;  // ascending
  const WalPosition from_;
  size_t next_segment_ = 0;  // index into segments_ of the segment to load next
  Status status_;
  WalReadStats stats_;

  // The loaded segment (mapped, or read into owned_ when the Env does not
  // map files) and the parse state of its current chunk.
  std::unique_ptr<RandomAccessFile> file_;
  std::string owned_;
  std::string_view data_;
  uint64_t segment_ = 0;
  uint64_t limit_ = 0;      // valid data ends here
  uint64_t chunk_off_ = 0;  // offset of the current chunk
  uint64_t next_off_ = 0;   // offset after it
  uint32_t index_ = 0;      // index of the next record within the chunk
  std::string_view chunk_;  // unread payload of the current chunk
  bool loaded_ = false;
  bool is_last_ = false;  // tail damage here may be a torn commit
};

// Segment file name ("00000000000000000012.wal") and its parse.
std::string WalSegmentName(uint64_t segment);
bool ParseWalSegmentName(std::string_view name, uint64_t* segment);

}  // namespace loupe::log

#endif  // LOUPE_LOG_WAL_H_
