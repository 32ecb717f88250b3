#include "live/live_state.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

#include <cmath>
#include <string>
#include <thread>

namespace loupe::live {
namespace {

constexpr int64_t kSec = 1'000'000;
// 2023-11-14 22:13:20 UTC; tests run in UTC unless they say otherwise.
constexpr int64_t kT0 = 1'700'000'000 * kSec;

class LiveStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("TZ", "UTC", 1);
    tzset();
  }

  static model::Transaction Tx(model::TxId id, int64_t end_us, int64_t elapsed_us,
                               bool error = false, std::string user = "") {
    model::Transaction t;
    t.id = id;
    t.end_us = end_us;
    t.start_us = end_us - elapsed_us;
    t.error = error;
    t.user = std::move(user);
    t.service = "shop";
    t.endpoint = "GET /x";
    if (error) t.error_type = "java.lang.NullPointerException";
    return t;
  }

  ManualClock clock_{kT0};
};

TEST_F(LiveStateTest, FrameDescribesTheLastWholeSecond) {
  LiveState live(&clock_);
  clock_.Set(kT0 + 5 * kSec + 300'000);
  live.Record(1, Tx(1, kT0 + 4 * kSec + 100, 10'000));
  live.Record(1, Tx(2, kT0 + 4 * kSec + 900'000, 20'000, /*error=*/true));
  live.Record(1, Tx(3, kT0 + 4 * kSec + 999'999, 30'000));
  live.Record(1, Tx(4, kT0 + 5 * kSec + 1, 1'000));  // current second: not yet reported

  LiveFrame f;
  live.TakeFrame(1, clock_.NowMicros(), &f);
  EXPECT_EQ(f.t_us, kT0 + 5 * kSec);
  EXPECT_EQ(f.second_us, kT0 + 4 * kSec);
  EXPECT_EQ(f.tps, 3u);
  EXPECT_EQ(f.errors, 1u);
  EXPECT_DOUBLE_EQ(f.avg_ms, 20.0);
  EXPECT_EQ(f.today_calls, 4u);
  ASSERT_EQ(f.points.size(), 4u);
  EXPECT_EQ(f.points[1].id, 2u);
  EXPECT_EQ(f.points[1].end_us, kT0 + 4 * kSec + 900'000);
  EXPECT_EQ(f.points[1].elapsed_us, 20'000);
  EXPECT_TRUE(f.points[1].error);
  EXPECT_EQ(f.points_dropped, 0u);
  ASSERT_EQ(f.events.size(), 1u);
  EXPECT_EQ(f.events[0].message, "java.lang.NullPointerException");
  EXPECT_EQ(f.events[0].tx_id, 2u);
  EXPECT_EQ(f.events[0].time_us, kT0 + 4 * kSec + 900'000);
  EXPECT_STREQ(f.events[0].level, "WARNING");
  EXPECT_STREQ(f.events[0].type, "SERVICE_EXCEPTION");
  EXPECT_EQ(f.events[0].service, "shop");
  EXPECT_EQ(f.events[0].endpoint, "GET /x");

  // The next frame, a second later, has no new points or events.
  clock_.Advance(kSec);
  live.TakeFrame(1, clock_.NowMicros(), &f);
  EXPECT_EQ(f.tps, 1u);  // tx 4's second
  EXPECT_DOUBLE_EQ(f.avg_ms, 1.0);
  EXPECT_TRUE(f.points.empty());
  EXPECT_TRUE(f.events.empty());
  EXPECT_EQ(f.today_calls, 4u);

  clock_.Advance(kSec);
  live.TakeFrame(1, clock_.NowMicros(), &f);
  EXPECT_EQ(f.tps, 0u);
  EXPECT_TRUE(std::isnan(f.avg_ms));
}

TEST_F(LiveStateTest, UnknownProjectGivesAnEmptyFrame) {
  LiveState live(&clock_);
  live.Record(1, Tx(1, kT0, 1000));
  LiveFrame f;
  f.points.push_back({});
  live.TakeFrame(2, kT0 + kSec, &f);
  EXPECT_EQ(f.tps, 0u);
  EXPECT_EQ(f.today_calls, 0u);
  EXPECT_TRUE(f.points.empty());
  EXPECT_EQ(live.Summary(2, kT0).today_calls, 0u);
  EXPECT_EQ(live.Projects(), std::vector<model::ProjectId>{1});
}

TEST_F(LiveStateTest, TransactionsOlderThanTheRingAreNotLive) {
  LiveState live(&clock_);
  clock_.Set(kT0 + 1000 * kSec);
  live.Record(1, Tx(1, kT0 + 1000 * kSec - 601 * kSec, 5'000));  // 601 s ago
  live.Record(1, Tx(2, kT0 + 1000 * kSec - 599 * kSec, 5'000));  // 599 s ago
  LiveFrame f;
  live.TakeFrame(1, clock_.NowMicros(), &f);
  ASSERT_EQ(f.points.size(), 1u);
  EXPECT_EQ(f.points[0].id, 2u);
  EXPECT_EQ(f.today_calls, 2u);  // both ended today
}

TEST_F(LiveStateTest, FutureEndsCountInTheCurrentSecond) {
  LiveState live(&clock_);
  clock_.Set(kT0 + 10 * kSec + 500'000);
  live.Record(1, Tx(1, kT0 + 3600 * kSec, 5'000));  // agent clock an hour ahead
  clock_.Advance(kSec);
  LiveFrame f;
  live.TakeFrame(1, clock_.NowMicros(), &f);
  EXPECT_EQ(f.tps, 1u);
  ASSERT_EQ(f.points.size(), 1u);
  EXPECT_EQ(f.points[0].end_us, kT0 + 3600 * kSec);  // the point keeps its real time
}

TEST_F(LiveStateTest, TodayResetsAtLocalMidnight) {
  LiveState live(&clock_);
  const int64_t midnight = LocalMidnightMicros(kT0) + 86400 * kSec;
  clock_.Set(midnight - 2 * kSec);
  live.Record(1, Tx(1, midnight - 3 * kSec, 1000));
  live.Record(1, Tx(2, midnight - 2 * kSec, 1000));
  EXPECT_EQ(live.Summary(1, clock_.NowMicros()).today_calls, 2u);
  clock_.Set(midnight + kSec);
  EXPECT_EQ(live.Summary(1, clock_.NowMicros()).today_calls, 0u);
  LiveFrame f;
  live.TakeFrame(1, clock_.NowMicros(), &f);
  EXPECT_EQ(f.today_calls, 0u);
  live.Record(1, Tx(3, midnight - 500'000, 1000));  // ended yesterday, arrived late
  live.Record(1, Tx(4, midnight + 500'000, 1000));
  EXPECT_EQ(live.Summary(1, clock_.NowMicros()).today_calls, 1u);
}

TEST(LocalMidnight, FollowsTheTimeZoneIncludingDst) {
  setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);  // POSIX rule: no tzdata needed
  tzset();
  // 2024-03-31 (23-hour day in CET): midnight is 2024-03-30T23:00:00Z.
  const int64_t noon = int64_t{1711886400} * kSec;  // 2024-03-31T12:00:00Z
  EXPECT_EQ(LocalMidnightMicros(noon), int64_t{1711839600} * kSec);
  // 2024-07-01 10:00Z = 12:00 CEST; midnight 2024-06-30T22:00:00Z.
  EXPECT_EQ(LocalMidnightMicros(int64_t{1719828000} * kSec), int64_t{1719784800} * kSec);
  setenv("TZ", "UTC", 1);
  tzset();
  EXPECT_EQ(LocalMidnightMicros(kT0), int64_t{1699920000} * kSec);
}

TEST_F(LiveStateTest, ConcurrentUsersOverTheLastMinutes) {
  LiveState live(&clock_);
  const int64_t base = (kT0 / (60 * kSec)) * 60 * kSec;  // a minute boundary
  // 300 users 8 minutes ago: outside the window.
  clock_.Set(base + 10 * kSec);
  for (int i = 0; i < 300; ++i)
    live.Record(1, Tx(i + 1, base + kSec, 1000, false, "old" + std::to_string(i)));
  // 1000 users spread over the last 4 minutes, each seen several times, and
  // 200 anonymous clients identified by IP.
  clock_.Set(base + 8 * 60 * kSec + 30 * kSec);
  int id = 10'000;
  for (int rep = 0; rep < 3; ++rep) {
    for (int i = 0; i < 1000; ++i) {
      const int64_t end = base + (4 + i % 4) * 60 * kSec + 5 * kSec;
      live.Record(1, Tx(++id, end, 1000, false, "user" + std::to_string(i)));
    }
    for (int i = 0; i < 200; ++i) {
      model::Transaction t = Tx(++id, base + 8 * 60 * kSec, 1000);
      t.client_ip = "10.0.0." + std::to_string(i);
      live.Record(1, t);
    }
  }
  live.Record(1, Tx(++id, base + 8 * 60 * kSec, 1000));  // neither user nor IP: not counted
  const LiveSummary s = live.Summary(1, clock_.NowMicros());
  EXPECT_NEAR(static_cast<double>(s.concurrent_users), 1200.0, 1200 * 0.05);
  // Ten minutes later nobody is left.
  EXPECT_EQ(live.Summary(1, clock_.NowMicros() + 10 * 60 * kSec).concurrent_users, 0u);
}

TEST_F(LiveStateTest, PointsPerFrameAreCapped) {
  LiveOptions o;
  o.max_points_per_frame = 100;
  LiveState live(&clock_, o);
  for (int i = 0; i < 130; ++i) live.Record(1, Tx(i + 1, kT0 - kSec, 1000));
  LiveFrame f;
  live.TakeFrame(1, kT0, &f);
  EXPECT_EQ(f.points.size(), 100u);
  EXPECT_EQ(f.points_dropped, 30u);
  EXPECT_EQ(f.tps, 130u);  // counts are exact regardless
  live.TakeFrame(1, kT0 + kSec, &f);
  EXPECT_EQ(f.points.size(), 0u);
  EXPECT_EQ(f.points_dropped, 0u);
}

TEST_F(LiveStateTest, TakePointsDrainsDotsButLeavesFiguresAndEventsForTheTick) {
  LiveState live(&clock_);
  LiveFrame f;
  EXPECT_FALSE(live.TakePoints(1, &f));
  live.Record(1, Tx(1, kT0 - kSec, 1000, /*error=*/true));
  ASSERT_TRUE(live.TakePoints(1, &f));
  ASSERT_EQ(f.points.size(), 1u);
  EXPECT_EQ(f.points[0].id, 1u);
  EXPECT_FALSE(live.TakePoints(1, &f));
  EXPECT_TRUE(f.points.empty());
  live.Record(1, Tx(2, kT0 - kSec, 1000, /*error=*/false));
  live.TakeFrame(1, kT0, &f);
  EXPECT_EQ(f.tps, 2u);            // the second's figures count both
  ASSERT_EQ(f.points.size(), 1u);  // but only the dot not yet sent
  EXPECT_EQ(f.points[0].id, 2u);
  EXPECT_EQ(f.events.size(), 1u);  // the error event waits for the tick
}

TEST_F(LiveStateTest, ErrorEventsAreRateLimitedAndKept) {
  LiveState live(&clock_);  // 50 per frame, 200 kept
  LiveFrame f;
  for (int frame = 0; frame < 5; ++frame) {
    for (int i = 0; i < 80; ++i) {
      live.Record(1, Tx(frame * 1000 + i + 1, kT0 - kSec, 1000, /*error=*/true));
    }
    live.TakeFrame(1, kT0, &f);
    ASSERT_EQ(f.events.size(), 50u);
    EXPECT_EQ(f.events_dropped, 30u);
    EXPECT_EQ(f.events.front().tx_id, static_cast<model::TxId>(frame * 1000 + 1));
    EXPECT_EQ(f.events.back().tx_id, static_cast<model::TxId>(frame * 1000 + 50));
  }
  auto recent = live.RecentEvents(1, 1000);
  ASSERT_EQ(recent.size(), 200u);
  EXPECT_EQ(recent.front().tx_id, 4050u);  // newest first
  EXPECT_EQ(recent.back().tx_id, 1001u);
  EXPECT_EQ(live.RecentEvents(1, 3).size(), 3u);
}

TEST_F(LiveStateTest, EventMessageFallsBackToHttpStatus) {
  LiveState live(&clock_);
  model::Transaction t = Tx(7, kT0 - kSec, 1000, true);
  t.error_type.clear();
  t.status = 503;
  live.Record(1, t);
  t.id = 8;
  t.status = 0;
  live.Record(1, t);
  LiveFrame f;
  live.TakeFrame(1, kT0, &f);
  ASSERT_EQ(f.events.size(), 2u);
  EXPECT_EQ(f.events[0].message, "HTTP 503");
  EXPECT_EQ(f.events[1].message, "error");
}

TEST_F(LiveStateTest, SummaryOverTheLastMinute) {
  LiveState live(&clock_);
  LiveSummary empty = live.Summary(1, kT0);
  EXPECT_TRUE(std::isnan(empty.avg_ms));
  EXPECT_TRUE(std::isnan(empty.error_rate));
  EXPECT_EQ(empty.tps, 0.0);

  clock_.Set(kT0 + 100 * kSec);
  // 120 transactions over the last 60 s, 30 of them errors, 10 ms each...
  for (int i = 0; i < 120; ++i) {
    live.Record(1, Tx(i + 1, kT0 + 40 * kSec + i * 500'000, 10'000, i % 4 == 0));
  }
  // ...and some outside the minute (too old) or in the current second.
  live.Record(1, Tx(1000, kT0 + 30 * kSec, 99'000'000));
  live.Record(1, Tx(1001, kT0 + 100 * kSec + 10, 99'000'000));
  LiveSummary s = live.Summary(1, clock_.NowMicros());
  EXPECT_DOUBLE_EQ(s.tps, 2.0);
  EXPECT_DOUBLE_EQ(s.avg_ms, 10.0);
  EXPECT_DOUBLE_EQ(s.error_rate, 25.0);
  EXPECT_EQ(s.today_calls, 122u);
}

TEST_F(LiveStateTest, ProjectsAreSeparate) {
  LiveState live(&clock_);
  live.Record(1, Tx(1, kT0 - kSec, 1000));
  live.Record(2, Tx(2, kT0 - kSec, 1000));
  live.Record(2, Tx(3, kT0 - kSec, 1000));
  LiveFrame f;
  live.TakeFrame(1, kT0, &f);
  EXPECT_EQ(f.tps, 1u);
  live.TakeFrame(2, kT0, &f);
  EXPECT_EQ(f.tps, 2u);
  ASSERT_EQ(f.points.size(), 2u);
}

TEST_F(LiveStateTest, ConcurrentRecordAndFrames) {
  LiveOptions o;
  o.max_points_per_frame = 1'000'000;
  LiveState live(&clock_, o);
  constexpr int kThreads = 4, kPerThread = 20'000;
  std::atomic<bool> done{false};
  uint64_t seen_points = 0;
  std::thread reader([&] {
    LiveFrame f;
    while (!done.load()) {
      live.TakeFrame(1, kT0, &f);
      seen_points += f.points.size();
      (void)live.Summary(1, kT0);
    }
    live.TakeFrame(1, kT0, &f);
    seen_points += f.points.size();
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        live.Record(1, Tx(t * kPerThread + i + 1, kT0 - 2 * kSec, 1000, false,
                          "u" + std::to_string(i % 50)));
      }
    });
  }
  for (auto& w : writers) w.join();
  done = true;
  reader.join();
  EXPECT_EQ(seen_points, uint64_t{kThreads} * kPerThread);
  EXPECT_EQ(live.Summary(1, kT0).today_calls, uint64_t{kThreads} * kPerThread);
  EXPECT_NEAR(static_cast<double>(live.Summary(1, kT0).concurrent_users), 50, 2);
}

}  // namespace
}  // namespace loupe::live

namespace loupe::live {
namespace {

class LiveStateRestoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("TZ", "UTC", 1);
    tzset();
  }
  ManualClock clock_{kT0};
};

// After a restart the store's figures come back: today's calls, the last
// minute's TPS and response time, and the concurrent users.
TEST_F(LiveStateRestoreTest, RestoreBringsBackTodayTheRecentSecondsAndTheUsers) {
  LiveState live(&clock_);
  const int64_t now = kT0 + 500'000;  // 22:13:20.5
  LiveSeed seed;
  seed.today_calls = 11'545;
  seed.seconds.push_back({kT0 / kSec - 1, 4, 1, 4 * 25'000});   // the last whole second
  seed.seconds.push_back({kT0 / kSec - 30, 2, 0, 2 * 10'000});  // within the last minute
  seed.seconds.push_back({kT0 / kSec - 700, 9, 9, 9});          // older than the ring: ignored
  seed.users = {{kT0 - 10 * kSec, "u1"},
                {kT0 - 70 * kSec, "u2"},
                {kT0 - 2 * kSec, "u1"},
                {kT0 - 3600 * kSec, "u-old"}};
  live.Restore(1, now, seed);

  LiveFrame f;
  live.TakeFrame(1, now, &f);
  EXPECT_EQ(f.today_calls, 11'545u);
  EXPECT_EQ(f.tps, 4u);
  EXPECT_EQ(f.errors, 1u);
  EXPECT_DOUBLE_EQ(f.avg_ms, 25.0);
  EXPECT_EQ(f.concurrent_users, 2u);
  EXPECT_TRUE(f.points.empty());

  const LiveSummary s = live.Summary(1, now);
  EXPECT_EQ(s.today_calls, 11'545u);
  EXPECT_DOUBLE_EQ(s.tps, 6.0 / 60.0);
  EXPECT_DOUBLE_EQ(s.avg_ms, 20.0);
  EXPECT_EQ(s.concurrent_users, 2u);

  // New transactions count on top of what was restored.
  clock_.Set(now);
  model::Transaction tx;
  tx.id = 7;
  tx.start_us = now - 1000;
  tx.end_us = now - 10;
  tx.user = "u3";
  live.Record(1, tx);
  EXPECT_EQ(live.Summary(1, now).today_calls, 11'546u);
  EXPECT_EQ(live.Summary(1, now).concurrent_users, 3u);
}

TEST_F(LiveStateRestoreTest, RestoreReplacesWhatWasRecordedBefore) {
  LiveState live(&clock_);
  model::Transaction tx;
  tx.id = 1;
  tx.start_us = kT0 - 2 * kSec;
  tx.end_us = kT0 - kSec;
  live.Record(1, tx);  // e.g. replayed from the ingest log: also in the store
  LiveSeed seed;
  seed.today_calls = 5;
  live.Restore(1, kT0, seed);
  EXPECT_EQ(live.Summary(1, kT0).today_calls, 5u);
  EXPECT_EQ(live.Summary(1, kT0).tps, 0.0);
}

}  // namespace
}  // namespace loupe::live

namespace loupe::live {
namespace {

constexpr int64_t kT1 = 1'796'601'600'000'000;  // 2026-12-07 00:00 UTC

model::Transaction Failed(model::TxId id, int status, std::string error_type,
                          model::StepKind failed_step, bool step_failed) {
  model::Transaction t;
  t.id = id;
  t.end_us = kT1 + 500'000;
  t.start_us = t.end_us - 1000;
  t.service = "shop";
  t.error = true;
  t.status = status;
  t.error_type = std::move(error_type);
  model::Step s;
  s.kind = failed_step;
  s.error = step_failed;
  t.steps.push_back(s);
  return t;
}

TEST(LiveEventTypes, AFailedTransactionIsTypedByWhatFailed) {
  ManualClock clock(kT1 + 2'000'000);
  EventLog log(100);
  LiveState live(&clock, LiveOptions{}, &log);
  live.Record(1, Failed(1, 500, "PDOException", model::StepKind::kSql, true));
  live.Record(1, Failed(2, 502, "", model::StepKind::kExternal, true));
  live.Record(1, Failed(3, 500, "TemplateError", model::StepKind::kMethod, false));
  live.Record(1, Failed(4, 503, "HTTP 503", model::StepKind::kMethod, false));
  live.Record(1, Failed(5, 200, "", model::StepKind::kMethod, false));
  model::Transaction thrown = Failed(6, 500, "HTTP 500", model::StepKind::kError, true);
  thrown.steps[0].name = "TemplateError";  // an exception in a step, not on the root
  live.Record(1, thrown);
  EventQuery q;
  auto page = log.Query(1, q);  // newest first
  std::vector<std::string> types;
  for (auto it = page.events.rbegin(); it != page.events.rend(); ++it) types.push_back(it->type);
  EXPECT_EQ(types, (std::vector<std::string>{"SQL_EXCEPTION", "EXTERNALCALL_EXCEPTION",
                                             "SERVICE_EXCEPTION", "HTTP_ERROR",
                                             "SERVICE_EXCEPTION", "SERVICE_EXCEPTION"}));
  EXPECT_EQ(page.events[0].message, "TemplateError") << "named by the step's exception";
}

TEST(LiveEventTypes, SlowerThanTheServiceThresholdIsBadResponseTime) {
  ManualClock clock(kT1 + 2'000'000);
  EventLog log(100);
  LiveOptions o;
  int asked = 0;
  o.bad_response_us = [&](model::ProjectId, const std::string& service) -> int64_t {
    ++asked;
    return service == "shop" ? 3'000'000 : 0;
  };
  LiveState live(&clock, o, &log);
  for (int i = 0; i < 10; ++i) {
    model::Transaction t;
    t.id = static_cast<model::TxId>(i + 1);
    t.service = i < 8 ? "shop" : "batch";
    t.end_us = kT1 + 500'000;
    t.start_us = t.end_us - (i % 2 ? 4'000'000 : 2'000'000);  // odd ones slow
    live.Record(1, t);
  }
  auto page = log.Query(1, EventQuery{});
  ASSERT_EQ(page.events.size(), 4u) << "4 slow shop calls; batch has no threshold";
  EXPECT_STREQ(page.events[0].type, "BAD_RESPONSE_TIME");
  EXPECT_EQ(page.events[0].message, "4000 ms");
  EXPECT_EQ(asked, 2) << "asked once per service and second, not per transaction";
}

}  // namespace
}  // namespace loupe::live
