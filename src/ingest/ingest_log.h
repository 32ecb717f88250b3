// IngestLog: the durable log of accepted export requests, in front of the
// assembler (docs/design/storage.md; byte layout in docs/format/wal.md,
// "Ingest log").
//
// Every export request the pipeline accepts is appended — project, format and
// decompressed body — to a group-committed Wal and acknowledged to the sender
// only once durable. A checkpoint bounds the log: the pipeline quiesces,
// calls BeginCheckpoint() (records from then on go to segment P or later),
// exports the spans the assembler holds pending, resumes, flushes the store,
// and CommitCheckpoint(P, pending) writes the CHECKPOINT file (atomically)
// and deletes the segments before P. Recovery (Open) replays the
// checkpoint's pending requests, then every record from segment P on, through
// the same decode → assemble → store path (the store's Append is idempotent,
// so what already reached a segment is skipped).
//
// Thread-safety: Append may be called concurrently; BeginCheckpoint requires
// that no Append is in progress; CommitCheckpoint from one thread at a time.
#ifndef LOUPE_INGEST_INGEST_LOG_H_
#define LOUPE_INGEST_INGEST_LOG_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/env.h"
#include "common/status.h"
#include "log/wal.h"
#include "store/store.h"

namespace loupe::ingest {

// What a logged body is: an OTLP trace export (1, 2) or, since the metrics
// receiver, an OTLP metrics export (3, 4). Logs written before hold only 1
// and 2 and replay unchanged.
enum class RequestFormat : uint8_t {
  kOtlpProto = 1,
  kOtlpJson = 2,
  kOtlpMetricsProto = 3,
  kOtlpMetricsJson = 4,
};

// True for the metrics formats.
inline bool IsMetricsFormat(RequestFormat f) {
  return f == RequestFormat::kOtlpMetricsProto || f == RequestFormat::kOtlpMetricsJson;
}

// One accepted export request. `body` is decompressed (OTLP protobuf, or the
// original OTLP/JSON text before in-situ parsing).
struct LoggedRequest {
  model::ProjectId project = 0;
  RequestFormat format = RequestFormat::kOtlpProto;
  std::string_view body;
};

struct IngestLogOptions {
  Env* env = Env::Default();  // not owned; must outlive the log
  std::string dir;            // created if missing
  bool sync = true;           // fdatasync each commit (false: tests and benchmarks only)
  int64_t commit_delay_us = 0;  // group-commit wait for company (Wal::commit_delay_us)
  uint64_t segment_bytes = 64 << 20;
};

struct IngestReplayStats {
  uint64_t checkpoint_requests = 0;  // pending requests restored from CHECKPOINT
  uint64_t records = 0;              // log records replayed after it
  uint64_t bytes = 0;                // body bytes replayed (both)
  uint64_t checkpoint_segment = 0;   // where replay started (0: no checkpoint)
  bool torn_tail = false;            // the newest segment ended in a torn commit (cut)
  uint64_t torn_bytes = 0;
};

// The file name of the checkpoint inside the log directory.
inline constexpr std::string_view kCheckpointFile = "CHECKPOINT";

class IngestLog {
 public:
  using ReplayFn = std::function<Status(const LoggedRequest&)>;

  // Replays the log in options.dir (if any) through `replay` — the
  // checkpoint's pending requests first, then the records after the
  // checkpoint in log order — and opens it for appending. An error from
  // `replay` stops the replay and is returned. kCorruption when the
  // CHECKPOINT file or a log segment is damaged other than by a torn tail
  // (the message names the file and offset).
  static Result<std::unique_ptr<IngestLog>> Open(const IngestLogOptions& options,
                                                 const ReplayFn& replay,
                                                 IngestReplayStats* stats = nullptr);

  ~IngestLog();
  IngestLog(const IngestLog&) = delete;
  IngestLog& operator=(const IngestLog&) = delete;

  // Appends one request; returns once it is durable. kResourceExhausted: the
  // disk is full (retry later); kIoError: a write or fsync failed;
  // kUnavailable: closed.
  Status Append(const LoggedRequest& request);

  // See the class comment. REQUIRES: no Append in progress.
  uint64_t BeginCheckpoint();
  // Makes the checkpoint durable and deletes the log before `segment`.
  // REQUIRES: everything the pipeline stored before BeginCheckpoint is
  // durable in the store.
  Status CommitCheckpoint(uint64_t segment, const std::vector<LoggedRequest>& pending);

  // Body bytes appended since the last checkpoint began.
  uint64_t bytes_since_checkpoint() const { return since_checkpoint_.load(); }
  log::WalStats wal_stats() const { return wal_->stats(); }

  // Waits for commits in flight and closes the log. Idempotent.
  Status Close();

 private:
  IngestLog(IngestLogOptions options, std::unique_ptr<log::Wal> wal);

  const IngestLogOptions options_;
  std::unique_ptr<log::Wal> wal_;
  std::atomic<uint64_t> since_checkpoint_{0};
};

// Encoding helpers, exposed for tests and `loupe store verify`.
std::string EncodeLogRecord(const LoggedRequest& r);
Status DecodeLogRecord(std::string_view record, LoggedRequest* out);
std::string EncodeCheckpoint(uint64_t segment, const std::vector<LoggedRequest>& pending);
// Views in *pending point into `data`.
Status DecodeCheckpoint(std::string_view data, uint64_t* segment,
                        std::vector<LoggedRequest>* pending);

}  // namespace loupe::ingest

#endif  // LOUPE_INGEST_INGEST_LOG_H_
