#include "wire/agent_json.h"

#include <gtest/gtest.h>

#include <string>

namespace loupe::wire {
namespace {

Status Decode(std::string body, model::ActiveSnapshot* out, AgentLimits limits = {}) {
  return DecodeActiveSnapshotJson(&body, limits, out);
}

TEST(AgentJson, DecodesTheProtocolExample) {
  model::ActiveSnapshot s;
  Status st = Decode(R"({
    "service": "orders", "instance": "orders-1", "host": "web-3", "pid": 4242,
    "agent": "loupe-cpp/0.1", "started_ms": 1763700000000, "time_ms": 1763700123000,
    "active": [{"id": "00f067aa0ba902b7", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
      "endpoint": "GET /orders/{id}", "start_ms": 1763700119500, "elapsed_ms": 3500.2,
      "thread": "140213", "step": "SQL SELECT 1", "step_kind": "sql", "user": "u-17",
      "client_ip": "10.0.0.5", "future_field": [1, 2]}],
    "stacks": [{"time_ms": 1763700122500, "tx_id": "00f067aa0ba902b7",
      "endpoint": "GET /orders/{id}", "elapsed_ms": 3000.1,
      "frames": ["GET /orders/{id}", "method orders::Load", "sql SELECT"]}],
    "throttled": [{"time_ms": 1763700122900, "endpoint": "POST /checkout", "action": "reject",
      "active": 51, "limit": 50, "count": 12}],
    "counters": {"transactions": 120345, "exported": 120300, "dropped": 0, "throttled": 12}})",
                     &s);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(s.service, "orders");
  EXPECT_EQ(s.pid, 4242);
  EXPECT_EQ(s.started_us, 1763700000000'000);
  EXPECT_EQ(s.time_us, 1763700123000'000);
  ASSERT_EQ(s.active.size(), 1u);
  EXPECT_EQ(s.active[0].elapsed_us, 3500200);
  EXPECT_EQ(s.active[0].step_kind, "sql");
  EXPECT_EQ(s.active[0].client_ip, "10.0.0.5");
  ASSERT_EQ(s.stacks.size(), 1u);
  EXPECT_EQ(s.stacks[0].frames.size(), 3u);
  EXPECT_EQ(s.stacks[0].frames[1], "method orders::Load");
  ASSERT_EQ(s.throttled.size(), 1u);
  EXPECT_EQ(s.throttled[0].count, 12);
  EXPECT_EQ(s.counters.exported, 120300);
  EXPECT_EQ(s.truncated_strings, 0u);
}

TEST(AgentJson, RequiresServiceInstanceAndTime) {
  model::ActiveSnapshot s;
  EXPECT_NE(Decode(R"({"instance":"i","time_ms":1})", &s).message().find("service"),
            std::string::npos);
  EXPECT_NE(Decode(R"({"service":"s","time_ms":1})", &s).message().find("instance"),
            std::string::npos);
  EXPECT_NE(Decode(R"({"service":"s","instance":"i"})", &s).message().find("time_ms"),
            std::string::npos);
  EXPECT_TRUE(Decode(R"({"service":"s","instance":"i","time_ms":0})", &s).ok());
}

TEST(AgentJson, RejectsBadInputWithTheFieldPath) {
  model::ActiveSnapshot s;
  const char* bad[] = {
      "",
      "[]",
      "{\"service\":",
      R"({"service":1,"instance":"i","time_ms":1})",
      R"({"service":"s","instance":"i","time_ms":-1})",
      R"({"service":"s","instance":"i","time_ms":"1"})",
      R"({"service":"s","instance":"i","time_ms":1e300})",
      R"({"service":"s","instance":"i","time_ms":1,"active":{}})",
      R"({"service":"s","instance":"i","time_ms":1,"active":[1]})",
      R"({"service":"s","instance":"i","time_ms":1,"stacks":[{"frames":[1]}]})",
      R"({"service":"s","instance":"i","time_ms":1,"throttled":[{"count":-3}]})",
      R"({"service":"s","instance":"i","time_ms":1,"counters":{"dropped":1.5}})",
  };
  for (const char* b : bad) {
    Status st = Decode(b, &s);
    EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << b;
  }
  Status st =
      Decode(R"({"service":"s","instance":"i","time_ms":1,"active":[{},{"elapsed_ms":-2}]})", &s);
  EXPECT_NE(st.message().find("active[1].elapsed_ms"), std::string::npos) << st.message();
  std::string nul = R"({"service":"s","instance":"i","time_ms":1})";
  nul[3] = '\0';
  EXPECT_NE(Decode(nul, &s).message().find("NUL"), std::string::npos);
  EXPECT_NE(Decode("{\"service\":\"\xff\"}", &s).message().find("UTF-8"), std::string::npos);
}

TEST(AgentJson, EnforcesCountLimits) {
  AgentLimits limits;
  limits.max_active = 2;
  limits.max_stacks = 1;
  limits.max_frames = 2;
  limits.max_throttled = 1;
  model::ActiveSnapshot s;
  const std::string head = R"({"service":"s","instance":"i","time_ms":1,)";
  EXPECT_TRUE(Decode(head + R"("active":[{},{}]})", &s, limits).ok());
  Status st = Decode(head + R"("active":[{},{},{}]})", &s, limits);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("3 entries exceed the limit of 2"), std::string::npos);
  EXPECT_FALSE(Decode(head + R"("stacks":[{},{}]})", &s, limits).ok());
  EXPECT_FALSE(Decode(head + R"("stacks":[{"frames":["a","b","c"]}]})", &s, limits).ok());
  EXPECT_TRUE(Decode(head + R"("stacks":[{"frames":["a","b"]}]})", &s, limits).ok());
  EXPECT_FALSE(Decode(head + R"("throttled":[{},{}]})", &s, limits).ok());
}

TEST(AgentJson, CutsLongStringsAtACharacterBoundary) {
  AgentLimits limits;
  limits.max_string_bytes = 5;
  model::ActiveSnapshot s;
  // "abcd" + "é" (2 bytes) = 6 bytes: cut to "abcd", not inside the é.
  Status st = Decode(
      "{\"service\":\"abcd\xc3\xa9\",\"instance\":\"i\",\"time_ms\":1,"
      "\"stacks\":[{\"frames\":[\"0123456789\"]}]}",
      &s, limits);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(s.service, "abcd");
  EXPECT_EQ(s.stacks[0].frames[0], "01234");
  EXPECT_EQ(s.truncated_strings, 2u);
}

TEST(AgentJson, NullMeansAbsentAndFractionsRound) {
  model::ActiveSnapshot s;
  ASSERT_TRUE(Decode(R"({"service":"s","instance":"i","time_ms":1.0004,"host":null,
                         "active":null,"started_ms":null,"counters":null})",
                     &s)
                  .ok());
  EXPECT_EQ(s.time_us, 1000);
  EXPECT_EQ(s.host, "");
  EXPECT_EQ(s.started_us, 0);
}

}  // namespace
}  // namespace loupe::wire
