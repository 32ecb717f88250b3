#include "common/logging.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace loupe {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kMinute = 60'000'000;

TEST(LogRateLimiter, FirstEventOfAKindIsLoggedAsIs) {
  LogRateLimiter l;
  EXPECT_EQ(l.Admit("otlp too_large", "body too large", 5), "body too large");
}

TEST(LogRateLimiter, RepeatsWithinTheIntervalAreSuppressed) {
  LogRateLimiter l;
  EXPECT_FALSE(l.Admit("k", "m", 0).empty());
  for (int i = 1; i < 100; ++i) EXPECT_EQ(l.Admit("k", "m", i * 1000), "") << i;
  EXPECT_EQ(l.Admit("k", "m", kMinute - 1), "");
}

TEST(LogRateLimiter, NextLineAfterTheIntervalSaysHowManyWereSuppressed) {
  LogRateLimiter l;
  l.Admit("k", "first", 0);
  l.Admit("k", "x", 10);
  l.Admit("k", "x", 20);
  l.Admit("k", "x", 30);
  std::string line = l.Admit("k", "later", kMinute);
  EXPECT_THAT(line, HasSubstr("later"));
  EXPECT_THAT(line, HasSubstr("3 more like this"));
  // The count restarts with each line logged.
  EXPECT_EQ(l.Admit("k", "x", kMinute + 1), "");
  EXPECT_THAT(l.Admit("k", "again", 2 * kMinute), HasSubstr("1 more like this"));
  EXPECT_EQ(l.Admit("k", "quiet", 4 * kMinute), "quiet");
}

TEST(LogRateLimiter, KindsAreLimitedIndependently) {
  LogRateLimiter l;
  EXPECT_EQ(l.Admit("a", "a1", 0), "a1");
  EXPECT_EQ(l.Admit("b", "b1", 1), "b1");
  EXPECT_EQ(l.Admit("a", "a2", 2), "");
  EXPECT_EQ(l.Admit("b", "b2", 3), "");
}

TEST(LogWarningRateLimited, WritesOneWarnLinePerKindThroughTheSink) {
  std::vector<std::string> lines;
  SetLogSinkForTesting([&](std::string_view line) { lines.emplace_back(line); });
  for (int i = 0; i < 50; ++i) LogWarningRateLimited("logging_test kind", "refused a request");
  SetLogSinkForTesting(nullptr);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr(" WARN refused a request"));
}

TEST(LogWarningRateLimited, InputQuotedInTheMessageCannotStartANewLine) {
  std::vector<std::string> lines;
  SetLogSinkForTesting([&](std::string_view line) { lines.emplace_back(line); });
  LogWarningRateLimited("logging_test newline", "unknown path /a\n2026-01-01 ERROR forged\r\x01");
  SetLogSinkForTesting(nullptr);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr("unknown path /a?2026-01-01 ERROR forged??\n"));
  EXPECT_EQ(lines[0].find('\n'), lines[0].size() - 1);
}

}  // namespace
}  // namespace loupe
