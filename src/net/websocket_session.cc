// The WebSocket session of net::HttpServer (see http_server_internal.h).
#include <boost/asio/post.hpp>

#include "net/http_server_internal.h"

namespace loupe::net::internal {
namespace {

constexpr auto kWsHandshakeTimeout = std::chrono::seconds(30);
// How long a WebSocket client gets to answer our close frame before the
// connection is cut: on Close(), and (shorter) when the server stops.
constexpr auto kWsCloseTimeout = std::chrono::seconds(5);
constexpr auto kWsStopCloseTimeout = std::chrono::seconds(1);
constexpr size_t kWsReadMessageMax = 64 << 10;

}  // namespace

void WsSession::Send(std::shared_ptr<const std::string> text) {
  if (!text) return;
  std::lock_guard<std::mutex> l(mu_);
  if (closed_.load() || close_requested_ || !exec_) return;
  if (queue_.size() >= kMaxQueuedMessages || queued_bytes_ + text->size() > kMaxQueuedBytes) {
    // The client does not keep up: disconnect it (see the header).
    closed_.store(true);
    queue_.clear();
    queued_bytes_ = 0;
    if (accepted_) asio::post(*exec_, [self = shared_from_this()] { self->Abort(); });
    return;
  }
  queued_bytes_ += text->size();
  queue_.push_back(std::move(text));
  if (accepted_ && !writing_) {
    writing_ = true;
    asio::post(*exec_, [self = shared_from_this()] { self->DoWrite(); });
  }
}

void WsSession::Shutdown() {
  RequestClose(websocket::close_code::going_away);
  // Also when a Close() was already under way: the server is stopping and
  // does not wait for a client that ignores close frames.
  std::lock_guard<std::mutex> l(mu_);
  if (exec_ && accepted_) {
    asio::post(*exec_, [self = shared_from_this()] { self->ArmCloseTimer(kWsStopCloseTimeout); });
  }
}

void WsSession::ForceClose() {
  std::lock_guard<std::mutex> l(mu_);
  closed_.store(true);
  queue_.clear();
  queued_bytes_ = 0;
  close_timer_.reset();
  ws_.reset();
  exec_.reset();
  client_slot_.reset();
}

void WsSession::Reject() {
  std::lock_guard<std::mutex> l(mu_);
  closed_.store(true);
  queue_.clear();
  queued_bytes_ = 0;
}

void WsSession::Accept(beast::tcp_stream stream, http::request<http::string_body> req,
                       std::unique_ptr<ClientSlot> slot) {
  client_slot_ = std::move(slot);
  tracker_->Register(shared_from_this());
  stream.expires_never();  // the websocket stream has its own timeouts
  ws_ = std::make_unique<websocket::stream<beast::tcp_stream>>(std::move(stream));
  websocket::stream_base::timeout t;
  t.handshake_timeout = kWsHandshakeTimeout;
  t.idle_timeout = std::chrono::seconds(idle_timeout_s_);
  t.keep_alive_pings = true;  // a ping at half the idle time keeps live clients connected
  ws_->set_option(t);
  ws_->read_message_max(kWsReadMessageMax);
  ws_->set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(http::field::server, "loupe"); }));
  upgrade_req_ = std::move(req);
  ws_->async_accept(upgrade_req_,
                    [self = shared_from_this()](beast::error_code ec) { self->OnAccept(ec); });
}

void WsSession::RequestClose(websocket::close_code code) {
  std::lock_guard<std::mutex> l(mu_);
  if (closed_.load() || close_requested_ || !exec_) return;
  close_requested_ = true;
  close_code_ = code;
  if (accepted_ && !writing_) {
    asio::post(*exec_, [self = shared_from_this()] { self->DoClose(); });
  }
}

void WsSession::OnAccept(beast::error_code ec) {
  upgrade_req_ = {};
  if (ec) return Finish();
  bool write = false, close = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    accepted_ = true;
    if (closed_.load()) {
      // Dropped (slow) before the handshake finished.
    } else if (!queue_.empty()) {
      write = writing_ = true;
    } else if (close_requested_) {
      close = true;
    }
  }
  if (closed_.load()) {
    Abort();
  } else if (write) {
    DoWrite();
  } else if (close) {
    DoClose();
  }
  DoRead();
}

void WsSession::DoRead() {
  if (!ws_) return;
  ws_->async_read(rbuf_, [self = shared_from_this()](beast::error_code ec, size_t) {
    if (ec) return self->Finish();
    self->rbuf_.consume(self->rbuf_.size());  // incoming messages are ignored
    self->DoRead();
  });
}

void WsSession::DoWrite() {
  std::shared_ptr<const std::string> msg;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (closed_.load() || queue_.empty() || !ws_) {
      writing_ = false;
      return;
    }
    msg = queue_.front();
  }
  ws_->text(true);
  ws_->async_write(asio::buffer(*msg), [self = shared_from_this(), msg](
                                           beast::error_code ec, size_t) { self->OnWrite(ec); });
}

void WsSession::OnWrite(beast::error_code ec) {
  if (ec) return Abort();
  bool more = false, close = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (closed_.load()) {  // aborted meanwhile; the queue was cleared
      writing_ = false;
      return;
    }
    queued_bytes_ -= queue_.front()->size();
    queue_.pop_front();
    more = !queue_.empty();
    if (!more) {
      writing_ = false;
      close = close_requested_;
    }
  }
  if (more) {
    DoWrite();
  } else if (close) {
    DoClose();
  }
}

void WsSession::DoClose() {
  if (!ws_) return;
  websocket::close_code code;
  {
    std::lock_guard<std::mutex> l(mu_);
    code = close_code_;
  }
  ArmCloseTimer(code == websocket::close_code::going_away ? kWsStopCloseTimeout : kWsCloseTimeout);
  ws_->async_close(code, [self = shared_from_this()](beast::error_code) {
    self->closed_.store(true);
    // The pending read completes with an error and calls Finish().
  });
}

void WsSession::ArmCloseTimer(std::chrono::steady_clock::duration d) {
  if (!ws_ || done_) return;
  const auto deadline = std::chrono::steady_clock::now() + d;
  if (close_timer_ && close_deadline_ <= deadline) return;
  if (!close_timer_) close_timer_.emplace(ws_->get_executor());
  close_deadline_ = deadline;
  close_timer_->expires_at(deadline);  // cancels an earlier wait
  close_timer_->async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec) self->Abort();
  });
}

void WsSession::Abort() {
  {
    std::lock_guard<std::mutex> l(mu_);
    closed_.store(true);
    queue_.clear();
    queued_bytes_ = 0;
  }
  if (!ws_) return;
  beast::error_code ignored;
  beast::get_lowest_layer(*ws_).socket().close(ignored);
}

void WsSession::Finish() {
  Abort();
  client_slot_.reset();  // the connection is over, even if the application keeps this object
  if (close_timer_) close_timer_->cancel();
  bool was_done = std::exchange(done_, true);
  if (!was_done) tracker_->Done();
}

}  // namespace loupe::net::internal
