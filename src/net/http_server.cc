// Boost.Beast implementation of net::HttpServer: the server (accept loop,
// connection limits, stop). The HTTP session is in http_session.cc, the
// WebSocket session in websocket_session.cc, request parsing in
// http_request.cc; what they share is in http_server_internal.h. All Boost
// includes of the project live in src/net/*.cc and that private header
// (compile time; see http_server.h).
//
// Lifetimes: sessions are owned by their pending asynchronous operations
// (shared_from_this), the usual Asio pattern, plus (for WebSockets) by the
// application that keeps the WebSocketConnection. Every session is listed in
// a Tracker so Stop() can ask it to end; because an Asio socket or strand
// must not outlive its io_context, Stop() finally makes every WebSocket still
// held by the application release its socket and executor (ForceClose).
#include "net/http_server.h"

#include <algorithm>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdio>
#include <exception>

#include "common/logging.h"
#include "net/http_server_internal.h"

namespace loupe::net {
namespace internal {
namespace {

constexpr auto kStopGrace = std::chrono::seconds(10);
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);

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
constexpr const char* kRefusalNames[kNumRefusals] = {
    "request_timeout",      "too_large",
    "header_too_large",     "malformed",
    "too_many_connections", "too_many_client_connections"};

}  // namespace

BeastHttpServer::BeastHttpServer(HttpServerOptions options, HttpHandler handler,
                                 HeaderCheck header_check, WebSocketHandler ws)
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

Status BeastHttpServer::Listen() {
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

void BeastHttpServer::Run() {
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

void BeastHttpServer::Stop() {
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

void BeastHttpServer::Refused(Refusal why, const std::string& remote, std::string_view detail) {
  refused_[why]->Inc();
  const std::string kind = "http " + options_.name + " " + kRefusalNames[why];
  std::string line = options_.name + " server refused a request from " +
                     (remote.empty() ? std::string("?") : remote) + " (" + kRefusalNames[why] + ")";
  if (!detail.empty()) {
    line += ": ";
    line += detail;
  }
  LogWarningRateLimited(kind, line);
}

HttpServerOptions BeastHttpServer::Normalize(HttpServerOptions o) {
  o.threads = std::max(1, o.threads);
  o.idle_timeout_seconds = std::max(1, o.idle_timeout_seconds);
  o.request_timeout_seconds = std::max(1, o.request_timeout_seconds);
  o.max_connections = std::max<size_t>(1, o.max_connections);
  o.max_header_bytes = std::max<size_t>(1024, o.max_header_bytes);
  return o;
}

void BeastHttpServer::DoAccept() {
  acceptor_.async_accept(asio::make_strand(io_), [this](beast::error_code ec, tcp::socket socket) {
    OnAccept(ec, std::move(socket));
  });
}

void BeastHttpServer::RejectConnection(tcp::socket socket, std::string_view response) {
  auto s = std::make_shared<tcp::socket>(std::move(socket));
  asio::async_write(*s, asio::buffer(response), [s](beast::error_code, size_t) {
    beast::error_code ignored;
    s->shutdown(tcp::socket::shutdown_both, ignored);
    s->close(ignored);
  });
}

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
    StartHttpSession(this, std::move(socket), std::move(remote), std::move(slot));
  }
  DoAccept();
}

}  // namespace internal

HttpServer::~HttpServer() = default;

Result<std::unique_ptr<HttpServer>> HttpServer::Start(HttpServerOptions options,
                                                      HttpHandler handler, HeaderCheck header_check,
                                                      WebSocketHandler ws) {
  if (!handler) return Status::InvalidArgument("http server: no handler");
  try {
    auto server = std::make_unique<internal::BeastHttpServer>(
        std::move(options), std::move(handler), std::move(header_check), std::move(ws));
    Status st = server->Listen();
    if (!st.ok()) return st;
    server->Run();
    return std::unique_ptr<HttpServer>(std::move(server));
  } catch (const std::exception& e) {
    return Status::Internal(std::string("starting http server: ") + e.what());
  }
}

}  // namespace loupe::net
