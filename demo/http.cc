#include "http.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>

namespace demo {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = Lower(c);
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 302:
      return "Found";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 413:
      return "Payload Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

// Waits until fd is readable/writable or the deadline passes. 1 ready, 0 timeout, -1 error.
int WaitFd(int fd, short events, int64_t deadline_ms) {
  for (;;) {
    int64_t left = deadline_ms - NowMs();
    if (left <= 0) return 0;
    pollfd p{fd, events, 0};
    int n = poll(&p, 1, static_cast<int>(left));
    if (n > 0) return (p.revents & (events | POLLHUP | POLLERR)) ? 1 : -1;
    if (n == 0) return 0;
    if (errno != EINTR) return -1;
  }
}

// Sends all of `data` on a non-blocking socket before the deadline.
bool SendAll(int fd, std::string_view data, int64_t deadline_ms) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (WaitFd(fd, POLLOUT, deadline_ms) != 1) return false;
      continue;
    }
    return false;
  }
  return true;
}

// Reads what is available (after waiting for readability). >0 bytes, 0 EOF,
// -1 error, -2 timeout.
ssize_t RecvSome(int fd, std::string* buf, int64_t deadline_ms) {
  char tmp[16384];
  for (;;) {
    ssize_t n = recv(fd, tmp, sizeof tmp, 0);
    if (n > 0) {
      buf->append(tmp, static_cast<size_t>(n));
      return n;
    }
    if (n == 0) return 0;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
    int w = WaitFd(fd, POLLIN, deadline_ms);
    if (w == 0) return -2;
    if (w < 0) return -1;
  }
}

void SetNoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

bool ParseSize(std::string_view s, size_t* out) {
  s = Trim(s);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// Parses header lines (after the first line) into lower-cased pairs.
bool ParseHeaderLines(std::string_view block, Headers* out) {
  while (!block.empty()) {
    size_t eol = block.find("\r\n");
    std::string_view line = block.substr(0, eol);
    block = eol == std::string_view::npos ? std::string_view() : block.substr(eol + 2);
    if (line.empty()) continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    out->emplace_back(ToLower(line.substr(0, colon)), std::string(Trim(line.substr(colon + 1))));
  }
  return true;
}

std::string_view FindHeader(const Headers& h, std::string_view name) {
  for (const auto& [k, v] : h) {
    if (k == name) return v;
  }
  return {};
}

}  // namespace

std::string UrlDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string FormValue(std::string_view form, std::string_view name) {
  while (!form.empty()) {
    size_t amp = form.find('&');
    std::string_view pair = form.substr(0, amp);
    form = amp == std::string_view::npos ? std::string_view() : form.substr(amp + 1);
    size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    if (key == name) {
      return eq == std::string_view::npos ? std::string() : UrlDecode(pair.substr(eq + 1));
    }
  }
  return {};
}

std::string JsonEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out;
}

std::string_view HttpRequest::Header(std::string_view name) const {
  return FindHeader(headers, name);
}

std::string HttpRequest::Param(std::string_view name) const { return FormValue(query, name); }

// ---------------------------------------------------------------- server

struct HttpServer::Conn {
  int fd = -1;
  std::string peer_ip;
  std::string buf;  // bytes read but not yet consumed
};

HttpServer::HttpServer(Options options, HttpHandler handler)
    : options_(std::move(options)), handler_(std::move(handler)) {}

HttpServer::~HttpServer() { Stop(); }

bool HttpServer::Start(std::string* error) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listen_fd_ < 0) {
    *error = std::string("socket: ") + strerror(errno);
    return false;
  }
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(options_.port));
  std::string bind_addr = options_.bind == "localhost" ? "127.0.0.1" : options_.bind;
  if (inet_pton(AF_INET, bind_addr.c_str(), &addr.sin_addr) != 1) {
    *error = "bad bind address " + options_.bind + " (IPv4 expected)";
    close(listen_fd_);
    listen_fd_ = -1;
    return false;
  }
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listen_fd_, 1024) != 0) {
    *error = "listening on " + options_.bind + ":" + std::to_string(options_.port) + ": " +
             strerror(errno);
    close(listen_fd_);
    listen_fd_ = -1;
    return false;
  }
  socklen_t len = sizeof addr;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);

  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // the listening socket
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
  ev.data.ptr = &wake_fd_;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);

  poller_ = std::thread([this] { PollLoop(); });
  for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { WorkerLoop(); });
  return true;
}

void HttpServer::Stop() {
  if (listen_fd_ < 0 || stopping_.exchange(true)) return;
  uint64_t one = 1;
  ssize_t ignored = write(wake_fd_, &one, sizeof one);
  (void)ignored;
  poller_.join();
  cv_.notify_all();
  for (auto& w : workers_) w.join();
  workers_.clear();
  for (Conn* c : conns_) {
    close(c->fd);
    delete c;
  }
  conns_.clear();
  ready_.clear();
  close(listen_fd_);
  close(epoll_fd_);
  close(wake_fd_);
  listen_fd_ = epoll_fd_ = wake_fd_ = -1;
}

void HttpServer::PollLoop() {
  epoll_event events[256];
  while (!stopping_.load()) {
    int n = epoll_wait(epoll_fd_, events, 256, 1000);
    for (int i = 0; i < n; ++i) {
      void* p = events[i].data.ptr;
      if (p == &wake_fd_) continue;
      if (p == nullptr) {
        for (;;) {
          sockaddr_in peer{};
          socklen_t len = sizeof peer;
          int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len,
                           SOCK_CLOEXEC | SOCK_NONBLOCK);
          if (fd < 0) break;
          std::lock_guard<std::mutex> lock(mu_);
          if (conns_.size() >= options_.max_connections) {
            close(fd);
            continue;
          }
          SetNoDelay(fd);
          auto* c = new Conn;
          c->fd = fd;
          char ip[INET_ADDRSTRLEN] = {};
          inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof ip);
          c->peer_ip = ip;
          conns_.insert(c);
          epoll_event ev{};
          ev.events = EPOLLIN | EPOLLONESHOT | EPOLLRDHUP;
          ev.data.ptr = c;
          epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
        }
        continue;
      }
      auto* c = static_cast<Conn*>(p);
      std::unique_lock<std::mutex> lock(mu_);
      if (ready_.size() >= options_.max_pending) {
        lock.unlock();
        Close(c);  // overload: shed the connection rather than queue without bound
        continue;
      }
      ready_.push_back(c);
      lock.unlock();
      cv_.notify_one();
    }
  }
}

void HttpServer::WorkerLoop() {
  for (;;) {
    Conn* c;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_.load() || !ready_.empty(); });
      if (stopping_.load()) return;
      c = ready_.front();
      ready_.pop_front();
    }
    Serve(c);
  }
}

void HttpServer::Close(Conn* c) {
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c->fd, nullptr);
  close(c->fd);
  std::lock_guard<std::mutex> lock(mu_);
  conns_.erase(c);
  delete c;
}

void HttpServer::Rearm(Conn* c) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLONESHOT | EPOLLRDHUP;
  ev.data.ptr = c;
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c->fd, &ev);
}

void HttpServer::Serve(Conn* c) {
  for (;;) {
    // Read until the header block is complete.
    int64_t deadline = NowMs() + options_.read_timeout_ms;
    size_t hdr_end;
    bool first_read = true;
    while ((hdr_end = c->buf.find("\r\n\r\n")) == std::string::npos) {
      if (c->buf.size() > options_.max_header_bytes) break;
      ssize_t n = RecvSome(c->fd, &c->buf, first_read && c->buf.empty() ? NowMs() + 1 : deadline);
      if (n == -2 && first_read && c->buf.empty()) {
        Rearm(c);  // woken without data (or data not yet there): wait in epoll again
        return;
      }
      first_read = false;
      if (n <= 0) {
        Close(c);
        return;
      }
    }
    HttpResponse resp;
    HttpRequest req;
    bool keep_alive = true;
    bool bad = false;
    if (hdr_end == std::string::npos) {
      resp.status = 431;
      bad = true;
    } else {
      std::string_view head(c->buf.data(), hdr_end);
      size_t eol = head.find("\r\n");
      std::string_view line = head.substr(0, eol);
      size_t sp1 = line.find(' ');
      size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
      if (sp2 == std::string_view::npos || sp1 == 0 || sp2 == sp1 + 1) {
        resp.status = 400;
        bad = true;
      } else {
        req.method = std::string(line.substr(0, sp1));
        req.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
        std::string_view version = line.substr(sp2 + 1);
        if (eol != std::string_view::npos &&
            !ParseHeaderLines(head.substr(eol + 2), &req.headers)) {
          resp.status = 400;
          bad = true;
        }
        std::string conn_hdr = ToLower(FindHeader(req.headers, "connection"));
        keep_alive = version == "HTTP/1.1" ? conn_hdr != "close" : conn_hdr == "keep-alive";
      }
    }
    size_t body_len = 0;
    if (!bad) {
      if (!FindHeader(req.headers, "transfer-encoding").empty()) {
        resp.status = 501;
        bad = true;
      } else if (std::string_view cl = FindHeader(req.headers, "content-length");
                 !cl.empty() && !ParseSize(cl, &body_len)) {
        resp.status = 400;
        bad = true;
      } else if (body_len > options_.max_body_bytes) {
        resp.status = 413;
        bad = true;
      }
    }
    if (!bad) {
      while (c->buf.size() < hdr_end + 4 + body_len) {
        if (RecvSome(c->fd, &c->buf, deadline) <= 0) {
          Close(c);
          return;
        }
      }
      req.body = c->buf.substr(hdr_end + 4, body_len);
      c->buf.erase(0, hdr_end + 4 + body_len);
      size_t q = req.target.find('?');
      req.path = req.target.substr(0, q);
      if (q != std::string::npos) req.query = req.target.substr(q + 1);
      req.peer_ip = c->peer_ip;
      handler_(req, &resp);
    } else {
      keep_alive = false;
      resp.content_type = "text/plain";
      resp.body = std::string(Reason(resp.status)) + "\n";
    }

    std::string out;
    out.reserve(256 + resp.body.size());
    out += "HTTP/1.1 ";
    out += std::to_string(resp.status);
    out += ' ';
    out += Reason(resp.status);
    out += "\r\nContent-Type: ";
    out += resp.content_type;
    out += "\r\nContent-Length: ";
    out += std::to_string(resp.body.size());
    out += keep_alive ? "\r\n" : "\r\nConnection: close\r\n";
    for (const auto& [k, v] : resp.headers) {
      out += k;
      out += ": ";
      out += v;
      out += "\r\n";
    }
    out += "\r\n";
    out += resp.body;
    if (!SendAll(c->fd, out, NowMs() + options_.read_timeout_ms) || !keep_alive ||
        stopping_.load()) {
      Close(c);
      return;
    }
    if (c->buf.find("\r\n\r\n") == std::string::npos) {
      Rearm(c);
      return;
    }
    // A pipelined request is already buffered: serve it on this worker.
  }
}

// ---------------------------------------------------------------- client

bool ParseHttpUrl(std::string_view url, std::string* host, int* port) {
  constexpr std::string_view kScheme = "http://";
  if (url.substr(0, kScheme.size()) != kScheme) return false;
  url.remove_prefix(kScheme.size());
  while (!url.empty() && url.back() == '/') url.remove_suffix(1);
  size_t colon = url.rfind(':');
  if (colon == std::string_view::npos) {
    *host = std::string(url);
    *port = 80;
    return !host->empty();
  }
  *host = std::string(url.substr(0, colon));
  std::string_view p = url.substr(colon + 1);
  int v = 0;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
  if (ec != std::errc() || end != p.data() + p.size() || v <= 0 || v > 65535) return false;
  *port = v;
  return !host->empty();
}

HttpClient::HttpClient(std::string host, int port, size_t max_idle)
    : host_(host == "localhost" ? "127.0.0.1" : std::move(host)),
      port_(port),
      max_idle_(max_idle) {}

HttpClient::~HttpClient() {
  for (int fd : idle_) close(fd);
}

std::string HttpClient::base_url() const { return "http://" + host_ + ":" + std::to_string(port_); }

int HttpClient::Connect(int64_t deadline_ms, Result* r) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port_));
  if (inet_pton(AF_INET, host_.c_str(), &addr.sin_addr) != 1) {
    r->error = "bad address " + host_;
    return -1;
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    r->error = std::string("socket: ") + strerror(errno);
    return -1;
  }
  SetNoDelay(fd);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINPROGRESS) {
      r->error = std::string("connect: ") + strerror(errno);
      close(fd);
      return -1;
    }
    int w = WaitFd(fd, POLLOUT, deadline_ms);
    int err = 0;
    socklen_t len = sizeof err;
    if (w == 1) getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (w != 1 || err != 0) {
      r->timed_out = w == 0;
      r->error =
          w == 0 ? "connect timed out" : std::string("connect: ") + strerror(err ? err : EIO);
      close(fd);
      return -1;
    }
  }
  return fd;
}

bool HttpClient::Exchange(int fd, const std::string& wire, int64_t deadline_ms, Result* r,
                          bool* keep, bool* nothing_received) {
  *nothing_received = true;
  if (!SendAll(fd, wire, deadline_ms)) {
    r->error = "send failed";
    return false;
  }
  std::string buf;
  size_t hdr_end;
  while ((hdr_end = buf.find("\r\n\r\n")) == std::string::npos) {
    if (buf.size() > 65536) {
      r->error = "response header too large";
      return false;
    }
    ssize_t n = RecvSome(fd, &buf, deadline_ms);
    if (n == -2) {
      r->timed_out = true;
      r->error = "timed out waiting for the response";
      *nothing_received = false;  // the server has the request: do not resend
      return false;
    }
    if (n <= 0) {
      r->error = n == 0 ? "connection closed before a response" : "receive failed";
      return false;
    }
    *nothing_received = false;
  }
  std::string_view head(buf.data(), hdr_end);
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  if (line.size() < 12 || line.substr(0, 5) != "HTTP/") {
    r->error = "malformed status line";
    return false;
  }
  int status = 0;
  std::from_chars(line.data() + 9, line.data() + 12, status);
  if (eol != std::string_view::npos) ParseHeaderLines(head.substr(eol + 2), &r->headers);
  size_t body_len = 0;
  std::string_view cl = FindHeader(r->headers, "content-length");
  if (cl.empty() || !ParseSize(cl, &body_len) || body_len > (64u << 20)) {
    r->error = "missing or bad content-length";
    return false;
  }
  while (buf.size() < hdr_end + 4 + body_len) {
    ssize_t n = RecvSome(fd, &buf, deadline_ms);
    if (n == -2) {
      r->timed_out = true;
      r->error = "timed out reading the response body";
      return false;
    }
    if (n <= 0) {
      r->error = "connection closed in the response body";
      return false;
    }
  }
  r->status = status;
  r->body = buf.substr(hdr_end + 4, body_len);
  *keep = ToLower(FindHeader(r->headers, "connection")) != "close" &&
          buf.size() == hdr_end + 4 + body_len;
  return true;
}

HttpClient::Result HttpClient::Do(std::string_view method, std::string_view target,
                                  const Headers& headers, std::string_view body, int timeout_ms) {
  int64_t deadline = NowMs() + timeout_ms;
  std::string wire;
  wire.reserve(256 + body.size());
  wire.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: ");
  wire.append(host_).append(":").append(std::to_string(port_)).append("\r\n");
  for (const auto& [k, v] : headers) wire.append(k).append(": ").append(v).append("\r\n");
  if (!body.empty() || method == "POST" || method == "PUT") {
    wire.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  }
  wire.append("\r\n").append(body);

  for (int attempt = 0; attempt < 2; ++attempt) {
    Result r;
    int fd = -1;
    bool reused = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!idle_.empty()) {
        fd = idle_.back();
        idle_.pop_back();
        reused = true;
      }
    }
    if (fd < 0 && (fd = Connect(deadline, &r)) < 0) return r;
    bool keep = false;
    bool nothing = true;
    if (Exchange(fd, wire, deadline, &r, &keep, &nothing)) {
      std::unique_lock<std::mutex> lock(mu_);
      if (keep && idle_.size() < max_idle_) {
        idle_.push_back(fd);
      } else {
        lock.unlock();
        close(fd);
      }
      return r;
    }
    close(fd);
    // A kept-alive connection the server closed meanwhile: retry once on a new one.
    if (!(reused && nothing) || NowMs() >= deadline) return r;
  }
  Result r;
  r.error = "connection failed";
  return r;
}

}  // namespace demo
