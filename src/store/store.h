// Store: where transactions, profiles and instance records live.
//
// Two implementations stand behind this interface and one conformance suite
// (src/testing/store_conformance.h): MemStore (store/mem/mem_store.h: in
// memory, for tests and `--store memory`) and the embedded engine
// (store/embedded/embedded_store.h: the default, docs/format/). A ClickHouse
// store follows for scale-out.
//
// Semantics every implementation keeps:
//  - Append is idempotent on (project, transaction id): a transaction already
//    stored is skipped (so a span batch replayed from a log, or a root span
//    sent twice, is stored once).
//  - Late steps are merged into their transaction and de-duplicated by span
//    id (late_merge.h). Late steps of a transaction the store does not hold
//    (two ingest requests passed each other, so it is appended later; or
//    MemStore evicted it) are parked, per project and in memory only
//    (parked_late.h: at most 4,096 transactions, the oldest dropped first),
//    and merged by the Append that brings their transaction. While parked,
//    and for good once dropped, they count in StoreStats::late_steps_orphaned.
//    Flush does not write parked steps.
//  - Late steps change what was stored as one: the profile (ordered by start
//    time), the row's summary, its dropped_steps, and the rollup cells of the
//    transaction's end time and (service, instance, endpoint), so rows and
//    rollups give the same sums. Merging costs O(steps of the batch + steps
//    of the transaction) per transaction and batch, whatever the number of
//    LateSteps entries naming it.
//  - A successful Append is visible to every read that starts after it returns.
//    It need not be durable: durability comes from the ingest log in front of
//    the assembler (ingest/ingest_log.h) and Flush(), which the log's
//    checkpoints call before deleting what they cover.
//  - Time filters apply to a transaction's END time: from_us <= end_us < to_us.
//  - Projects never see each other's data.
//
// Thread-safety: all methods may be called concurrently.
#ifndef LOUPE_STORE_STORE_H_
#define LOUPE_STORE_STORE_H_

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "model/event.h"
#include "model/project.h"
#include "model/transaction.h"
#include "store/rollup.h"

namespace loupe::store {

// The store spells it unqualified; one definition in model/project.h.
using model::ProjectId;

// Steps that arrived after their transaction was written.
struct LateSteps {
  model::TxId tx = 0;
  std::vector<model::Step> steps;
  // The transaction's dropped_steps counting every step the assembler has
  // seen for it so far (its first cut and every late one). A total, not an
  // increase: the store keeps the largest value it was given, so a replayed
  // batch cannot count a cut twice. An entry may carry no steps (all cut).
  uint32_t dropped_steps = 0;
};

struct WriteBatch {
  std::vector<model::Transaction> transactions;
  std::vector<LateSteps> late_steps;
  bool empty() const { return transactions.empty() && late_steps.empty(); }
};

// TxRow fields a Scan caller reads (TxFilter::fields). id, start_us, end_us
// and error are always filled.
enum TxFields : uint32_t {
  kFieldTraceId = 1u << 0,  // trace_id
  kFieldStatus = 1u << 1,   // status, error_type
  kFieldGroups = 1u << 2,   // service/instance/endpoint and their *_id
  kFieldClient = 1u << 3,   // user, client_ip, http_method
  kFieldSummary = 1u << 4,  // summary
  kFieldAll = (1u << 5) - 1,
};

// Filters of list, scatter and statistics queries. Empty strings match all;
// string filters are exact matches; elapsed bounds are inclusive.
struct TxFilter {
  int64_t from_us = 0;
  int64_t to_us = std::numeric_limits<int64_t>::max();
  std::string service;
  std::string instance;
  std::string endpoint;
  std::string user;
  std::string client_ip;
  int64_t min_elapsed_us = 0;  // <= 0: no lower bound
  int64_t max_elapsed_us = std::numeric_limits<int64_t>::max();
  bool errors_only = false;
  // Not a filter: a projection hint (TxFields bits). A store may leave TxRow
  // fields outside the mask default-valued, so a columnar store reads fewer
  // columns; one that ignores the hint and fills everything is correct.
  uint32_t fields = kFieldAll;
};

// One row of the transaction table: everything lists, the scatter and
// statistics need, without the profile. String views and dictionary ids stay
// valid for the duration of the Scan callback only. *_id values are small
// dense ids, stable within one store instance, for cheap grouping.
struct TxRow {
  model::TxId id = 0;
  model::TraceId trace_id{};
  int64_t start_us = 0;
  int64_t end_us = 0;
  int32_t status = 0;
  bool error = false;
  uint32_t service_id = 0, instance_id = 0, endpoint_id = 0;
  std::string_view service, instance, endpoint, user, client_ip, http_method, error_type;
  model::Summary summary;
  int64_t elapsed_us() const { return end_us - start_us; }
};

enum class ScanOrder {
  kAny,          // fastest; no ordering promise
  kNewestFirst,  // descending end_us, so a caller with a limit can stop early
};

// Visitor of Scan: receives batches of matching rows; returns false to stop.
using RowVisitor = std::function<bool(std::span<const TxRow>)>;

// Visitor of ScanScatter: a batch of matching rows as three columns of one
// length (end time, elapsed time, error flag 0/1); returns false to stop.
// The spans are valid during the call only.
using ScatterVisitor =
    std::function<bool(std::span<const int64_t> end_us, std::span<const int64_t> elapsed_us,
                       std::span<const uint8_t> error)>;

// An agent/service instance as seen by ingest.
struct InstanceInfo {
  std::string service;
  std::string instance;
  std::string host;
  std::string kind;  // telemetry.sdk.language or agent kind ("cpp", "nodejs", ...)
  std::string sdk;   // "opentelemetry 1.26.0", "loupe-cpp 0.1"
  int64_t first_seen_us = 0;
  int64_t last_seen_us = 0;
};

struct StoreStats {
  uint64_t transactions = 0;  // stored (all projects)
  uint64_t steps = 0;
  uint64_t duplicates_skipped = 0;
  uint64_t late_steps_merged = 0;
  // Late steps parked for a transaction not (yet) stored, and those dropped
  // from the park before it came (store.h: late steps).
  uint64_t late_steps_orphaned = 0;
  uint64_t bytes = 0;                // approximate memory or disk use
  // Strings held in memory by the stores' dictionaries (all projects), and
  // their approximate bytes. Neither may grow with the number of distinct
  // users or client IPs beyond what the unflushed (MemStore: kept) rows
  // hold: those strings live and die with their rows' memtable or partition.
  uint64_t dictionary_entries = 0;
  uint64_t dictionary_bytes = 0;
};

// Filters of ScanEvents. Empty strings match all; string filters are exact.
struct EventFilter {
  int64_t from_us = 0;  // time_us >= from_us
  int64_t to_us = std::numeric_limits<int64_t>::max();  // time_us < to_us
  std::string level;    // "WARNING"
  std::string type;     // "SQL_EXCEPTION"
  std::string service;
};

// Visitor of ScanEvents: one event, valid during the call; false stops.
using EventVisitor = std::function<bool(const model::Event&)>;

// How long a project's data is kept. 0 keeps everything.
struct Retention {
  int retention_days = 0;         // transactions and profiles
  int rollup_retention_days = 0;  // rollups (per-second/5-minute figures)
};

// Disk and memory a project's data takes (Store::Usage).
struct ProjectUsage {
  ProjectId project = 0;
  uint64_t segment_bytes = 0;   // transaction segments on disk
  uint64_t rollup_bytes = 0;    // rollup files on disk
  uint64_t memtable_bytes = 0;  // appended, not yet in a segment
  uint64_t segments = 0;
  uint64_t partitions = 0;  // time partitions holding data
  int64_t oldest_us = 0;    // end time of the oldest / newest transaction; 0 when none
  int64_t newest_us = 0;
  uint64_t disk_bytes() const { return segment_bytes + rollup_bytes; }
};

struct StorageUsage {
  std::vector<ProjectUsage> projects;  // projects the store holds data of
  uint64_t free_disk_bytes = 0;        // on the store's file system; 0 when not on disk
};

class Store {
 public:
  virtual ~Store() = default;

  // Writes a batch for one project. On error nothing of the batch may be
  // assumed written; callers retry the whole batch (idempotence makes it safe).
  virtual Status Append(ProjectId project, WriteBatch batch) = 0;

  // Calls visit with batches of rows matching filter, in `order`. A store may
  // hold a read lock while visit runs: visit must not call into the store.
  virtual Status Scan(ProjectId project, const TxFilter& filter, ScanOrder order,
                      const RowVisitor& visit) const = 0;

  // End time, elapsed time and error flag of every row matching filter
  // (filter.fields is ignored), in no particular order: what a scatter plot
  // or a density grid reads. The default runs Scan (kAny, fields = 0); a
  // columnar store hands over its decoded columns without building TxRows.
  // The same locking rule as Scan: visit must not call into the store.
  virtual Status ScanScatter(ProjectId project, const TxFilter& filter,
                             const ScatterVisitor& visit) const;

  // One transaction with its profile; NotFound if absent.
  virtual Result<model::Transaction> Get(ProjectId project, model::TxId id) const = 0;

  // All transactions of a trace, with profiles, ordered by start time.
  virtual Result<std::vector<model::Transaction>> GetTrace(ProjectId project,
                                                           const model::TraceId& trace) const = 0;

  // Records that an instance was seen (keeps the earliest first_seen and latest last_seen).
  virtual Status PutInstance(ProjectId project, const InstanceInfo& info) = 0;
  virtual Result<std::vector<InstanceInfo>> ListInstances(ProjectId project) const = 0;

  virtual StoreStats Stats() const = 0;

  // Events (model/event.h): appended as they happen, kept as long as the
  // project's transactions (retention_days), and durable like them: an
  // event is visible to reads once AppendEvents returns, and durable after
  // the next Flush. Events of transactions that the ingest log replays after
  // a crash are produced again by the replay; a durable store keeps one
  // copy (the embedded engine recognises them by transaction id and type).
  virtual Status AppendEvents(ProjectId project, std::span<const model::Event> events) = 0;
  // Returns once every event appended before the call is durable: for an
  // event that has no transaction behind it in the ingest log (an agent's
  // crash report) and is acknowledged to its sender. Non-durable stores: OK.
  virtual Status SyncEvents() { return Status::OK(); }
  // Matching events newest first (in append order: agents' clocks may
  // disagree, so arrival, not time_us, orders them). A store may hold a lock
  // while visit runs: visit must not call into the store.
  virtual Status ScanEvents(ProjectId project, const EventFilter& filter,
                            const EventVisitor& visit) const = 0;

  // Sets how long a project's data is kept. A store that drops old data
  // (the embedded engine: whole time partitions, in a background pass)
  // applies it from then on, and rejects (skips and counts) transactions
  // appended later whose time is already past it; one that keeps no history
  // beyond memory may ignore it.
  virtual Status SetRetention(ProjectId project, const Retention& retention) {
    return Status::OK();
  }

  // Rollups (rollup.h): per-second and 5-minute cells per service, instance
  // and endpoint, and hourly user sketches, kept from Append on. A store
  // that keeps none answers false and query/ reads raw rows instead.
  virtual bool has_rollups() const { return false; }

  // Cells of one resolution whose bucket lies wholly inside the filter's
  // range, in no particular order; a (bucket, service, instance, endpoint)
  // may come in several rows (from different files), to be added up. A store
  // may hold a read lock while visit runs: visit must not call into the store.
  virtual Status ScanRollups(ProjectId project, RollupResolution resolution,
                             const RollupFilter& filter, const RollupVisitor& visit) const {
    return Status::Internal("this store keeps no rollups");
  }

  // User sketches of the hours wholly inside the filter's range, for its
  // service ("" = all services; instance and endpoint are ignored); an
  // (hour, service) may come in several rows, to be merged.
  virtual Status ScanUsers(ProjectId project, const RollupFilter& filter,
                           const UsersVisitor& visit) const {
    return Status::Internal("this store keeps no rollups");
  }

  // Disk use per project. The default: nothing on disk.
  virtual StorageUsage Usage() const { return {}; }

  // Makes everything appended so far durable (a no-op for a store that is
  // not durable). The ingest log's checkpoint relies on it: after it returns
  // OK, the log before the checkpoint may be deleted.
  virtual Status Flush() { return Status::OK(); }

  // Makes everything appended so far durable and stops background work.
  // Further calls may fail with Unavailable.
  virtual Status Close() = 0;
};

}  // namespace loupe::store

#endif  // LOUPE_STORE_STORE_H_
