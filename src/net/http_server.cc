// Boost.Beast implementation of net::HttpServer: the server and its HTTP
// sessions. The WebSocket session is in websocket_session.cc; what both share is
// in http_server_internal.h. All Boost includes of the project live in
// src/net/*.cc and that private header (compile time; see http_server.h).
//
// Lifetimes: sessions are owned by their pending asynchronous operations
// (shared_from_this), the usual Asio pattern, plus (for WebSockets) by the
// application that keeps the WebSocketConnection. Every session is listed in
// a Tracker so Stop() can ask it to end; because an Asio socket or strand
// must not outlive its io_context, Stop() finally makes every WebSocket still
// held by the application release its socket and executor (ForceClose).
#include "net/http_server.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "common/logging.h"
#include "net/http_server_internal.h"

namespace loupe::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

// After a response that closes the connection, the server half-closes and
// reads (discarding) what the client still sends for at most this long, so
// that a client still uploading a refused body receives the response instead
// of a TCP reset (nginx's lingering_close).
constexpr auto kLingerTimeout = std::chrono::seconds(2);
constexpr size_t kLingerMaxBytes = 64 << 20;
constexpr auto kStopGrace = std::chrono::seconds(10);
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::string_view kBusyResponse =
    "HTTP/1.1 503 Service Unavailable\r\n"
    "Content-Type: application/json; charset=utf-8\r\n"
    "Content-Length: 65\r\n"
    "Connection: close\r\n"
    "Retry-After: 1\r\n"
    "\r\n"
    "{\"error\":{\"code\":\"unavailable\",\"message\":\"too many connections\"}}";
constexpr std::string_view kClientBusyResponse =
    "HTTP/1.1 429 Too Many Requests\r\n"
    "Content-Type: application/json; charset=utf-8\r\n"
    "Content-Length: 90\r\n"
    "Connection: close\r\n"
    "Retry-After: 1\r\n"
    "\r\n"
    "{\"error\":{\"code\":\"resource_exhausted\",\"message\":\"too many connections from "
    "this address\"}}";
// How much a wait for the first byte of a request reads at once.
constexpr size_t kFirstReadBytes = 16 << 10;

// Why the server refused a request or connection (loupe_http_refused_total).
enum Refusal {
  kRequestTimeout,
  kTooLarge,
  kHeaderTooLarge,
  kMalformed,
  kTooManyConnections,
  kTooManyClientConnections,
  kNumRefusals
};
constexpr const char* kRefusalNames[kNumRefusals] = {
    "request_timeout",      "too_large",
    "header_too_large",     "malformed",
    "too_many_connections", "too_many_client_connections"};

std::string ErrorBody(std::string_view code, std::string_view message) {
  // Callers pass fixed ASCII text without quotes or backslashes.
  std::string s = "{\"error\":{\"code\":\"";
  s += code;
  s += "\",\"message\":\"";
  s += message;
  s += "\"}}";
  return s;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes (and '+' as space when plus_is_space). Invalid escapes
// fail when strict and are kept literally otherwise.
bool PercentDecode(std::string_view in, bool plus_is_space, bool strict, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      const int hi = i + 2 < in.size() ? HexDigit(in[i + 1]) : -1;
      const int lo = hi >= 0 ? HexDigit(in[i + 2]) : -1;
      if (hi >= 0 && lo >= 0) {
        out->push_back(static_cast<char>(hi << 4 | lo));
        i += 2;
        continue;
      }
      if (strict) return false;
      out->push_back(c);
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

// Header text without CR, LF or NUL (response splitting).
std::string CleanHeaderText(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c != '\r' && c != '\n' && c != '\0') out.push_back(c);
  }
  return out;
}

bool IsParseError(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_method).category();
}

// Fills method, path, query and headers from a parsed request head.
// False when the target is unusable.
bool FillRequest(const http::request<http::string_body>& h, HttpRequest* r) {
  r->method = std::string(h.method_string());
  std::string_view target = h.target();
  if (target.empty()) return false;
  if (target == "*") {  // OPTIONS *
    r->path = "*";
  } else {
    if (target[0] != '/') {
      // absolute-form: scheme://authority/path?query
      const size_t scheme = target.find("://");
      if (scheme == std::string_view::npos) return false;
      const size_t slash = target.find('/', scheme + 3);
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    }
    const size_t q = target.find('?');
    if (q != std::string_view::npos) r->query = std::string(target.substr(q + 1));
    if (!PercentDecode(target.substr(0, q), /*plus_is_space=*/false, /*strict=*/true, &r->path)) {
      return false;
    }
    if (r->path.find('\0') != std::string::npos) return false;
  }
  r->headers.reserve(std::distance(h.begin(), h.end()));
  for (const auto& f : h) {
    std::string name(f.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r->headers.emplace_back(std::move(name), std::string(f.value()));
  }
  return true;
}

using internal::ClientSlot;
using internal::ClientTable;
using internal::SessionBase;
using internal::Tracker;
using internal::WsSession;

// ---------------------------------------------------------------------------
// Server.

class BeastHttpServer final : public HttpServer {
 public:
  BeastHttpServer(HttpServerOptions options, HttpHandler handler, HeaderCheck header_check,
                  WebSocketHandler ws)
      : options_(Normalize(std::move(options))),
        handler_(std::move(handler)),
        header_check_(std::move(header_check)),
        ws_handler_(std::move(ws)),
        acceptor_(asio::make_strand(io_)),
        accept_timer_(acceptor_.get_executor()),
        workers_(static_cast<size_t>(options_.threads)),
        clients_(std::make_shared<ClientTable>(options_.max_connections_per_client)) {
    MetricsRegistry* m = options_.metrics;
    if (m == nullptr) {
      own_metrics_ = std::make_unique<MetricsRegistry>();
      m = own_metrics_.get();
    }
    for (int i = 0; i < kNumRefusals; ++i) {
      refused_[i] = m->GetCounter("loupe_http_refused_total",
                                  "Requests and connections the HTTP servers refused, by server "
                                  "and reason.",
                                  {{"server", options_.name}, {"reason", kRefusalNames[i]}});
    }
  }

  ~BeastHttpServer() override { Stop(); }

  Status Listen() {
    beast::error_code ec;
    auto address = asio::ip::make_address(options_.bind_address, ec);
    if (ec) return Status::InvalidArgument("bad bind address: " + options_.bind_address);
    tcp::endpoint ep(address, options_.port);
    const std::string where = options_.bind_address + ":" + std::to_string(options_.port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Status::IoError("listening on " + where + ": " + ec.message());
    port_ = acceptor_.local_endpoint(ec).port();
    return Status::OK();
  }

  void Run() {
    guard_.emplace(asio::make_work_guard(io_));
    asio::dispatch(acceptor_.get_executor(), [this] { DoAccept(); });
    const int io_threads = std::max(1, std::min(4, options_.threads / 4));
    for (int i = 0; i < io_threads; ++i) {
      io_threads_.emplace_back([this] {
        for (;;) {
          try {
            io_.run();
            return;
          } catch (const std::exception& e) {
            // A completion handler threw (bad_alloc...): keep serving.
            std::fprintf(stderr, "loupe: http server I/O thread: %s\n", e.what());
          }
        }
      });
    }
  }

  uint16_t port() const override { return port_; }

  void Stop() override {
    std::lock_guard<std::mutex> l(stop_mu_);
    if (stopped_) return;
    stopped_ = true;
    stopping_.store(true);
    asio::post(acceptor_.get_executor(), [this] {
      beast::error_code ignored;
      acceptor_.close(ignored);
      accept_timer_.cancel();
    });
    for (auto& s : tracker_->Snapshot()) s->Shutdown();
    tracker_->WaitIdle(kStopGrace);
    guard_.reset();
    io_.stop();
    for (auto& t : io_threads_) t.join();
    io_threads_.clear();
    workers_.join();  // running handlers finish; their completions are dropped
    for (auto& s : tracker_->Snapshot()) s->ForceClose();
  }

  bool stopping() const { return stopping_.load(std::memory_order_relaxed); }
  const HttpServerOptions& options() const { return options_; }
  const HttpHandler& handler() const { return handler_; }
  const HeaderCheck& header_check() const { return header_check_; }
  const WebSocketHandler& ws_handler() const { return ws_handler_; }
  asio::thread_pool& workers() { return workers_; }
  const std::shared_ptr<Tracker>& tracker() const { return tracker_; }

  // Counts a refusal and logs the first of its kind (rate-limited).
  void Refused(Refusal why, const std::string& remote, std::string_view detail) {
    refused_[why]->Inc();
    const std::string kind = "http " + options_.name + " " + kRefusalNames[why];
    std::string line = options_.name + " server refused a request from " +
                       (remote.empty() ? std::string("?") : remote) + " (" + kRefusalNames[why] +
                       ")";
    if (!detail.empty()) {
      line += ": ";
      line += detail;
    }
    LogWarningRateLimited(kind, line);
  }

 private:
  static HttpServerOptions Normalize(HttpServerOptions o) {
    o.threads = std::max(1, o.threads);
    o.idle_timeout_seconds = std::max(1, o.idle_timeout_seconds);
    o.request_timeout_seconds = std::max(1, o.request_timeout_seconds);
    o.max_connections = std::max<size_t>(1, o.max_connections);
    o.max_header_bytes = std::max<size_t>(1024, o.max_header_bytes);
    return o;
  }

  void DoAccept() {
    acceptor_.async_accept(
        asio::make_strand(io_),
        [this](beast::error_code ec, tcp::socket socket) { OnAccept(ec, std::move(socket)); });
  }

  void OnAccept(beast::error_code ec, tcp::socket socket);
  // Answers a connection refused at accept with a canned response and closes it.
  void RejectConnection(tcp::socket socket, std::string_view response) {
    auto s = std::make_shared<tcp::socket>(std::move(socket));
    asio::async_write(*s, asio::buffer(response), [s](beast::error_code, size_t) {
      beast::error_code ignored;
      s->shutdown(tcp::socket::shutdown_both, ignored);
      s->close(ignored);
    });
  }

  const HttpServerOptions options_;
  const HttpHandler handler_;
  const HeaderCheck header_check_;
  const WebSocketHandler ws_handler_;
  std::shared_ptr<Tracker> tracker_ = std::make_shared<Tracker>();
  // Declared before everything holding sockets, strands or handlers, so it
  // is destroyed after them.
  asio::io_context io_;
  tcp::acceptor acceptor_;
  asio::steady_timer accept_timer_;
  asio::thread_pool workers_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
  std::vector<std::thread> io_threads_;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::mutex stop_mu_;
  bool stopped_ = false;
  std::shared_ptr<ClientTable> clients_;
  std::unique_ptr<MetricsRegistry> own_metrics_;
  Counter* refused_[kNumRefusals];
};

// ---------------------------------------------------------------------------
// HTTP session: one connection, one request at a time.

class HttpSession final : public SessionBase, public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(BeastHttpServer* server, tcp::socket socket, std::string remote,
              std::unique_ptr<ClientSlot> slot)
      : server_(server),
        tracker_(server->tracker()),
        exec_(socket.get_executor()),
        stream_(std::move(socket)),
        deadline_timer_(exec_),
        remote_(std::move(remote)),
        client_slot_(std::move(slot)) {
    beast::error_code ec;
    stream_.socket().set_option(tcp::no_delay(true), ec);
  }
  ~HttpSession() override {
    tracker_->Done();
    tracker_->Forget(this);
  }

  void Start() {
    asio::dispatch(exec_, [self = shared_from_this()] { self->ReadHeader(); });
  }

  void Shutdown() override {
    asio::post(exec_, [self = shared_from_this()] {
      self->shutdown_ = true;
      // Waiting for (or in the middle of reading) a request: cut it. A
      // request in a handler is answered first (with Connection: close).
      // Lingering after a last response: stop waiting for the client too.
      if (self->phase_ == Phase::kReading || (self->phase_ == Phase::kClosing && self->drain_)) {
        self->HardClose();
      }
    });
  }
  void ForceClose() override {}  // owned by pending operations only; nothing outlives io_

 private:
  enum class Phase { kReading, kHandling, kWriting, kClosing };

  const HttpServerOptions& opts() const { return server_->options(); }

  void ReadHeader() {
    if (server_->stopping() || shutdown_) return HardClose();
    phase_ = Phase::kReading;
    parser_.emplace();
    parser_->header_limit(
        static_cast<uint32_t>(std::min<size_t>(opts().max_header_bytes, 1u << 30)));
    parser_->body_limit(static_cast<uint64_t>(opts().max_body_bytes));
    req_ = HttpRequest{};
    resp_ = HttpResponse{};
    close_after_ = false;
    body_pending_ = false;
    deadline_hit_ = false;
    stream_.expires_after(std::chrono::seconds(opts().idle_timeout_seconds));
    if (buffer_.size() > 0) return StartRequest();  // a pipelined request is here already
    // Wait for the first byte: the request deadline runs from there, so time
    // spent idle on a keep-alive connection does not count against it.
    stream_.async_read_some(buffer_.prepare(kFirstReadBytes),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->buffer_.commit(n);
                              if (ec) return self->HardClose();  // EOF, reset, idle, shutdown
                              self->StartRequest();
                            });
  }

  void StartRequest() {
    if (server_->stopping() || shutdown_) return HardClose();
    stream_.expires_after(std::chrono::seconds(opts().idle_timeout_seconds));
    const uint64_t gen = ++request_gen_;
    deadline_timer_.expires_after(std::chrono::seconds(opts().request_timeout_seconds));
    deadline_timer_.async_wait([self = shared_from_this(), gen](beast::error_code ec) {
      if (ec || gen != self->request_gen_ || self->phase_ != Phase::kReading) return;
      // Cut the read in progress; its handler answers 408.
      self->deadline_hit_ = true;
      beast::error_code ignored;
      self->stream_.socket().cancel(ignored);
    });
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  // The request ended (answered, dispatched, or the connection is closing).
  void StopDeadline() {
    ++request_gen_;
    deadline_timer_.cancel();
  }

  void RequestTimeout() {
    server_->Refused(kRequestTimeout, remote_,
                     parser_ && parser_->is_header_done()
                         ? req_.method + " " + req_.path.substr(0, 128)
                         : "request head not received");
    body_pending_ = true;
    RespondError(
        408, "request_timeout",
        "request not received within " + std::to_string(opts().request_timeout_seconds) + " s");
  }

  void OnHeader(beast::error_code ec) {
    if (deadline_hit_) return RequestTimeout();
    if (ec) {
      if (ec == http::error::header_limit) {
        server_->Refused(kHeaderTooLarge, remote_, "");
        return RespondError(431, "resource_exhausted", "request header too large");
      }
      if (ec == http::error::body_limit) {  // from Content-Length, before any body byte
        // The head was read: the error hook and the response can use it.
        const auto& head = parser_->get();
        version_ = head.version();
        if (!FillRequest(head, &req_)) req_ = HttpRequest{};
        req_.remote_address = remote_;
        body_pending_ = true;
        return RespondTooLarge();
      }
      if (IsParseError(ec) && ec != http::error::end_of_stream &&
          ec != http::error::partial_message) {
        server_->Refused(kMalformed, remote_, "malformed HTTP request head");
        return RespondError(400, "invalid_argument", "malformed HTTP request");
      }
      return HardClose();  // EOF, reset, timeout, shutdown
    }
    const auto& head = parser_->get();
    version_ = head.version();
    keep_alive_ = head.keep_alive();
    if (!FillRequest(head, &req_)) {
      server_->Refused(kMalformed, remote_, "malformed request target");
      return RespondError(400, "invalid_argument", "malformed request target");
    }
    req_.remote_address = remote_;
    body_pending_ = !parser_->is_done();
    if (auto cl = parser_->content_length(); cl && *cl > opts().max_body_bytes) {
      return RespondTooLarge();
    }
    if (const auto& check = server_->header_check()) {
      bool ok = false;
      try {
        ok = check(req_, &resp_);
      } catch (const std::exception&) {
        resp_ = InternalError();
      }
      if (!ok) {
        close_after_ = body_pending_;
        return WriteResponse();
      }
    }
    if (websocket::is_upgrade(head)) {
      if (body_pending_) return RespondError(400, "invalid_argument", "upgrade with a body");
      return Upgrade();
    }
    if (!body_pending_) return Dispatch();
    if (beast::iequals(head[http::field::expect], "100-continue")) {
      stream_.expires_after(std::chrono::seconds(opts().idle_timeout_seconds));
      return asio::async_write(stream_, asio::buffer(kContinue),
                               [self = shared_from_this()](beast::error_code ec, size_t) {
                                 if (ec) return self->HardClose();
                                 self->ReadBody();
                               });
    }
    ReadBody();
  }

  // Reads the body piece by piece so that the idle timeout applies to each
  // gap, not to the whole upload.
  void ReadBody() {
    stream_.expires_after(std::chrono::seconds(opts().idle_timeout_seconds));
    http::async_read_some(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
  }

  void OnBody(beast::error_code ec) {
    if (deadline_hit_) return RequestTimeout();
    if (ec) {
      if (ec == http::error::body_limit) return RespondTooLarge();
      if (IsParseError(ec) && ec != http::error::end_of_stream &&
          ec != http::error::partial_message) {
        server_->Refused(kMalformed, remote_, "malformed HTTP request body");
        return RespondError(400, "invalid_argument", "malformed HTTP request body");
      }
      return HardClose();
    }
    if (!parser_->is_done()) return ReadBody();
    body_pending_ = false;
    Dispatch();
  }

  void Dispatch() {
    phase_ = Phase::kHandling;
    StopDeadline();
    stream_.expires_never();
    req_.body = std::move(parser_->get().body());
    asio::post(server_->workers(), [self = shared_from_this()] {
      try {
        self->server_->handler()(self->req_, &self->resp_);
      } catch (const std::exception&) {
        self->resp_ = InternalError();
      } catch (...) {
        self->resp_ = InternalError();
      }
      asio::post(self->exec_, [self] { self->WriteResponse(); });
    });
  }

  void Upgrade() {
    if (!server_->ws_handler()) {
      return RespondError(404, "not_found", "no WebSocket endpoint here");
    }
    phase_ = Phase::kHandling;
    StopDeadline();
    stream_.expires_never();
    auto ws = std::make_shared<WsSession>(tracker_, exec_, opts().idle_timeout_seconds);
    asio::post(server_->workers(), [self = shared_from_this(), ws] {
      bool ok = false;
      try {
        ok = self->server_->ws_handler()(self->req_, &self->resp_, ws);
      } catch (...) {
        self->resp_ = InternalError();
        ok = false;
      }
      asio::post(self->exec_, [self, ws, ok] { self->FinishUpgrade(ws, ok); });
    });
  }

  void FinishUpgrade(const std::shared_ptr<WsSession>& ws, bool ok) {
    if (!ok || server_->stopping() || shutdown_) {
      ws->Reject();
      if (ok) {
        resp_ = HttpResponse{};
        resp_.status = 503;
        resp_.body = ErrorBody("unavailable", "server stopping");
      }
      close_after_ = true;
      return WriteResponse();
    }
    phase_ = Phase::kClosing;  // the stream now belongs to the WebSocket session
    ws->Accept(std::move(stream_), parser_->release(), std::move(client_slot_));
  }

  static HttpResponse InternalError() {
    HttpResponse r;
    r.status = 500;
    r.body = ErrorBody("internal", "internal error");
    return r;
  }

  void RespondTooLarge() {
    server_->Refused(kTooLarge, remote_, req_.method + " " + req_.path.substr(0, 128));
    RespondError(413, "resource_exhausted",
                 "request body larger than " + std::to_string(opts().max_body_bytes) + " bytes");
  }

  void RespondError(int status, std::string_view code, const std::string& message) {
    resp_ = HttpResponse{};
    resp_.status = status;
    resp_.body = ErrorBody(code, message);
    if (const auto& hook = opts().error_hook) {
      try {
        hook(req_, &resp_);
      } catch (const std::exception&) {
        resp_.body = ErrorBody(code, message);
      }
      resp_.status = status;
    }
    resp_.headers.emplace_back("X-Content-Type-Options", "nosniff");
    resp_.headers.emplace_back("Cache-Control", "no-store");
    close_after_ = true;
    WriteResponse();
  }

  void WriteResponse() {
    phase_ = Phase::kWriting;
    StopDeadline();
    out_.emplace();
    int status = resp_.status;
    if (status < 200 || status > 999) status = 500;  // 1xx are the server's business
    out_->result(static_cast<unsigned>(status));
    out_->version(version_ == 10 ? 10 : 11);
    if (!resp_.content_type.empty()) {
      out_->set(http::field::content_type, CleanHeaderText(resp_.content_type));
    }
    for (const auto& [name, value] : resp_.headers) {
      std::string n = CleanHeaderText(name);
      if (n.empty() || beast::iequals(n, "content-length") ||
          beast::iequals(n, "transfer-encoding") || beast::iequals(n, "connection")) {
        continue;
      }
      out_->insert(n, CleanHeaderText(value));
    }
    const bool keep =
        keep_alive_ && !close_after_ && !body_pending_ && !shutdown_ && !server_->stopping();
    out_->keep_alive(keep);
    if (status == 204 || status == 304) {
      // No body, no Content-Length.
    } else if (req_.method == "HEAD") {
      const size_t n = resp_.body.size();
      out_->content_length(n);
    } else {
      out_->body() = std::move(resp_.body);
      out_->prepare_payload();
    }
    resp_.body.clear();
    stream_.expires_after(std::chrono::seconds(opts().idle_timeout_seconds));
    http::async_write(stream_, *out_,
                      [self = shared_from_this(), keep](beast::error_code ec, size_t) {
                        self->out_.reset();
                        if (ec) return self->HardClose();
                        if (!keep) return self->GracefulClose();
                        self->ReadHeader();
                      });
  }

  void GracefulClose() {
    phase_ = Phase::kClosing;
    if (shutdown_ || server_->stopping()) return HardClose();  // no lingering while stopping
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return HardClose();
    drain_.reset(new char[16 << 10]);
    drained_ = 0;
    stream_.expires_after(kLingerTimeout);
    Drain();
  }

  void Drain() {
    stream_.async_read_some(asio::buffer(drain_.get(), 16 << 10),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > kLingerMaxBytes) return self->HardClose();
                              self->Drain();
                            });
  }

  void HardClose() {
    phase_ = Phase::kClosing;
    StopDeadline();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  BeastHttpServer* const server_;
  const std::shared_ptr<Tracker> tracker_;
  const asio::any_io_executor exec_;  // this connection's strand
  beast::tcp_stream stream_;
  // Cuts a request not received within request_timeout_seconds of its first
  // byte (the stream's own expiry is the idle timeout, re-armed per read).
  asio::steady_timer deadline_timer_;
  uint64_t request_gen_ = 0;  // invalidates a deadline that fires after its request
  bool deadline_hit_ = false;
  beast::flat_buffer buffer_;
  const std::string remote_;
  std::unique_ptr<ClientSlot> client_slot_;  // moves to the WebSocket on upgrade
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> out_;
  // req_ and resp_ belong to the handler thread while phase_ == kHandling.
  HttpRequest req_;
  HttpResponse resp_;
  Phase phase_ = Phase::kReading;
  unsigned version_ = 11;
  bool keep_alive_ = false;
  bool close_after_ = false;
  bool body_pending_ = false;  // a body was announced and not read
  bool shutdown_ = false;
  std::unique_ptr<char[]> drain_;
  size_t drained_ = 0;
};

void BeastHttpServer::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (stopping()) return;  // the socket closes as it goes out of scope
  if (ec) {
    if (ec == asio::error::operation_aborted) return;
    // Out of file descriptors or similar: back off instead of spinning.
    accept_timer_.expires_after(kAcceptRetryDelay);
    accept_timer_.async_wait([this](beast::error_code e) {
      if (!e && !stopping()) DoAccept();
    });
    return;
  }
  beast::error_code ep_ec;
  auto ep = socket.remote_endpoint(ep_ec);
  std::string remote = ep_ec ? std::string() : ep.address().to_string();
  if (tracker_->active() >= options_.max_connections) {
    Refused(kTooManyConnections, remote, "");
    RejectConnection(std::move(socket), kBusyResponse);
  } else if (auto slot = clients_->Acquire(remote); !slot) {
    Refused(kTooManyClientConnections, remote,
            std::to_string(options_.max_connections_per_client) + " connections open");
    RejectConnection(std::move(socket), kClientBusyResponse);
  } else {
    auto session =
        std::make_shared<HttpSession>(this, std::move(socket), std::move(remote), std::move(slot));
    tracker_->Register(session);
    session->Start();
  }
  DoAccept();
}

}  // namespace

// ---------------------------------------------------------------------------

std::string MediaType(std::string_view content_type) {
  std::string_view t = content_type.substr(0, content_type.find(';'));
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
  std::string out(t);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool TokenIs(std::string_view value, std::string_view token) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  return beast::iequals(value, token);
}

std::string_view HttpRequest::Header(std::string_view lowercase_name) const {
  for (const auto& [k, v] : headers) {
    if (k == lowercase_name) return v;
  }
  return {};
}

std::optional<std::string> HttpRequest::Param(std::string_view name) const {
  std::string_view q = query;
  std::string key;
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view part = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (part.empty()) continue;
    size_t eq = part.find('=');
    std::string_view k = part.substr(0, eq);
    PercentDecode(k, /*plus_is_space=*/true, /*strict=*/false, &key);
    if (key != name) continue;
    std::string value;
    if (eq != std::string_view::npos) {
      PercentDecode(part.substr(eq + 1), /*plus_is_space=*/true, /*strict=*/false, &value);
    }
    return value;
  }
  return std::nullopt;
}

HttpServer::~HttpServer() = default;

Result<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options,
                                                      HttpHandler handler, HeaderCheck header_check,
                                                      WebSocketHandler ws) {
  if (!handler) return Status::InvalidArgument("http server: no handler");
  try {
    auto server = std::make_unique<BeastHttpServer>(std::move(options), std::move(handler),
                                                    std::move(header_check), std::move(ws));
    Status st = server->Listen();
    if (!st.ok()) return st;
    server->Run();
    return std::unique_ptr<HttpServer>(std::move(server));
  } catch (const std::exception& e) {
    return Status::Internal(std::string("starting http server: ") + e.what());
  }
}

}  // namespace loupe::net
