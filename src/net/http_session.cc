// The HTTP session of net::HttpServer: one connection, one request at a time
// (see http_server_internal.h; lifetimes: http_server.cc).
#include <algorithm>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <exception>

#include "net/http_server_internal.h"

namespace loupe::net::internal {
namespace {

// After a response that closes the connection, the server half-closes and
// reads (discarding) what the client still sends for at most this long, so
// that a client still uploading a refused body receives the response instead
// of a TCP reset (nginx's lingering_close).
constexpr auto kLingerTimeout = std::chrono::seconds(2);
constexpr size_t kLingerMaxBytes = 64 << 20;

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
// How much a wait for the first byte of a request reads at once.
constexpr size_t kFirstReadBytes = 16 << 10;

std::string ErrorBody(std::string_view code, std::string_view message) {
  // Callers pass fixed ASCII text without quotes or backslashes.
  std::string s = "{\"error\":{\"code\":\"";
  s += code;
  s += "\",\"message\":\"";
  s += message;
  s += "\"}}";
  return s;
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

}  // namespace

void StartHttpSession(BeastHttpServer* server, tcp::socket socket, std::string remote,
                      std::unique_ptr<ClientSlot> slot) {
  auto session =
      std::make_shared<HttpSession>(server, std::move(socket), std::move(remote), std::move(slot));
  server->tracker()->Register(session);
  session->Start();
}

}  // namespace loupe::net::internal
