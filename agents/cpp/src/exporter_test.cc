// The exporter against a fake server that answers errors, is down, or hangs:
// bounded retries, counted drops, and an application thread that never waits.

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>

#include "agent_internal.h"
#include "testing/agent_test_util.h"

namespace loupe {
namespace {

using testing::FakeHttpServer;
using testing::FakeRequest;
using testing::FakeResponse;
using testing::TestOptions;

void Finish(Agent& agent, int n, const char* endpoint = "GET /x") {
  for (int i = 0; i < n; ++i) {
    Transaction tx(agent, endpoint);
    Step s = Step::Sql("mysql", "SELECT 1");
  }
}

TEST(Exporter, RetriesOn503ThenSucceeds) {
  FakeHttpServer server;
  std::atomic<int> calls{0};
  server.SetHandler([&](const FakeRequest& r) {
    FakeResponse resp;
    if (r.path() == "/v1/traces" && calls.fetch_add(1) < 2) resp.status = 503;
    return resp;
  });
  Agent agent(TestOptions(server.url()));
  Finish(agent, 5);
  ASSERT_TRUE(FakeHttpServer::WaitFor([&] { return agent.stats().exported == 5; }));
  const AgentStats s = agent.stats();
  EXPECT_EQ(s.export_retries, 2u);
  EXPECT_EQ(s.dropped_export, 0u);
  EXPECT_EQ(server.CountTo("/v1/traces"), 3u);
}

TEST(Exporter, HonoursRetryAfterOn429) {
  FakeHttpServer server;
  std::mutex mu;
  std::vector<std::chrono::steady_clock::time_point> times;
  server.SetHandler([&](const FakeRequest& r) {
    FakeResponse resp;
    std::lock_guard<std::mutex> l(mu);
    times.push_back(std::chrono::steady_clock::now());
    if (times.size() == 1) {
      resp.status = 429;
      resp.headers.emplace_back("Retry-After", "1");
    }
    return resp;
  });
  Agent agent(TestOptions(server.url()));  // back-off alone would be ~10 ms
  Finish(agent, 1);
  ASSERT_TRUE(FakeHttpServer::WaitFor([&] { return agent.stats().exported == 1; }));
  std::lock_guard<std::mutex> l(mu);
  ASSERT_EQ(times.size(), 2u);
  // A correctness check of Retry-After (a lower bound), not a speed budget.
  EXPECT_GE(times[1] - times[0], std::chrono::milliseconds(950));
  EXPECT_EQ(agent.stats().export_retries, 1u);
}

TEST(Exporter, GivesUpAfterMaxAttempts) {
  FakeHttpServer server;
  server.SetHandler([](const FakeRequest&) {
    FakeResponse r;
    r.status = 503;
    return r;
  });
  AgentOptions o = TestOptions(server.url());
  o.max_export_attempts = 3;
  Agent agent(o);
  Finish(agent, 4);
  ASSERT_TRUE(FakeHttpServer::WaitFor([&] { return agent.stats().dropped_export == 4; }));
  EXPECT_EQ(server.CountTo("/v1/traces"), 3u);
  EXPECT_EQ(agent.stats().export_retries, 2u);
  EXPECT_EQ(agent.stats().exported, 0u);
}

TEST(Exporter, DropsAtOnceOnOtherClientErrors) {
  FakeHttpServer server;
  server.SetHandler([](const FakeRequest&) {
    FakeResponse r;
    r.status = 400;
    return r;
  });
  Agent agent(TestOptions(server.url()));
  Finish(agent, 3);
  ASSERT_TRUE(FakeHttpServer::WaitFor([&] { return agent.stats().dropped_export == 3; }));
  EXPECT_EQ(server.CountTo("/v1/traces"), 1u);
  EXPECT_EQ(agent.stats().export_retries, 0u);
}

TEST(Exporter, ServerDownDropsAfterRetriesAndStaysBounded) {
  AgentOptions o = TestOptions("http://127.0.0.1:" + std::to_string(FakeHttpServer::ClosedPort()));
  o.queue_capacity = 16;
  o.max_batch = 4;
  o.max_export_attempts = 2;
  Agent agent(o);
  for (int round = 0; round < 20; ++round) {
    Finish(agent, 10);
    EXPECT_LE(agent.impl()->queue.SizeApprox(), 16u);
  }
  ASSERT_TRUE(FakeHttpServer::WaitFor([&] {
    const AgentStats s = agent.stats();
    return s.dropped_export + s.dropped_queue_full == 200;
  }));
  const AgentStats s = agent.stats();
  EXPECT_EQ(s.transactions, 200u);
  EXPECT_EQ(s.exported, 0u);
  EXPECT_GT(s.dropped_export, 0u);
  EXPECT_GT(s.export_retries, 0u);
}

TEST(Exporter, HangingServerNeverBlocksTheApplicationAndQueueStaysBounded) {
  FakeHttpServer server;
  server.SetHandler([](const FakeRequest&) {
    FakeResponse r;
    r.hang = true;
    return r;
  });
  AgentOptions o = TestOptions(server.url());
  o.queue_capacity = 32;
  o.max_batch = 8;
  o.request_timeout_ms = 60000;  // the exporter stays stuck in its first request
  Agent agent(o);
  Finish(agent, 1);
  ASSERT_TRUE(FakeHttpServer::WaitFor([&] { return server.CountTo("/v1/traces") == 1; }));
  // The exporter is blocked on the server; the application keeps going.
  Finish(agent, 5000);
  const AgentStats s = agent.stats();
  EXPECT_EQ(s.transactions, 5001u);
  EXPECT_LE(agent.impl()->queue.SizeApprox(), 32u);
  EXPECT_EQ(s.dropped_queue_full, 5000u - 32u);
  // Shutdown gives up at its deadline and cancels the hung request.
  agent.Shutdown(100);
  const AgentStats after = agent.stats();
  EXPECT_EQ(after.exported, 0u);
  server.Stop();
}

TEST(Exporter, BurstStaysWithinQueueBytesAndCountsDrops) {
  FakeHttpServer server;
  server.SetHandler([](const FakeRequest&) {
    FakeResponse r;
    r.hang = true;
    return r;
  });
  AgentOptions o = TestOptions(server.url());
  o.queue_capacity = 100000;  // the bytes bind first
  o.queue_bytes = 64 << 10;
  o.max_batch = 8;
  o.request_timeout_ms = 60000;
  Agent agent(o);
  Finish(agent, 1);
  ASSERT_TRUE(FakeHttpServer::WaitFor([&] { return server.CountTo("/v1/traces") == 1; }));
  // A burst with the exporter stuck: the queue fills to its bytes and drops
  // the rest, and counts each drop.
  Finish(agent, 5000, "GET /orders/{id}/items/{item}");
  const size_t held = agent.impl()->queue.SizeApprox();
  const size_t bytes = agent.impl()->queue.BytesApprox();
  EXPECT_LE(bytes, o.queue_bytes);
  EXPECT_GT(bytes, o.queue_bytes * 9 / 10);
  EXPECT_GT(held, 100u);
  EXPECT_LT(held, 1000u);
  const AgentStats s = agent.stats();
  EXPECT_EQ(s.transactions, 5001u);
  EXPECT_EQ(s.dropped_queue_full, 5000u - held);
  // The queued transactions hold no State: one thread's transactions went
  // through one pooled State.
  EXPECT_EQ(agent.impl()->queue.capacity(), o.queue_bytes);
  EXPECT_EQ(agent.impl()->pool.SizeApprox(), 1u);
  agent.Shutdown(100);
  server.Stop();
}

TEST(Exporter, SlowServerTimesOutAndCounts) {
  FakeHttpServer server;
  server.SetHandler([](const FakeRequest&) {
    FakeResponse r;
    r.hang = true;
    return r;
  });
  AgentOptions o = TestOptions(server.url());
  o.request_timeout_ms = 100;
  o.max_export_attempts = 2;
  Agent agent(o);
  Finish(agent, 3);
  ASSERT_TRUE(FakeHttpServer::WaitFor([&] { return agent.stats().dropped_export == 3; }));
  EXPECT_EQ(server.CountTo("/v1/traces"), 2u);
  EXPECT_EQ(agent.stats().export_retries, 1u);
  agent.Shutdown(0);
  server.Stop();
}

TEST(Exporter, ShutdownFlushesWhatIsQueued) {
  FakeHttpServer server;
  AgentOptions o = TestOptions(server.url());
  o.flush_interval_ms = 60000;  // only Shutdown flushes
  o.max_batch = 1000;
  Agent agent(o);
  Finish(agent, 50);
  EXPECT_EQ(agent.stats().exported, 0u);
  agent.Shutdown(5000);
  EXPECT_EQ(agent.stats().exported, 50u);
  // No work after shutdown.
  Finish(agent, 5);
  EXPECT_EQ(agent.stats().transactions, 50u);
}

TEST(Exporter, FullBatchWakesTheExporterBeforeTheFlushInterval) {
  FakeHttpServer server;
  AgentOptions o = TestOptions(server.url());
  o.flush_interval_ms = 600000;
  o.max_batch = 10;
  Agent agent(o);
  Finish(agent, 10);
  EXPECT_TRUE(FakeHttpServer::WaitFor([&] { return agent.stats().exported == 10; }));
  agent.Shutdown(0);
}

}  // namespace
}  // namespace loupe
