// Transport: how the host agent hands an encoded OTLP request to the server.
// Behind an interface so that the agent can also serve as the local relay of
// short-lived agents (the PHP extension) over another transport, and so that
// tests replace it.
//
// Thread-safety: an implementation is used by one thread at a time.
#ifndef LOUPE_HOSTAGENT_TRANSPORT_H_
#define LOUPE_HOSTAGENT_TRANSPORT_H_

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace loupe::hostagent {

class Transport {
 public:
  virtual ~Transport() = default;

  // Sends one ExportMetricsServiceRequest (protobuf). Returns OK once the
  // server accepted it; Unavailable or ResourceExhausted when a retry can
  // help (no connection, timeout, 5xx, 408, 429); InvalidArgument,
  // Unauthenticated or PermissionDenied when the server refused the request
  // itself (retrying the same bytes fails again).
  virtual Status SendMetrics(std::string_view body) = 0;
};

struct HttpTransportOptions {
  // Base URL of the OTLP/HTTP receiver; requests go to SERVER/v1/metrics.
  std::string server = "http://127.0.0.1:4318";
  // The project's ingest key, sent as "Authorization: Bearer KEY" (as the
  // trace exporters do; docs/api.md "OTLP ingest"). Empty: no header.
  std::string key;
  int connect_timeout_ms = 3000;
  int total_timeout_ms = 10000;
};

// OTLP/HTTP with libcurl, one reused connection. Returns InvalidArgument for
// a server URL that is not http:// or https://.
Result<std::unique_ptr<Transport>> NewHttpTransport(const HttpTransportOptions& options);

}  // namespace loupe::hostagent

#endif  // LOUPE_HOSTAGENT_TRANSPORT_H_
