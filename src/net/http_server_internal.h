// Private to src/net: what the HTTP sessions (http_server.cc) and the
// WebSocket session (websocket_session.cc) share. Not part of the net API; only
// src/net/*.cc include it (it brings in Boost).
#ifndef LOUPE_NET_HTTP_SERVER_INTERNAL_H_
#define LOUPE_NET_HTTP_SERVER_INTERNAL_H_

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
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
#include <unordered_map>
#include <vector>

#include "net/http_server.h"

namespace loupe::net::internal {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

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
