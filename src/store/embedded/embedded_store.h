// The embedded storage engine: store::Store over a data directory of
// time-partitioned columnar segment files (docs/format/segment.md).
//
// Layout. Per project, transactions are partitioned by end time
// (floor(end_us / partition_us), default one hour). A partition has a
// memtable (rows in memory, profiles encoded) and a list of immutable
// segments. When the memtables of all projects together exceed
// memtable_bytes, a background thread writes each partition's memtable to a
// new segment; Flush() does the same synchronously.
//
// Durability. Append makes a batch visible, not durable: durability comes
// from the ingest log that sits before the assembler
// (docs/design/storage.md). Flush() makes everything appended so far durable
// in segments; Close() calls it. After a crash, data appended since the last
// Flush is gone from the store and must be replayed from the ingest log
// (Append is idempotent, so replaying what already reached a segment is
// harmless).
//
// Idempotence and late steps. Append skips a transaction whose id is in a
// memtable or any segment of the project (Bloom filter, then binary search
// over the segment's sorted ids). Late steps of a transaction still in the
// mutable memtable are merged into its profile; of a flushed (or flushing)
// transaction they are de-duplicated by span id against what is stored and
// kept as "late records" of the transaction's partition, written to the
// partition's next segment and merged at read time (Get/GetTrace append the
// steps and re-sort by start; Scan adds their summary counts). Either way
// the steps' summary increase is added to the rollup cells of the
// transaction's end time and groups in the partition's mutable memtable
// (which may then hold cells and no rows), so the rollup files written with
// the next segment count it; the late record names its cell, so a rebuild
// from the segment does too (docs/format/rollup.md).
//
// Compaction (compaction.cc). A closed partition (its hour ended more than
// compaction_grace_us ago) with more than one segment is rewritten into one
// segment in the background: rows merged by end time, one dictionary set,
// late steps of its own rows folded into their profiles. The new segment is
// written whole (tmp, fsync, rename, directory fsync) without any lock, then
// swapped for the old ones under the project lock and the old files deleted.
// Its meta block lists the sequence numbers it replaces, so after a crash
// between the rename and the deletes, Open deletes the replaced files
// (docs/format/segment.md, "Compaction").
//
// Retention (retention.cc). A partition whose end is at least the project's
// retention_days before now is dropped whole (from memory under the project
// lock, then its .seg files deleted) by a background pass every
// maintenance_interval_us, and at Open (by file name, before reading).
// Append skips (and counts) transactions whose partition is already expired,
// so late old data cannot resurrect a dropped partition. Rollup files
// ("<project>_<partition>_<seq>.rollup") past rollup_retention_days are
// deleted by the same pass; .seg retention never touches them.
//
// Corruption. A segment whose trailer, meta block, dictionaries or late
// steps fail their checksums is skipped at open (logged, counted in
// EmbeddedStats::corrupt_segments); the rest of the store opens. A damaged
// row group or profile block is found when read: Scan delivers every
// readable row, skips the group and then returns kCorruption naming the
// file; Get of a row in a damaged group or block returns kCorruption.
//
// Thread-safety: all methods may be called concurrently.
#ifndef LOUPE_STORE_EMBEDDED_EMBEDDED_STORE_H_
#define LOUPE_STORE_EMBEDDED_EMBEDDED_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/env.h"
#include "common/status.h"
#include "store/embedded/event_journal.h"
#include "store/embedded/segment_builder.h"
#include "store/store.h"

namespace loupe::store {

struct EmbeddedOptions {
  std::string dir;            // data directory; created if missing
  Env* env = Env::Default();  // not owned; must outlive the store
  // Width of a time partition (by transaction end time). Fixed for a data
  // directory's lifetime: segments record their partition number.
  int64_t partition_us = 3'600'000'000;
  // Flush memtables when their total encoded size passes this.
  size_t memtable_bytes = 64 << 20;
  // Append blocks while memtables exceed this multiple of memtable_bytes
  // (the background flush has fallen behind).
  int stall_factor = 3;
  // Flush in a background thread when memtable_bytes is reached. false:
  // only Flush()/Close() write segments (tests).
  bool background_flush = true;
  SegmentOptions segment;

  // Time for retention and compaction; not owned.
  Clock* clock = Clock::Real();
  // Retention per project from the start (applied at Open before any file is
  // read); SetRetention changes it later. Projects not listed get
  // default_retention, whose zeros keep everything (the server passes every
  // project's setting, 31/400 days unless changed: auth/registry.h).
  std::map<ProjectId, Retention> retention;
  Retention default_retention;
  // Retention and compaction passes run in a background thread this often
  // (the first one a full interval after Open). false: only the explicit
  // calls below (tests).
  bool background_maintenance = true;
  int64_t maintenance_interval_us = 60'000'000;
  // A partition is compacted once it ended this long ago (late data has
  // mostly arrived by then; what comes later lands in a new segment and is
  // compacted in a later pass).
  int64_t compaction_grace_us = 600'000'000;
  // Memory for decoded X-View columns (end, elapsed, error) of segment row
  // groups, kept for repeated ScanScatter calls (a dashboard refreshing the
  // same hour): ~9 bytes a row, so an hour at 1,000 TPS takes ~33 MiB.
  // Least recently used groups are dropped past it; 0 disables the cache.
  size_t scatter_cache_bytes = size_t{64} << 20;
};

struct EmbeddedStats {
  uint64_t segments = 0;
  uint64_t segment_bytes = 0;  // on disk
  uint64_t memtable_bytes = 0;
  uint64_t memtable_rows = 0;
  uint64_t flushes = 0;
  uint64_t failed_flushes = 0;
  uint64_t corrupt_segments = 0;      // skipped at open
  uint64_t corrupt_chunks = 0;        // damaged groups/blocks met by reads
  uint64_t compactions = 0;           // partitions rewritten into one segment
  uint64_t failed_compactions = 0;    // old segments kept; retried next pass
  uint64_t segments_compacted = 0;    // input segments replaced
  uint64_t partitions_dropped = 0;    // by retention
  uint64_t segments_dropped = 0;      // .seg files deleted by retention
  uint64_t transactions_dropped = 0;  // rows in the dropped partitions
  uint64_t expired_rejected = 0;      // appended transactions already past retention
  uint64_t rollup_files_dropped = 0;
  uint64_t scatter_cache_hits = 0;    // row groups ScanScatter took from the cache
  uint64_t scatter_cache_misses = 0;  // row groups it decoded (cache enabled)
  uint64_t scatter_cache_bytes = 0;   // held now
  EventJournalStats events;           // the event table (event_journal.h)
};

class EmbeddedStore : public Store {
 public:
  // Opens (or creates) the store in options.dir, taking a lock on
  // dir/LOCK: a second open of the same directory fails with kUnavailable
  // until Close().
  static Result<std::unique_ptr<EmbeddedStore>> Open(const EmbeddedOptions& options);

  // `loupe store verify`: reads every segment (in full) and rollup file in
  // dir without opening the store or taking its lock, and reports a line per
  // damaged file (and per sound segment). Safe beside a running server,
  // though files it writes meanwhile may show as incomplete.
  struct FilesReport {
    uint64_t segments = 0, segment_bytes = 0, transactions = 0;
    uint64_t rollup_files = 0, rollup_bytes = 0, rollup_cells = 0;
    uint64_t events_records = 0;  // records of the event journal (events/)
    uint64_t problems = 0;  // damaged files
    std::string text;       // the human-readable part of the report
  };
  static FilesReport VerifyFiles(Env* env, const std::string& dir);

  // Writes every memtable (and pending late steps) to segments and fsyncs
  // them; also the instance list. On error the data stays in memory and a
  // later Flush retries.
  virtual Status Flush() = 0;

  virtual EmbeddedStats embedded_stats() const = 0;

  // Drops from the process's resident set the mapped pages of every segment
  // not read since the previous call (Segment::ReleasePagesIfIdle): they are
  // page cache, but counted in RSS, which otherwise grew by each flushed
  // segment's size. Returns how many segments it released. Thread-safe.
  virtual size_t ReleaseIdleSegmentPages() = 0;

  // Changes EmbeddedOptions::scatter_cache_bytes; a smaller budget drops
  // least recently used groups at once. Thread-safe.
  virtual void SetScatterCacheBytes(size_t bytes) = 0;

  // One compaction pass: every partition that ended at least
  // compaction_grace_us before the clock's now and has more than one
  // segment is rewritten into one. Returns the first error; a failed
  // partition keeps its old segments (and is retried by the next pass).
  virtual Status CompactClosedPartitions() = 0;

  // One retention pass at the clock's now: drops expired partitions and
  // rollup files. Returns the first error (files that could not be deleted
  // are retried at the next Open).
  virtual Status ApplyRetention() = 0;
};

Result<std::unique_ptr<Store>> NewEmbeddedStore(const EmbeddedOptions& options);

}  // namespace loupe::store

#endif  // LOUPE_STORE_EMBEDDED_EMBEDDED_STORE_H_
