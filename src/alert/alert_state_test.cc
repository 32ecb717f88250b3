#include "alert/alert_state.h"

#include <gtest/gtest.h>

#include <cmath>

namespace loupe::alert {
namespace {

AlertStateData Sample() {
  AlertStateData s;
  s.next_alert_id = 42;
  HeldAlert firing;
  firing.alert = {7,
                  3,
                  1,
                  {"identity", "", "POST /login"},
                  AlertState::kFiring,
                  Level::kCritical,
                  12.5,
                  10,
                  1'000'000,
                  2'000'000,
                  false};
  firing.notified_level = Level::kCritical;
  HeldAlert held = firing;
  held.alert.alert_id = 8;
  held.alert.scope.endpoint = "GET /me";
  held.alert.value = std::nan("");
  held.resolve_held = true;
  held.held_resolve = firing.alert;
  held.held_resolve.state = AlertState::kNormal;
  s.held = {firing, held};
  AlertChange c;
  c.kind = AlertChange::Kind::kResolved;
  c.alert = firing.alert;
  c.at_us = 3'000'000;
  c.state_changed = true;
  c.notify = false;
  s.history[1].push_back(c);
  s.history[9];
  return s;
}

TEST(AlertState, RoundTripsEveryField) {
  std::string bytes;
  EncodeAlertState(Sample(), &bytes);
  auto got = DecodeAlertState(bytes);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->next_alert_id, 42u);
  ASSERT_EQ(got->held.size(), 2u);
  const Alert& a = got->held[0].alert;
  EXPECT_EQ(a.alert_id, 7u);
  EXPECT_EQ(a.rule_id, 3u);
  EXPECT_EQ(a.project, 1u);
  EXPECT_EQ(a.scope.endpoint, "POST /login");
  EXPECT_EQ(a.state, AlertState::kFiring);
  EXPECT_EQ(a.level, Level::kCritical);
  EXPECT_EQ(a.value, 12.5);
  EXPECT_EQ(a.threshold, 10);
  EXPECT_EQ(a.since_us, 1'000'000);
  EXPECT_EQ(a.last_notified_us, 2'000'000);
  EXPECT_EQ(got->held[0].notified_level, Level::kCritical);
  EXPECT_FALSE(got->held[0].resolve_held);
  EXPECT_TRUE(std::isnan(got->held[1].alert.value));
  EXPECT_TRUE(got->held[1].resolve_held);
  EXPECT_EQ(got->held[1].held_resolve.state, AlertState::kNormal);
  ASSERT_EQ(got->history.size(), 2u);
  ASSERT_EQ(got->history[1].size(), 1u);
  EXPECT_EQ(got->history[1][0].kind, AlertChange::Kind::kResolved);
  EXPECT_EQ(got->history[1][0].at_us, 3'000'000);
  EXPECT_TRUE(got->history[1][0].state_changed);
  EXPECT_FALSE(got->history[1][0].notify);
  EXPECT_TRUE(got->history[9].empty());
}

TEST(AlertState, EveryTruncationIsCorruption) {
  std::string bytes;
  EncodeAlertState(Sample(), &bytes);
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeAlertState(std::string_view(bytes).substr(0, n)).ok()) << n;
  }
}

TEST(AlertState, EveryFlippedBitIsCorruption) {
  std::string bytes;
  EncodeAlertState(Sample(), &bytes);
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string bad = bytes;
    bad[i] ^= 0x01;
    EXPECT_FALSE(DecodeAlertState(bad).ok()) << i;
  }
}

}  // namespace
}  // namespace loupe::alert
