// Private to src/net: what the server (http_server.cc), its HTTP sessions
// (http_session.cc), its WebSocket sessions (websocket_session.cc) and the
// request parsing (http_request.cc) share. Not part of the net API; only
// src/net/*.cc include it (it brings in Boost).
#ifndef LOUPE_NET_HTTP_SERVER_INTERNAL_H_
#define LOUPE_NET_HTTP_SERVER_INTERNAL_H_

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "net/http_server.h"

namespace loupe::net::internal {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Thread-safe: asks the session to end (gracefully where possible).
  virtual void Shutdown() = 0;
  // Called once the I/O threads are joined: drop every Asio object.
  virtual void ForceClose() = 0;
};

// Registry of live sessions, shared with them (it outlives the server when a
// WebSocket is still held by the application).
class Tracker {
 public:
  void Register(const std::shared_ptr<SessionBase>& s) {
    std::lock_guard<std::mutex> l(mu_);
    sessions_[s.get()] = s;
    active_.fetch_add(1, std::memory_order_relaxed);
  }
  // The session no longer counts as an open connection. Call once.
  void Done() {
    std::lock_guard<std::mutex> l(mu_);
    active_.fetch_sub(1, std::memory_order_relaxed);
    cv_.notify_all();
  }
  void Forget(SessionBase* s) {
    std::lock_guard<std::mutex> l(mu_);
    sessions_.erase(s);
  }
  size_t active() const { return active_.load(std::memory_order_relaxed); }
  std::vector<std::shared_ptr<SessionBase>> Snapshot() {
    std::vector<std::shared_ptr<SessionBase>> out;
    std::lock_guard<std::mutex> l(mu_);
    for (auto& [p, w] : sessions_) {
      if (auto s = w.lock()) out.push_back(std::move(s));
    }
    return out;
  }
  bool WaitIdle(std::chrono::steady_clock::duration d) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, d, [&] { return active_.load(std::memory_order_relaxed) == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<SessionBase*, std::weak_ptr<SessionBase>> sessions_;
  std::atomic<size_t> active_{0};
};

// Open connections per client address, shared with the sessions (a WebSocket
// may outlive the server). A ClientSlot holds one of them until destroyed.
class ClientTable : public std::enable_shared_from_this<ClientTable> {
 public:
  class Slot {
   public:
    Slot(std::shared_ptr<ClientTable> table, std::string address)
        : table_(std::move(table)), address_(std::move(address)) {}
    ~Slot() { table_->Release(address_); }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;

   private:
    std::shared_ptr<ClientTable> table_;
    std::string address_;
  };

  explicit ClientTable(size_t max_per_client) : max_(max_per_client) {}

  // A slot for one more connection from `address`; null when it already has
  // the maximum (max 0: no cap, always a slot).
  std::unique_ptr<Slot> Acquire(const std::string& address) {
    {
      std::lock_guard<std::mutex> l(mu_);
      size_t& n = open_[address];
      if (max_ > 0 && n >= max_) return nullptr;
      ++n;
    }
    return std::make_unique<Slot>(shared_from_this(), address);
  }

 private:
  void Release(const std::string& address) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = open_.find(address);
    if (it != open_.end() && --it->second == 0) open_.erase(it);
  }

  const size_t max_;
  std::mutex mu_;
  std::unordered_map<std::string, size_t> open_;  // GUARDED_BY(mu_)
};
using ClientSlot = ClientTable::Slot;

// ---------------------------------------------------------------------------
// Request parsing (http_request.cc).

// Decodes %XX escapes (and '+' as space when plus_is_space). Invalid escapes
// fail when strict and are kept literally otherwise.
bool PercentDecode(std::string_view in, bool plus_is_space, bool strict, std::string* out);

// Fills method, path, query and headers from a parsed request head.
// False when the target is unusable.
bool FillRequest(const http::request<http::string_body>& h, HttpRequest* r);

// ---------------------------------------------------------------------------
// Server (http_server.cc). Thread-safe: the accessors may be called from any
// thread; Stop() from any thread but an I/O or handler thread of its own.

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

class BeastHttpServer final : public HttpServer {
 public:
  BeastHttpServer(HttpServerOptions options, HttpHandler handler, HeaderCheck header_check,
                  WebSocketHandler ws);
  ~BeastHttpServer() override { Stop(); }

  Status Listen();
  void Run();

  uint16_t port() const override { return port_; }
  void Stop() override;

  bool stopping() const { return stopping_.load(std::memory_order_relaxed); }
  const HttpServerOptions& options() const { return options_; }
  const HttpHandler& handler() const { return handler_; }
  const HeaderCheck& header_check() const { return header_check_; }
  const WebSocketHandler& ws_handler() const { return ws_handler_; }
  asio::thread_pool& workers() { return workers_; }
  const std::shared_ptr<Tracker>& tracker() const { return tracker_; }

  // Counts a refusal and logs the first of its kind (rate-limited).
  void Refused(Refusal why, const std::string& remote, std::string_view detail);

 private:
  static HttpServerOptions Normalize(HttpServerOptions o);
  void DoAccept();
  void OnAccept(beast::error_code ec, tcp::socket socket);
  // Answers a connection refused at accept with a canned response and closes it.
  void RejectConnection(tcp::socket socket, std::string_view response);

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
// HTTP session (http_session.cc): one connection, one request at a time.

// Serves an accepted connection until it closes or is upgraded: registers the
// session with server->tracker() (which then counts it as open) and starts
// reading. The session holds `slot` for as long as the connection lasts.
void StartHttpSession(BeastHttpServer* server, tcp::socket socket, std::string remote,
                      std::unique_ptr<ClientSlot> slot);

// ---------------------------------------------------------------------------
// WebSocket session (websocket_session.cc). Thread-safe as WebSocketConnection;
// the rest runs on the connection's strand.

class WsSession final : public WebSocketConnection,
                        public SessionBase,
                        public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(std::shared_ptr<Tracker> tracker, asio::any_io_executor exec, int idle_timeout_s)
      : tracker_(std::move(tracker)), exec_(std::move(exec)), idle_timeout_s_(idle_timeout_s) {}
  ~WsSession() override { tracker_->Forget(this); }

  // ---- WebSocketConnection (any thread) ----
  void Send(std::shared_ptr<const std::string> text) override;
  void Close() override { RequestClose(websocket::close_code::normal); }
  bool closed() const override { return closed_.load(); }

  // ---- SessionBase ----
  void Shutdown() override;
  void ForceClose() override;

  // ---- called by the HTTP session, on the strand ----
  // The upgrade was refused (or the server is stopping).
  void Reject();

  void Accept(beast::tcp_stream stream, http::request<http::string_body> req,
              std::unique_ptr<ClientSlot> slot);

 private:
  void RequestClose(websocket::close_code code);
  void OnAccept(beast::error_code ec);
  void DoRead();
  void DoWrite();
  void OnWrite(beast::error_code ec);
  void DoClose();

  // Cuts the connection after d unless it ends first; only ever shortens an
  // armed deadline.
  void ArmCloseTimer(std::chrono::steady_clock::duration d);

  // Hard close: the socket goes, pending operations fail.
  void Abort();

  // The read loop ended: the connection is over.
  void Finish();

  const std::shared_ptr<Tracker> tracker_;
  mutable std::mutex mu_;
  std::optional<asio::any_io_executor> exec_;  // guarded by mu_; reset by ForceClose
  const int idle_timeout_s_;
  std::atomic<bool> closed_{false};
  // Guarded by mu_:
  bool accepted_ = false;
  bool writing_ = false;
  bool close_requested_ = false;
  websocket::close_code close_code_ = websocket::close_code::normal;
  std::deque<std::shared_ptr<const std::string>> queue_;
  size_t queued_bytes_ = 0;
  // Strand only (and ForceClose once the I/O threads are gone):
  std::unique_ptr<websocket::stream<beast::tcp_stream>> ws_;
  std::optional<asio::steady_timer> close_timer_;
  std::chrono::steady_clock::time_point close_deadline_;
  http::request<http::string_body> upgrade_req_;
  beast::flat_buffer rbuf_;
  bool done_ = false;
  std::unique_ptr<ClientSlot> client_slot_;
};

}  // namespace loupe::net::internal

#endif  // LOUPE_NET_HTTP_SERVER_INTERNAL_H_
