// Small HTTP/1.1 server and client over POSIX sockets for the demo services.
//
// Just enough HTTP for services that talk to each other and to the traffic
// generator: Content-Length bodies (no chunked encoding), keep-alive, bounded
// request sizes, timeouts everywhere. Not a general-purpose HTTP stack.
#ifndef LOUPE_DEMO_HTTP_H_
#define LOUPE_DEMO_HTTP_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

namespace demo {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;
  std::string target;  // as sent: path?query
  std::string path;
  std::string query;
  Headers headers;  // names lower-cased
  std::string body;
  std::string peer_ip;

  // First header with this (lower-case) name, or "".
  std::string_view Header(std::string_view name) const;
  // Query parameter `name` (percent-decoded), or "" when absent.
  std::string Param(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  Headers headers;
};

// Percent-decodes `s` ('+' is a space); invalid escapes are kept as they are.
std::string UrlDecode(std::string_view s);
// Value of `name` in an application/x-www-form-urlencoded string, or "".
std::string FormValue(std::string_view form, std::string_view name);
// Escapes `s` for use inside a JSON string literal.
std::string JsonEscape(std::string_view s);

using HttpHandler = std::function<void(const HttpRequest&, HttpResponse*)>;

// An HTTP server: one thread waits (epoll) for connections with a request to
// read, a fixed pool of workers reads, handles and answers them. Idle
// keep-alive connections cost no worker, so a worker is busy only while a
// request is in progress (which is what makes a held lock or a hanging call
// show as many in-flight requests). Thread-safe; the handler is called
// concurrently from the workers.
class HttpServer {
 public:
  struct Options {
    std::string bind = "127.0.0.1";
    int port = 0;  // 0: any free port (see port())
    int workers = 48;
    size_t max_pending = 4096;        // connections ready but waiting for a worker; closed beyond
    size_t max_connections = 4096;    // open connections; new ones are closed beyond
    size_t max_header_bytes = 16384;  // 431 beyond
    size_t max_body_bytes = 1 << 20;  // 413 beyond
    int read_timeout_ms = 5000;       // for the rest of a request once it started
  };

  HttpServer(Options options, HttpHandler handler);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts the threads. False (with *error) on failure.
  bool Start(std::string* error);
  // Stops accepting, lets in-progress requests finish, closes all connections.
  void Stop();
  int port() const { return port_; }

 private:
  struct Conn;
  void PollLoop();
  void WorkerLoop();
  void Serve(Conn* c);
  void Rearm(Conn* c);
  void Close(Conn* c);

  Options options_;
  HttpHandler handler_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread poller_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Conn*> ready_;          // guarded by mu_
  std::unordered_set<Conn*> conns_;  // guarded by mu_
};

// A keep-alive HTTP/1.1 client for one host:port (IPv4 address or
// "localhost"). Thread-safe: concurrent requests use separate connections from
// a pool (at most max_idle idle ones are kept). Never throws.
class HttpClient {
 public:
  struct Result {
    int status = 0;  // 0: no response (see error)
    std::string body;
    Headers headers;  // names lower-cased
    std::string error;
    bool timed_out = false;
  };

  HttpClient(std::string host, int port, size_t max_idle = 64);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // One request; the whole exchange (connect, send, receive) within timeout_ms.
  Result Do(std::string_view method, std::string_view target, const Headers& headers,
            std::string_view body, int timeout_ms);

  const std::string& host() const { return host_; }
  int port() const { return port_; }
  // "http://host:port"
  std::string base_url() const;

 private:
  int Connect(int64_t deadline_ms, Result* r);
  bool Exchange(int fd, const std::string& wire, int64_t deadline_ms, Result* r, bool* keep,
                bool* nothing_received);

  std::string host_;
  int port_;
  size_t max_idle_;
  std::mutex mu_;
  std::vector<int> idle_;  // guarded by mu_
};

// Parses "http://host:port" (no path) into host and port; false if malformed.
bool ParseHttpUrl(std::string_view url, std::string* host, int* port);

}  // namespace demo

#endif  // LOUPE_DEMO_HTTP_H_
