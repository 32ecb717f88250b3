#include "store/parked_late.h"

#include <gtest/gtest.h>

namespace loupe::store {
namespace {

std::vector<model::Step> Steps(int n) {
  std::vector<model::Step> s(n);
  for (int i = 0; i < n; ++i) s[i].span_id = static_cast<model::SpanId>(i + 1);
  return s;
}

TEST(ParkedLateStepsTest, TakesWhatWasParkedOnceAndDropsTheOldestPastTheBound) {
  ParkedLateSteps parked(3);
  EXPECT_TRUE(parked.empty());
  parked.Park(1, Steps(2));
  parked.Park(1, Steps(1));  // a second batch for the same transaction adds to it
  for (model::TxId tx = 2; tx <= 4; ++tx) parked.Park(tx, Steps(1));  // 1 is the oldest
  std::vector<model::Step> got;
  EXPECT_FALSE(parked.Take(1, &got)) << "dropped past the bound";
  ASSERT_TRUE(parked.Take(2, &got));
  EXPECT_EQ(got.size(), 1u);
  EXPECT_FALSE(parked.Take(2, &got)) << "taken once";
  // A long-parked transaction while many others come and go: the others are
  // taken, the bound never drops it.
  for (model::TxId tx = 100; tx < 10'000; ++tx) {
    parked.Park(tx, Steps(1));
    ASSERT_TRUE(parked.Take(tx, &got));
  }
  ASSERT_TRUE(parked.Take(3, &got));
  ASSERT_TRUE(parked.Take(4, &got));
  EXPECT_TRUE(parked.empty());
  parked.Park(7, Steps(3));
  ASSERT_TRUE(parked.Take(7, &got));
  EXPECT_EQ(got.size(), 3u);
}

TEST(ParkedLateStepsTest, KeepsTheLargestDroppedStepsTotal) {
  ParkedLateSteps parked;
  parked.Park(1, Steps(1), 4);
  parked.Park(1, {}, 9);
  parked.Park(1, Steps(1), 6);
  std::vector<model::Step> got;
  uint32_t dropped = 0;
  ASSERT_TRUE(parked.Take(1, &got, &dropped));
  EXPECT_EQ(got.size(), 2u);
  EXPECT_EQ(dropped, 9u);
}

}  // namespace
}  // namespace loupe::store
