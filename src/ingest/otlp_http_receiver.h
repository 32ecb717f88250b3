// OTLP/HTTP trace receiver: POST /v1/traces on the OTLP HTTP port (4318).
//
// Accepts application/x-protobuf (or application/protobuf) and
// application/json bodies, optionally gzip- or deflate-encoded, authenticated
// by the project's ingest key (`Authorization: Bearer <key>` or
// `x-loupe-key: <key>`). Media types and content codings are matched
// case-insensitively, parameters (`; charset=utf-8`) ignored. Answers per the
// OTLP/HTTP specification: 200 with ExportTraceServiceResponse (partial
// success when spans were rejected), 400 malformed, 401 bad key, 404 unknown
// path, 405 wrong method, 413 body over the limit (declared, or before or
// after decompression; a gzip bomb is never inflated past the limit), 415
// unknown content type or coding, 429/503 with Retry-After when overloaded.
// Path, method, key, media type, coding and a declared Content-Length are
// checked before the body is read. Error bodies are google.rpc.Status in the
// request's encoding (JSON for JSON requests, protobuf otherwise), also for
// the errors the HTTP server makes itself (RewriteServerError).
//
// Every refusal is counted in loupe_ingest_requests_total{transport="http",
// result} and the first of each kind is logged at WARN (rate-limited). After
// a refused request that held a lot of memory (a bomb inflated to the
// limit), freed memory is returned to the system (common/memory.h).
//
// Thread-safety: Handle/CheckHeaders may run on many threads at once.
#ifndef LOUPE_INGEST_OTLP_HTTP_RECEIVER_H_
#define LOUPE_INGEST_OTLP_HTTP_RECEIVER_H_

#include <cstddef>

#include "auth/registry.h"
#include "common/metrics.h"
#include "ingest/pipeline.h"
#include "net/http_server.h"
#include "wire/decode_limits.h"

namespace loupe::ingest {

struct OtlpHttpOptions {
  size_t max_body_bytes = 20u << 20;  // after decompression (OTLP spec default)
  wire::DecodeLimits limits;
};

class OtlpHttpReceiver {
 public:
  OtlpHttpReceiver(auth::Registry* registry, Pipeline* pipeline, MetricsRegistry* metrics,
                   OtlpHttpOptions options);

  // net::HeaderCheck: rejects bad keys, methods and paths before the body is read.
  bool CheckHeaders(const net::HttpRequest& req, net::HttpResponse* resp);
  // net::HttpHandler.
  void Handle(net::HttpRequest& req, net::HttpResponse* resp);
  // net::ErrorResponseHook: gives a response the HTTP server made itself
  // (408, 413, 431, 429/503) a google.rpc.Status body in the request's
  // encoding. The server has counted it already.
  void RewriteServerError(const net::HttpRequest& head, net::HttpResponse* resp);

 private:
  enum class Encoding { kProto, kJson };
  void Fail(Encoding enc, int http_status, int grpc_code, const std::string& message,
            const char* reason, net::HttpResponse* resp);

  auth::Registry* registry_;
  Pipeline* pipeline_;
  OtlpHttpOptions options_;
  MetricsRegistry* metrics_;
  Counter* requests_ok_;
  Histogram* body_bytes_;
};

// Extracts the secret of "Bearer <secret>" (case-insensitive scheme); "" if absent.
std::string_view BearerToken(std::string_view authorization);

}  // namespace loupe::ingest

#endif  // LOUPE_INGEST_OTLP_HTTP_RECEIVER_H_
