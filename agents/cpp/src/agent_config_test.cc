#include "agent_config.h"

#include <gtest/gtest.h>

namespace loupe::internal {
namespace {

TEST(Glob, MatchesStarAndQuestionMark) {
  EXPECT_TRUE(GlobMatch("orders::*", "orders::Load"));
  EXPECT_TRUE(GlobMatch("orders::*", "orders::"));
  EXPECT_FALSE(GlobMatch("orders::*", "order::Load"));
  EXPECT_TRUE(GlobMatch("payment::Charge", "payment::Charge"));
  EXPECT_FALSE(GlobMatch("payment::Charge", "payment::ChargeX"));
  EXPECT_TRUE(GlobMatch("*", ""));
  EXPECT_TRUE(GlobMatch("*Load*", "orders::LoadAll"));
  EXPECT_TRUE(GlobMatch("a?c", "abc"));
  EXPECT_FALSE(GlobMatch("a?c", "ac"));
  EXPECT_TRUE(GlobMatch("*a*b*c", "xxaxxbxxc"));
  EXPECT_FALSE(GlobMatch("*a*b*c", "xxaxxcxxb"));
  EXPECT_FALSE(GlobMatch("", "x"));
  EXPECT_TRUE(GlobMatch("", ""));
  // Pathological pattern stays fast (linear backtracking).
  EXPECT_FALSE(GlobMatch("*a*a*a*a*a*a*a*a*b", std::string(5000, 'a')));
}

TEST(AgentConfig, ParsesProtocolExample) {
  AgentConfig c;
  std::string err;
  ASSERT_TRUE(ParseAgentConfig(R"({
    "version": 7,
    "bands_ms": [3000, 8000],
    "active_stack": {"threshold_ms": 2000, "interval_ms": 1000},
    "throttle": {"enabled": true, "max_active": 50, "action": "reject",
                 "redirect_url": "/busy.html", "endpoints": {"POST /checkout": 10}},
    "profiling": {"methods": ["orders::*", "payment::Charge"]}
  })",
                               &c, &err))
      << err;
  EXPECT_EQ(c.version, 7u);
  EXPECT_EQ(c.bands_ms, (std::vector<double>{3000, 8000}));
  EXPECT_EQ(c.stack_threshold_ms, 2000);
  EXPECT_EQ(c.stack_interval_ms, 1000);
  EXPECT_TRUE(c.throttle_enabled);
  EXPECT_EQ(c.max_active, 50);
  EXPECT_EQ(c.throttle_action, Admission::kReject);
  EXPECT_EQ(c.redirect_url, "/busy.html");
  EXPECT_EQ(c.endpoint_limits.at("POST /checkout"), 10);
  EXPECT_TRUE(c.ProfilingEnabled("orders::Load"));
  EXPECT_TRUE(c.ProfilingEnabled("payment::Charge"));
  EXPECT_FALSE(c.ProfilingEnabled("payment::Refund"));
}

TEST(AgentConfig, DefaultsAndErrors) {
  AgentConfig c;
  std::string err;
  ASSERT_TRUE(ParseAgentConfig("{}", &c, &err));
  EXPECT_EQ(c.version, 0u);
  EXPECT_FALSE(c.throttle_enabled);
  EXPECT_FALSE(c.ProfilingEnabled("x"));
  EXPECT_FALSE(ParseAgentConfig("[]", &c, &err));
  EXPECT_FALSE(ParseAgentConfig(R"({"version": "7"})", &c, &err));
  EXPECT_FALSE(ParseAgentConfig(R"({"throttle": {"action": "drop"}})", &c, &err));
  EXPECT_FALSE(ParseAgentConfig(R"({"bands_ms": [1, "x"]})", &c, &err));
  ASSERT_TRUE(ParseAgentConfig(R"({"throttle": {"action": "redirect"}})", &c, &err));
  EXPECT_EQ(c.throttle_action, Admission::kRedirect);
}

}  // namespace
}  // namespace loupe::internal
