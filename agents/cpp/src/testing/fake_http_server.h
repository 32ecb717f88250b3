// In-test HTTP/1.1 server on 127.0.0.1 (ephemeral port) that records every
// request and answers through a handler: any status, headers, body, or a hang
// (accept, read the request, never answer). For the agent's unit tests only.
//
// Thread-safe.
#ifndef LOUPE_AGENT_TESTING_FAKE_HTTP_SERVER_H_
#define LOUPE_AGENT_TESTING_FAKE_HTTP_SERVER_H_

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace loupe::testing {

struct FakeRequest {
  std::string method;
  std::string target;                          // path and query
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string path() const { return target.substr(0, target.find('?')); }
};

struct FakeResponse {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool hang = false;  // never answer (until the server stops)
};

class FakeHttpServer {
 public:
  using Handler = std::function<FakeResponse(const FakeRequest&)>;

  FakeHttpServer();  // listening when constructed; aborts the test binary on failure
  ~FakeHttpServer();
  FakeHttpServer(const FakeHttpServer&) = delete;
  FakeHttpServer& operator=(const FakeHttpServer&) = delete;

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Default: 200 with an empty JSON object.
  void SetHandler(Handler h);

  std::vector<FakeRequest> Requests() const;
  std::vector<FakeRequest> RequestsTo(const std::string& path) const;
  size_t CountTo(const std::string& path) const { return RequestsTo(path).size(); }
  size_t connections() const { return connections_.load(); }

  // Polls `pred` until it holds or `timeout_ms` passes (a generous bound for
  // asynchronous work, never a timing assertion). Returns pred().
  static bool WaitFor(const std::function<bool()>& pred, int timeout_ms = 10000);

  void Stop();

  // A loopback port with nothing listening (connection refused).
  static int ClosedPort();

 private:
  void AcceptLoop();
  void Serve(int fd);

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> connections_{0};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  Handler handler_;
  std::vector<FakeRequest> requests_;
  std::vector<int> fds_;
  std::vector<std::thread> threads_;
  std::thread accept_thread_;
};

}  // namespace loupe::testing

#endif  // LOUPE_AGENT_TESTING_FAKE_HTTP_SERVER_H_
