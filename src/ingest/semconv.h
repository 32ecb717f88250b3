// Semantic conventions: how one OTLP span (and its resource) maps onto Loupe's
// model — transaction fields, step kinds and fields, error steps. Old and new
// OpenTelemetry attribute names are both understood; the full table is in
// docs/design/ingest.md ("Mapping").
//
// This file knows nothing of joining spans into transactions (assembler.h) or
// of cardinality caps; it maps one span at a time. Every string it produces is
// cut to the limits in MappingLimits, at a UTF-8 boundary, and each cut is
// counted in MappingStats.
//
// Thread-safety: pure functions; the one-time tables are immutable.
#ifndef LOUPE_INGEST_SEMCONV_H_
#define LOUPE_INGEST_SEMCONV_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/span.h"
#include "model/transaction.h"

namespace loupe::ingest {

inline constexpr std::string_view kUnknownService = "unknown_service";

struct MappingLimits {
  size_t max_sql_bytes = 16 * 1024;    // step.sql
  size_t max_stack_bytes = 16 * 1024;  // error step stack traces (2 KiB would cut most Java stacks)
  size_t max_string_bytes = 2 * 1024;  // every other string (names, URLs, messages, ...)
  size_t max_endpoint_bytes = 256;     // transaction endpoint
  size_t max_attribute_value_bytes = 1024;
  size_t max_attributes_per_step = 16;
};

struct MappingStats {
  uint64_t truncated = 0;  // strings cut to a limit
};

// Appends at most `max` bytes of `s` to *out, never splitting a UTF-8
// sequence. Returns false (and counts in *stats) when it had to cut.
bool AppendCapped(std::string_view s, size_t max, std::string* out, MappingStats* stats);

// The identity of the instance that sent a resource's spans.
struct ResourceInfo {
  std::string service;   // service.name, else "unknown_service"
  std::string instance;  // service.instance.id | host.name:process.pid | host.name | service
  std::string host;      // host.name
  std::string kind;      // telemetry.sdk.language
  std::string sdk;       // telemetry.sdk.name + " " + telemetry.sdk.version
};
ResourceInfo MapResource(std::span<const model::KeyValue> attrs, const MappingLimits& limits,
                         MappingStats* stats);

// One span together with the tables its ranges index: span->attrs and every
// event's attrs index `attrs`; span->events_begin indexes `events`. For a span
// of a SpanBatch use SpanRef::In(batch, span).
struct SpanRef {
  const model::Span* span = nullptr;
  const model::KeyValue* attrs = nullptr;
  const model::SpanEvent* events = nullptr;

  static SpanRef In(const model::SpanBatch& batch, const model::Span& span) {
    return SpanRef{&span, batch.attrs.data(), batch.events.data()};
  }
  std::span<const model::KeyValue> span_attrs() const {
    return {attrs + span->attrs.begin, span->attrs.count};
  }
  std::span<const model::SpanEvent> span_events() const {
    return {events + span->events_begin, span->events_count};
  }
  std::span<const model::KeyValue> event_attrs(const model::SpanEvent& e) const {
    return {attrs + e.attrs.begin, e.attrs.count};
  }
};

// Start and end of a span in microseconds. When the start is missing (0) or
// after the end, the start is set to the end (elapsed 0) and true is returned.
bool SpanTimesUs(const model::Span& span, int64_t* start_us, int64_t* end_us) noexcept;

// True for events that become error steps (name "exception").
inline bool IsExceptionEvent(const model::SpanEvent& e) { return e.name == "exception"; }

// Maps `s` as a step of a transaction (it is not the transaction's root).
// Overwrites *out.
void MapStep(const SpanRef& s, const MappingLimits& limits, model::Step* out, MappingStats* stats);

// Appends one kError step per exception event of `s`: name = exception.type,
// message = exception.message, stack = exception.stacktrace, start = event time
// (the span's end if the event has none), elapsed 0, parent = s's span id.
// Returns how many it appended.
size_t AppendErrorSteps(const SpanRef& s, const MappingLimits& limits,
                        std::vector<model::Step>* out, MappingStats* stats);

// Fills the fields of *tx that come from its local root span `s`: span_id,
// parent_span_id, trace_id, start/end, http_method, endpoint (uncapped in
// cardinality: the assembler folds the excess), url, status, error,
// error_type, client_ip, user. Leaves id, service, instance, host, steps,
// summary and dropped_steps alone.
void MapTransaction(const SpanRef& s, const MappingLimits& limits, model::Transaction* tx,
                    MappingStats* stats);

// Which well-known attribute a key is, for the one-pass attribute scan.
// Exposed for tests and benchmarks.
enum class Attr : uint8_t {
  kNone = 0,
  kHttpRequestMethod,
  kHttpMethod,
  kHttpRoute,
  kUrlFull,
  kHttpUrl,
  kUrlPath,
  kUrlQuery,
  kHttpTarget,
  kUrlScheme,
  kHttpScheme,
  kHttpHost,
  kHttpResponseStatusCode,
  kHttpStatusCode,
  kRpcGrpcStatusCode,
  kClientAddress,
  kHttpClientIp,
  kNetPeerIp,
  kNetSockPeerAddr,
  kNetworkPeerAddress,
  kEnduserId,
  kUserId,
  kDbSystem,
  kDbSystemName,
  kDbStatement,
  kDbQueryText,
  kDbOperationName,
  kDbOperation,
  kDbResponseReturnedRows,
  kDbRowsAffected,
  kDbRowCount,
  kLoupeSqlBinds,  // Loupe agents: bind values as a string array
  kLoupeSqlRows,
  kServerAddress,
  kServerPort,
  kNetPeerName,
  kNetPeerPort,
  kRpcService,
  kRpcMethod,
  kMessagingSystem,
  kCount,
};
Attr LookupAttr(std::string_view key) noexcept;

}  // namespace loupe::ingest

#endif  // LOUPE_INGEST_SEMCONV_H_
