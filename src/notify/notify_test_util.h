// Test helpers for notify's unit tests (header-only; used by *_test.cc):
//  - HttpReceiver: a tiny HTTP/1.1 server on 127.0.0.1 with a scripted
//    answer per request (status, headers, delay), recording every request.
//  - ScopedTempDir: a fresh directory under /tmp, removed afterwards.
// Nothing here leaves the machine. Not for production code.
#ifndef LOUPE_NOTIFY_NOTIFY_TEST_UTIL_H_
#define LOUPE_NOTIFY_NOTIFY_TEST_UTIL_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace loupe::notify::testing {

class ScopedTempDir {
 public:
  ScopedTempDir() {
    char tmpl[] = "/tmp/loupe-notify-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~ScopedTempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct HttpAnswer {
  HttpAnswer(int status_in = 200, std::vector<std::string> headers_in = {}, int delay_ms_in = 0,
             std::string body_in = "ok")
      : status(status_in),
        headers(std::move(headers_in)),
        delay_ms(delay_ms_in),
        body(std::move(body_in)) {}
  int status;
  std::vector<std::string> headers;  // "Name: value"
  int delay_ms;                      // before answering
  std::string body;
};

struct HttpRequest {
  std::chrono::steady_clock::time_point at;
  std::string method;
  std::string path;
  std::string headers;  // raw header block
  std::string body;
};

// Answers requests one connection at a time with the scripted answers in
// order, then with `fallback` once the script is used up.
class HttpReceiver {
 public:
  explicit HttpReceiver(std::vector<HttpAnswer> script = {}, HttpAnswer fallback = {})
      : script_(script.begin(), script.end()), fallback_(std::move(fallback)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    listen(fd_, 16);
    thread_ = std::thread([this] { Loop(); });
  }
  ~HttpReceiver() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }

  int port() const { return port_; }
  std::string url(const std::string& path = "/hook/secret-token?key=s3cr3t") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  std::vector<HttpRequest> requests() const {
    std::lock_guard<std::mutex> l(mu_);
    return requests_;
  }
  // Waits until at least n requests were answered (true) or the timeout passed.
  bool WaitForRequests(size_t n, int timeout_ms) const {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, std::chrono::milliseconds(timeout_ms),
                        [&] { return requests_.size() >= n; });
  }

 private:
  void Loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      Serve(c);
      close(c);
    }
  }

  void Serve(int c) {
    HttpRequest req;
    std::string data;
    char buf[4096];
    size_t header_end = std::string::npos;
    size_t need = 0;
    while (!stop_) {
      pollfd p{c, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      ssize_t n = read(c, buf, sizeof(buf));
      if (n <= 0) return;
      data.append(buf, n);
      if (header_end == std::string::npos) {
        header_end = data.find("\r\n\r\n");
        if (header_end == std::string::npos) continue;
        req.headers = data.substr(0, header_end);
        size_t cl = Lower(req.headers).find("content-length:");
        need =
            cl == std::string::npos ? 0 : std::strtoul(req.headers.c_str() + cl + 15, nullptr, 10);
      }
      if (data.size() >= header_end + 4 + need) break;
    }
    if (stop_) return;
    req.at = std::chrono::steady_clock::now();
    size_t sp = req.headers.find(' ');
    req.method = req.headers.substr(0, sp);
    req.path = req.headers.substr(sp + 1, req.headers.find(' ', sp + 1) - sp - 1);
    req.body = data.substr(header_end + 4, need);
    HttpAnswer ans;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!script_.empty()) {
        ans = script_.front();
        script_.pop_front();
      } else {
        ans = fallback_;
      }
    }
    for (int waited = 0; waited < ans.delay_ms && !stop_; waited += 10) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::string resp = "HTTP/1.1 " + std::to_string(ans.status) + " X\r\n";
    for (const auto& h : ans.headers) resp += h + "\r\n";
    resp += "Content-Length: " + std::to_string(ans.body.size()) + "\r\nConnection: close\r\n\r\n";
    resp += ans.body;
    (void)!write(c, resp.data(), resp.size());
    {
      std::lock_guard<std::mutex> l(mu_);
      requests_.push_back(std::move(req));
    }
    cv_.notify_all();
  }

  static std::string Lower(std::string s) {
    for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return s;
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::deque<HttpAnswer> script_;
  HttpAnswer fallback_;
  std::vector<HttpRequest> requests_;
  std::thread thread_;
};

// A port on 127.0.0.1 that nothing listens on (bound, then closed).
inline int UnusedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

}  // namespace loupe::notify::testing

#endif  // LOUPE_NOTIFY_NOTIFY_TEST_UTIL_H_
