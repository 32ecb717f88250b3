#include "alert/rule.h"

#include <gtest/gtest.h>

#include <string>

namespace loupe::alert {
namespace {

// The minimal contract of issue 12.
constexpr char kIdentityErrors[] =
    R"({"name": "identity errors", "service": "identity", "signal": "error_rate",
        "window_s": 60, "warning": 5, "critical": 10, "channels": [3]})";

std::string ErrorOf(std::string_view json) {
  auto r = ParseRule(json);
  EXPECT_FALSE(r.ok()) << json;
  return r.ok() ? "" : r.status().message();
}

TEST(RuleParse, MinimalContractRuleParses) {
  auto r = ParseRule(kIdentityErrors);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->name, "identity errors");
  EXPECT_EQ(r->service, "identity");
  EXPECT_EQ(r->signal, Signal::kErrorRate);
  EXPECT_EQ(r->window_s, 60);
  EXPECT_EQ(*r->warning, 5);
  EXPECT_EQ(*r->critical, 10);
  EXPECT_EQ(r->channels, std::vector<uint64_t>{3});
  EXPECT_TRUE(r->enabled);
  EXPECT_TRUE(r->send_resolved);
}

TEST(RuleParse, EverySignalNameRoundTrips) {
  for (const char* name : {"tps", "calls", "response_time", "p95", "p99", "error_rate",
                           "error_count", "active", "throttled", "instance_down", "event"}) {
    auto s = ParseSignal(name);
    ASSERT_TRUE(s.has_value()) << name;
    EXPECT_EQ(SignalName(*s), name);
  }
  EXPECT_FALSE(ParseSignal("errors").has_value());
}

TEST(RuleParse, ErrorsNameTheField) {
  EXPECT_EQ(ErrorOf(R"({"signal": "tps", "critical": 1})").rfind("name:", 0), 0u);
  EXPECT_EQ(ErrorOf(R"({"name": "x", "critical": 1})").rfind("signal:", 0), 0u);
  EXPECT_EQ(ErrorOf(R"({"name": "x", "signal": "nope", "critical": 1})").rfind("signal:", 0), 0u);
  EXPECT_EQ(ErrorOf(R"({"name": "x", "signal": "tps"})").rfind("critical:", 0), 0u);
  EXPECT_EQ(ErrorOf(R"({"name": "x", "signal": "tps", "critical": "10"})").rfind("critical:", 0), 0u);
  EXPECT_EQ(ErrorOf(R"({"name": "x", "signal": "tps", "critical": 1, "window_s": 1})")
                .rfind("window_s:", 0), 0u);
  EXPECT_EQ(ErrorOf(R"({"name": "x", "signal": "tps", "critical": 1, "window_s": 60.5})")
                .rfind("window_s:", 0), 0u);
  EXPECT_EQ(ErrorOf(R"({"name": "x", "signal": "tps", "warning": 5, "critical": 1})")
                .rfind("warning:", 0), 0u);
  EXPECT_EQ(ErrorOf(R"({"name": "x", "signal": "error_rate", "critical": 150})")
                .rfind("critical:", 0), 0u);
  EXPECT_EQ(ErrorOf(R"({"name": "x", "signal": "event", "critical": 1})").rfind("event_type:", 0),
            0u);
  EXPECT_EQ(ErrorOf(R"({"name": "x", "signal": "tps", "critical": 1, "endpoint": "/a"})")
                .rfind("endpoint:", 0), 0u);
  EXPECT_EQ(ErrorOf(R"({"name": "x", "signal": "tps", "critical": 1, "channels": [0]})")
                .rfind("channels:", 0), 0u);
  EXPECT_EQ(ErrorOf(R"({"name": "x", "signal": "tps", "critical": 1, "baseline": "monday"})")
                .rfind("baseline:", 0), 0u);
  EXPECT_EQ(ErrorOf(R"({"name": "x", "signal": "tps", "critical": 1, "colour": "red"})")
                .rfind("colour: unknown member", 0), 0u);
  EXPECT_EQ(ErrorOf(R"({"name": "x", "signal": "active", "band": 7, "critical": 1})")
                .rfind("band:", 0), 0u);
  EXPECT_EQ(ErrorOf("[1,2]").rfind("body:", 0), 0u);
  EXPECT_EQ(ErrorOf("{").rfind("body: invalid JSON", 0), 0u);
}

TEST(RuleParse, InvalidUtf8IsRefused) {
  std::string json = R"({"name": "bad )" + std::string("\xC3\x28") +
                     R"(", "signal": "tps", "critical": 1})";
  EXPECT_EQ(ErrorOf(json).rfind("body: invalid JSON", 0), 0u);
}

TEST(RuleParse, ControlCharactersInNamesAreRefused) {
  EXPECT_EQ(ErrorOf(R"({"name": "a\u0007b", "signal": "tps", "critical": 1})").rfind("name:", 0),
            0u);
}

TEST(RuleParse, BelowComparisonOrdersThresholdsTheOtherWay) {
  EXPECT_TRUE(ParseRule(R"({"name": "traffic dropped", "signal": "tps", "comparison": "below",
                            "warning": 50, "critical": 10})").ok());
  EXPECT_EQ(ErrorOf(R"({"name": "t", "signal": "tps", "comparison": "below",
                        "warning": 10, "critical": 50})").rfind("warning:", 0), 0u);
}

TEST(RuleParse, QuietHoursParseAndValidate) {
  auto r = ParseRule(R"({"name": "q", "signal": "tps", "critical": 1,
      "quiet_hours": {"days": ["sat", "sun"], "from": "22:00", "to": "07:30", "tz": "UTC+09:00"}})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->quiet.weekdays, (1u << 6) | 1u);
  EXPECT_EQ(r->quiet.from_minute, 22 * 60);
  EXPECT_EQ(r->quiet.to_minute, 7 * 60 + 30);
  EXPECT_EQ(r->quiet.tz_offset_minutes, 540);
  EXPECT_EQ(ErrorOf(R"({"name": "q", "signal": "tps", "critical": 1,
      "quiet_hours": {"days": ["sat"], "from": "25:00", "to": "07:00"}})")
                .rfind("quiet_hours.from:", 0), 0u);
  EXPECT_EQ(ErrorOf(R"({"name": "q", "signal": "tps", "critical": 1,
      "quiet_hours": {"days": ["someday"], "from": "01:00", "to": "07:00"}})")
                .rfind("quiet_hours.days:", 0), 0u);
  EXPECT_EQ(ErrorOf(R"({"name": "q", "signal": "tps", "critical": 1,
      "quiet_hours": {"days": ["mon"], "from": "01:00", "to": "07:00", "tz": "Mars/Olympus"}})")
                .rfind("quiet_hours.tz:", 0), 0u);
  EXPECT_EQ(ErrorOf(R"({"name": "q", "signal": "tps", "critical": 1,
      "quiet_hours": {"days": ["mon"], "from": "01:00", "to": "07:00", "tz": "../etc/passwd"}})")
                .rfind("quiet_hours.tz:", 0), 0u);
}

TEST(RuleParse, QuietHoursTakeAnIanaTimeZoneAndGiveItBack) {
  auto r = ParseRule(R"({"name": "q", "signal": "tps", "critical": 1,
      "quiet_hours": {"days": ["sat"], "from": "22:00", "to": "07:00", "tz": "Europe/Berlin"}})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->quiet.zone, "Europe/Berlin");
  ASSERT_NE(r->quiet.tz, nullptr);
  EXPECT_EQ(r->quiet.tz->name(), "Europe/Berlin");
  EXPECT_EQ(r->quiet.tz_offset_minutes, 0);
  std::string json = RuleToJson(*r);
  EXPECT_NE(json.find(R"("tz":"Europe/Berlin")"), std::string::npos) << json;
  auto back = ParseRule(json);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->quiet, r->quiet);
  AlertRule no_zone = *r;
  no_zone.quiet.tz.reset();
  EXPECT_EQ(ValidateRule(no_zone).message().rfind("quiet_hours.tz:", 0), 0u);
}

TEST(RuleParse, WhatGetAddsIsIgnoredOnInput) {
  auto r = ParseRule(R"({"id": 9, "firing": 2, "pending": 1, "name": "x", "signal": "tps",
                         "critical": 1})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->id, 0u);
}

TEST(RuleJson, SerializedRuleParsesBackToTheSameRule) {
  auto r = ParseRule(R"({"name": "checkout p95", "service": "shop", "endpoint": "*",
      "signal": "p95", "window_s": 300, "for_s": 120, "warning": 800, "critical": 2000,
      "baseline": "last_week", "min_volume": 100, "no_data": "ok", "channels": [1, 2],
      "repeat_minutes": 30, "send_resolved": false, "enabled": false,
      "quiet_hours": {"days": ["mon", "fri"], "from": "09:15", "to": "24:00", "tz": "UTC-05:30"}})");
  ASSERT_TRUE(r.ok()) << r.status().message();
  r->id = 42;
  std::string json = RuleToJson(*r);
  auto back = ParseRule(json);
  ASSERT_TRUE(back.ok()) << back.status().message() << "\n" << json;
  back->id = 42;
  EXPECT_EQ(*back, *r) << json;
}

}  // namespace
}  // namespace loupe::alert
