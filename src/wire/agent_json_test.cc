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

namespace loupe::wire {
namespace {

TEST(CrashJson, DecodesAReport) {
  std::string body = R"J({"service":"php-fpm","instance":"web-1","pid":4242,"time_ms":1763700123456.5,
    "signal":"SIGSEGV","signal_number":11,"address":"0x0","endpoint":"GET /cart",
    "tx_id":"00000000000abc12","message":"in zend_execute",
    "frames":["0x7f01 zend_execute+0x12 (php-fpm)","0x7f02 main+0x40 (php-fpm)"],"extra":1})J";
  model::CrashReport c;
  ASSERT_TRUE(DecodeCrashReportJson(&body, AgentLimits{}, &c).ok());
  EXPECT_EQ(c.service, "php-fpm");
  EXPECT_EQ(c.instance, "web-1");
  EXPECT_EQ(c.pid, 4242);
  EXPECT_EQ(c.time_us, 1763700123456500);
  EXPECT_EQ(c.signal, "SIGSEGV");
  EXPECT_EQ(c.signal_number, 11);
  EXPECT_EQ(c.address, "0x0");
  EXPECT_EQ(c.endpoint, "GET /cart");
  EXPECT_EQ(c.tx_id, 0xabc12u);
  EXPECT_EQ(c.message, "in zend_execute");
  ASSERT_EQ(c.frames.size(), 2u);
  EXPECT_EQ(c.frames[1], "0x7f02 main+0x40 (php-fpm)");
}

TEST(CrashJson, RefusesBadReportsNamingTheField) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"instance":"i","time_ms":1,"signal":"SIGABRT"})", "service"},
      {R"({"service":"s","time_ms":1,"signal":"SIGABRT"})", "instance"},
      {R"({"service":"s","instance":"i","signal":"SIGABRT"})", "time_ms"},
      {R"({"service":"s","instance":"i","time_ms":1})", "signal"},
      {R"({"service":"s","instance":"i","time_ms":-5,"signal":"X"})", "time_ms"},
      {R"({"service":"s","instance":"i","time_ms":1,"signal_number":-1})", "signal_number"},
      {R"({"service":"s","instance":"i","time_ms":1,"signal":"X","tx_id":"xyz"})", "tx_id"},
      {R"({"service":"s","instance":"i","time_ms":1,"signal":"X","frames":"main"})", "frames"},
      {R"({"service":"s","instance":"i","time_ms":1,"signal":"X","frames":[1]})", "frames[0]"},
      {R"([1,2])", "(root)"},
      {R"({"service":)", "JSON"},
  };
  for (const auto& [text, field] : cases) {
    std::string body = text;
    model::CrashReport c;
    Status s = DecodeCrashReportJson(&body, AgentLimits{}, &c);
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << text;
    EXPECT_NE(s.message().find(field), std::string::npos) << text << " → " << s.message();
  }
  std::string many = R"({"service":"s","instance":"i","time_ms":1,"signal":"X","frames":[)";
  for (int i = 0; i < 129; ++i) many += (i ? ",\"f\"" : "\"f\"");
  many += "]}";
  model::CrashReport c;
  Status s = DecodeCrashReportJson(&many, AgentLimits{}, &c);
  EXPECT_NE(s.message().find("at most 128 frames"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace loupe::wire
