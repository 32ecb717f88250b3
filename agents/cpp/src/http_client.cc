#include "http_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

namespace loupe::internal {
namespace {

constexpr int kCancelCheckMs = 50;
constexpr size_t kMaxResponseBytes = 1 << 20;  // the agent only reads small answers

long long NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

bool HttpClient::ParseUrl(std::string_view url, std::string* host, int* port, std::string* prefix) {
  constexpr std::string_view kScheme = "http://";
  if (url.substr(0, kScheme.size()) != kScheme) return false;
  url.remove_prefix(kScheme.size());
  const size_t slash = url.find('/');
  std::string_view hostport = url.substr(0, slash);
  *prefix = slash == std::string_view::npos ? "" : std::string(url.substr(slash));
  while (!prefix->empty() && prefix->back() == '/') prefix->pop_back();
  *port = 80;
  const size_t colon = hostport.rfind(':');
  if (colon != std::string_view::npos && hostport.find(']') == std::string_view::npos) {
    std::string p(hostport.substr(colon + 1));
    char* end = nullptr;
    const long v = std::strtol(p.c_str(), &end, 10);
    if (p.empty() || *end != '\0' || v <= 0 || v > 65535) return false;
    *port = static_cast<int>(v);
    hostport = hostport.substr(0, colon);
  }
  if (hostport.empty()) return false;
  *host = std::string(hostport);
  return true;
}

HttpClient::HttpClient(std::string_view base_url, int timeout_ms, const std::atomic<bool>* cancel)
    : timeout_ms_(timeout_ms), cancel_(cancel) {
  url_ok_ = ParseUrl(base_url, &host_, &port_, &prefix_);
}

HttpClient::~HttpClient() { Close(); }

void HttpClient::Close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  rbuf_.clear();
}

bool HttpClient::Wait(short events, long long deadline_ms, std::string* error) {
  for (;;) {
    if (cancel_ != nullptr && cancel_->load(std::memory_order_relaxed)) {
      *error = "cancelled";
      return false;
    }
    const long long left = deadline_ms - NowMs();
    if (left <= 0) {
      *error = "timeout";
      return false;
    }
    pollfd p{fd_, events, 0};
    const int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, kCancelCheckMs)));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) {
      *error = std::string("poll: ") + std::strerror(errno);
      return false;
    }
  }
}

bool HttpClient::Connect(long long deadline_ms, std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(port_);
  const int gai = ::getaddrinfo(host_.c_str(), port.c_str(), &hints, &res);
  if (gai != 0) {
    *error = std::string("resolve ") + host_ + ": " + gai_strerror(gai);
    return false;
  }
  bool ok = false;
  for (addrinfo* ai = res; ai != nullptr && !ok; ai = ai->ai_next) {
    fd_ = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd_ < 0) continue;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int r = ::connect(fd_, ai->ai_addr, ai->ai_addrlen);
    if (r != 0 && errno == EINPROGRESS) {
      if (Wait(POLLOUT, deadline_ms, error)) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == 0) {
          r = 0;
        } else {
          *error = std::string("connect: ") + std::strerror(err);
        }
      }
    } else if (r != 0) {
      *error = std::string("connect: ") + std::strerror(errno);
    }
    if (r == 0) {
      ok = true;
    } else {
      ::close(fd_);
      fd_ = -1;
      if (error->find("cancel") != std::string::npos ||
          error->find("timeout") != std::string::npos) {
        break;
      }
    }
  }
  ::freeaddrinfo(res);
  return ok;
}

bool HttpClient::SendAll(std::string_view data, bool more, long long deadline_ms,
                         std::string* error) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL | (more ? MSG_MORE : 0));
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!Wait(POLLOUT, deadline_ms, error)) return false;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      *error = std::string("send: ") + std::strerror(errno);
      return false;
    }
  }
  return true;
}

bool HttpClient::ReadResponse(long long deadline_ms, HttpResponse* response, bool* keep_alive,
                              std::string* error) {
  // Reads until the header block is complete, then the body by
  // Content-Length, chunked coding, or (without either) until close.
  // recv first and poll only when nothing is there yet: the answer to a
  // small request has often arrived by the time we look.
  bool waited = false;
  auto fill = [&]() -> int {  // 1 read, 0 eof, -1 error
    if (waited && !Wait(POLLIN, deadline_ms, error)) return -1;
    waited = false;
    char tmp[16384];
    const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n > 0) {
      rbuf_.append(tmp, static_cast<size_t>(n));
      if (rbuf_.size() > kMaxResponseBytes + 65536) {
        *error = "response too large";
        return -1;
      }
      return 1;
    }
    if (n == 0) return 0;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      waited = true;
      return 1;
    }
    if (errno == EINTR) return 1;
    *error = std::string("recv: ") + std::strerror(errno);
    return -1;
  };
  size_t hdr_end;
  while ((hdr_end = rbuf_.find("\r\n\r\n")) == std::string::npos) {
    const int r = fill();
    if (r < 0) return false;
    if (r == 0) {
      *error = "connection closed before response";
      return false;
    }
  }
  std::string_view head(rbuf_.data(), hdr_end);
  const size_t line_end = head.find("\r\n");
  std::string_view status_line = head.substr(0, line_end);
  if (status_line.substr(0, 5) != "HTTP/" || status_line.size() < 12) {
    *error = "malformed status line";
    return false;
  }
  const bool http10 = status_line.substr(0, 8) == "HTTP/1.0";
  response->status = std::atoi(std::string(status_line.substr(9, 3)).c_str());
  if (response->status < 100 || response->status > 999) {
    *error = "malformed status";
    return false;
  }
  long long content_length = -1;
  bool chunked = false;
  *keep_alive = !http10;
  response->retry_after_s = -1;
  std::string_view rest = line_end == std::string_view::npos ? "" : head.substr(line_end + 2);
  while (!rest.empty()) {
    const size_t e = rest.find("\r\n");
    std::string_view line = rest.substr(0, e);
    rest = e == std::string_view::npos ? "" : rest.substr(e + 2);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = Trim(line.substr(0, colon));
    std::string_view value = Trim(line.substr(colon + 1));
    if (IEquals(name, "content-length")) {
      content_length = std::atoll(std::string(value).c_str());
    } else if (IEquals(name, "transfer-encoding")) {
      chunked = value.find("chunked") != std::string_view::npos;
    } else if (IEquals(name, "connection")) {
      if (IEquals(value, "close")) *keep_alive = false;
      if (IEquals(value, "keep-alive")) *keep_alive = true;
    } else if (IEquals(name, "retry-after")) {
      if (!value.empty() && std::all_of(value.begin(), value.end(), ::isdigit)) {
        response->retry_after_s = std::atoi(std::string(value).c_str());
      }
    }
  }
  rbuf_.erase(0, hdr_end + 4);
  response->body.clear();
  if (chunked) {
    for (;;) {
      size_t le;
      while ((le = rbuf_.find("\r\n")) == std::string::npos) {
        if (fill() <= 0) {
          if (error->empty()) *error = "truncated chunked body";
          return false;
        }
      }
      const unsigned long size = std::strtoul(rbuf_.substr(0, le).c_str(), nullptr, 16);
      if (size > kMaxResponseBytes) {
        *error = "response too large";
        return false;
      }
      while (rbuf_.size() < le + 2 + size + 2) {
        if (fill() <= 0) {
          if (error->empty()) *error = "truncated chunked body";
          return false;
        }
      }
      response->body.append(rbuf_, le + 2, size);
      rbuf_.erase(0, le + 2 + size + 2);
      if (size == 0) break;  // (trailers are not used by the servers we talk to)
    }
  } else if (content_length >= 0) {
    if (content_length > static_cast<long long>(kMaxResponseBytes)) {
      *error = "response too large";
      return false;
    }
    while (rbuf_.size() < static_cast<size_t>(content_length)) {
      if (fill() <= 0) {
        if (error->empty()) *error = "truncated body";
        return false;
      }
    }
    response->body.assign(rbuf_, 0, static_cast<size_t>(content_length));
    rbuf_.erase(0, static_cast<size_t>(content_length));
  } else if (response->status >= 200 && response->status != 204 && response->status != 304) {
    for (;;) {
      const int r = fill();
      if (r < 0) return false;
      if (r == 0) break;
    }
    response->body.swap(rbuf_);
    rbuf_.clear();
    *keep_alive = false;
  }
  return true;
}

bool HttpClient::Request(std::string_view method, std::string_view path,
                         const std::vector<std::pair<std::string, std::string>>& headers,
                         std::string_view body, HttpResponse* response, std::string* error) {
  error->clear();
  if (!url_ok_) {
    *error = "bad endpoint URL (only http://host[:port] is supported)";
    return false;
  }
  const long long deadline = NowMs() + timeout_ms_;
  std::string req;
  req.reserve(256 + body.size());
  req.append(method).append(" ").append(prefix_).append(path).append(" HTTP/1.1\r\nHost: ");
  req.append(host_).append(":").append(std::to_string(port_)).append("\r\n");
  for (const auto& [k, v] : headers) req.append(k).append(": ").append(v).append("\r\n");
  if (!body.empty() || method == "POST" || method == "PUT") {
    req.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  }
  req.append("\r\n");

  // A kept-alive connection may have been closed by the server meanwhile:
  // one retry on a fresh connection when the reused one fails before any
  // response byte arrived.
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused = fd_ >= 0;
    if (!reused && !Connect(deadline, error)) return false;
    bool keep_alive = false;
    // The header goes out with the body in one segment (MSG_MORE).
    bool ok = SendAll(req, !body.empty(), deadline, error) &&
              (body.empty() || SendAll(body, false, deadline, error)) &&
              ReadResponse(deadline, response, &keep_alive, error);
    if (ok) {
      if (!keep_alive) Close();
      return true;
    }
    Close();
    const bool retryable = reused && error->find("timeout") == std::string::npos &&
                           error->find("cancel") == std::string::npos;
    if (!retryable) return false;
  }
  return false;
}

}  // namespace loupe::internal
