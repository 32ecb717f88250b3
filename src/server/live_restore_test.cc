#include "server/live_restore.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

#include <memory>
#include <string>

#include "store/mem/mem_store.h"

namespace loupe::server {
namespace {

constexpr int64_t kSec = 1'000'000;
constexpr int64_t kNow = 1'700'000'000 * kSec + 500'000;  // 2023-11-14 22:13:20.5 UTC

class LiveRestoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("TZ", "UTC", 1);
    tzset();
    store_ = store::NewMemStore();
  }

  void Put(model::TxId id, int64_t end_us, int64_t elapsed_us, bool error, std::string user,
           std::string client_ip = "") {
    model::Transaction t;
    t.id = id;
    t.span_id = id;
    t.service = "shop";
    t.instance = "shop-1";
    t.endpoint = "GET /x";
    t.start_us = end_us - elapsed_us;
    t.end_us = end_us;
    t.error = error;
    t.user = std::move(user);
    t.client_ip = std::move(client_ip);
    store::WriteBatch b;
    b.transactions.push_back(std::move(t));
    ASSERT_TRUE(store_->Append(1, std::move(b)).ok());
  }

  std::unique_ptr<store::Store> store_;
};

TEST_F(LiveRestoreTest, SeedHoldsTodaysCallsTheRecentSecondsAndTheRecentUsers) {
  const int64_t midnight = live::LocalMidnightMicros(kNow);
  Put(1, midnight - kSec, 1000, false, "yesterday");  // yesterday: not today's
  Put(2, midnight + kSec, 1000, false, "early");      // today, long ago
  Put(3, kNow - 2 * kSec + 100, 10'000, true, "u1");  // recent seconds
  Put(4, kNow - 2 * kSec + 200, 30'000, false, "u2");
  Put(5, kNow - 70 * kSec, 5'000, false, "", "10.0.0.9");  // a user by client IP
  Put(6, kNow - 40 * kSec, 5'000, false, "u1");

  Result<live::LiveSeed> seed = LiveSeedFromStore(*store_, 1, live::LiveOptions{}, kNow);
  ASSERT_TRUE(seed.ok()) << seed.status().ToString();
  EXPECT_EQ(seed->today_calls, 5u);
  ASSERT_EQ(seed->seconds.size(), 3u);  // kNow-70 s, kNow-40 s, kNow-2 s
  const live::LiveSeed::Second& s = seed->seconds.back();
  EXPECT_EQ(s.sec, kNow / kSec - 2);
  EXPECT_EQ(s.count, 2u);
  EXPECT_EQ(s.errors, 1u);
  EXPECT_EQ(s.sum_elapsed_us, 40'000);
  // u1 in two minutes counts once per minute; "early" is outside the window.
  EXPECT_EQ(seed->users.size(), 4u);

  live::LiveState live(Clock::Real());
  ASSERT_TRUE(RestoreLive(*store_, {1, 2}, &live, kNow).ok());
  const live::LiveSummary sum = live.Summary(1, kNow);
  EXPECT_EQ(sum.today_calls, 5u);
  EXPECT_EQ(sum.concurrent_users, 3u);    // u1, u2, 10.0.0.9
  EXPECT_DOUBLE_EQ(sum.tps, 3.0 / 60.0);  // the last 60 s: kNow-40 s and kNow-2 s
  EXPECT_EQ(live.Projects().size(), 1u);  // project 2 has no data: nothing restored
}

}  // namespace
}  // namespace loupe::server
