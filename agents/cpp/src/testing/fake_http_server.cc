#include "testing/fake_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace loupe::testing {

FakeHttpServer::FakeHttpServer() {
  handler_ = [](const FakeRequest&) {
    FakeResponse r;
    r.body = "{}";
    return r;
  };
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::perror("FakeHttpServer");
    std::abort();
  }
  port_ = ntohs(addr.sin_port);
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

FakeHttpServer::~FakeHttpServer() { Stop(); }

void FakeHttpServer::Stop() {
  if (stop_.exchange(true)) return;
  cv_.notify_all();
  if (accept_thread_.joinable()) accept_thread_.join();
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> l(mu_);
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
  ::close(listen_fd_);
}

void FakeHttpServer::SetHandler(Handler h) {
  std::lock_guard<std::mutex> l(mu_);
  handler_ = std::move(h);
}

std::vector<FakeRequest> FakeHttpServer::Requests() const {
  std::lock_guard<std::mutex> l(mu_);
  return requests_;
}

std::vector<FakeRequest> FakeHttpServer::RequestsTo(const std::string& path) const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<FakeRequest> out;
  for (const auto& r : requests_) {
    if (r.path() == path) out.push_back(r);
  }
  return out;
}

bool FakeHttpServer::WaitFor(const std::function<bool()>& pred, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

int FakeHttpServer::ClosedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);  // bound, never listened: connecting is refused
  return ntohs(addr.sin_port);
}

void FakeHttpServer::AcceptLoop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ++connections_;
    std::lock_guard<std::mutex> l(mu_);
    threads_.emplace_back([this, fd] { Serve(fd); });
  }
}

void FakeHttpServer::Serve(int fd) {
  std::string buf;
  auto read_more = [&]() -> bool {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      const int r = ::poll(&p, 1, 20);
      if (r == 0) continue;
      if (r < 0) return false;
      char tmp[65536];
      const ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
      if (n <= 0) return false;
      buf.append(tmp, static_cast<size_t>(n));
      return true;
    }
    return false;
  };
  for (;;) {
    size_t he;
    while ((he = buf.find("\r\n\r\n")) == std::string::npos) {
      if (!read_more()) {
        ::close(fd);
        return;
      }
    }
    FakeRequest req;
    std::string head = buf.substr(0, he);
    buf.erase(0, he + 4);
    size_t le = head.find("\r\n");
    std::string line = head.substr(0, le);
    const size_t s1 = line.find(' '), s2 = line.rfind(' ');
    req.method = line.substr(0, s1);
    req.target = line.substr(s1 + 1, s2 - s1 - 1);
    size_t pos = le == std::string::npos ? head.size() : le + 2;
    while (pos < head.size()) {
      size_t e = head.find("\r\n", pos);
      if (e == std::string::npos) e = head.size();
      std::string h = head.substr(pos, e - pos);
      pos = e + 2;
      const size_t c = h.find(':');
      if (c == std::string::npos) continue;
      std::string name = h.substr(0, c);
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      std::string value = h.substr(c + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      req.headers[name] = value;
    }
    const size_t cl = req.headers.count("content-length")
                          ? std::strtoul(req.headers["content-length"].c_str(), nullptr, 10)
                          : 0;
    while (buf.size() < cl) {
      if (!read_more()) {
        ::close(fd);
        return;
      }
    }
    req.body = buf.substr(0, cl);
    buf.erase(0, cl);
    Handler h;
    {
      std::lock_guard<std::mutex> l(mu_);
      requests_.push_back(req);
      h = handler_;
    }
    FakeResponse resp = h(req);
    if (resp.hang) {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return stop_.load(); });
      l.unlock();
      ::close(fd);
      return;
    }
    std::string out = "HTTP/1.1 " + std::to_string(resp.status) + " X\r\n";
    for (const auto& [k, v] : resp.headers) out += k + ": " + v + "\r\n";
    out += "Content-Length: " + std::to_string(resp.body.size()) + "\r\n\r\n" + resp.body;
    size_t off = 0;
    while (off < out.size()) {
      const ssize_t n = ::send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
      if (n <= 0) {
        ::close(fd);
        return;
      }
      off += static_cast<size_t>(n);
    }
  }
}

}  // namespace loupe::testing
