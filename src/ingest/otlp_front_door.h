// OtlpFrontDoor: the one entry of every request on the OTLP ports. A receiver
// (traces; metrics; the Loupe agent extensions; logs later) only decodes
// and submits: it registers a RouteHandler for its path (HTTP, port 4318)
// and, for gRPC (port 4317, ingest/otlp_grpc_receiver.h), for its service
// method. Adding a signal is one AddHttpRoute / AddGrpcMethod call.
//
// Steps the door takes once for every request, in this order:
//  1. route lookup: an unknown path is a 404 (an OTLP google.rpc.Status, or a
//     Loupe agent error under /v1/loupe/); /v1/metrics and /v1/logs answer
//     404 UNIMPLEMENTED "not supported yet" (naming the OTLP paths taken)
//     until a receiver takes them;
//  2. method (405 with Allow);
//  3. authentication: `Authorization: Bearer <ingest key>` or `x-loupe-key`
//     (gRPC: the same metadata) selects the project (401);
//  4. for routes with a body: Content-Type (415), Content-Encoding (gzip,
//     deflate, identity; 415), a declared Content-Length over the route's
//     limit (413) — steps 1–4 run before the body is read (HeaderCheck);
//  5. the body over the route's limit (413), then in-flight bytes reserved
//     against the pipeline's budget (503 + Retry-After when used up);
//  6. inflating gzip/deflate bounded by the route's limit (a bomb is never
//     inflated past it; 413, or 400 for corrupt data), the inflated size
//     reserved too;
//  7. the route's handler with the project and the inflated body.
// Reservations are released when the request is answered; a refused request
// that held a lot of memory gives it back to the system (common/memory.h).
//
// Errors are spelled by ingest/status_mapping.h: OTLP routes answer
// google.rpc.Status in the request's encoding (JSON for a JSON request,
// protobuf otherwise), agent routes {"error":{"code","message"}}; errors the
// HTTP server makes itself (408, 413, 431, 429/503) get the OTLP body on OTLP
// paths (RewriteServerError). Refusals are counted in
// loupe_ingest_requests_total{transport="http"|"grpc",result} (OTLP) or
// loupe_agent_requests_total{result} (agent routes) and the first of each
// kind is logged at WARN (rate-limited).
//
// Thread-safety: routes are added before serving starts (not thread-safe);
// after that every method may run on many threads at once.
// Ownership: the registry, pipeline and metrics are borrowed and must
// outlive the door; the door must outlive the servers it serves.
#ifndef LOUPE_INGEST_OTLP_FRONT_DOOR_H_
#define LOUPE_INGEST_OTLP_FRONT_DOOR_H_

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "auth/registry.h"
#include "common/metrics.h"
#include "ingest/pipeline.h"
#include "ingest/status_mapping.h"
#include "net/http_server.h"

namespace loupe::ingest {

enum class BodyFormat { kProto, kJson };

// The content coding a body still carries when it reaches the door.
enum class Coding { kIdentity, kGzip, kDeflate };

// In-flight bytes held by one request against Pipeline::ReserveBytes;
// released when it is destroyed. Not thread-safe (one request).
class InflightBytes {
 public:
  explicit InflightBytes(Pipeline* pipeline) : pipeline_(pipeline) {}
  ~InflightBytes() { pipeline_->ReleaseBytes(held_); }
  InflightBytes(const InflightBytes&) = delete;
  InflightBytes& operator=(const InflightBytes&) = delete;

  // False (and nothing reserved) when the budget is used up.
  bool Add(int64_t bytes);

 private:
  Pipeline* pipeline_;
  int64_t held_ = 0;
};

// What a route's handler gets.
struct IngestCall {
  auth::ProjectId project = 0;
  BodyFormat format = BodyFormat::kProto;
  std::string* body = nullptr;             // inflated; may be parsed in place
  const net::HttpRequest* http = nullptr;  // the request (query parameters); null on gRPC
  // For copies the handler keeps while it runs; null for routes without a body.
  InflightBytes* inflight = nullptr;
};

// A handler's answer: refused, or a response body (status 200).
struct IngestReply {
  Refusal refusal;
  std::string content_type;  // HTTP only
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // HTTP only

  static IngestReply Refused(Reason reason, std::string message) {
    IngestReply r;
    r.refusal = {reason, std::move(message)};
    return r;
  }
};

using RouteHandler = std::function<IngestReply(IngestCall& call)>;

// Which error body and counter an HTTP route uses.
enum class RouteFamily {
  kOtlp,   // google.rpc.Status bodies; loupe_ingest_requests_total{transport="http"}
  kAgent,  // {"error":{...}} bodies; loupe_agent_requests_total
};

struct HttpRoute {
  std::string path;    // exact
  std::string method;  // "POST", "GET"
  RouteFamily family = RouteFamily::kOtlp;
  // Accepted media types; empty: the route takes no body (no content checks).
  std::vector<std::string> media_types;
  std::string media_hint;             // ends the 415 message: "use application/json"
  size_t max_body_bytes = 20u << 20;  // before and after inflating (OTLP: 20 MiB)
  bool count_ok = true;               // count answered requests as result="ok"
  RouteHandler handler;               // null: 404 "not supported yet"
};

struct OtlpFrontDoorOptions {
  // Paths under this prefix that no route takes answer in the agent family.
  std::string agent_prefix = "/v1/loupe/";
};

class OtlpFrontDoor {
 public:
  // Registers /v1/metrics and /v1/logs as "not supported yet" routes.
  OtlpFrontDoor(auth::Registry* registry, Pipeline* pipeline, MetricsRegistry* metrics,
                OtlpFrontDoorOptions options = {});

  // Adds (or replaces, by path) an HTTP route. REQUIRES: before serving.
  void AddHttpRoute(HttpRoute route);
  // Adds a gRPC method ("/package.Service/Method"); its handler gets protobuf
  // bodies. REQUIRES: before serving.
  void AddGrpcMethod(std::string method, RouteHandler handler);

  // Starts the OTLP/HTTP server on these options with the door's handler,
  // header check and error hook.
  Result<std::unique_ptr<net::HttpServer>> ServeHttp(net::HttpServerOptions options);

  // net::HeaderCheck: steps 1–4.
  bool CheckHeaders(const net::HttpRequest& req, net::HttpResponse* resp);
  // net::HttpHandler: steps 1–7.
  void Handle(net::HttpRequest& req, net::HttpResponse* resp);
  // net::ErrorResponseHook: gives a response the HTTP server made itself a
  // google.rpc.Status body in the request's encoding on OTLP paths (agent
  // paths keep the server's JSON error). The server has counted it already.
  void RewriteServerError(const net::HttpRequest& head, net::HttpResponse* resp);

  // For the gRPC transport: the handler of `method`, or null.
  const RouteHandler* GrpcMethod(std::string_view method) const;
  // The registered gRPC methods, " and "-separated (for error messages).
  std::string GrpcMethodNames() const;
  // Step 3 for a key taken from headers or metadata ("" when absent): no
  // refusal and *project set, or a kUnauthenticated refusal worded for the
  // transport (`grpc`: metadata).
  Refusal Authenticate(std::string_view key, bool grpc, auth::ProjectId* project) const;
  // Steps 5–7 on a body as received. `raw` may be emptied once inflated.
  // *held is set to the most bytes the call's buffers held at once.
  // `grpc` selects the wording of size errors ("message" instead of "body").
  IngestReply Admit(auth::ProjectId project, std::string* raw, Coding coding, BodyFormat format,
                    size_t max_bytes, const net::HttpRequest* http, const RouteHandler& handler,
                    bool grpc, size_t* held);
  // Counts a gRPC call's outcome in loupe_ingest_requests_total{transport="grpc"}
  // and logs the first refusal of each kind.
  void CountGrpc(const Refusal& refusal);

 private:
  const HttpRoute* Lookup(std::string_view path) const;
  RouteFamily FamilyOf(std::string_view path) const;
  // Steps 1–4; on refusal fills *resp and returns null.
  const HttpRoute* Check(const net::HttpRequest& req, auth::ProjectId* project,
                         net::HttpResponse* resp);
  void Refuse(RouteFamily family, BodyFormat format, const Refusal& refusal,
              net::HttpResponse* resp);

  auth::Registry* registry_;
  Pipeline* pipeline_;
  MetricsRegistry* metrics_;
  const OtlpFrontDoorOptions options_;
  std::map<std::string, HttpRoute, std::less<>> http_routes_;
  std::map<std::string, RouteHandler, std::less<>> grpc_methods_;
  std::string agent_paths_;  // "/v1/loupe/active and /v1/loupe/config", for 404 messages
  Counter* http_ok_;
  Counter* agent_ok_;
};

// Extracts the secret of "Bearer <secret>" (case-insensitive scheme); "" if absent.
std::string_view BearerToken(std::string_view authorization);

}  // namespace loupe::ingest

#endif  // LOUPE_INGEST_OTLP_FRONT_DOOR_H_
