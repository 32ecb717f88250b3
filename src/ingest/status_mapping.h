// The one table that turns a refused ingest request into what each transport
// answers: an HTTP status (with Retry-After), the google.rpc.Status code of an
// OTLP/HTTP error body, the code of a Loupe agent error body, the gRPC status
// code (with RetryInfo), and the `result` label of the request counters.
// Receivers and the front door (ingest/otlp_front_door.h) say *why* a request
// is refused (a Reason); only this file says how that is spelled on the wire
// (STYLE.md: only ingest/ and api/ map errors to HTTP/gRPC codes).
//
// Thread-safety: everything here is pure.
#ifndef LOUPE_INGEST_STATUS_MAPPING_H_
#define LOUPE_INGEST_STATUS_MAPPING_H_

#include <string>
#include <string_view>

#include "common/status.h"

namespace loupe::ingest {

// Why a request was refused. The comment gives HTTP status / gRPC code.
enum class Reason {
  kNone,                  // not refused
  kNotFound,              // 404 / (HTTP only) unknown path
  kUnsupportedSignal,     // 404 / (HTTP only) an OTLP signal this server does not take yet
  kBadMethod,             // 405 / (HTTP only) wrong method for the path
  kUnimplemented,         // (gRPC only) / UNIMPLEMENTED: unknown service method
  kUnauthenticated,       // 401 / UNAUTHENTICATED: missing or unknown ingest key
  kUnsupportedMediaType,  // 415 / (HTTP only)
  kUnsupportedEncoding,   // 415 / UNIMPLEMENTED: unknown content coding or grpc-encoding
  kTooLarge,              // 413 / RESOURCE_EXHAUSTED without RetryInfo (not retried)
  kNoMessage,             // (gRPC only) / INVALID_ARGUMENT: call ended without a message
  kBadGzip,               // 400 / INVALID_ARGUMENT: corrupt compressed body
  kMalformed,             // 400 / INVALID_ARGUMENT: body does not decode
  kUnavailable,           // 503 + Retry-After 1 / UNAVAILABLE: overloaded, retry soon
  kDiskFull,              // 503 + Retry-After 5 / RESOURCE_EXHAUSTED + RetryInfo 5 s
  kTooManyInstances,      // 429 + Retry-After 1 / (agent only): a project's instance cap
  kInternal,              // 500 / UNAVAILABLE: a store error (may clear; gRPC clients retry)
};

// A refusal: the reason and a message for the client (never a secret).
struct Refusal {
  Reason reason = Reason::kNone;
  std::string message;

  bool refused() const { return reason != Reason::kNone; }
};

struct ReasonInfo {
  const char* label;        // `result` of loupe_ingest_requests_total / loupe_agent_requests_total
  int http_status;          // 0 where HTTP never answers this reason
  int body_code;            // google.rpc.Code in an OTLP/HTTP error body and agent error body
  int grpc_code;            // grpc::StatusCode of a gRPC answer
  int retry_after_seconds;  // HTTP Retry-After; gRPC RetryInfo when RESOURCE_EXHAUSTED; 0: none
};

// The row of `reason`. REQUIRES: reason != kNone.
const ReasonInfo& Describe(Reason reason);

// The refusal for a pipeline Submit error (Pipeline::Submit documents its
// codes): kUnavailable → kUnavailable, kResourceExhausted → kDiskFull,
// anything else → kInternal with a generic message (store details are logged
// by the pipeline, not sent).
Refusal RefusalForSubmitError(const Status& status);

// google.rpc.Code of an error the HTTP server makes itself (408, 413, 431,
// 429/503, otherwise INVALID_ARGUMENT), for RewriteServerError.
int BodyCodeForServerError(int http_status);

// The lowercase name of a google.rpc.Code ("invalid_argument"), the `code`
// of a Loupe agent error body {"error":{"code","message"}}.
std::string_view RpcCodeName(int code);

// google.rpc.Code values used above.
inline constexpr int kRpcInvalidArgument = 3;
inline constexpr int kRpcDeadlineExceeded = 4;
inline constexpr int kRpcNotFound = 5;
inline constexpr int kRpcResourceExhausted = 8;
inline constexpr int kRpcUnimplemented = 12;
inline constexpr int kRpcInternal = 13;
inline constexpr int kRpcUnavailable = 14;
inline constexpr int kRpcUnauthenticated = 16;

}  // namespace loupe::ingest

#endif  // LOUPE_INGEST_STATUS_MAPPING_H_
