// Decoding speed of OTLP trace export requests (wire/): protobuf, JSON and
// gzip, on a realistic request of 512 spans with about 10 attributes each.
//
//   build/wire_decode_benchmark --benchmark_counters_tabular=true
//
// items_per_second is spans per second on one core.
#include <benchmark/benchmark.h>
#include <zlib.h>

#include <random>
#include <string>
#include <vector>

#include "model/span.h"
#include "testing/otlp_builder.h"
#include "wire/gzip.h"
#include "wire/otlp_json.h"
#include "wire/otlp_proto.h"

namespace loupe {
namespace {

using testing::Attr;
using testing::SpanSpec;

constexpr int kSpans = 512;
constexpr uint64_t kStart = 1'700'000'000'000'000'000;

std::vector<testing::ResourceSpec> RealisticRequest() {
  std::mt19937_64 rng(42);
  const char* routes[] = {"/api/users/{id}", "/api/orders", "/api/cart/{id}/items", "/health",
                          "/api/search"};
  const char* methods[] = {"GET", "GET", "GET", "POST", "PUT"};
  std::vector<SpanSpec> spans;
  uint64_t trace_hi = rng(), trace_lo = rng(), root = 0;
  for (int i = 0; i < kSpans; ++i) {
    SpanSpec s;
    if (i % 8 == 0) {  // a new trace every 8 spans: one server span, 7 children
      trace_hi = rng();
      trace_lo = rng();
      root = rng() | 1;
    }
    s.trace_id = testing::TraceIdBytes(trace_hi, trace_lo);
    s.start_time_unix_nano = kStart + static_cast<uint64_t>(i) * 1'000'000;
    s.end_time_unix_nano = s.start_time_unix_nano + 200'000 + rng() % 50'000'000;
    int r = static_cast<int>(rng() % 5);
    if (i % 8 == 0) {
      s.span_id = testing::SpanIdBytes(root);
      s.kind = 2;
      s.name = std::string(methods[r]) + " " + routes[r];
      s.attributes = {
          {"http.request.method", methods[r]},
          {"http.route", routes[r]},
          {"url.path", "/api/users/" + std::to_string(rng() % 100000)},
          {"url.scheme", "https"},
          {"http.response.status_code", 200},
          {"server.address", "shop.example.com"},
          {"server.port", 443},
          {"client.address", "10.1.2." + std::to_string(rng() % 255)},
          {"user_agent.original",
           "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0"},
          {"network.protocol.version", "1.1"},
          {"enduser.id", "user-" + std::to_string(rng() % 5000)},
      };
    } else {
      s.span_id = testing::SpanIdBytes(rng() | 1);
      s.parent_span_id = testing::SpanIdBytes(root);
      s.kind = i % 2 ? 3 : 1;
      if (i % 2) {
        s.name = "SELECT shop.orders";
        s.attributes = {
            {"db.system", "postgresql"},
            {"db.name", "shop"},
            {"db.statement",
             "SELECT o.id, o.total, o.created_at FROM orders o WHERE o.user_id = $1 ORDER BY "
             "o.created_at DESC LIMIT 20"},
            {"db.operation", "SELECT"},
            {"server.address", "db-primary.internal"},
            {"server.port", 5432},
            {"network.peer.address", "10.0.0.12"},
            {"db.rows", int64_t{20}},
            {"thread.id", int64_t{140}},
            {"code.function", "OrderRepository.findRecent"},
        };
      } else {
        s.name = "render";
        s.attributes = {{"code.function", "Renderer.render"},
                        {"code.namespace", "com.example.shop.web"},
                        {"template", "orders.html"},
                        {"cache.hit", rng() % 2 == 0},
                        {"items", int64_t{20}},
                        {"ratio", 0.75},
                        {"thread.name", "http-nio-8080-exec-7"},
                        {"tags", testing::Value::Array({"web", "render"})},
                        {"thread.id", int64_t{140}},
                        {"locale", "en-US"}};
      }
    }
    if (i % 64 == 7) {
      s.status_code = 2;
      s.status_message = "connection reset";
      s.events = {testing::MakeEvent(
          s.end_time_unix_nano - 1000, "exception",
          {{"exception.type", "java.net.SocketException"},
           {"exception.message", "Connection reset"},
           {"exception.stacktrace",
            "java.net.SocketException: Connection reset\n\tat java.base/sun.nio.ch.NioSocketImpl"
            ".implRead(NioSocketImpl.java:323)\n\tat java.base/java.net.Socket$SocketInputStream"
            ".read(Socket.java:966)"}})};
    }
    spans.push_back(std::move(s));
  }
  return {testing::MakeResource(
      {{"service.name", "shop-web"},
       {"service.version", "2.14.1"},
       {"service.instance.id", "shop-web-7d9f8-x2x9k"},
       {"host.name", "node-17"},
       {"process.pid", 4242},
       {"process.runtime.name", "OpenJDK Runtime Environment"},
       {"telemetry.sdk.name", "opentelemetry"},
       {"telemetry.sdk.language", "java"},
       {"telemetry.sdk.version", "1.32.0"},
       {"deployment.environment", "production"}},
      {testing::MakeScope("io.opentelemetry.tomcat-10.0", std::move(spans))})};
}

std::string Gzip(const std::string& in) {
  z_stream zs{};
  deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, in.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

const std::string& ProtoBody() {
  static const std::string body = testing::EncodeTraceRequest(RealisticRequest());
  return body;
}

const std::string& JsonBody() {
  static const std::string body = testing::EncodeTraceRequestJson(RealisticRequest());
  return body;
}

void Report(benchmark::State& state, size_t body_bytes, size_t decoded_spans) {
  if (decoded_spans != kSpans) state.SkipWithError("decoded the wrong number of spans");
  state.SetItemsProcessed(state.iterations() * kSpans);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(body_bytes));
  state.counters["body_bytes"] = static_cast<double>(body_bytes);
}

// The batch is reused, as a pipeline that clears and refills it would.
void BM_DecodeProto(benchmark::State& state) {
  const std::string& body = ProtoBody();
  model::SpanBatch batch;
  for (auto _ : state) {
    Status st = wire::DecodeTracesProto(body, {}, &batch);
    benchmark::DoNotOptimize(st);
  }
  Report(state, body.size(), batch.spans.size());
}
BENCHMARK(BM_DecodeProto);

void BM_DecodeProtoFreshBatch(benchmark::State& state) {
  const std::string& body = ProtoBody();
  size_t spans = 0;
  for (auto _ : state) {
    model::SpanBatch batch;
    Status st = wire::DecodeTracesProto(body, {}, &batch);
    spans = batch.spans.size();
    benchmark::DoNotOptimize(st);
  }
  Report(state, body.size(), spans);
}
BENCHMARK(BM_DecodeProtoFreshBatch);

// Includes copying the body, since in-situ parsing consumes it.
void BM_DecodeJson(benchmark::State& state) {
  const std::string& body = JsonBody();
  model::SpanBatch batch;
  std::string copy;
  for (auto _ : state) {
    copy = body;
    Status st = wire::DecodeTracesJson(&copy, {}, &batch);
    benchmark::DoNotOptimize(st);
  }
  Report(state, body.size(), batch.spans.size());
}
BENCHMARK(BM_DecodeJson);

void BM_GunzipThenDecodeProto(benchmark::State& state) {
  const std::string gz = Gzip(ProtoBody());
  model::SpanBatch batch;
  std::string body;
  for (auto _ : state) {
    Status st = wire::Gunzip(gz, 20 << 20, &body);
    if (st.ok()) st = wire::DecodeTracesProto(body, {}, &batch);
    benchmark::DoNotOptimize(st);
  }
  Report(state, gz.size(), batch.spans.size());
}
BENCHMARK(BM_GunzipThenDecodeProto);

}  // namespace
}  // namespace loupe

BENCHMARK_MAIN();
