#include "live/event_log.h"

#include <gtest/gtest.h>

namespace loupe::live {
namespace {

model::Event Ev(int64_t t, const char* type, const char* level = model::kLevelWarning,
                std::string service = "s") {
  model::Event e;
  e.time_us = t;
  e.type = type;
  e.level = level;
  e.service = std::move(service);
  e.message = std::to_string(t);
  return e;
}

TEST(EventLog, KeepsTheNewestUpToCapacityNewestFirst) {
  EventLog log(3);
  for (int i = 1; i <= 5; ++i) EXPECT_EQ(log.Append(1, Ev(i, model::kEventServiceException)), uint64_t(i));
  EventPage p = log.Query(1, EventQuery{});
  ASSERT_EQ(p.events.size(), 3u);
  EXPECT_EQ(p.events[0].time_us, 5);
  EXPECT_EQ(p.events[2].time_us, 3);
  EXPECT_FALSE(p.truncated);
  EXPECT_EQ(log.evicted(), 2u);
  EXPECT_TRUE(log.Query(2, EventQuery{}).events.empty());  // projects are separate
}

TEST(EventLog, FiltersByTimeLevelTypeServiceAndLimit) {
  EventLog log(100);
  log.Append(1, Ev(10, model::kEventServiceException));
  log.Append(1, Ev(20, model::kEventAgentStart, model::kLevelNormal));
  log.Append(1, Ev(30, model::kEventAgentStop, model::kLevelWarning, "other"));
  log.Append(1, Ev(40, model::kEventThrottled));
  EventQuery q;
  q.from_us = 20;
  q.to_us = 40;
  EXPECT_EQ(log.Query(1, q).events.size(), 2u);
  q = {};
  q.level = "NORMAL";
  ASSERT_EQ(log.Query(1, q).events.size(), 1u);
  EXPECT_STREQ(log.Query(1, q).events[0].type, "AGENT_START");
  q = {};
  q.type = "THROTTLED";
  EXPECT_EQ(log.Query(1, q).events.size(), 1u);
  q = {};
  q.service = "other";
  EXPECT_EQ(log.Query(1, q).events.size(), 1u);
  q = {};
  q.limit = 2;
  EventPage p = log.Query(1, q);
  ASSERT_EQ(p.events.size(), 2u);
  EXPECT_TRUE(p.truncated);
  EXPECT_EQ(p.events[0].time_us, 40);
}

TEST(EventLog, SinceReturnsNewEventsAndCountsSkipped) {
  EventLog log(4);
  std::vector<model::Event> out;
  uint64_t skipped = 0;
  EXPECT_EQ(log.Since(1, 0, 10, &out, &skipped), 0u);
  for (int i = 1; i <= 3; ++i) log.Append(1, Ev(i, model::kEventServiceException));
  uint64_t seq = log.Since(1, 0, 2, &out, &skipped);
  EXPECT_EQ(seq, 3u);
  ASSERT_EQ(out.size(), 2u);  // the newest two
  EXPECT_EQ(out[0].time_us, 2);
  EXPECT_EQ(skipped, 1u);
  for (int i = 4; i <= 9; ++i) log.Append(1, Ev(i, model::kEventServiceException));
  out.clear();
  seq = log.Since(1, seq, 10, &out, &skipped);
  EXPECT_EQ(seq, 9u);
  ASSERT_EQ(out.size(), 4u);  // 6..9 kept, 4 and 5 evicted
  EXPECT_EQ(out[0].time_us, 6);
  EXPECT_EQ(skipped, 2u);
}

}  // namespace
}  // namespace loupe::live
