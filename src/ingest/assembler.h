// Assembler: turns decoded OTLP spans into Loupe transactions with profiles.
//
// Spans of one transaction arrive in different export requests, in any order
// (children usually before their root: SDKs export spans as they end), and
// sometimes twice. The assembler keeps the spans it cannot place yet, per
// trace, and emits:
//  - a model::Transaction when a local root span arrives, with every pending
//    span whose parent chain leads to it (in the same instance) as its steps;
//  - store::LateSteps when a span arrives whose parent belongs to a transaction
//    emitted less than `late_window` ago (with any pending spans it unlocks);
//  - orphan transactions, from Tick(), for groups of spans whose root did not
//    arrive in time (orphan_timeout): the topmost span of each group is
//    promoted to a local root.
// The rules (what is a local root, the attribute mapping, limits) are written
// up in docs/design/ingest.md; the per-span mapping lives in semconv.h.
//
// Durability: pending spans live in memory; the pipeline's ingest log makes
// them durable (the requests that brought them are in the log, and a
// checkpoint stores them through ExportPending).
//
// Thread-safety: all methods may be called concurrently. State is sharded by
// trace id, one mutex per shard; the per-span mapping (the costly part) runs
// outside the shard locks.
#ifndef LOUPE_INGEST_ASSEMBLER_H_
#define LOUPE_INGEST_ASSEMBLER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/metrics.h"
#include "ingest/semconv.h"
#include "model/span.h"
#include "store/store.h"

namespace loupe::ingest {

// The value that replaces services, instances and endpoints past their caps.
inline constexpr std::string_view kOverflow = "(overflow)";

struct AssemblerOptions {
  // Pending spans whose transaction root has not arrived are emitted as
  // orphan transactions once their trace has received no span for
  // orphan_timeout, and at the latest orphan_max_wait after the first of them
  // arrived. (A trace still receiving spans is usually a long request whose
  // root span ends, and so is exported, last.)
  int64_t orphan_timeout_us = 30'000'000;
  int64_t orphan_max_wait_us = 300'000'000;
  // How long the span ids of an emitted transaction are remembered, so that a
  // late child still joins it (as LateSteps) and a re-sent span is dropped.
  int64_t late_window_us = 60'000'000;
  // Spans held while waiting for their root (all projects; about 1.35 KB
  // each with ten attributes). Past it, the pending spans of the least
  // recently active traces are promoted to orphans at once, down to 15/16 of
  // the cap; those transactions come out of the next Tick().
  size_t max_pending_spans = 1'000'000;
  // Steps per transaction profile (error steps included); the excess, latest
  // by start time, is cut and counted in Transaction::dropped_steps.
  uint32_t max_steps_per_tx = 10'000;
  // Cardinality caps per project. The endpoint and service caps count the
  // "(overflow)" value, so a service never has more than
  // max_endpoints_per_service distinct endpoints.
  size_t max_endpoints_per_service = 2'000;
  size_t max_services_per_project = 500;
  // Real instances (service, service.instance.id) per project; "(overflow)"
  // does not count, so exactly this many instances keep their names. Room for
  // a 10,000-server fleet beside the project's other services.
  size_t max_instances_per_project = 20'000;
  // An instance that sent nothing for this long stops counting against
  // max_instances_per_project (its stored data stays), so a fleet that
  // redeploys under new instance ids does not overflow. Checked at most once
  // a minute per project, by Tick().
  int64_t instance_idle_us = 86'400'000'000;
  // Spans whose end time is further than this ahead of the clock, or older
  // than max_age, are rejected (reported through AddResult).
  int64_t max_future_us = 10LL * 60 * 1'000'000;
  int64_t max_age_us = 7LL * 24 * 3600 * 1'000'000;
  // String sizes and attributes kept per step.
  MappingLimits mapping;
  // Number of lock shards (rounded up to a power of two).
  size_t shards = 64;
};

struct AddResult {
  store::WriteBatch batch;                     // ready to append for this project
  std::vector<store::InstanceInfo> instances;  // instances seen in this batch (deduplicated)
  uint64_t rejected_spans = 0;                 // for OTLP partial_success
  std::string rejection_message;  // e.g. "3 spans rejected: 3 end time too far in the future"
};

using ProjectBatches = std::vector<std::pair<model::ProjectId, store::WriteBatch>>;

// The instance cap of one project (Assembler::InstanceStats).
struct InstanceCapStats {
  model::ProjectId project = 0;
  size_t instances = 0;  // real instances counted against the cap
  size_t cap = 0;        // max_instances_per_project
  // Instance identities seen within instance_idle but folded into
  // "(overflow)" because the cap was full (at most `cap` of them are
  // remembered), and how many identities were folded since start.
  size_t overflowed_instances = 0;
  uint64_t overflowed_total = 0;
};

class Assembler {
 public:
  // `clock` must outlive the assembler; all timeouts use it. `metrics` may be
  // null (a private registry is used); otherwise it must outlive the
  // assembler, and only one assembler should register in it (the pending
  // gauge is a callback that cannot be unregistered).
  Assembler(Clock* clock, AssemblerOptions options, MetricsRegistry* metrics);
  ~Assembler();
  Assembler(const Assembler&) = delete;
  Assembler& operator=(const Assembler&) = delete;

  // Takes the spans of one export request. Rejected spans (invalid ids, end
  // time out of range) are counted in the result, together with the spans
  // the decoder skipped for invalid ids (batch.invalid_spans); everything else is either
  // emitted in result.batch, held pending (copied), or dropped as a
  // duplicate. `batch` (and the memory its views point into) is only read
  // during the call. Transactions promoted early to respect max_pending_spans
  // come out of the next Tick(), not here.
  AddResult Add(model::ProjectId project, const model::SpanBatch& batch);

  // Promotes orphans past orphan_timeout, forgets transactions past
  // late_window, and returns what that emitted plus what Add promoted early to
  // stay under max_pending_spans. Call about once a second.
  ProjectBatches Tick();

  // Emits everything pending (as orphans); for shutdown. Spans added later are
  // handled as usual.
  ProjectBatches Flush();

  // Spans held waiting for their root.
  size_t pending_spans() const;

  // For an ingest-log checkpoint: every span held pending, encoded as OTLP
  // protobuf export requests per project (resource = the span's instance:
  // service.name, service.instance.id, host.name, telemetry.sdk.*), so that
  // Add() of them restores the pending state. The spans stay pending. What
  // is not kept: the late_window memory of emitted transactions (after a
  // restart a late child of one becomes an orphan transaction).
  // REQUIRES: no concurrent Add, Tick or Flush.
  std::vector<std::pair<model::ProjectId, std::string>> ExportPending() const;

  // Takes what Tick() would return for transactions promoted early to stay
  // under max_pending_spans (they are already out of the pending state).
  ProjectBatches TakePromoted();

  // The instance cap of every project seen, by project id.
  std::vector<InstanceCapStats> InstanceStats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace loupe::ingest

#endif  // LOUPE_INGEST_ASSEMBLER_H_
