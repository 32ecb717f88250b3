// otlp_load: end-to-end OTLP/HTTP load generator for `loupe server`.
//
// Sends realistic traces (one SERVER root + SQL, external and method children,
// ~10 attributes a span) as OTLP/HTTP protobuf over keep-alive connections,
// with unique trace ids per request, and reports spans/s and — given the
// server's pid — the server's CPU seconds, so throughput per core is
// spans / server CPU second. Run it pinned to the other core:
//
//   taskset -c 1 build/otlp_load --port 4318 --key lk_... --seconds 10 --pid $(pidof loupe)
//
// Stops by itself after --seconds; talks to 127.0.0.1 only.
//
// --rate R paces the requests at R a second over all connections (a soak,
// bench/soak.sh) instead of sending as fast as the server answers; its
// requests carry current timestamps (the template is rebuilt each second),
// so a long run spreads over time partitions as real traffic does.
// --unique-users 1 gives every trace its own user id and client IP (a
// stream of new visitors; by default 1,000 users and 200 addresses recur).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "testing/otlp_builder.h"

namespace {

using loupe::testing::Attr;
using loupe::testing::SpanSpec;

struct Options {
  int port = 4318;
  std::string key;
  int connections = 4;
  double seconds = 10;
  int traces_per_request = 50;  // 10 spans each → 500 spans a request
  long pid = 0;
  double rate = 0;  // requests a second over all connections; 0: as fast as possible
  bool unique_users = false;
};

// A request body whose trace ids can be rewritten in place: every trace id in
// the template starts with the 8-byte marker, followed by the trace index.
struct Template {
  std::string body;
  std::vector<size_t> trace_id_offsets;  // offsets of the 16 id bytes
  int spans = 0;
};

constexpr uint64_t kMarker = 0x4c4f55504554524bULL;  // "LOUPETRK"

// users_from: with unique users, the first trace's user number (each trace
// gets its own); otherwise ignored (-1).
Template MakeTemplate(int traces, int64_t users_from = -1) {
  using namespace loupe::testing;
  auto now_ns = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  auto user_of = [&](int t) {
    return users_from < 0 ? "user" + std::to_string(t % 1000)
                          : "visitor" + std::to_string(users_from + t);
  };
  auto address_of = [&](int t) {
    if (users_from < 0) return "10.0.0." + std::to_string(t % 200);
    const uint64_t u = static_cast<uint64_t>(users_from + t);
    return std::to_string(10 + (u >> 24) % 200) + "." + std::to_string((u >> 16) & 255) + "." +
           std::to_string((u >> 8) & 255) + "." + std::to_string(u & 255);
  };
  std::vector<SpanSpec> spans;
  const char* routes[] = {"/api/posts/{id}", "/api/users/{id}", "/api/cart", "/api/search",
                          "/api/orders/{id}"};
  for (int t = 0; t < traces; ++t) {
    std::string trace = TraceIdBytes(kMarker, static_cast<uint64_t>(t));
    uint64_t start = now_ns - 2'000'000'000ULL + static_cast<uint64_t>(t) * 1000;
    uint64_t elapsed = 5'000'000ULL + static_cast<uint64_t>(t % 17) * 3'000'000ULL;
    SpanSpec root;
    root.trace_id = trace;
    root.span_id = SpanIdBytes(1);
    root.name = std::string("GET ") + routes[t % 5];
    root.kind = 2;
    root.start_time_unix_nano = start;
    root.end_time_unix_nano = start + elapsed;
    root.attributes = {{"http.request.method", "GET"},
                       {"http.route", routes[t % 5]},
                       {"url.path", "/api/posts/" + std::to_string(t)},
                       {"url.scheme", "http"},
                       {"http.response.status_code", int64_t{t % 50 == 0 ? 500 : 200}},
                       {"client.address", address_of(t)},
                       {"enduser.id", user_of(t)},
                       {"server.address", "shop.example"},
                       {"network.protocol.version", "1.1"},
                       {"user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)"}};
    spans.push_back(root);
    for (int c = 0; c < 9; ++c) {
      SpanSpec s;
      s.trace_id = trace;
      s.span_id = SpanIdBytes(static_cast<uint64_t>(c + 2));
      s.parent_span_id = SpanIdBytes(c < 3 ? 1 : 2);
      s.start_time_unix_nano = start + static_cast<uint64_t>(c + 1) * 100'000;
      s.end_time_unix_nano = s.start_time_unix_nano + 300'000;
      if (c % 3 == 0) {
        s.name = "SELECT posts";
        s.kind = 3;
        s.attributes = {{"db.system", "postgresql"},
                        {"db.query.text", "SELECT id, title, body FROM posts WHERE id = $1"},
                        {"db.namespace", "shop"},
                        {"db.operation.name", "SELECT"},
                        {"server.address", "db.internal"},
                        {"server.port", int64_t{5432}},
                        {"db.response.returned_rows", int64_t{1}},
                        {"db.query.parameter.0", std::to_string(t)},
                        {"network.peer.address", "10.1.0.5"},
                        {"thread.id", int64_t{42}}};
      } else if (c % 3 == 1) {
        s.name = "GET";
        s.kind = 3;
        s.attributes = {{"http.request.method", "GET"},
                        {"url.full", "http://inventory.internal/api/stock/" + std::to_string(t)},
                        {"server.address", "inventory.internal"},
                        {"server.port", int64_t{80}},
                        {"http.response.status_code", int64_t{200}},
                        {"network.protocol.version", "1.1"},
                        {"url.scheme", "http"},
                        {"network.peer.address", "10.1.0.9"},
                        {"thread.id", int64_t{42}},
                        {"http.request.resend_count", int64_t{0}}};
      } else {
        s.name = "PostService.render";
        s.kind = 1;
        s.attributes = {{"code.function", "render"},
                        {"code.namespace", "PostService"},
                        {"code.filepath", "src/post_service.cc"},
                        {"code.lineno", int64_t{120}},
                        {"thread.id", int64_t{42}},
                        {"template", "post.html"},
                        {"cache.hit", false},
                        {"items", int64_t{12}},
                        {"size", 1024.5},
                        {"locale", "en-US"}};
      }
      spans.push_back(s);
    }
  }
  auto res = MakeResource({{"service.name", "shop"},
                           {"service.instance.id", "shop-1"},
                           {"host.name", "web-1"},
                           {"telemetry.sdk.language", "cpp"},
                           {"telemetry.sdk.name", "otlp_load"},
                           {"telemetry.sdk.version", "1"}},
                          {MakeScope("otlp_load", spans)});
  Template t;
  t.body = EncodeTraceRequest({res});
  t.spans = static_cast<int>(spans.size());
  std::string marker = TraceIdBytes(kMarker, 0).substr(0, 8);
  for (size_t pos = t.body.find(marker); pos != std::string::npos;
       pos = t.body.find(marker, pos + 1)) {
    t.trace_id_offsets.push_back(pos);
  }
  return t;
}

int Connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::perror("connect");
    std::exit(1);
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool SendAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Reads one HTTP response; returns its status code, or -1 on a broken connection.
int ReadResponse(int fd, std::string* buf) {
  buf->clear();
  char tmp[8192];
  size_t header_end = std::string::npos;
  while ((header_end = buf->find("\r\n\r\n")) == std::string::npos) {
    ssize_t r = ::recv(fd, tmp, sizeof tmp, 0);
    if (r <= 0) return -1;
    buf->append(tmp, static_cast<size_t>(r));
  }
  int status = std::atoi(buf->c_str() + 9);
  size_t cl = 0;
  size_t p = buf->find("Content-Length: ");
  if (p == std::string::npos) p = buf->find("content-length: ");
  if (p != std::string::npos && p < header_end) cl = std::strtoul(buf->c_str() + p + 16, nullptr, 10);
  while (buf->size() < header_end + 4 + cl) {
    ssize_t r = ::recv(fd, tmp, sizeof tmp, 0);
    if (r <= 0) return -1;
    buf->append(tmp, static_cast<size_t>(r));
  }
  return status;
}

double CpuSeconds(long pid) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close = s.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(s.substr(close + 2));
  std::string f;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::stoull(f);
    if (i == 15) stime = std::stoull(f);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--port") o.port = std::atoi(v.c_str());
    else if (k == "--key") o.key = v;
    else if (k == "--connections") o.connections = std::atoi(v.c_str());
    else if (k == "--seconds") o.seconds = std::atof(v.c_str());
    else if (k == "--traces-per-request") o.traces_per_request = std::atoi(v.c_str());
    else if (k == "--pid") o.pid = std::atol(v.c_str());
    else if (k == "--rate") o.rate = std::atof(v.c_str());
    else if (k == "--unique-users") o.unique_users = std::atoi(v.c_str()) != 0;
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  if (o.key.empty()) {
    std::fprintf(stderr,
                 "usage: otlp_load --key INGEST_KEY [--port 4318] [--connections 4] "
                 "[--seconds 10] [--traces-per-request 50] [--pid SERVER_PID] "
                 "[--rate REQUESTS_PER_S] [--unique-users 0|1]\n");
    return 2;
  }
  const Template tmpl = MakeTemplate(o.traces_per_request);
  std::atomic<uint64_t> next_request{static_cast<uint64_t>(std::time(nullptr)) << 24};
  std::atomic<uint64_t> ok{0}, failed{0};
  std::atomic<bool> stop{false};

  double cpu0 = CpuSeconds(o.pid);
  auto t0 = std::chrono::steady_clock::now();
  // Paced mode: request n is due at t0 + n / rate; a fresh template (current
  // timestamps; with unique users, the next users) every second.
  std::atomic<uint64_t> next_slot{0};
  std::mutex fresh_mu;
  std::shared_ptr<const Template> fresh = std::make_shared<Template>(tmpl);
  int64_t fresh_second = 0;
  int64_t users_from = 0;
  auto paced_template = [&](uint64_t slot) -> std::shared_ptr<const Template> {
    const auto due = t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(static_cast<double>(slot) / o.rate));
    std::this_thread::sleep_until(due);
    std::lock_guard<std::mutex> lock(fresh_mu);
    const auto second =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - t0)
            .count();
    if (o.unique_users || second != fresh_second) {
      fresh = std::make_shared<Template>(
          MakeTemplate(o.traces_per_request, o.unique_users ? users_from : -1));
      users_from += o.traces_per_request;
      fresh_second = second;
    }
    return fresh;
  };
  std::vector<std::thread> threads;
  for (int c = 0; c < o.connections; ++c) {
    threads.emplace_back([&] {
      int fd = Connect(o.port);
      std::string body = tmpl.body, response;
      std::string head = "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         "Content-Type: application/x-protobuf\r\nAuthorization: Bearer " +
                         o.key + "\r\nContent-Length: " + std::to_string(body.size()) +
                         "\r\n\r\n";
      std::shared_ptr<const Template> current;
      while (!stop.load(std::memory_order_relaxed)) {
        if (o.rate > 0) {
          auto t = paced_template(next_slot.fetch_add(1));
          if (stop.load(std::memory_order_relaxed)) break;
          if (t != current) {
            current = std::move(t);
            body = current->body;
            head = "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Content-Type: application/x-protobuf\r\nAuthorization: Bearer " +
                   o.key + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
          }
        }
        const Template& tp = current ? *current : tmpl;
        uint64_t req = next_request.fetch_add(1);
        for (size_t off : tp.trace_id_offsets) {
          for (int b = 0; b < 8; ++b) body[off + b] = static_cast<char>(req >> (56 - 8 * b));
        }
        if (!SendAll(fd, head.data(), head.size()) || !SendAll(fd, body.data(), body.size())) {
          failed++;
          ::close(fd);
          fd = Connect(o.port);
          continue;
        }
        int status = ReadResponse(fd, &response);
        if (status == 200) {
          ok++;
        } else {
          failed++;
          if (status < 0) {
            ::close(fd);
            fd = Connect(o.port);
          }
        }
      }
      ::close(fd);
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  stop = true;
  for (auto& t : threads) t.join();
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double cpu = CpuSeconds(o.pid) - cpu0;
  double spans = static_cast<double>(ok.load()) * tmpl.spans;
  std::printf("requests_ok=%llu requests_failed=%llu spans=%.0f wall_s=%.2f spans_per_s=%.0f",
              static_cast<unsigned long long>(ok.load()),
              static_cast<unsigned long long>(failed.load()), spans, wall, spans / wall);
  if (o.pid > 0) {
    std::printf(" server_cpu_s=%.2f spans_per_server_cpu_s=%.0f", cpu, cpu > 0 ? spans / cpu : 0);
  }
  std::printf(" body_bytes=%zu spans_per_request=%d\n", tmpl.body.size(), tmpl.spans);
  return failed.load() == 0 ? 0 : 1;
}
