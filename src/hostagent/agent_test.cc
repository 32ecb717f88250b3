#include "hostagent/agent.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "hostagent/agent_command.h"
#include "wire/otlp_metrics_proto.h"

namespace loupe::hostagent {
namespace {

const std::string kRoot = LOUPE_SOURCE_DIR "/tests/fixtures/hostagent/v2";
constexpr uint64_t kT0 = 1'700'000'000'000'000'000;
constexpr uint64_t kSecond = 1'000'000'000;

// Records what it is given; answers with `next` (OK by default).
struct FakeTransport : Transport {
  Status SendMetrics(std::string_view body) override {
    ++attempts;
    if (next.ok()) bodies.emplace_back(body);
    return next;
  }
  Status next;
  int attempts = 0;
  std::vector<std::string> bodies;
};

AgentOptions FixtureOptions() {
  AgentOptions o;
  o.collector.root = kRoot;
  o.collector.clock_ticks = 100;
  o.collector.page_size = 4096;
  o.collector.statvfs = [](const std::string&, struct statvfs* st) {
    *st = {};
    st->f_frsize = 4096;
    st->f_blocks = 10;
    return 0;
  };
  o.interval_seconds = 5;
  return o;
}

TEST(Agent, EachTickSendsOneRequestThatDecodes) {
  auto transport = std::make_unique<FakeTransport>();
  FakeTransport* t = transport.get();
  Agent agent(FixtureOptions(), std::move(transport));
  EXPECT_EQ(agent.host().name, "fixture-host");
  ASSERT_TRUE(agent.Tick(kT0).ok());
  ASSERT_TRUE(agent.Tick(kT0 + 5 * kSecond).ok());
  ASSERT_EQ(t->bodies.size(), 2u);
  EXPECT_EQ(agent.stats().sent, 2u);
  model::MetricBatch b;
  ASSERT_TRUE(wire::DecodeMetricsProto(t->bodies[1], wire::DecodeLimits{}, &b).ok());
  ASSERT_FALSE(b.resources.empty());
  const model::KeyValue* id = b.Find(b.resources[0].attrs, "host.id");
  ASSERT_NE(id, nullptr);
  EXPECT_EQ(id->value.s, "0123456789abcdef0123456789abcdef");
  bool utilization = false;
  for (const model::Metric& m : b.metrics) utilization |= m.name == "system.cpu.utilization";
  EXPECT_FALSE(utilization);  // the fixture's /proc/stat does not move: no CPU time passed
}

TEST(Agent, BuffersWhileTheServerIsDownAndSendsOldestFirstWhenItIsBack) {
  auto transport = std::make_unique<FakeTransport>();
  FakeTransport* t = transport.get();
  Agent agent(FixtureOptions(), std::move(transport));
  t->next = Status::Unavailable("connection refused");
  uint64_t now = kT0;
  for (int i = 0; i < 4; ++i, now += 5 * kSecond) ASSERT_TRUE(agent.Tick(now).ok());
  EXPECT_EQ(agent.stats().buffered, 4u);
  EXPECT_EQ(agent.stats().sent, 0u);
  // Backoff: attempts at ticks 0, 1 (5 s), 3 (10 s later), not at 2.
  EXPECT_EQ(t->attempts, 3);
  t->next = Status::OK();
  // Ticks until the backoff (20 s after the third attempt) allows a send.
  for (int i = 0; i < 4 && agent.stats().buffered > 0; ++i, now += 5 * kSecond) {
    ASSERT_TRUE(agent.Tick(now).ok());
  }
  EXPECT_EQ(agent.stats().buffered, 0u);
  EXPECT_GE(agent.stats().sent, 5u);
  EXPECT_EQ(agent.stats().dropped_full, 0u);
  // Oldest first: the points' times grow along the bodies.
  uint64_t last = 0;
  for (const std::string& body : t->bodies) {
    model::MetricBatch b;
    ASSERT_TRUE(wire::DecodeMetricsProto(body, wire::DecodeLimits{}, &b).ok());
    EXPECT_GT(b.points[0].time_unix_nano, last);
    last = b.points[0].time_unix_nano;
  }
}

TEST(Agent, AFullBufferDropsTheOldestRequestAndCountsIt) {
  auto transport = std::make_unique<FakeTransport>();
  FakeTransport* t = transport.get();
  AgentOptions o = FixtureOptions();
  o.max_buffer_bytes = 1;  // room for the newest request only
  Agent agent(o, std::move(transport));
  t->next = Status::Unavailable("down");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(agent.Tick(kT0 + i * 5 * kSecond).ok());
  EXPECT_EQ(agent.stats().buffered, 1u);
  EXPECT_EQ(agent.stats().dropped_full, 2u);
}

TEST(Agent, ARequestTheServerRefusesIsDroppedNotRetried) {
  auto transport = std::make_unique<FakeTransport>();
  FakeTransport* t = transport.get();
  Agent agent(FixtureOptions(), std::move(transport));
  t->next = Status::Unauthenticated("HTTP 401");
  ASSERT_TRUE(agent.Tick(kT0).ok());
  EXPECT_EQ(agent.stats().dropped_refused, 1u);
  EXPECT_EQ(agent.stats().buffered, 0u);
  EXPECT_EQ(t->attempts, 1);
}

TEST(Agent, AWrongRootFailsTheTick) {
  AgentOptions o = FixtureOptions();
  o.collector.root = "/nonexistent-root";
  Agent agent(o, std::make_unique<FakeTransport>());
  EXPECT_EQ(agent.Tick(kT0).code(), Status::Code::kIoError);
}

TEST(ParseAgentConfig, FlagsWinOverTheEnvironment) {
  bool help = false;
  auto c =
      ParseAgentConfig({"--server", "http://h:4318", "--interval-seconds=10", "--root", "/host"},
                       {{"LOUPE_AGENT_KEY", "k1"},
                        {"LOUPE_AGENT_SERVER", "http://env"},
                        {"LOUPE_AGENT_TOP_PROCESSES", "3"}},
                       &help);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->http.server, "http://h:4318");
  EXPECT_EQ(c->http.key, "k1");
  EXPECT_EQ(c->agent.interval_seconds, 10);
  EXPECT_EQ(c->agent.collector.top_processes, 3);
  EXPECT_EQ(c->agent.collector.root, "/host");
  EXPECT_TRUE(c->agent.collector.command_lines);
  EXPECT_FALSE(help);
  c = ParseAgentConfig({"--command-lines", "off"}, {}, &help);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->agent.collector.command_lines);
}

TEST(ParseAgentConfig, BadValuesNameTheFlag) {
  bool help = false;
  for (std::vector<std::string> args : {std::vector<std::string>{"--interval-seconds", "0"},
                                        {"--server", "ftp://x"},
                                        {"--nope", "1"},
                                        {"--top-processes", "x"},
                                        {"--key"},
                                        {"--command-lines", "yes"}}) {
    auto c = ParseAgentConfig(args, {}, &help);
    EXPECT_EQ(c.status().code(), Status::Code::kInvalidArgument) << args[0];
  }
  ParseAgentConfig({"--help"}, {}, &help);
  EXPECT_TRUE(help);
}

}  // namespace
}  // namespace loupe::hostagent
