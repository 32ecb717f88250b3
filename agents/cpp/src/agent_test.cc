// Transactions and steps on the application thread, checked through what the
// agent exports (decoded with an independent protobuf reader).

#include <gtest/gtest.h>

#include <thread>

#include "agent_internal.h"
#include "testing/agent_test_util.h"

namespace loupe {
namespace {

using testing::DecodedSpan;
using testing::ExportedSpans;
using testing::FakeHttpServer;
using testing::FindSpan;
using testing::TestOptions;

TEST(Transaction, CurrentIsPerThreadAndNests) {
  FakeHttpServer server;
  Agent agent(TestOptions(server.url()));
  EXPECT_EQ(Transaction::Current(), nullptr);
  {
    Transaction outer(agent, "GET /a");
    EXPECT_EQ(Transaction::Current(), &outer);
    {
      Transaction inner(agent, "job");
      EXPECT_EQ(Transaction::Current(), &inner);
      std::thread([&] { EXPECT_EQ(Transaction::Current(), nullptr); }).join();
    }
    EXPECT_EQ(Transaction::Current(), &outer);
    outer.End();
    EXPECT_EQ(Transaction::Current(), nullptr);
  }
  EXPECT_EQ(Transaction::Current(), nullptr);
  agent.Shutdown();
  EXPECT_EQ(agent.stats().transactions, 2u);
  EXPECT_EQ(agent.stats().exported, 2u);
}

TEST(Transaction, StepsNestAndExportAsChildSpans) {
  FakeHttpServer server;
  Agent agent(TestOptions(server.url()));
  std::string ext_traceparent, ext_step_traceparent, tx_traceparent;
  {
    Transaction tx(agent, "GET /orders/{id}");
    tx.SetHttp("GET", "/orders/17");
    tx.SetClientIp("10.0.0.5");
    tx.SetUser("u-17");
    tx.SetAttribute("tenant", "acme");
    tx.SetStatus(200);
    tx_traceparent = tx.Traceparent();
    {
      Step m = Step::Method("orders::Load");
      {
        Step sql = Step::Sql("postgresql", "SELECT * FROM orders WHERE id = ?");
        sql.Bind("17").Bind("x").Rows(3, 1.5);
        Step::Message("cache miss");
      }
      Step ext = Step::External("GET", "http://stock/api/17");
      ext_traceparent = tx.Traceparent();
      ext_step_traceparent = ext.Traceparent();
      ext.HttpStatus(200);
    }
  }
  agent.Shutdown();
  testing::DecodedRequest req;
  std::vector<DecodedSpan> spans = ExportedSpans(server, &req);
  ASSERT_EQ(spans.size(), 4u);
  EXPECT_EQ(req.resource["service.name"].s, "orders");
  EXPECT_EQ(req.resource["service.instance.id"].s, "orders-1");
  EXPECT_EQ(req.resource["telemetry.sdk.name"].s, "loupe-cpp");
  EXPECT_FALSE(req.resource["host.name"].s.empty());

  const DecodedSpan* tx = FindSpan(spans, "GET /orders/{id}");
  const DecodedSpan* m = FindSpan(spans, "orders::Load");
  const DecodedSpan* sql = FindSpan(spans, "SELECT");
  const DecodedSpan* ext = FindSpan(spans, "GET");
  ASSERT_TRUE(tx && m && sql && ext);
  EXPECT_EQ(tx->kind, 2);  // SERVER
  EXPECT_TRUE(tx->parent_span_id.empty());
  EXPECT_EQ(tx->attrs.at("http.request.method").s, "GET");
  EXPECT_EQ(tx->attrs.at("http.route").s, "/orders/{id}");
  EXPECT_EQ(tx->attrs.at("url.path").s, "/orders/17");
  EXPECT_EQ(tx->attrs.at("http.response.status_code").i, 200);
  EXPECT_EQ(tx->attrs.at("client.address").s, "10.0.0.5");
  EXPECT_EQ(tx->attrs.at("user.id").s, "u-17");
  EXPECT_EQ(tx->attrs.at("tenant").s, "acme");
  EXPECT_EQ(tx->status_code, 0);
  EXPECT_GE(tx->end_ns, tx->start_ns);

  EXPECT_EQ(m->kind, 1);  // INTERNAL
  EXPECT_EQ(m->attrs.at("code.function").s, "orders::Load");
  EXPECT_EQ(m->parent_span_id, tx->span_id);
  EXPECT_EQ(sql->kind, 3);  // CLIENT
  EXPECT_EQ(sql->parent_span_id, m->span_id);
  EXPECT_EQ(sql->attrs.at("db.system").s, "postgresql");
  EXPECT_EQ(sql->attrs.at("db.query.text").s, "SELECT * FROM orders WHERE id = ?");
  EXPECT_EQ(sql->attrs.at("loupe.sql.binds").array, (std::vector<std::string>{"17", "x"}));
  EXPECT_EQ(sql->attrs.at("loupe.sql.rows").i, 3);
  EXPECT_DOUBLE_EQ(sql->attrs.at("loupe.sql.fetch_ms").d, 1.5);
  ASSERT_EQ(sql->events.size(), 1u);
  EXPECT_EQ(sql->events[0].name, "message");
  EXPECT_EQ(sql->events[0].attrs.at("message").s, "cache miss");
  EXPECT_EQ(ext->kind, 3);
  EXPECT_EQ(ext->parent_span_id, m->span_id);
  EXPECT_EQ(ext->attrs.at("url.full").s, "http://stock/api/17");
  EXPECT_EQ(ext->attrs.at("http.response.status_code").i, 200);
  for (const auto& s : spans) EXPECT_EQ(s.trace_id, tx->trace_id);

  // The outgoing traceparent names the external step's span.
  TraceContext c;
  ASSERT_TRUE(ParseTraceparent(ext_traceparent, &c));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(c.span_id), 8), ext->span_id);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(c.trace_id), 16), tx->trace_id);
  EXPECT_EQ(ext_step_traceparent, ext_traceparent);
  ASSERT_TRUE(ParseTraceparent(tx_traceparent, &c));
  EXPECT_EQ(std::string(reinterpret_cast<char*>(c.span_id), 8), tx->span_id);

  const auto h = server.RequestsTo("/v1/traces").at(0).headers;
  EXPECT_EQ(h.at("authorization"), "Bearer k3y");
  EXPECT_EQ(h.at("content-type"), "application/x-protobuf");
}

TEST(Transaction, BindsStayWithTheirSteps) {
  FakeHttpServer server;
  Agent agent(TestOptions(server.url()));
  {
    Transaction tx(agent, "POST /orders");
    Step::Sql("mysql", "SELECT 1 FROM a WHERE x = ? AND y = ?").Bind("1").Bind("two");
    Step::Sql("mysql", "UPDATE b SET z = 0");
    Step::Sql("mysql", "DELETE FROM c WHERE id = ?").Bind("");
  }
  agent.Shutdown();
  std::vector<DecodedSpan> spans = ExportedSpans(server);
  const DecodedSpan* select = FindSpan(spans, "SELECT");
  const DecodedSpan* update = FindSpan(spans, "UPDATE");
  const DecodedSpan* del = FindSpan(spans, "DELETE");
  ASSERT_TRUE(select && update && del);
  EXPECT_EQ(select->attrs.at("loupe.sql.binds").array, (std::vector<std::string>{"1", "two"}));
  EXPECT_EQ(update->attrs.count("loupe.sql.binds"), 0u);
  EXPECT_EQ(del->attrs.at("loupe.sql.binds").array, (std::vector<std::string>{""}));
  EXPECT_EQ(del->attrs.at("db.query.text").s, "DELETE FROM c WHERE id = ?");
}

TEST(Transaction, IncomingTraceparentLinksTheTrace) {
  FakeHttpServer server;
  Agent agent(TestOptions(server.url()));
  TraceContext parent;
  ASSERT_TRUE(ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &parent));
  { Transaction tx(agent, "GET /x", &parent); }
  agent.Shutdown();
  auto spans = ExportedSpans(server);
  ASSERT_EQ(spans.size(), 1u);
  EXPECT_EQ(spans[0].trace_id, std::string(reinterpret_cast<char*>(parent.trace_id), 16));
  EXPECT_EQ(spans[0].parent_span_id, std::string(reinterpret_cast<char*>(parent.span_id), 8));
  EXPECT_EQ(spans[0].flags, 0x301u);  // sampled, parent is remote
}

TEST(Transaction, ErrorsBecomeExceptionEventsAndErrorStatus) {
  FakeHttpServer server;
  Agent agent(TestOptions(server.url()));
  {
    Transaction tx(agent, "POST /pay");
    Step s = Step::External("POST", "http://bank/charge");
    s.HttpStatus(502).Error("bank down");
    s.End();
    tx.SetError("std::runtime_error", "charge failed", "#0 pay()\n#1 main()");
    tx.SetStatus(500);
  }
  agent.Shutdown();
  auto spans = ExportedSpans(server);
  ASSERT_EQ(spans.size(), 2u);
  const DecodedSpan* tx = FindSpan(spans, "POST /pay");
  const DecodedSpan* ext = FindSpan(spans, "POST");
  ASSERT_TRUE(tx && ext);
  EXPECT_EQ(tx->status_code, 2);
  EXPECT_EQ(tx->status_message, "charge failed");
  ASSERT_EQ(tx->events.size(), 1u);
  EXPECT_EQ(tx->events[0].name, "exception");
  EXPECT_EQ(tx->events[0].attrs.at("exception.type").s, "std::runtime_error");
  EXPECT_EQ(tx->events[0].attrs.at("exception.stacktrace").s, "#0 pay()\n#1 main()");
  EXPECT_EQ(ext->status_code, 2);
  EXPECT_EQ(ext->events.at(0).attrs.at("exception.message").s, "bank down");
}

TEST(Transaction, MaxStepsKeepsFirstAndCountsTheRest) {
  FakeHttpServer server;
  AgentOptions o = TestOptions(server.url());
  o.max_steps = 3;
  Agent agent(o);
  {
    Transaction tx(agent, "GET /many");
    for (int i = 0; i < 5; ++i) Step::Method("m" + std::to_string(i));
  }
  agent.Shutdown();
  auto spans = ExportedSpans(server);
  ASSERT_EQ(spans.size(), 4u);
  EXPECT_NE(FindSpan(spans, "m2"), nullptr);
  EXPECT_EQ(FindSpan(spans, "m3"), nullptr);
  EXPECT_EQ(FindSpan(spans, "GET /many")->attrs.at("loupe.steps.dropped").i, 2);
  EXPECT_EQ(agent.stats().steps_truncated, 2u);
}

TEST(Transaction, MaxTextCutsLongTexts) {
  FakeHttpServer server;
  AgentOptions o = TestOptions(server.url());
  o.max_text = 10;
  Agent agent(o);
  {
    Transaction tx(agent, "GET /a-very-long-endpoint");
    Step s = Step::Sql("mysql", "SELECT aaaaaaaaaaaaaaaaaaaa");
    s.Bind(std::string(100, 'b'));
  }
  agent.Shutdown();
  auto spans = ExportedSpans(server);
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_EQ(spans[0].name, "GET /a-ver");
  const DecodedSpan* sql = FindSpan(spans, "SELECT");
  ASSERT_NE(sql, nullptr);
  EXPECT_EQ(sql->attrs.at("db.query.text").s, "SELECT aaa");
  EXPECT_EQ(sql->attrs.at("loupe.sql.binds").array[0], std::string(10, 'b'));
}

TEST(Step, WithoutTransactionIsNoop) {
  Step s = Step::Sql("mysql", "SELECT 1");
  s.Bind("1").Rows(1);
  EXPECT_TRUE(s.Traceparent().empty());
  Step::Message("nothing");
  Step m = Step::Method({});
  m.End();
}

TEST(Step, EndedOutOfOrderKeepsStackConsistent) {
  FakeHttpServer server;
  Agent agent(TestOptions(server.url()));
  {
    Transaction tx(agent, "GET /x");
    Step a = Step::Method("a");
    Step b = Step::Method("b");
    a.End();  // outer first
    Step c = Step::Method("c");
    b.End();
    c.End();
    Step d = Step::Method("d");  // back at the transaction level
  }
  agent.Shutdown();
  auto spans = ExportedSpans(server);
  const DecodedSpan* tx = FindSpan(spans, "GET /x");
  ASSERT_TRUE(tx && FindSpan(spans, "c") && FindSpan(spans, "d"));
  EXPECT_EQ(FindSpan(spans, "c")->parent_span_id, FindSpan(spans, "b")->span_id);
  EXPECT_EQ(FindSpan(spans, "d")->parent_span_id, tx->span_id);
}

TEST(Agent, DisabledIsNoop) {
  FakeHttpServer server;
  AgentOptions o = TestOptions(server.url());
  o.enabled = false;
  Agent agent(o);
  {
    Transaction tx(agent, "GET /x");
    EXPECT_EQ(Transaction::Current(), nullptr);
    Step s = Step::Method("m");
    EXPECT_TRUE(tx.Traceparent().empty());
  }
  static Agent::Probe probe("anything");
  EXPECT_FALSE(probe.enabled(agent));
  agent.Shutdown();
  EXPECT_EQ(agent.stats().transactions, 0u);
  EXPECT_EQ(server.Requests().size(), 0u);
}

TEST(Agent, ProbeIsOffWithoutProfilingConfig) {
  FakeHttpServer server;
  Agent agent(TestOptions(server.url()));
  {
    Transaction tx(agent, "GET /x");
    LOUPE_METHOD(agent, "orders::Load");
  }
  agent.Shutdown();
  auto spans = ExportedSpans(server);
  ASSERT_EQ(spans.size(), 1u);  // the transaction only
}

TEST(Agent, BatchesAtMostMaxBatch) {
  FakeHttpServer server;
  AgentOptions o = TestOptions(server.url());
  o.max_batch = 10;
  Agent agent(o);
  for (int i = 0; i < 35; ++i) Transaction tx(agent, "GET /b");
  agent.Shutdown();
  size_t spans = 0;
  const auto reqs = server.RequestsTo("/v1/traces");
  EXPECT_GE(reqs.size(), 4u);
  for (const auto& r : reqs) {
    testing::DecodedRequest d;
    ASSERT_TRUE(testing::DecodeRequest(r.body, &d));
    EXPECT_LE(d.spans.size(), 10u);
    spans += d.spans.size();
  }
  EXPECT_EQ(spans, 35u);
  EXPECT_EQ(agent.stats().exported, 35u);
}

}  // namespace
}  // namespace loupe
