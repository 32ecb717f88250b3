// Transactions and their profiles (steps): Loupe's central model.
//
// A transaction is one request handled by one instance: the local root span of
// a trace in one service instance. Its steps are that root's descendants in the
// same instance, in a tree (parent_span_id), plus error steps made from
// exception events. See docs/design/ingest.md for the span → model mapping.
//
// Times are microseconds since the Unix epoch; durations microseconds.
// Thread-safety: plain values.
#ifndef LOUPE_MODEL_TRANSACTION_H_
#define LOUPE_MODEL_TRANSACTION_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "model/span.h"

namespace loupe::model {

// Transaction id: Hash64 of (trace id, root span id); shown as 16 hex digits.
using TxId = uint64_t;

TxId MakeTxId(const TraceId& trace, SpanId root_span) noexcept;
std::string TxIdToHex(TxId id);
bool TxIdFromHex(std::string_view hex, TxId* out) noexcept;
std::string TraceIdToHex(const TraceId& id);
bool TraceIdFromHex(std::string_view hex, TraceId* out) noexcept;
std::string SpanIdToHex(SpanId id);

enum class StepKind : uint8_t {
  kMethod = 0,    // internal span / instrumented function
  kSql = 1,       // database call (db.* attributes)
  kExternal = 2,  // outgoing HTTP/RPC call (CLIENT span)
  kMessage = 3,   // messaging (PRODUCER/CONSUMER inside a transaction), logs
  kError = 4,     // exception event
};
const char* StepKindName(StepKind k) noexcept;

struct Step {
  SpanId span_id = 0;         // 0 for error steps (made from events)
  SpanId parent_span_id = 0;  // the transaction root's span id for top-level steps
  StepKind kind = StepKind::kMethod;
  bool error = false;
  int64_t start_us = 0;
  int64_t elapsed_us = 0;
  std::string name;  // span name / method name / error type

  // kSql
  std::string sql;        // statement text (db.query.text / db.statement)
  std::string db_system;  // db.system(.name)
  std::vector<std::string> binds;  // db.query.parameter.<n>, in key order
  int64_t rows = -1;               // rows returned/affected; -1 unknown
  // kExternal
  std::string url;
  std::string host;
  int32_t http_status = 0;
  // kError (and error text of any failed step)
  std::string message;
  std::string stack;
  // Other attributes worth showing, capped in count and size.
  std::vector<std::pair<std::string, std::string>> attributes;
};

struct Summary {
  uint32_t sql_count = 0;
  int64_t sql_us = 0;
  uint32_t fetch_count = 0;
  int64_t fetch_us = 0;
  uint32_t external_count = 0;
  int64_t external_us = 0;
  int64_t cpu_us = -1;  // -1: not reported

  // Adds the SQL/external counts and times of `steps`.
  void Add(const std::vector<Step>& steps) noexcept;
};

struct Transaction {
  TxId id = 0;
  TraceId trace_id{};
  SpanId span_id = 0;         // root span
  SpanId parent_span_id = 0;  // remote caller's span (links traces), 0 if none

  std::string service;
  std::string instance;
  std::string host;
  std::string endpoint;     // "GET /api/posts/{id}" or span name; capped per service
  std::string http_method;
  std::string url;          // full path with query, if known
  int64_t start_us = 0;
  int64_t end_us = 0;
  int32_t status = 0;       // HTTP status, 0 if none
  bool error = false;
  std::string error_type;   // exception type or "HTTP 503"
  std::string client_ip;
  std::string user;
  Summary summary;

  std::vector<Step> steps;   // profile, in start order
  uint32_t dropped_steps = 0;  // cut by the steps-per-profile limit

  int64_t elapsed_us() const noexcept { return end_us - start_us; }
};

}  // namespace loupe::model

#endif  // LOUPE_MODEL_TRANSACTION_H_
