// HTTP/1.1 and WebSocket server (Boost.Beast underneath; no Boost in this
// header). Knows nothing of APM: ingest and api install handlers.
//
// Threading model. Two pools:
//  - I/O threads run the Asio io_context: accept, parse, write, timeouts.
//    There are max(1, min(4, threads / 4)) of them; every connection is
//    serialized on its own strand. They never run user handlers, so a slow
//    handler never stalls the accept loop or other connections' I/O.
//  - `threads` handler threads run HttpHandler and WebSocketHandler. Handlers
//    may block (ingest waits for durability); with all handler threads busy,
//    further complete requests wait in a queue. That queue is bounded by
//    max_connections, since a connection has at most one request in a handler
//    at a time (pipelined requests are read one after the other).
//  HeaderCheck runs on an I/O thread and must not block.
//
// Protocol behaviour: keep-alive (HTTP/1.1 default, HTTP/1.0 on request),
// pipelining (requests are answered in order), Content-Length and chunked
// request bodies, `Expect: 100-continue`. A declared Content-Length over
// max_body_bytes is answered 413 without reading the body; a chunked body
// growing past it is cut with 413. Malformed requests get 400, oversized
// headers 431, then the connection is closed. Connections idle (or stalled
// mid-request) for idle_timeout_seconds are closed. A request whose head and
// body have not fully arrived request_timeout_seconds after its first byte
// is answered 408 and the connection closed (a body trickled a byte at a
// time cannot hold a connection for ever). Past max_connections, new
// connections get 503 and are closed; past max_connections_per_client open
// connections from one client address, 429. A handler that throws gets 500.
// Responses the server makes itself carry a JSON body
// {"error":{"code","message"}}, unless an ErrorResponseHook rewrites it.
//
// Refusals are counted in loupe_http_refused_total{server=options.name,
// reason} (reasons: request_timeout, too_large, header_too_large, malformed,
// too_many_connections, too_many_client_connections) and the first of each
// kind is logged at WARN (rate-limited, common/logging.h).
//
// Thread-safety: HttpServer methods are thread-safe; WebSocketConnection is
// thread-safe.
#ifndef LOUPE_NET_HTTP_SERVER_H_
#define LOUPE_NET_HTTP_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/metrics.h"
#include "common/status.h"

namespace loupe::net {

// The media type of a Content-Type value: lowercased, parameters and
// surrounding whitespace removed ("Application/JSON; charset=utf-8" →
// "application/json").
std::string MediaType(std::string_view content_type);

// True when a header value (e.g. a Content-Encoding) is `token`, ignoring
// case and surrounding whitespace. `token` is lowercase.
bool TokenIs(std::string_view value, std::string_view token);

struct HttpRequest {
  std::string method;                                        // "GET", "POST"
  std::string path;                                          // percent-decoded path, without query
  std::string query;                                         // raw query string without '?'
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  std::string body;
  std::string remote_address;

  // The first header of that name; "" if absent.
  std::string_view Header(std::string_view lowercase_name) const;
  // Percent-decoded query parameter ('+' is a space); nullopt if absent. The
  // first occurrence wins. A parameter with invalid percent-encoding decodes
  // its bad escapes literally.
  std::optional<std::string> Param(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json; charset=utf-8";  // empty: no header
  std::string body;
  // Extra headers. CR and LF in names or values are removed.
  std::vector<std::pair<std::string, std::string>> headers;
};

// Runs on a handler thread; may block (ingest waits for durability). The
// request may be modified (e.g. its body moved out).
using HttpHandler = std::function<void(HttpRequest& req, HttpResponse* resp)>;

// Optional: called after headers are read, before the body (req.body is
// empty); return false to answer *resp immediately without reading the body
// (auth failure, 413 on Content-Length). The connection is then closed if a
// body was announced. Runs on an I/O thread: must not block.
using HeaderCheck = std::function<bool(const HttpRequest& headers_only, HttpResponse* resp)>;

// Optional: may rewrite a response the server makes itself for a request
// (400, 408, 413, 431), e.g. to answer in the request's own format.
// `head` holds what was read of the request (empty when its head was not
// read). Status and closing are the server's. Runs on an I/O thread: must
// not block.
using ErrorResponseHook = std::function<void(const HttpRequest& head, HttpResponse* resp)>;

// A server-side WebSocket (text frames). Incoming messages are read (so
// control frames and the close handshake work) and discarded.
class WebSocketConnection {  // thread-safe
 public:
  virtual ~WebSocketConnection() = default;
  // Queues a text message. The queue is bounded (kMaxQueuedMessages messages
  // or kMaxQueuedBytes bytes): a client too slow to keep up is disconnected
  // (closed() becomes true at once, queued messages are dropped), because
  // live frames are worthless once late and memory must stay bounded.
  // Messages sent before the handshake completes are delivered after it.
  // No-op once closed.
  virtual void Send(std::shared_ptr<const std::string> text) = 0;
  // Starts the close handshake after the queued messages are written.
  virtual void Close() = 0;
  // True once closed by either side, by an error, or by the server stopping.
  virtual bool closed() const = 0;

  static constexpr size_t kMaxQueuedMessages = 16;
  static constexpr size_t kMaxQueuedBytes = 32 << 20;
};

// Called (on a handler thread) on an upgrade request; return false and fill
// *reject to refuse it. On true the server completes the handshake; the
// handler may keep `conn` (and Send on it) as long as it likes, also after
// the server stopped (it is then closed).
using WebSocketHandler = std::function<bool(const HttpRequest& req, HttpResponse* reject,
                                            std::shared_ptr<WebSocketConnection> conn)>;

struct HttpServerOptions {
  std::string bind_address = "0.0.0.0";
  uint16_t port = 0;                   // 0: pick a free port
  int threads = 2;                     // handler threads
  size_t max_body_bytes = 20 << 20;    // larger bodies: 413 without reading them all
  size_t max_header_bytes = 64 << 10;  // larger request heads: 431
  int idle_timeout_seconds = 60;
  // A request's head and body must arrive within this long of its first
  // byte; past it: 408 and the connection is closed.
  int request_timeout_seconds = 60;
  size_t max_connections = 10000;  // HTTP and WebSocket; past it: 503
  // Open connections (HTTP and WebSocket) from one client address; past it:
  // 429. 0: no per-client cap.
  size_t max_connections_per_client = 128;
  // Where refusals are counted (null: a private registry) and the `server`
  // label they carry.
  MetricsRegistry* metrics = nullptr;
  std::string name = "http";
  ErrorResponseHook error_hook;
};

class HttpServer {
 public:
  // Binds and starts serving. Errors: IoError when the address cannot be
  // bound (in use, permission), InvalidArgument for a bad bind_address.
  // WebSocket upgrades are refused with 404 when ws is null.
  static Result<std::unique_ptr<HttpServer>> Start(HttpServerOptions options, HttpHandler handler,
                                                   HeaderCheck header_check = nullptr,
                                                   WebSocketHandler ws = nullptr);
  // Stops (as Stop()) if still running.
  virtual ~HttpServer();
  virtual uint16_t port() const = 0;  // the bound port
  // Stops accepting, lets in-flight requests finish (their responses carry
  // Connection: close), closes idle keep-alive connections and WebSockets,
  // and joins all threads. Waits at most ~10 s for connections to end before
  // cutting them, but always waits for running handlers to return.
  // Idempotent. REQUIRES: not called from a handler (it joins their threads).
  virtual void Stop() = 0;
};

}  // namespace loupe::net

#endif  // LOUPE_NET_HTTP_SERVER_H_
