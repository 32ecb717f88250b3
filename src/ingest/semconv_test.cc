#include "ingest/semconv.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace loupe::ingest {
namespace {

using model::AttrValue;
using model::SpanKind;
using model::StepKind;

// --- A tiny SpanBatch builder (tests must not depend on wire/ decoders). ---

struct TA {  // test attribute
  std::string key;
  AttrValue::Type type = AttrValue::Type::kString;
  std::string s;
  int64_t i = 0;
  double d = 0;
};
TA S(std::string k, std::string v) {
  return {std::move(k), AttrValue::Type::kString, std::move(v)};
}
TA I(std::string k, int64_t v) { return {std::move(k), AttrValue::Type::kInt, "", v}; }
TA D(std::string k, double v) { return {std::move(k), AttrValue::Type::kDouble, "", 0, v}; }
TA Bytes(std::string k, std::string v) {
  return {std::move(k), AttrValue::Type::kBytes, std::move(v)};
}

struct TE {  // test event
  std::string name;
  uint64_t time_ns = 0;
  std::vector<TA> attrs;
};

constexpr uint64_t kT0ns = 1'700'000'000'000'000'000ULL;

class TestBatch {
 public:
  model::SpanBatch b;

  TestBatch() = default;
  TestBatch(const TestBatch&) = delete;  // the batch holds views into its own arena

  model::AttrRange Attrs(const std::vector<TA>& attrs) {
    model::AttrRange r{static_cast<uint32_t>(b.attrs.size()), static_cast<uint32_t>(attrs.size())};
    for (const TA& a : attrs) {
      model::KeyValue kv;
      kv.key = b.Own(a.key);
      kv.value.type = a.type;
      kv.value.i = a.i;
      kv.value.d = a.d;
      if (!a.s.empty()) kv.value.s = b.Own(a.s);
      b.attrs.push_back(kv);
    }
    return r;
  }
  // Returns the index of the new span.
  size_t Span(SpanKind kind, std::string name, std::vector<TA> attrs, std::vector<TE> events = {}) {
    model::Span s;
    s.trace_id[0] = 1;
    s.span_id = b.spans.size() + 1;
    s.parent_span_id = 0;
    s.kind = kind;
    s.name = b.Own(std::move(name));
    s.start_unix_nano = kT0ns;
    s.end_unix_nano = kT0ns + 5'000'000;  // 5 ms
    s.attrs = Attrs(attrs);
    s.events_begin = static_cast<uint32_t>(b.events.size());
    for (const TE& e : events) {
      model::SpanEvent ev;
      ev.name = b.Own(e.name);
      ev.time_unix_nano = e.time_ns;
      ev.attrs = Attrs(e.attrs);
      b.events.push_back(ev);
    }
    s.events_count = static_cast<uint32_t>(events.size());
    b.spans.push_back(s);
    return b.spans.size() - 1;
  }
  model::Span& operator[](size_t i) { return b.spans[i]; }
  SpanRef Ref(size_t i) const { return SpanRef::In(b, b.spans[i]); }
};

model::Transaction Tx(const TestBatch& tb, size_t i, MappingStats* stats = nullptr) {
  MappingStats local;
  model::Transaction tx;
  MapTransaction(tb.Ref(i), MappingLimits{}, &tx, stats ? stats : &local);
  return tx;
}

model::Step StepOf(const TestBatch& tb, size_t i, MappingStats* stats = nullptr,
                   MappingLimits limits = {}) {
  MappingStats local;
  model::Step st;
  MapStep(tb.Ref(i), limits, &st, stats ? stats : &local);
  return st;
}

bool SameStep(const model::Step& a, const model::Step& b) {
  return a.kind == b.kind && a.name == b.name && a.sql == b.sql && a.db_system == b.db_system &&
         a.binds == b.binds && a.rows == b.rows && a.url == b.url && a.host == b.host &&
         a.http_status == b.http_status && a.error == b.error && a.message == b.message &&
         a.start_us == b.start_us && a.elapsed_us == b.elapsed_us;
}

// --- Resource ---------------------------------------------------------------

ResourceInfo Resource(const std::vector<TA>& attrs) {
  TestBatch tb;
  model::AttrRange r = tb.Attrs(attrs);
  MappingStats stats;
  return MapResource({tb.b.attrs.data() + r.begin, r.count}, MappingLimits{}, &stats);
}

TEST(SemconvResource, UsesServiceInstanceIdAndSdk) {
  ResourceInfo r = Resource(
      {S("service.name", "shop"), S("service.instance.id", "shop-1"), S("host.name", "web01"),
       I("process.pid", 42), S("telemetry.sdk.language", "nodejs"),
       S("telemetry.sdk.name", "opentelemetry"), S("telemetry.sdk.version", "1.26.0")});
  EXPECT_EQ(r.service, "shop");
  EXPECT_EQ(r.instance, "shop-1");
  EXPECT_EQ(r.host, "web01");
  EXPECT_EQ(r.kind, "nodejs");
  EXPECT_EQ(r.sdk, "opentelemetry 1.26.0");
}

TEST(SemconvResource, InstanceFallsBackToHostPidThenHostThenService) {
  EXPECT_EQ(Resource({S("service.name", "a"), S("host.name", "h"), I("process.pid", 7)}).instance,
            "h:7");
  EXPECT_EQ(Resource({S("service.name", "a"), S("host.name", "h")}).instance, "h");
  EXPECT_EQ(Resource({S("service.name", "a")}).instance, "a");
  ResourceInfo none = Resource({});
  EXPECT_EQ(none.service, "unknown_service");
  EXPECT_EQ(none.instance, "unknown_service");
  EXPECT_EQ(none.sdk, "");
}

// --- Transactions -------------------------------------------------------------

TEST(SemconvTransaction, EndpointIsMethodAndRoute) {
  TestBatch tb;
  size_t i = tb.Span(
      SpanKind::kServer, "GET /api/posts/:id",
      {S("http.request.method", "GET"), S("http.route", "/api/posts/:id"),
       S("url.path", "/api/posts/12"), S("url.query", "a=1"), I("http.response.status_code", 200),
       S("client.address", "10.0.0.9"), S("enduser.id", "alice")});
  model::Transaction tx = Tx(tb, i);
  EXPECT_EQ(tx.http_method, "GET");
  EXPECT_EQ(tx.endpoint, "GET /api/posts/:id");
  EXPECT_EQ(tx.url, "/api/posts/12?a=1");
  EXPECT_EQ(tx.status, 200);
  EXPECT_EQ(tx.client_ip, "10.0.0.9");
  EXPECT_EQ(tx.user, "alice");
  EXPECT_FALSE(tx.error);
  EXPECT_EQ(tx.error_type, "");
  EXPECT_EQ(tx.start_us, static_cast<int64_t>(kT0ns / 1000));
  EXPECT_EQ(tx.elapsed_us(), 5000);
  EXPECT_EQ(tx.span_id, tb[i].span_id);
}

TEST(SemconvTransaction, EndpointFallsBackToNormalizedPathThenSpanName) {
  TestBatch tb;
  size_t a = tb.Span(SpanKind::kServer, "GET",
                     {S("http.method", "POST"), S("http.target", "/orders/991/items?x=1")});
  size_t b = tb.Span(SpanKind::kServer, "GET",
                     {S("http.method", "GET"), S("http.url", "https://h:8080/u/42#frag")});
  size_t c = tb.Span(SpanKind::kConsumer, "orders process", {S("messaging.system", "kafka")});
  size_t d = tb.Span(SpanKind::kServer, "x", {S("url.path", "/no/method/7")});
  EXPECT_EQ(Tx(tb, a).endpoint, "POST /orders/{id}/items");
  EXPECT_EQ(Tx(tb, a).url, "/orders/991/items?x=1");
  EXPECT_EQ(Tx(tb, b).endpoint, "GET /u/{id}");
  EXPECT_EQ(Tx(tb, b).url, "https://h:8080/u/42#frag");
  EXPECT_EQ(Tx(tb, c).endpoint, "orders process");
  EXPECT_EQ(Tx(tb, c).url, "");
  EXPECT_EQ(Tx(tb, d).endpoint, "/no/method/{id}");
}

TEST(SemconvTransaction, StatusMayBeIntOrString) {
  TestBatch tb;
  size_t a = tb.Span(SpanKind::kServer, "s", {S("http.status_code", "404")});
  size_t b = tb.Span(SpanKind::kServer, "s", {D("http.response.status_code", 201.0)});
  size_t c = tb.Span(SpanKind::kServer, "s", {S("http.status_code", "abc")});
  EXPECT_EQ(Tx(tb, a).status, 404);
  EXPECT_EQ(Tx(tb, b).status, 201);
  EXPECT_EQ(Tx(tb, c).status, 0);
}

TEST(SemconvTransaction, ClientIpAndUserFallbacks) {
  const char* keys[] = {"client.address", "http.client_ip", "net.peer.ip", "net.sock.peer.addr",
                        "network.peer.address"};
  for (const char* k : keys) {
    TestBatch tb;
    size_t i = tb.Span(SpanKind::kServer, "s", {S(k, "192.0.2.1"), S("user.id", "bob")});
    model::Transaction tx = Tx(tb, i);
    EXPECT_EQ(tx.client_ip, "192.0.2.1") << k;
    EXPECT_EQ(tx.user, "bob");
  }
  TestBatch tb;
  size_t i = tb.Span(SpanKind::kServer, "s",
                     {S("network.peer.address", "10.1.1.1"), S("client.address", "192.0.2.1")});
  EXPECT_EQ(Tx(tb, i).client_ip, "192.0.2.1");  // the newer, more precise name wins
}

TEST(SemconvTransaction, ErrorTypeFromExceptionThenHttpStatusThenStatusMessage) {
  TestBatch tb;
  size_t exc = tb.Span(
      SpanKind::kServer, "s", {I("http.response.status_code", 500)},
      {{"exception",
        kT0ns + 1000,
        {S("exception.type", "java.io.IOException"), S("exception.message", "broken pipe")}},
       {"exception", kT0ns + 2000, {S("exception.type", "Second")}}});
  size_t http = tb.Span(SpanKind::kServer, "s", {I("http.response.status_code", 503)});
  size_t msg = tb.Span(SpanKind::kServer, "s", {});
  tb[msg].status = model::SpanStatus::kError;
  tb[msg].status_message = "deadline exceeded";
  size_t bare = tb.Span(SpanKind::kServer, "s", {});
  tb[bare].status = model::SpanStatus::kError;
  size_t ok4xx = tb.Span(SpanKind::kServer, "s", {I("http.response.status_code", 404)});

  EXPECT_TRUE(Tx(tb, exc).error);
  EXPECT_EQ(Tx(tb, exc).error_type, "java.io.IOException");
  EXPECT_TRUE(Tx(tb, http).error);
  EXPECT_EQ(Tx(tb, http).error_type, "HTTP 503");
  EXPECT_EQ(Tx(tb, msg).error_type, "deadline exceeded");
  EXPECT_EQ(Tx(tb, bare).error_type, "error");
  EXPECT_FALSE(Tx(tb, ok4xx).error);
}

TEST(SemconvTransaction, OldAndNewAttributeNamesGiveIdenticalTransactions) {
  TestBatch tb;
  size_t old_names = tb.Span(
      SpanKind::kServer, "GET",
      {S("http.method", "GET"), S("http.target", "/api/items/77?sort=asc"),
       I("http.status_code", 502), S("net.peer.ip", "198.51.100.4"), S("enduser.id", "u1")});
  size_t new_names = tb.Span(SpanKind::kServer, "GET",
                             {S("http.request.method", "GET"), S("url.path", "/api/items/77"),
                              S("url.query", "sort=asc"), I("http.response.status_code", 502),
                              S("client.address", "198.51.100.4"), S("user.id", "u1")});
  model::Transaction a = Tx(tb, old_names), b = Tx(tb, new_names);
  EXPECT_EQ(a.endpoint, "GET /api/items/{id}");
  EXPECT_EQ(a.endpoint, b.endpoint);
  EXPECT_EQ(a.http_method, b.http_method);
  EXPECT_EQ(a.url, b.url);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.error, b.error);
  EXPECT_EQ(a.error_type, b.error_type);
  EXPECT_EQ(a.client_ip, b.client_ip);
  EXPECT_EQ(a.user, b.user);
}

// --- Steps --------------------------------------------------------------------

TEST(SemconvStep, SqlStepTakesStatementSystemRowsAndOrderedBinds) {
  TestBatch tb;
  size_t i =
      tb.Span(SpanKind::kClient, "SELECT shop.users",
              {S("db.system", "postgresql"), S("db.statement", "SELECT * FROM users WHERE id = $1"),
               I("db.rows_affected", 3), S("db.query.parameter.10", "ten"),
               S("db.query.parameter.2", "two"), S("db.query.parameter.name", "n"),
               I("db.query.parameter.1", 1), S("server.address", "db1"), S("db.name", "shop")});
  model::Step st = StepOf(tb, i);
  EXPECT_EQ(st.kind, StepKind::kSql);
  EXPECT_EQ(st.sql, "SELECT * FROM users WHERE id = $1");
  EXPECT_EQ(st.db_system, "postgresql");
  EXPECT_EQ(st.rows, 3);
  EXPECT_EQ(st.binds, (std::vector<std::string>{"1", "two", "ten", "n"}));
  EXPECT_EQ(st.host, "db1");
  EXPECT_EQ(st.name, "SELECT shop.users");
  EXPECT_EQ(st.elapsed_us, 5000);
  ASSERT_EQ(st.attributes.size(), 1u);  // db.name; mapped keys and binds are not repeated
  EXPECT_EQ(st.attributes[0].first, "db.name");
  EXPECT_EQ(st.attributes[0].second, "shop");
}

TEST(SemconvStep, SqlStepTakesTheLoupeAgentsBindArrayAndRows) {
  TestBatch tb;
  TA binds{"loupe.sql.binds", AttrValue::Type::kArray, R"(["76", "a\"b\\c", 5, "\u0041\u00e9"])"};
  size_t i = tb.Span(SpanKind::kClient, "SELECT",
                     {S("db.system", "sqlite"), S("db.statement", "SELECT * FROM t WHERE id = ?"),
                      binds, I("loupe.sql.rows", 4)});
  model::Step st = StepOf(tb, i);
  EXPECT_EQ(st.binds, (std::vector<std::string>{"76", "a\"b\\c", "5", "A?"}));
  EXPECT_EQ(st.rows, 4);
  // Standard db.query.parameter.<n> keys win over the agent's array.
  TestBatch tb2;
  size_t j = tb2.Span(SpanKind::kClient, "SELECT",
                      {S("db.statement", "SELECT 1"), binds, S("db.query.parameter.0", "std")});
  EXPECT_EQ(StepOf(tb2, j).binds, (std::vector<std::string>{"std"}));
}

TEST(SemconvStep, SqlStepFromNewNamesMatchesOldNames) {
  TestBatch tb;
  size_t old_names = tb.Span(SpanKind::kClient, "q",
                             {S("db.system", "mysql"), S("db.statement", "SELECT 1"),
                              I("db.row_count", 1), S("net.peer.name", "db")});
  size_t new_names = tb.Span(SpanKind::kClient, "q",
                             {S("db.system.name", "mysql"), S("db.query.text", "SELECT 1"),
                              I("db.response.returned_rows", 1), S("server.address", "db")});
  EXPECT_TRUE(SameStep(StepOf(tb, old_names), StepOf(tb, new_names)));
  EXPECT_EQ(StepOf(tb, new_names).rows, 1);
}

TEST(SemconvStep, SqlWithoutTextFallsBackToOperation) {
  TestBatch tb;
  size_t i =
      tb.Span(SpanKind::kClient, "redis", {S("db.system", "redis"), S("db.operation", "GET")});
  model::Step st = StepOf(tb, i);
  EXPECT_EQ(st.kind, StepKind::kSql);
  EXPECT_EQ(st.sql, "GET");
  EXPECT_EQ(st.rows, -1);
}

TEST(SemconvStep, ExternalStepUrlHostAndStatus) {
  TestBatch tb;
  size_t full =
      tb.Span(SpanKind::kClient, "GET",
              {S("http.request.method", "GET"), S("url.full", "https://api.example.com/v1/x?y=1"),
               S("server.address", "api.example.com"), I("http.response.status_code", 502)});
  size_t built = tb.Span(
      SpanKind::kClient, "GET",
      {S("http.method", "GET"), S("net.peer.name", "svc-b"), I("net.peer.port", 8080),
       S("http.target", "/items/3?z=2"), S("http.scheme", "http"), I("http.status_code", 200)});
  size_t rpc = tb.Span(
      SpanKind::kClient, "grpc",
      {S("rpc.system", "grpc"), S("rpc.service", "shop.Cart"), S("rpc.method", "Add"),
       S("server.address", "cart"), I("server.port", 50051), I("rpc.grpc.status_code", 14)});
  model::Step a = StepOf(tb, full);
  EXPECT_EQ(a.kind, StepKind::kExternal);
  EXPECT_EQ(a.url, "https://api.example.com/v1/x?y=1");
  EXPECT_EQ(a.host, "api.example.com");
  EXPECT_EQ(a.http_status, 502);
  EXPECT_TRUE(a.error);  // >= 500 on an external call
  model::Step b = StepOf(tb, built);
  EXPECT_EQ(b.url, "http://svc-b:8080/items/3?z=2");
  EXPECT_EQ(b.host, "svc-b");
  EXPECT_EQ(b.http_status, 200);
  EXPECT_FALSE(b.error);
  model::Step c = StepOf(tb, rpc);
  EXPECT_EQ(c.kind, StepKind::kExternal);
  EXPECT_EQ(c.url, "cart:50051/shop.Cart/Add");
  EXPECT_EQ(c.http_status, 14);
  ASSERT_EQ(c.attributes.size(), 1u);
  EXPECT_EQ(c.attributes[0].first, "rpc.system");
}

TEST(SemconvStep, ExternalFromNewNamesMatchesOldNames) {
  TestBatch tb;
  size_t old_names = tb.Span(SpanKind::kClient, "GET",
                             {S("http.method", "GET"), S("http.url", "http://b/x"),
                              S("net.peer.name", "b"), I("http.status_code", 404)});
  size_t new_names = tb.Span(SpanKind::kClient, "GET",
                             {S("http.request.method", "GET"), S("url.full", "http://b/x"),
                              S("server.address", "b"), I("http.response.status_code", 404)});
  EXPECT_TRUE(SameStep(StepOf(tb, old_names), StepOf(tb, new_names)));
}

TEST(SemconvStep, KindsForMessagesAndMethods) {
  TestBatch tb;
  size_t producer = tb.Span(SpanKind::kProducer, "orders publish", {});
  size_t consumer = tb.Span(SpanKind::kConsumer, "orders process", {});
  size_t client_msg = tb.Span(SpanKind::kClient, "receive", {S("messaging.system", "rabbitmq")});
  size_t internal = tb.Span(SpanKind::kInternal, "render", {S("code.function", "render")});
  size_t unspecified = tb.Span(SpanKind::kUnspecified, "work", {});
  EXPECT_EQ(StepOf(tb, producer).kind, StepKind::kMessage);
  EXPECT_EQ(StepOf(tb, consumer).kind, StepKind::kMessage);
  EXPECT_EQ(StepOf(tb, client_msg).kind, StepKind::kMessage);
  // messaging.system picks the kind but stays visible.
  ASSERT_EQ(StepOf(tb, client_msg).attributes.size(), 1u);
  EXPECT_EQ(StepOf(tb, internal).kind, StepKind::kMethod);
  EXPECT_EQ(StepOf(tb, unspecified).kind, StepKind::kMethod);
}

TEST(SemconvStep, ErrorFromStatusCarriesMessage) {
  TestBatch tb;
  size_t i = tb.Span(SpanKind::kInternal, "m", {});
  tb[i].status = model::SpanStatus::kError;
  tb[i].status_message = "boom";
  model::Step st = StepOf(tb, i);
  EXPECT_TRUE(st.error);
  EXPECT_EQ(st.message, "boom");
}

TEST(SemconvStep, KeepsAtMostSixteenOtherAttributesEachCappedAt1KiB) {
  std::vector<TA> attrs;
  for (int i = 0; i < 20; ++i) attrs.push_back(S("custom." + std::to_string(i), "v"));
  attrs.push_back(S("custom.big", std::string(3000, 'x')));
  TestBatch tb;
  size_t i = tb.Span(SpanKind::kInternal, "m", attrs);
  MappingStats stats;
  model::Step st = StepOf(tb, i, &stats);
  EXPECT_EQ(st.attributes.size(), 16u);
  EXPECT_EQ(st.attributes[0].first, "custom.0");

  TestBatch tb2;
  size_t j = tb2.Span(
      SpanKind::kInternal, "m",
      {S("custom.big", std::string(3000, 'x')), Bytes("bin", "\x01\xff"), I("n", -5), D("f", 1.5)});
  MappingStats stats2;
  model::Step st2 = StepOf(tb2, j, &stats2);
  ASSERT_EQ(st2.attributes.size(), 4u);
  EXPECT_EQ(st2.attributes[0].second.size(), 1024u);
  EXPECT_EQ(st2.attributes[1].second, "01ff");
  EXPECT_EQ(st2.attributes[2].second, "-5");
  EXPECT_EQ(st2.attributes[3].second, "1.5");
  EXPECT_EQ(stats2.truncated, 1u);
}

TEST(SemconvStep, SqlCappedAt16KiBOtherStringsAt2KiBAtUtf8Boundaries) {
  std::string sql = "SELECT '";
  while (sql.size() < 20000) sql += "\xE2\x82\xAC";  // "€", 3 bytes
  TestBatch tb;
  size_t i = tb.Span(SpanKind::kClient, std::string(5000, 'n'),
                     {S("db.system", "postgresql"), S("db.query.text", sql)});
  MappingStats stats;
  model::Step st = StepOf(tb, i, &stats);
  EXPECT_LE(st.sql.size(), 16u * 1024);
  EXPECT_GE(st.sql.size(), 16u * 1024 - 3);
  // Ends with a whole "€".
  EXPECT_EQ(st.sql.substr(st.sql.size() - 3), "\xE2\x82\xAC");
  EXPECT_EQ(st.name.size(), 2048u);
  EXPECT_EQ(stats.truncated, 2u);
}

TEST(SemconvStep, ExceptionEventsBecomeErrorSteps) {
  TestBatch tb;
  size_t i = tb.Span(SpanKind::kInternal, "m", {},
                     {{"log", kT0ns + 10, {S("message", "hi")}},
                      {"exception",
                       kT0ns + 2'000'000,
                       {S("exception.type", "ValueError"), S("exception.message", "bad"),
                        S("exception.stacktrace", "Traceback...")}},
                      {"exception", 0, {}}});
  std::vector<model::Step> steps;
  MappingStats stats;
  EXPECT_EQ(AppendErrorSteps(tb.Ref(i), MappingLimits{}, &steps, &stats), 2u);
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_EQ(steps[0].kind, StepKind::kError);
  EXPECT_TRUE(steps[0].error);
  EXPECT_EQ(steps[0].name, "ValueError");
  EXPECT_EQ(steps[0].message, "bad");
  EXPECT_EQ(steps[0].stack, "Traceback...");
  EXPECT_EQ(steps[0].span_id, 0u);
  EXPECT_EQ(steps[0].parent_span_id, tb[i].span_id);
  EXPECT_EQ(steps[0].start_us, static_cast<int64_t>((kT0ns + 2'000'000) / 1000));
  EXPECT_EQ(steps[0].elapsed_us, 0);
  EXPECT_EQ(steps[1].name, "exception");  // no type given
  EXPECT_EQ(steps[1].start_us, static_cast<int64_t>(tb[i].end_unix_nano / 1000));
}

TEST(SemconvStep, EndBeforeStartClampsElapsedToZero) {
  TestBatch tb;
  size_t i = tb.Span(SpanKind::kInternal, "m", {});
  tb[i].start_unix_nano = tb[i].end_unix_nano + 1'000'000;
  int64_t start, end;
  EXPECT_TRUE(SpanTimesUs(tb[i], &start, &end));
  EXPECT_EQ(start, end);
  EXPECT_EQ(StepOf(tb, i).elapsed_us, 0);
  tb[i].start_unix_nano = 0;
  EXPECT_TRUE(SpanTimesUs(tb[i], &start, &end));
  EXPECT_EQ(StepOf(tb, i).elapsed_us, 0);
}

TEST(SemconvLookup, FindsEveryMappedKeyAndNothingElse) {
  const std::pair<const char*, Attr> known[] = {
      {"http.request.method", Attr::kHttpRequestMethod},
      {"http.method", Attr::kHttpMethod},
      {"http.route", Attr::kHttpRoute},
      {"url.full", Attr::kUrlFull},
      {"http.url", Attr::kHttpUrl},
      {"url.path", Attr::kUrlPath},
      {"url.query", Attr::kUrlQuery},
      {"http.target", Attr::kHttpTarget},
      {"url.scheme", Attr::kUrlScheme},
      {"http.scheme", Attr::kHttpScheme},
      {"http.host", Attr::kHttpHost},
      {"http.response.status_code", Attr::kHttpResponseStatusCode},
      {"http.status_code", Attr::kHttpStatusCode},
      {"rpc.grpc.status_code", Attr::kRpcGrpcStatusCode},
      {"client.address", Attr::kClientAddress},
      {"http.client_ip", Attr::kHttpClientIp},
      {"net.peer.ip", Attr::kNetPeerIp},
      {"net.sock.peer.addr", Attr::kNetSockPeerAddr},
      {"network.peer.address", Attr::kNetworkPeerAddress},
      {"enduser.id", Attr::kEnduserId},
      {"user.id", Attr::kUserId},
      {"db.system", Attr::kDbSystem},
      {"db.system.name", Attr::kDbSystemName},
      {"db.statement", Attr::kDbStatement},
      {"db.query.text", Attr::kDbQueryText},
      {"db.operation.name", Attr::kDbOperationName},
      {"db.operation", Attr::kDbOperation},
      {"db.response.returned_rows", Attr::kDbResponseReturnedRows},
      {"db.rows_affected", Attr::kDbRowsAffected},
      {"db.row_count", Attr::kDbRowCount},
      {"loupe.sql.binds", Attr::kLoupeSqlBinds},
      {"loupe.sql.rows", Attr::kLoupeSqlRows},
      {"server.address", Attr::kServerAddress},
      {"server.port", Attr::kServerPort},
      {"net.peer.name", Attr::kNetPeerName},
      {"net.peer.port", Attr::kNetPeerPort},
      {"rpc.service", Attr::kRpcService},
      {"rpc.method", Attr::kRpcMethod},
      {"messaging.system", Attr::kMessagingSystem},
  };
  static_assert(std::size(known) == static_cast<size_t>(Attr::kCount) - 1);
  for (const auto& [key, attr] : known) {
    EXPECT_EQ(LookupAttr(key), attr) << key;
    std::string k = key;
    k.back() ^= 1;  // same length and bucket neighbourhood, different key
    EXPECT_EQ(LookupAttr(k), Attr::kNone) << k;
    EXPECT_EQ(LookupAttr(std::string(key) + "x"), Attr::kNone) << key;
  }
}

TEST(SemconvLookup, KnowsOldAndNewNames) {
  EXPECT_EQ(LookupAttr("http.method"), Attr::kHttpMethod);
  EXPECT_EQ(LookupAttr("http.request.method"), Attr::kHttpRequestMethod);
  EXPECT_EQ(LookupAttr("db.query.text"), Attr::kDbQueryText);
  EXPECT_EQ(LookupAttr("thread.name"), Attr::kNone);
  EXPECT_EQ(LookupAttr(""), Attr::kNone);
}

TEST(SemconvAppendCapped, NeverSplitsUtf8) {
  std::string s = "a\xC3\xA9";  // "aé"
  for (size_t max = 0; max <= s.size(); ++max) {
    std::string out;
    MappingStats stats;
    bool whole = AppendCapped(s, max, &out, &stats);
    EXPECT_EQ(whole, max >= 3);
    EXPECT_EQ(out, max >= 3 ? s : max >= 1 ? "a" : "") << max;
  }
}

}  // namespace
}  // namespace loupe::ingest
