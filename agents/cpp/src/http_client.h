// Minimal HTTP/1.1 client over POSIX sockets for the agent's background
// threads: http:// only, one keep-alive connection, a deadline on every
// request (connect, write and read), and a cancel flag checked at least every
// 50 ms so Shutdown() is never held up by a server that does not answer.
//
// Thread-compatible: one client per background thread.
#ifndef LOUPE_AGENT_HTTP_CLIENT_H_
#define LOUPE_AGENT_HTTP_CLIENT_H_

#include <atomic>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace loupe::internal {

struct HttpResponse {
  int status = 0;
  std::string body;
  int retry_after_s = -1;  // Retry-After in seconds, -1 when absent or a date
};

class HttpClient {
 public:
  // `base_url`: "http://host[:port][/prefix]". A malformed URL makes every
  // request fail with an error.
  HttpClient(std::string_view base_url, int timeout_ms, const std::atomic<bool>* cancel);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request to prefix + `path`. true when a complete response was
  // read (any status); false on connection failure, timeout, cancel or a
  // malformed response, with the reason in *error.
  bool Request(std::string_view method, std::string_view path,
               const std::vector<std::pair<std::string, std::string>>& headers,
               std::string_view body, HttpResponse* response, std::string* error);

  // Splits "http://host:port/prefix". false when not http:// or bad port.
  static bool ParseUrl(std::string_view url, std::string* host, int* port, std::string* prefix);

 private:
  bool Connect(long long deadline_ms, std::string* error);
  // `more`: more data follows at once (MSG_MORE), so the kernel may hold
  // this in the socket until then.
  bool SendAll(std::string_view data, bool more, long long deadline_ms, std::string* error);
  bool ReadResponse(long long deadline_ms, HttpResponse* response, bool* keep_alive,
                    std::string* error);
  // Waits until fd is readable/writable, the deadline passes or cancel is set.
  bool Wait(short events, long long deadline_ms, std::string* error);
  void Close();

  bool url_ok_;
  std::string host_;
  int port_ = 0;
  std::string prefix_;
  int timeout_ms_;
  const std::atomic<bool>* cancel_;
  int fd_ = -1;
  std::string rbuf_;  // bytes read past the previous response
};

}  // namespace loupe::internal

#endif  // LOUPE_AGENT_HTTP_CLIENT_H_
