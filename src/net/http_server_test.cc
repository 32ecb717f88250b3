#include "net/http_server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace loupe::net {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lowercased names
  std::string body;
  bool ok = false;  // a complete response was read
};

// A minimal blocking HTTP/1.1 client over a raw socket, so tests control the
// exact bytes (pipelining, malformed requests, missing bodies).
class RawClient {
 public:
  // from: the local address to connect from (any 127.x.y.z works on Linux's
  // loopback, so tests can be several clients).
  explicit RawClient(uint16_t port, const char* from = nullptr) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (from != nullptr) {
      sockaddr_in local{};
      local.sin_family = AF_INET;
      ::inet_pton(AF_INET, from, &local.sin_addr);
      if (::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) return;
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }

  bool Write(std::string_view s) {
    while (!s.empty()) {
      ssize_t n = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      s.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads more bytes into buf_; false on EOF, error or timeout.
  bool Fill(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return false;
    char tmp[65536];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }

  RawResponse ReadResponse(std::chrono::milliseconds timeout = 5000ms) {
    RawResponse r;
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill(timeout)) return r;
    }
    std::string head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    size_t line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    r.status = std::atoi(status_line.substr(9, 3).c_str());
    size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      size_t e = head.find("\r\n", pos);
      if (e == std::string::npos) e = head.size();
      std::string line = head.substr(pos, e - pos);
      size_t colon = line.find(':');
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(c));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value[0] == ' ') value.erase(0, 1);
      r.headers[name] = value;
      pos = e + 2;
    }
    size_t len = r.headers.count("content-length") ? std::stoul(r.headers["content-length"]) : 0;
    while (buf_.size() < len) {
      if (!Fill(timeout)) return r;
    }
    r.body = buf_.substr(0, len);
    buf_.erase(0, len);
    r.ok = true;
    return r;
  }

  // True when the server closed the connection (EOF) within the timeout.
  bool WaitClosed(std::chrono::milliseconds timeout = 5000ms) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char tmp[4096];
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n <= 0) return true;
    }
    return false;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
};

std::string Get(std::string_view target, std::string_view extra = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: x\r\n" + std::string(extra) + "\r\n";
}

std::string Post(std::string_view target, std::string_view body) {
  return "POST " + std::string(target) +
         " HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
         std::string(body);
}

// Echoes what it saw as "method|path|query|a-param|x-test header|body".
void Echo(HttpRequest& req, HttpResponse* resp) {
  resp->content_type = "text/plain";
  resp->body = req.method + "|" + req.path + "|" + req.query + "|" + req.Param("a").value_or("-") +
               "|" + std::string(req.Header("x-test")) + "|" + req.body;
}

std::unique_ptr<HttpServer> StartOrDie(HttpServerOptions o, HttpHandler h, HeaderCheck c = nullptr,
                                       WebSocketHandler ws = nullptr) {
  o.bind_address = "127.0.0.1";
  auto r = HttpServer::Start(std::move(o), std::move(h), std::move(c), std::move(ws));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : nullptr;
}

TEST(HttpServer, GetAndPost) {
  auto server = StartOrDie({}, Echo);
  ASSERT_NE(server->port(), 0);
  RawClient c(server->port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Write(Get("/a%20b/c?a=x+y%26z&b=2", "X-Test: hello\r\n")));
  RawResponse r = c.ReadResponse();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "text/plain");
  EXPECT_EQ(r.body, "GET|/a b/c|a=x+y%26z&b=2|x y&z|hello|");

  ASSERT_TRUE(c.Write(Post("/ingest", "payload")));
  r = c.ReadResponse();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.body, "POST|/ingest||-||payload");
}

TEST(HttpServer, KeepAliveAndPipelining) {
  std::atomic<int> calls{0};
  auto server = StartOrDie({}, [&](HttpRequest& req, HttpResponse* resp) {
    ++calls;
    resp->body = req.path;
  });
  RawClient c(server->port());
  // Three requests in one write: answered in order on the same connection.
  ASSERT_TRUE(c.Write(Get("/one") + Post("/two", "xx") + Get("/three")));
  for (const char* want : {"/one", "/two", "/three"}) {
    RawResponse r = c.ReadResponse();
    ASSERT_TRUE(r.ok) << want;
    EXPECT_EQ(r.body, want);
    EXPECT_NE(r.headers["connection"], "close");
  }
  ASSERT_TRUE(c.Write(Get("/four")));
  EXPECT_EQ(c.ReadResponse().body, "/four");
  EXPECT_EQ(calls.load(), 4);
}

TEST(HttpServer, ConnectionCloseIsHonoured) {
  auto server = StartOrDie({}, Echo);
  RawClient c(server->port());
  ASSERT_TRUE(c.Write(Get("/x", "Connection: close\r\n")));
  RawResponse r = c.ReadResponse();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.headers["connection"], "close");
  EXPECT_TRUE(c.WaitClosed());
}

TEST(HttpServer, BigContentLengthGets413WithoutReadingTheBody) {
  std::atomic<int> calls{0};
  HttpServerOptions o;
  o.max_body_bytes = 1000;
  auto server = StartOrDie(o, [&](HttpRequest&, HttpResponse*) { ++calls; });
  RawClient c(server->port());
  // Announce 100 MB and send only a few bytes of it.
  ASSERT_TRUE(
      c.Write("POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\nabc"));
  RawResponse r = c.ReadResponse();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 413);
  EXPECT_THAT(r.body, HasSubstr("\"code\":\"resource_exhausted\""));
  EXPECT_EQ(r.headers["connection"], "close");
  EXPECT_TRUE(c.WaitClosed());
  EXPECT_EQ(calls.load(), 0);
}

TEST(HttpServer, ChunkedBody) {
  auto server = StartOrDie({}, Echo);
  RawClient c(server->port());
  ASSERT_TRUE(
      c.Write("POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
              "5\r\nhello\r\n"));
  std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(c.Write("6\r\n world\r\n0\r\n\r\n"));
  RawResponse r = c.ReadResponse();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "POST|/c||-||hello world");
  // The connection stays usable.
  ASSERT_TRUE(c.Write(Get("/after")));
  EXPECT_EQ(c.ReadResponse().status, 200);
}

TEST(HttpServer, ChunkedBodyOverTheLimitGets413) {
  HttpServerOptions o;
  o.max_body_bytes = 10;
  auto server = StartOrDie(o, Echo);
  RawClient c(server->port());
  ASSERT_TRUE(
      c.Write("POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
              "8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n"));
  RawResponse r = c.ReadResponse();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 413);
  EXPECT_TRUE(c.WaitClosed());
}

TEST(HttpServer, ExpectContinue) {
  auto server = StartOrDie({}, Echo);
  RawClient c(server->port());
  ASSERT_TRUE(
      c.Write("POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"));
  RawResponse interim = c.ReadResponse();
  ASSERT_TRUE(interim.ok);
  EXPECT_EQ(interim.status, 100);
  ASSERT_TRUE(c.Write("body"));
  RawResponse r = c.ReadResponse();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "POST|/e||-||body");
}

TEST(HttpServer, MalformedRequestGets400) {
  auto server = StartOrDie({}, Echo);
  {
    RawClient c(server->port());
    ASSERT_TRUE(c.Write("BLAH\r\n\r\n"));
    RawResponse r = c.ReadResponse();
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.status, 400);
    EXPECT_THAT(r.body, HasSubstr("invalid_argument"));
    EXPECT_TRUE(c.WaitClosed());
  }
  {
    RawClient c(server->port());  // bad percent-encoding in the path
    ASSERT_TRUE(c.Write(Get("/a%zz")));
    EXPECT_EQ(c.ReadResponse().status, 400);
  }
  {
    RawClient c(server->port());  // NUL smuggled into the path
    ASSERT_TRUE(c.Write(Get("/a%00b")));
    EXPECT_EQ(c.ReadResponse().status, 400);
  }
  {
    RawClient c(server->port());  // bad chunk size
    ASSERT_TRUE(c.Write("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"));
    EXPECT_EQ(c.ReadResponse().status, 400);
  }
}

TEST(HttpServer, OversizedHeaderGets431) {
  HttpServerOptions o;
  o.max_header_bytes = 2048;
  auto server = StartOrDie(o, Echo);
  RawClient c(server->port());
  ASSERT_TRUE(c.Write(Get("/", "X-Big: " + std::string(4096, 'a') + "\r\n")));
  RawResponse r = c.ReadResponse();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 431);
}

TEST(HttpServer, HandlerThatThrowsGets500) {
  auto server = StartOrDie({}, [](HttpRequest& req, HttpResponse*) {
    if (req.path == "/boom") throw std::runtime_error("boom");
  });
  RawClient c(server->port());
  ASSERT_TRUE(c.Write(Get("/boom")));
  RawResponse r = c.ReadResponse();
  EXPECT_EQ(r.status, 500);
  EXPECT_THAT(r.body, HasSubstr("\"internal\""));
  ASSERT_TRUE(c.Write(Get("/fine")));
  EXPECT_EQ(c.ReadResponse().status, 200);
}

TEST(HttpServer, HeaderCheckAnswersBeforeTheBody) {
  std::atomic<int> calls{0};
  auto server = StartOrDie(
      {}, [&](HttpRequest&, HttpResponse*) { ++calls; },
      [](const HttpRequest& req, HttpResponse* resp) {
        EXPECT_TRUE(req.body.empty());
        if (req.Header("authorization") == "Bearer good") return true;
        resp->status = 401;
        resp->body = R"({"error":{"code":"unauthenticated","message":"no"}})";
        return false;
      });
  {
    RawClient c(server->port());
    ASSERT_TRUE(c.Write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"));
    RawResponse r = c.ReadResponse();
    EXPECT_EQ(r.status, 401);
    EXPECT_TRUE(c.WaitClosed());  // the body was not read: the connection cannot be reused
  }
  {
    RawClient c(server->port());
    ASSERT_TRUE(c.Write(Get("/", "Authorization: Bearer bad\r\n")));
    EXPECT_EQ(c.ReadResponse().status, 401);
    ASSERT_TRUE(c.Write(Get("/", "Authorization: Bearer good\r\n")));  // no body: kept alive
    EXPECT_EQ(c.ReadResponse().status, 200);
  }
  EXPECT_EQ(calls.load(), 1);
}

TEST(HttpServer, ResponseHeadersAreSanitized) {
  auto server = StartOrDie({}, [](HttpRequest&, HttpResponse* resp) {
    resp->status = 201;
    resp->headers.emplace_back("X-A", "1\r\nSet-Cookie: evil=1");
    resp->headers.emplace_back("Content-Length", "999");  // ignored: the server sets it
  });
  RawClient c(server->port());
  ASSERT_TRUE(c.Write(Get("/")));
  RawResponse r = c.ReadResponse();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.headers["x-a"], "1Set-Cookie: evil=1");
  EXPECT_EQ(r.headers.count("set-cookie"), 0u);
  EXPECT_EQ(r.headers["content-length"], "0");
}

TEST(HttpServer, BlockingHandlersDoNotStallOtherConnections) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  HttpServerOptions o;
  o.threads = 2;
  auto server = StartOrDie(o, [&](HttpRequest& req, HttpResponse* resp) {
    if (req.path == "/block") released.wait();
    resp->body = req.path;
  });
  RawClient blocked(server->port());
  ASSERT_TRUE(blocked.Write(Get("/block")));
  std::this_thread::sleep_for(50ms);
  RawClient other(server->port());
  ASSERT_TRUE(other.Write(Get("/quick")));
  RawResponse r = other.ReadResponse(3000ms);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.body, "/quick");
  release.set_value();
  EXPECT_EQ(blocked.ReadResponse().body, "/block");
}

TEST(HttpServer, IdleConnectionsTimeOut) {
  HttpServerOptions o;
  o.idle_timeout_seconds = 1;
  auto server = StartOrDie(o, Echo);
  RawClient c(server->port());
  ASSERT_TRUE(c.Write("GET / HTTP/1.1\r\nHo"));  // stalls mid-header
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.WaitClosed(5000ms));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 800ms);
}

TEST(HttpServer, ConnectionsPastTheLimitGet503) {
  HttpServerOptions o;
  o.max_connections = 2;
  auto server = StartOrDie(o, Echo);
  RawClient a(server->port()), b(server->port());
  ASSERT_TRUE(a.Write(Get("/")));
  ASSERT_TRUE(b.Write(Get("/")));
  ASSERT_EQ(a.ReadResponse().status, 200);
  ASSERT_EQ(b.ReadResponse().status, 200);
  RawClient c(server->port());
  RawResponse r = c.ReadResponse();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 503);
  EXPECT_THAT(r.body, HasSubstr("unavailable"));
  EXPECT_TRUE(c.WaitClosed());
}

TEST(HttpServer, BindFailureIsAnError) {
  auto first = StartOrDie({}, Echo);
  HttpServerOptions o;
  o.bind_address = "127.0.0.1";
  o.port = first->port();
  auto second = HttpServer::Start(o, Echo);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Status::Code::kIoError);
  o.bind_address = "not-an-address";
  EXPECT_EQ(HttpServer::Start(o, Echo).status().code(), Status::Code::kInvalidArgument);
}

// ---- WebSocket ----

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

// Collects the connections a WebSocketHandler accepted.
struct WsSink {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::shared_ptr<WebSocketConnection>> conns;
  std::string last_path;

  WebSocketHandler Handler() {
    return [this](const HttpRequest& req, HttpResponse* reject,
                  std::shared_ptr<WebSocketConnection> conn) {
      if (req.Param("token").value_or("") != "t") {
        reject->status = 401;
        reject->body = R"({"error":{"code":"unauthenticated","message":"token"}})";
        return false;
      }
      std::lock_guard<std::mutex> l(mu);
      last_path = req.path;
      conns.push_back(std::move(conn));
      cv.notify_all();
      return true;
    };
  }
  std::shared_ptr<WebSocketConnection> WaitConn(size_t i = 0,
                                                std::chrono::milliseconds timeout = 5000ms) {
    std::unique_lock<std::mutex> l(mu);
    cv.wait_for(l, timeout, [&] { return conns.size() > i; });
    return conns.size() > i ? conns[i] : nullptr;
  }
};

class WsClient {
 public:
  explicit WsClient(uint16_t port) : ws_(io_) {
    asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
    beast::get_lowest_layer(ws_).connect(ep, ec_);
  }
  beast::error_code Handshake(const std::string& target) {
    ws_.handshake(res_, "127.0.0.1", target, ec_);
    return ec_;
  }
  int handshake_status() const { return res_.result_int(); }
  // Reads one message; empty optional on error (ec() tells which).
  std::optional<std::string> Read() {
    beast::flat_buffer b;
    ws_.read(b, ec_);
    if (ec_) return std::nullopt;
    return beast::buffers_to_string(b.data());
  }
  beast::error_code ec() const { return ec_; }
  void SetReadTimeout(std::chrono::seconds s) {
    websocket::stream_base::timeout t =
        websocket::stream_base::timeout::suggested(beast::role_type::client);
    t.idle_timeout = s;
    ws_.set_option(t);
  }

 private:
  asio::io_context io_;
  websocket::stream<beast::tcp_stream> ws_;
  websocket::response_type res_;
  beast::error_code ec_;
};

TEST(HttpServer, WebSocketUpgradeSendAndClose) {
  WsSink sink;
  auto server = StartOrDie({}, Echo, nullptr, sink.Handler());
  WsClient client(server->port());
  ASSERT_FALSE(client.Handshake("/api/v1/live?token=t")) << client.ec().message();
  auto conn = sink.WaitConn();
  ASSERT_NE(conn, nullptr);
  EXPECT_EQ(sink.last_path, "/api/v1/live");
  EXPECT_FALSE(conn->closed());
  conn->Send(std::make_shared<const std::string>("frame 1"));
  conn->Send(std::make_shared<const std::string>("frame 2"));
  EXPECT_EQ(client.Read().value_or("<error>"), "frame 1");
  EXPECT_EQ(client.Read().value_or("<error>"), "frame 2");
  conn->Close();
  EXPECT_FALSE(client.Read().has_value());
  EXPECT_EQ(client.ec(), websocket::error::closed);
  for (int i = 0; i < 100 && !conn->closed(); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(conn->closed());
  conn->Send(std::make_shared<const std::string>("ignored"));  // no-op once closed
}

TEST(HttpServer, WebSocketClientCloseIsSeen) {
  WsSink sink;
  auto server = StartOrDie({}, Echo, nullptr, sink.Handler());
  {
    WsClient client(server->port());
    ASSERT_FALSE(client.Handshake("/live?token=t"));
    ASSERT_NE(sink.WaitConn(), nullptr);
  }  // the client goes away without a close frame
  auto conn = sink.WaitConn();
  for (int i = 0; i < 200 && !conn->closed(); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(conn->closed());
}

TEST(HttpServer, WebSocketRejected) {
  WsSink sink;
  auto server = StartOrDie({}, Echo, nullptr, sink.Handler());
  WsClient client(server->port());
  EXPECT_TRUE(client.Handshake("/live?token=wrong"));
  EXPECT_EQ(client.handshake_status(), 401);
  EXPECT_EQ(sink.WaitConn(0, 100ms), nullptr);
}

TEST(HttpServer, WebSocketWithoutHandlerGets404) {
  auto server = StartOrDie({}, Echo);
  WsClient client(server->port());
  EXPECT_TRUE(client.Handshake("/live"));
  EXPECT_EQ(client.handshake_status(), 404);
}

TEST(HttpServer, SlowWebSocketClientIsDisconnected) {
  WsSink sink;
  auto server = StartOrDie({}, Echo, nullptr, sink.Handler());
  WsClient client(server->port());
  ASSERT_FALSE(client.Handshake("/live?token=t"));
  auto conn = sink.WaitConn();
  ASSERT_NE(conn, nullptr);
  // The client never reads: socket buffers fill, then the bounded queue.
  auto big = std::make_shared<const std::string>(1 << 20, 'x');
  for (int i = 0; i < 200 && !conn->closed(); ++i) {
    conn->Send(big);
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_TRUE(conn->closed());
}

TEST(HttpServer, StopWithOpenConnections) {
  WsSink sink;
  std::promise<void> entered;
  std::atomic<bool> entered_once{false};
  auto server = StartOrDie(
      {},
      [&](HttpRequest& req, HttpResponse* resp) {
        if (req.path == "/slow") {
          if (!entered_once.exchange(true)) entered.set_value();
          std::this_thread::sleep_for(300ms);
        }
        resp->body = "done";
      },
      nullptr, sink.Handler());
  RawClient idle(server->port());
  ASSERT_TRUE(idle.Write(Get("/")));
  ASSERT_EQ(idle.ReadResponse().status, 200);  // now an idle keep-alive connection
  RawClient inflight(server->port());
  ASSERT_TRUE(inflight.Write(Get("/slow")));
  entered.get_future().wait();
  WsClient ws(server->port());
  ASSERT_FALSE(ws.Handshake("/live?token=t"));
  auto conn = sink.WaitConn();
  ASSERT_NE(conn, nullptr);

  auto t0 = std::chrono::steady_clock::now();
  server->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);

  RawResponse r = inflight.ReadResponse();  // the in-flight request was answered
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.body, "done");
  EXPECT_EQ(r.headers["connection"], "close");
  EXPECT_TRUE(inflight.WaitClosed());
  EXPECT_TRUE(idle.WaitClosed());
  EXPECT_FALSE(ws.Read().has_value());
  EXPECT_TRUE(conn->closed());
  server->Stop();  // idempotent
  server.reset();
  conn->Send(std::make_shared<const std::string>("after the server is gone"));
  conn->Close();
  EXPECT_TRUE(conn->closed());
}

TEST(HttpServer, StopDoesNotWaitForClientsIgnoringTheCloseFrame) {
  WsSink sink;
  auto server = StartOrDie({}, Echo, nullptr, sink.Handler());
  WsClient ws(server->port());  // never reads, so never answers a close frame
  ASSERT_FALSE(ws.Handshake("/live?token=t"));
  auto conn = sink.WaitConn();
  ASSERT_NE(conn, nullptr);
  conn->Close();  // the application closes first (as Api::Stop does)
  std::this_thread::sleep_for(100ms);
  auto t0 = std::chrono::steady_clock::now();
  server->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_TRUE(conn->closed());
}

// The value of loupe_http_refused_total{server="http",reason=...}.
uint64_t Refused(MetricsRegistry* m, const char* reason) {
  return m->GetCounter("loupe_http_refused_total", "", {{"server", "http"}, {"reason", reason}})
      ->value();
}

TEST(HttpServer, BodyTrickledAByteAtATimeIsCutWith408AtTheRequestDeadline) {
  MetricsRegistry metrics;
  HttpServerOptions o;
  o.request_timeout_seconds = 1;  // the idle timeout (60 s) never fires: bytes keep coming
  o.metrics = &metrics;
  std::atomic<int> calls{0};
  auto server = StartOrDie(o, [&](HttpRequest&, HttpResponse*) { ++calls; });
  RawClient c(server->port());
  ASSERT_TRUE(c.Write("POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"));
  // One byte every 100 ms, until the server answers (or 10 s, a failure).
  RawResponse r;
  auto give_up = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < give_up) {
    if (!c.Write("x")) break;  // the server closed after answering
    if (c.Fill(100ms)) break;
  }
  r = c.ReadResponse(1000ms);
  ASSERT_TRUE(r.ok) << "no 408 within 10 s for a request with a 1 s deadline";
  EXPECT_EQ(r.status, 408);
  EXPECT_THAT(r.body, HasSubstr("request_timeout"));
  EXPECT_EQ(r.headers["connection"], "close");
  EXPECT_TRUE(c.WaitClosed());
  EXPECT_EQ(calls.load(), 0);
  EXPECT_EQ(Refused(&metrics, "request_timeout"), 1u);
}

TEST(HttpServer, HeadTrickledAByteAtATimeIsCutWith408) {
  HttpServerOptions o;
  o.request_timeout_seconds = 1;
  auto server = StartOrDie(o, Echo);
  RawClient c(server->port());
  const std::string head = "GET /a-rather-long-path-sent-slowly HTTP/1.1\r\nHost: x\r\n\r\n";
  bool answered = false;
  for (size_t i = 0; i < head.size() && !answered; ++i) {
    if (!c.Write(head.substr(i, 1))) break;
    answered = c.Fill(100ms);
  }
  RawResponse r = c.ReadResponse(1000ms);
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 408);
}

TEST(HttpServer, IdleTimeOnAKeepAliveConnectionDoesNotCountAgainstTheRequestDeadline) {
  HttpServerOptions o;
  o.request_timeout_seconds = 1;
  o.idle_timeout_seconds = 30;
  auto server = StartOrDie(o, Echo);
  RawClient c(server->port());
  ASSERT_TRUE(c.Write(Get("/one")));
  ASSERT_EQ(c.ReadResponse().status, 200);
  std::this_thread::sleep_for(1500ms);  // idle, longer than the request deadline
  ASSERT_TRUE(c.Write(Get("/two")));
  RawResponse r = c.ReadResponse();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("/two"));
}

TEST(HttpServer, ConnectionsFromOneAddressPastTheCapGet429WhileOthersAreServed) {
  MetricsRegistry metrics;
  HttpServerOptions o;
  o.max_connections_per_client = 2;
  o.metrics = &metrics;
  auto server = StartOrDie(o, Echo);
  auto a = std::make_unique<RawClient>(server->port(), "127.0.0.1");
  RawClient b(server->port(), "127.0.0.1");
  ASSERT_TRUE(a->Write(Get("/a")));
  ASSERT_TRUE(b.Write(Get("/b")));
  ASSERT_EQ(a->ReadResponse().status, 200);
  ASSERT_EQ(b.ReadResponse().status, 200);

  RawClient third(server->port(), "127.0.0.1");
  RawResponse r = third.ReadResponse();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.headers["retry-after"], "1");
  EXPECT_THAT(r.body, HasSubstr("too many connections from this address"));
  EXPECT_TRUE(third.WaitClosed());
  EXPECT_EQ(Refused(&metrics, "too_many_client_connections"), 1u);

  // Another address is served meanwhile; the first two still are.
  RawClient other(server->port(), "127.0.0.2");
  ASSERT_TRUE(other.connected());
  ASSERT_TRUE(other.Write(Get("/other")));
  EXPECT_EQ(other.ReadResponse().status, 200);
  ASSERT_TRUE(b.Write(Get("/b2")));
  EXPECT_EQ(b.ReadResponse().status, 200);

  // A closed connection frees its place.
  a.reset();
  int status = 0;
  for (int i = 0; i < 50 && status != 200; ++i) {
    RawClient again(server->port(), "127.0.0.1");
    if (!again.Write(Get("/again"))) continue;
    status = again.ReadResponse().status;
    if (status != 200) std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(status, 200);
}

TEST(HttpServer, ServerMadeErrorsAreCountedAndCanBeRewrittenByTheErrorHook) {
  MetricsRegistry metrics;
  HttpServerOptions o;
  o.max_body_bytes = 1000;
  o.metrics = &metrics;
  o.error_hook = [](const HttpRequest& head, HttpResponse* resp) {
    resp->content_type = "application/x-test";
    resp->body = std::to_string(resp->status) + " for " + head.path + " as " +
                 std::string(head.Header("content-type"));
    resp->status = 200;  // ignored: the status is the server's
  };
  auto server = StartOrDie(o, Echo);
  RawClient c(server->port());
  ASSERT_TRUE(
      c.Write("POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              "Content-Length: 100000\r\n\r\n"));
  RawResponse r = c.ReadResponse();
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.headers["content-type"], "application/x-test");
  EXPECT_EQ(r.body, "413 for /v1/traces as application/json");
  EXPECT_EQ(Refused(&metrics, "too_large"), 1u);

  RawClient bad(server->port());
  ASSERT_TRUE(bad.Write("NOT AN HTTP REQUEST\r\n\r\n"));
  EXPECT_EQ(bad.ReadResponse().status, 400);
  EXPECT_EQ(Refused(&metrics, "malformed"), 1u);
}

TEST(MediaType, LowercasedWithoutParametersOrSpaces) {
  EXPECT_EQ(MediaType("application/json"), "application/json");
  EXPECT_EQ(MediaType("Application/Json; charset=utf-8"), "application/json");
  EXPECT_EQ(MediaType("  APPLICATION/X-PROTOBUF "), "application/x-protobuf");
  EXPECT_EQ(MediaType("application/json;charset=UTF-8"), "application/json");
  EXPECT_EQ(MediaType(""), "");
}

TEST(TokenIs, IgnoresCaseAndSurroundingSpaces) {
  EXPECT_TRUE(TokenIs("gzip", "gzip"));
  EXPECT_TRUE(TokenIs("GZIP", "gzip"));
  EXPECT_TRUE(TokenIs(" Gzip ", "gzip"));
  EXPECT_FALSE(TokenIs("gzip2", "gzip"));
  EXPECT_FALSE(TokenIs("x-gzip", "gzip"));
  EXPECT_FALSE(TokenIs("", "gzip"));
}

TEST(HttpRequest, ParamAndHeader) {
  HttpRequest r;
  r.query = "a=1&b=&c&d=%41%2&e=x%3Dy&a=2";
  r.headers = {{"x-one", "1"}};
  EXPECT_EQ(r.Param("a"), "1");
  EXPECT_EQ(r.Param("b"), "");
  EXPECT_EQ(r.Param("c"), "");
  EXPECT_EQ(r.Param("d"), "A%2");
  EXPECT_EQ(r.Param("e"), "x=y");
  EXPECT_EQ(r.Param("zz"), std::nullopt);
  EXPECT_EQ(r.Header("x-one"), "1");
  EXPECT_EQ(r.Header("x-two"), "");
}

}  // namespace
}  // namespace loupe::net
