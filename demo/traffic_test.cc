// The traffic generator's daily rhythm: a night lull, a daytime peak, and no
// jumps between hours (the X-View and TPS charts show a day, not steps).

#include "traffic.h"

#include <gtest/gtest.h>

namespace demo {
namespace {

TEST(DailyShape, NightLullDaytimePeakEveningDip) {
  double peak = 0, peak_hour = -1, trough = 1, trough_hour = -1;
  for (double h = 0; h < 24; h += 0.25) {
    const double v = Traffic::DailyShape(h);
    ASSERT_GT(v, 0.0) << "hour " << h;
    ASSERT_LE(v, 1.0) << "hour " << h;
    if (v > peak) peak = v, peak_hour = h;
    if (v < trough) trough = v, trough_hour = h;
  }
  EXPECT_DOUBLE_EQ(peak, 1.0);
  EXPECT_GE(peak_hour, 9.0);
  EXPECT_LE(peak_hour, 18.0);
  EXPECT_TRUE(trough_hour < 7.0) << "the lull is at night, not at " << trough_hour;
  EXPECT_LT(trough, 0.25 * peak);
  EXPECT_LT(Traffic::DailyShape(21), Traffic::DailyShape(12));  // the evening is quieter
}

TEST(DailyShape, ContinuousAndWrapsAtMidnight) {
  for (double h = 0; h < 48; h += 0.01) {
    EXPECT_NEAR(Traffic::DailyShape(h), Traffic::DailyShape(h + 0.01), 0.01) << "hour " << h;
  }
  EXPECT_DOUBLE_EQ(Traffic::DailyShape(3.5), Traffic::DailyShape(27.5));
  EXPECT_DOUBLE_EQ(Traffic::DailyShape(-1), Traffic::DailyShape(23));
}

}  // namespace
}  // namespace demo
