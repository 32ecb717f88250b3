#include "common/memory.h"

#include <gtest/gtest.h>

namespace loupe {
namespace {

TEST(TrimLimiter, SmallRequestsNeverTrim) {
  TrimLimiter t(4 << 20, 1'000'000);
  EXPECT_FALSE(t.ShouldTrim((4 << 20) - 1, 10'000'000));
}

TEST(TrimLimiter, FirstLargeRequestTrims) {
  TrimLimiter t(4 << 20, 1'000'000);
  EXPECT_TRUE(t.ShouldTrim(20 << 20, 0));
}

TEST(TrimLimiter, AtMostOneTrimPerInterval) {
  TrimLimiter t(4 << 20, 1'000'000);
  EXPECT_TRUE(t.ShouldTrim(20 << 20, 5'000'000));
  EXPECT_FALSE(t.ShouldTrim(20 << 20, 5'000'001));
  EXPECT_FALSE(t.ShouldTrim(20 << 20, 5'999'999));
  EXPECT_TRUE(t.ShouldTrim(20 << 20, 6'000'000));
}

}  // namespace
}  // namespace loupe
