#include "ingest/status_mapping.h"

#include <cassert>

namespace loupe::ingest {
namespace {

// Indexed by Reason. The gRPC column follows the OTLP specification:
// UNAVAILABLE is always retryable, RESOURCE_EXHAUSTED only with RetryInfo
// (so a body over the limit is not retried and a full disk is).
constexpr ReasonInfo kReasons[] = {
    /* kNone */ {"ok", 200, 0, 0, 0},
    /* kNotFound */ {"not_found", 404, kRpcNotFound, kRpcNotFound, 0},
    /* kUnsupportedSignal */
    {"unsupported_signal", 404, kRpcUnimplemented, kRpcUnimplemented, 0},
    /* kBadMethod */ {"bad_method", 405, kRpcInvalidArgument, kRpcUnimplemented, 0},
    /* kUnimplemented */ {"unimplemented", 0, kRpcUnimplemented, kRpcUnimplemented, 0},
    /* kUnauthenticated */
    {"unauthenticated", 401, kRpcUnauthenticated, kRpcUnauthenticated, 0},
    /* kUnsupportedMediaType */
    {"unsupported_media_type", 415, kRpcInvalidArgument, kRpcInvalidArgument, 0},
    /* kUnsupportedEncoding */
    {"unsupported_encoding", 415, kRpcInvalidArgument, kRpcUnimplemented, 0},
    /* kTooLarge */ {"too_large", 413, kRpcResourceExhausted, kRpcResourceExhausted, 0},
    /* kNoMessage */ {"no_message", 0, kRpcInvalidArgument, kRpcInvalidArgument, 0},
    /* kBadGzip */ {"bad_gzip", 400, kRpcInvalidArgument, kRpcInvalidArgument, 0},
    /* kMalformed */ {"malformed", 400, kRpcInvalidArgument, kRpcInvalidArgument, 0},
    /* kUnavailable */ {"unavailable", 503, kRpcUnavailable, kRpcUnavailable, 1},
    // A full disk takes longer to clear than a busy moment.
    /* kDiskFull */ {"disk_full", 503, kRpcResourceExhausted, kRpcResourceExhausted, 5},
    /* kTooManyInstances */
    {"too_many_instances", 429, kRpcResourceExhausted, kRpcResourceExhausted, 1},
    /* kInternal */ {"internal", 500, kRpcInternal, kRpcUnavailable, 0},
};
static_assert(sizeof(kReasons) / sizeof(kReasons[0]) == static_cast<size_t>(Reason::kInternal) + 1);

}  // namespace

const ReasonInfo& Describe(Reason reason) {
  assert(reason != Reason::kNone);
  return kReasons[static_cast<size_t>(reason)];
}

Refusal RefusalForSubmitError(const Status& status) {
  switch (status.code()) {
    case Status::Code::kUnavailable:
      return {Reason::kUnavailable, status.message()};
    case Status::Code::kResourceExhausted:
      return {Reason::kDiskFull, status.message()};
    default:
      return {Reason::kInternal, "internal error storing spans"};
  }
}

int BodyCodeForServerError(int http_status) {
  switch (http_status) {
    case 408:
      return kRpcDeadlineExceeded;
    case 413:
    case 431:
      return kRpcResourceExhausted;
    case 429:
    case 503:
      return kRpcUnavailable;
    default:
      return kRpcInvalidArgument;
  }
}

std::string_view RpcCodeName(int code) {
  switch (code) {
    case kRpcInvalidArgument:
      return "invalid_argument";
    case kRpcDeadlineExceeded:
      return "deadline_exceeded";
    case kRpcNotFound:
      return "not_found";
    case kRpcResourceExhausted:
      return "resource_exhausted";
    case kRpcUnimplemented:
      return "unimplemented";
    case kRpcInternal:
      return "internal";
    case kRpcUnavailable:
      return "unavailable";
    case kRpcUnauthenticated:
      return "unauthenticated";
    default:
      return "unknown";
  }
}

}  // namespace loupe::ingest
