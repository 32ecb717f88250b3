#include "alert/evaluator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

namespace loupe::alert {
namespace {

constexpr int64_t kSec = 1'000'000;
constexpr int64_t kMin = 60 * kSec;
constexpr int64_t kDay = 86400 * kSec;
// 2026-12-07 00:00:00 UTC, a Monday.
constexpr int64_t kMonday = 1796601600LL * kSec;

// Samples scripted per scope as a function of time: the signal each scope
// shows at a given evaluation time. A scope whose function returns NaN has
// no data then.
class FakeSource : public SignalSource {
 public:
  using Fn = std::function<double(int64_t)>;
  void Set(ScopeKey scope, Fn fn, int64_t volume = 1000) {
    scopes_[scope.service + "|" + scope.instance + "|" + scope.endpoint] = {scope, fn, volume};
  }
  void Read(const AlertRule& rule, int64_t end_us, std::vector<ScopeSample>* out) override {
    ++reads;
    for (const auto& [k, s] : scopes_) {
      double v = s.fn(end_us);
      if (!std::isnan(v)) out->push_back({s.scope, v, s.volume});
    }
  }
  int reads = 0;

 private:
  struct Scripted {
    ScopeKey scope;
    Fn fn;
    int64_t volume;
  };
  std::map<std::string, Scripted> scopes_;
};

AlertRule ErrorRateRule() {
  AlertRule r;
  r.id = 7;
  r.project = 1;
  r.name = "identity errors";
  r.service = "identity";
  r.signal = Signal::kErrorRate;
  r.window_s = 60;
  r.warning = 5;
  r.critical = 10;
  return r;
}

// Runs ticks every 5 s from `from` to `to` and returns every change.
std::vector<AlertChange> Ticks(Evaluator* ev, const std::vector<AlertRule>& rules,
                             FakeSource* src, int64_t from, int64_t to,
                             const std::vector<Silence>& silences = {}) {
  std::vector<AlertChange> changes;
  for (int64_t t = from; t < to; t += 5 * kSec) ev->Evaluate(rules, silences, src, t, &changes);
  return changes;
}

std::vector<std::string> Kinds(const std::vector<AlertChange>& changes, bool notified_only) {
  std::vector<std::string> out;
  for (const auto& c : changes) {
    if (notified_only && !c.notify) continue;
    out.push_back(std::string(ChangeKindName(c.kind)) + ":" + std::string(LevelName(c.alert.level)));
  }
  return out;
}

TEST(Evaluator, FiresAtCriticalAndResolvesWithOneStableAlertId) {
  Evaluator ev;
  FakeSource src;
  // 2 % errors, then 12 % from minute 1 to minute 3, then 1 %.
  src.Set({"identity", "", ""}, [](int64_t t) {
    return t >= kMonday + kMin && t < kMonday + 3 * kMin ? 12.0 : (t < kMonday + kMin ? 2.0 : 1.0);
  });
  auto changes = Ticks(&ev, {ErrorRateRule()}, &src, kMonday, kMonday + 5 * kMin);
  ASSERT_EQ(Kinds(changes, true), (std::vector<std::string>{"firing:critical", "resolved:critical"}));
  EXPECT_EQ(changes[0].at_us, kMonday + kMin);
  EXPECT_EQ(changes[0].alert.value, 12.0);
  EXPECT_EQ(changes[0].alert.threshold, 10.0);
  EXPECT_EQ(changes[0].alert.scope.service, "identity");
  EXPECT_EQ(changes[1].at_us, kMonday + 3 * kMin);
  EXPECT_EQ(changes[0].alert.alert_id, changes[1].alert.alert_id);
  EXPECT_TRUE(ev.Current().empty());
  EXPECT_EQ(ev.size(), 0u) << "normal scopes hold no state";
}

TEST(Evaluator, WarningThenCriticalIsALevelChangeOfTheSameAlert) {
  Evaluator ev;
  FakeSource src;
  src.Set({"identity", "", ""}, [](int64_t t) { return t < kMonday + kMin ? 6.0 : 11.0; });
  auto changes = Ticks(&ev, {ErrorRateRule()}, &src, kMonday, kMonday + 2 * kMin);
  ASSERT_EQ(Kinds(changes, true), (std::vector<std::string>{"firing:warning", "level:critical"}));
  EXPECT_EQ(changes[0].alert.alert_id, changes[1].alert.alert_id);
  auto current = ev.Current();
  ASSERT_EQ(current.size(), 1u);
  EXPECT_EQ(current[0].state, AlertState::kFiring);
  EXPECT_EQ(current[0].level, Level::kCritical);
  EXPECT_EQ(current[0].since_us, kMonday);
}

TEST(Evaluator, ForDurationKeepsAShortSpikePending) {
  Evaluator ev;
  FakeSource src;
  AlertRule rule = ErrorRateRule();
  rule.for_s = 60;
  // A 30-second spike, then a 2-minute one.
  src.Set({"identity", "", ""}, [](int64_t t) {
    int64_t s = (t - kMonday) / kSec;
    return (s >= 10 && s < 40) || (s >= 100 && s < 220) ? 20.0 : 0.0;
  });
  std::vector<AlertChange> changes;
  bool saw_pending = false;
  for (int64_t t = kMonday; t < kMonday + 5 * kMin; t += 5 * kSec) {
    ev.Evaluate({rule}, {}, &src, t, &changes);
    auto cur = ev.Current();
    if (!cur.empty() && cur[0].state == AlertState::kPending) saw_pending = true;
  }
  EXPECT_TRUE(saw_pending);
  ASSERT_EQ(Kinds(changes, true), (std::vector<std::string>{"firing:critical", "resolved:critical"}));
  EXPECT_EQ(changes[0].at_us, kMonday + 160 * kSec) << "100 s + for 60 s";
  EXPECT_EQ(changes[0].alert.since_us, kMonday + 100 * kSec) << "since the breach began";
}

TEST(Evaluator, RepeatsWhileFiring) {
  Evaluator ev;
  FakeSource src;
  AlertRule rule = ErrorRateRule();
  rule.repeat_minutes = 10;
  src.Set({"identity", "", ""}, [](int64_t) { return 50.0; });
  auto changes = Ticks(&ev, {rule}, &src, kMonday, kMonday + 35 * kMin);
  EXPECT_EQ(Kinds(changes, true), (std::vector<std::string>{"firing:critical", "repeat:critical",
                                                           "repeat:critical", "repeat:critical"}));
  EXPECT_EQ(changes[1].at_us, kMonday + 10 * kMin);
  EXPECT_FALSE(changes[1].state_changed);
}

TEST(Evaluator, NoRepeatWhenRepeatIsZeroAndNoResolveWhenSendResolvedIsOff) {
  Evaluator ev;
  FakeSource src;
  AlertRule rule = ErrorRateRule();
  rule.send_resolved = false;
  src.Set({"identity", "", ""}, [](int64_t t) { return t < kMonday + 30 * kMin ? 50.0 : 0.0; });
  auto changes = Ticks(&ev, {rule}, &src, kMonday, kMonday + 40 * kMin);
  EXPECT_EQ(Kinds(changes, true), (std::vector<std::string>{"firing:critical"}));
  EXPECT_EQ(Kinds(changes, false), (std::vector<std::string>{"firing:critical", "resolved:critical"}))
      << "the resolve is still a state change (an ALERT event)";
}

TEST(Evaluator, EachEndpointOfAStarScopeIsItsOwnAlert) {
  Evaluator ev;
  FakeSource src;
  AlertRule rule = ErrorRateRule();
  rule.endpoint = "*";
  src.Set({"identity", "", "POST /login"}, [](int64_t) { return 30.0; });
  src.Set({"identity", "", "GET /me"}, [](int64_t) { return 1.0; });
  src.Set({"identity", "", "POST /token"}, [](int64_t t) { return t < kMonday + kMin ? 7.0 : 0.0; });
  auto changes = Ticks(&ev, {rule}, &src, kMonday, kMonday + 2 * kMin);
  ASSERT_EQ(changes.size(), 3u);
  std::map<std::string, std::string> by_endpoint;
  for (const auto& c : changes) {
    by_endpoint[c.alert.scope.endpoint] += std::string(ChangeKindName(c.kind)) + " ";
  }
  EXPECT_EQ(by_endpoint["POST /login"], "firing ");
  EXPECT_EQ(by_endpoint["POST /token"], "firing resolved ");
  EXPECT_EQ(by_endpoint.count("GET /me"), 0u);
  EXPECT_NE(changes[0].alert.alert_id, changes[1].alert.alert_id);
}

TEST(Evaluator, NoDataPoliciesOfAFixedScope) {
  // Errors at 50 % for a minute, then the service sends nothing.
  auto script = [](int64_t t) {
    return t < kMonday + kMin ? 50.0 : std::numeric_limits<double>::quiet_NaN();
  };
  for (auto [policy, expected] :
       std::vector<std::pair<NoData, std::vector<std::string>>>{
           {NoData::kKeep, {"firing:critical"}},
           {NoData::kOk, {"firing:critical", "resolved:critical"}},
           {NoData::kAlerting, {"firing:critical"}}}) {
    Evaluator ev;
    FakeSource src;
    src.Set({"identity", "", ""}, script);
    AlertRule rule = ErrorRateRule();
    rule.no_data = policy;
    auto changes = Ticks(&ev, {rule}, &src, kMonday, kMonday + 3 * kMin);
    EXPECT_EQ(Kinds(changes, true), expected) << static_cast<int>(policy);
  }
  // Alerting on no data fires a scope that never sent anything.
  Evaluator ev;
  FakeSource empty;
  AlertRule rule = ErrorRateRule();
  rule.no_data = NoData::kAlerting;
  auto changes = Ticks(&ev, {rule}, &empty, kMonday, kMonday + kMin);
  ASSERT_EQ(Kinds(changes, true), (std::vector<std::string>{"firing:critical"}));
  EXPECT_TRUE(std::isnan(changes[0].alert.value));
}

TEST(Evaluator, BaselineComparesWithTheSameWindowYesterdayAboveAMinimumVolume) {
  Evaluator ev;
  FakeSource src;
  AlertRule rule = ErrorRateRule();
  rule.signal = Signal::kResponseTime;
  rule.baseline = Baseline::kYesterday;
  rule.warning = 1.5;  // 1.5× yesterday
  rule.critical = 3;
  rule.min_volume = 100;
  // Yesterday 200 ms all day; today 250 ms (1.25×), then 700 ms (3.5×) from minute 2.
  src.Set({"identity", "", ""}, [](int64_t t) {
    if (t < kMonday) return 200.0;
    return t < kMonday + 2 * kMin ? 250.0 : 700.0;
  });
  auto changes = Ticks(&ev, {rule}, &src, kMonday, kMonday + 3 * kMin);
  ASSERT_EQ(Kinds(changes, true), (std::vector<std::string>{"firing:critical"}));
  EXPECT_EQ(changes[0].at_us, kMonday + 2 * kMin);
  EXPECT_DOUBLE_EQ(changes[0].alert.value, 3.5);

  // The same surge on 20 calls (a quiet night) does not fire.
  Evaluator quiet;
  FakeSource night;
  night.Set({"identity", "", ""}, [](int64_t t) { return t < kMonday ? 200.0 : 700.0; }, 20);
  EXPECT_TRUE(Ticks(&quiet, {rule}, &night, kMonday, kMonday + 3 * kMin).empty());
}

TEST(Evaluator, BelowComparisonFiresWhenTrafficDrops) {
  Evaluator ev;
  FakeSource src;
  AlertRule rule = ErrorRateRule();
  rule.signal = Signal::kTps;
  rule.comparison = Comparison::kBelow;
  rule.warning = 50;
  rule.critical = 10;
  src.Set({"identity", "", ""}, [](int64_t t) { return t < kMonday + kMin ? 200.0 : 5.0; });
  auto changes = Ticks(&ev, {rule}, &src, kMonday, kMonday + 2 * kMin);
  EXPECT_EQ(Kinds(changes, true), (std::vector<std::string>{"firing:critical"}));
}

TEST(QuietHours, WeekdaysTimesAndOffsets) {
  QuietHours q;
  q.weekdays = 1u << 1;  // Monday
  q.from_minute = 9 * 60;
  q.to_minute = 17 * 60;
  EXPECT_FALSE(InQuietHours(q, kMonday + 8 * 60 * kMin));
  EXPECT_TRUE(InQuietHours(q, kMonday + 9 * 60 * kMin));
  EXPECT_TRUE(InQuietHours(q, kMonday + 17 * 60 * kMin - kSec));
  EXPECT_FALSE(InQuietHours(q, kMonday + 17 * 60 * kMin));
  EXPECT_FALSE(InQuietHours(q, kMonday + kDay + 10 * 60 * kMin)) << "Tuesday";
  q.tz_offset_minutes = 9 * 60;  // UTC+09:00: Monday 09:00 there is 00:00 UTC
  EXPECT_TRUE(InQuietHours(q, kMonday));
  EXPECT_FALSE(InQuietHours(q, kMonday + 9 * 60 * kMin));
  // Across midnight: Friday 22:00 → Saturday 06:00 counts as Friday's.
  QuietHours night;
  night.weekdays = 1u << 5;  // Friday
  night.from_minute = 22 * 60;
  night.to_minute = 6 * 60;
  int64_t friday = kMonday + 4 * kDay;
  EXPECT_TRUE(InQuietHours(night, friday + 23 * 60 * kMin));
  EXPECT_TRUE(InQuietHours(night, friday + kDay + 5 * 60 * kMin)) << "Saturday 05:00";
  EXPECT_FALSE(InQuietHours(night, friday + kDay + 23 * 60 * kMin)) << "Saturday 23:00";
  EXPECT_FALSE(InQuietHours(night, friday + 5 * 60 * kMin)) << "Friday 05:00 belongs to Thursday";
}

TEST(QuietHours, InABerlinNightTheHoursMoveWithDaylightSavingTime) {
  QuietHours q;
  q.weekdays = 0x7f;  // every day, 22:00 → 07:00 in Berlin
  q.from_minute = 22 * 60;
  q.to_minute = 7 * 60;
  q.zone = "Europe/Berlin";
  q.tz = *TimeZone::Named(q.zone);
  // Saturday 2026-03-28, the night daylight saving time starts.
  const int64_t mar28 = 1774656000LL * kSec;  // 00:00 UTC
  EXPECT_FALSE(InQuietHours(q, mar28 + 20 * 60 * kMin + 59 * kMin)) << "21:59 CET";
  EXPECT_TRUE(InQuietHours(q, mar28 + 21 * 60 * kMin)) << "22:00 CET";
  EXPECT_TRUE(InQuietHours(q, mar28 + kDay + 4 * 60 * kMin + 59 * kMin)) << "06:59 CEST";
  EXPECT_FALSE(InQuietHours(q, mar28 + kDay + 5 * 60 * kMin)) << "07:00 CEST = 05:00 UTC";
  // The evening before: 06:00 UTC was 07:00 CET, no longer quiet.
  EXPECT_FALSE(InQuietHours(q, mar28 + 6 * 60 * kMin));
  EXPECT_TRUE(InQuietHours(q, mar28 + 5 * 60 * kMin + 59 * kMin)) << "06:59 CET";
  // Sunday 2026-10-25, when it ends: 07:00 CET is 06:00 UTC.
  const int64_t oct25 = 1792886400LL * kSec;
  EXPECT_TRUE(InQuietHours(q, oct25 + 5 * 60 * kMin + 59 * kMin)) << "06:59 CET";
  EXPECT_FALSE(InQuietHours(q, oct25 + 6 * 60 * kMin)) << "07:00 CET";
  EXPECT_TRUE(InQuietHours(q, oct25 - 2 * 60 * kMin)) << "Saturday 24:00 CEST";
}

TEST(QuietHours, NewYorkOfficeHoursFollowTheirWeekdayAndDaylightTime) {
  QuietHours q;
  q.weekdays = 1u << 1;  // Mondays 09:00 → 17:00 in New York
  q.from_minute = 9 * 60;
  q.to_minute = 17 * 60;
  q.zone = "America/New_York";
  q.tz = *TimeZone::Named(q.zone);
  const int64_t mar9 = 1773014400LL * kSec;  // Monday 2026-03-09 00:00 UTC, EDT (-4) since Sunday
  EXPECT_FALSE(InQuietHours(q, mar9 + 12 * 60 * kMin + 59 * kMin)) << "08:59 EDT";
  EXPECT_TRUE(InQuietHours(q, mar9 + 13 * 60 * kMin)) << "09:00 EDT";
  EXPECT_TRUE(InQuietHours(q, mar9 + 20 * 60 * kMin + 59 * kMin)) << "16:59 EDT";
  EXPECT_FALSE(InQuietHours(q, mar9 + 21 * 60 * kMin)) << "17:00 EDT";
  const int64_t mar2 = mar9 - 7 * kDay;  // a week earlier: EST (-5)
  EXPECT_FALSE(InQuietHours(q, mar2 + 13 * 60 * kMin + 59 * kMin)) << "08:59 EST";
  EXPECT_TRUE(InQuietHours(q, mar2 + 14 * 60 * kMin)) << "09:00 EST";
  EXPECT_FALSE(InQuietHours(q, mar9 + kDay + 14 * 60 * kMin)) << "Tuesday";
  EXPECT_FALSE(InQuietHours(q, mar9 + 2 * 60 * kMin)) << "Sunday 22:00 in New York";
}

TEST(Evaluator, QuietHoursHoldTheNotificationUntilTheyEnd) {
  Evaluator ev;
  FakeSource src;
  AlertRule rule = ErrorRateRule();
  rule.quiet.weekdays = 1u << 1;
  rule.quiet.from_minute = 0;
  rule.quiet.to_minute = 60;  // Monday 00:00–01:00 UTC
  src.Set({"identity", "", ""}, [](int64_t t) { return t >= kMonday + 10 * kMin ? 30.0 : 0.0; });
  auto changes = Ticks(&ev, {rule}, &src, kMonday, kMonday + 70 * kMin);
  ASSERT_EQ(Kinds(changes, false), (std::vector<std::string>{"firing:critical", "firing:critical"}));
  EXPECT_FALSE(changes[0].notify) << "fired at 00:10, inside quiet hours";
  EXPECT_TRUE(changes[0].state_changed);
  EXPECT_TRUE(changes[1].notify);
  EXPECT_FALSE(changes[1].state_changed);
  EXPECT_EQ(changes[1].at_us, kMonday + 60 * kMin);
  EXPECT_EQ(changes[0].alert.alert_id, changes[1].alert.alert_id);
}

TEST(Evaluator, AnAlertThatFiresAndResolvesInsideQuietHoursSendsNothing) {
  Evaluator ev;
  FakeSource src;
  AlertRule rule = ErrorRateRule();
  rule.quiet = {static_cast<uint8_t>(1u << 1), 0, 60, 0};
  src.Set({"identity", "", ""}, [](int64_t t) {
    return t >= kMonday + 10 * kMin && t < kMonday + 20 * kMin ? 30.0 : 0.0;
  });
  auto changes = Ticks(&ev, {rule}, &src, kMonday, kMonday + 90 * kMin);
  EXPECT_EQ(changes.size(), 2u);
  EXPECT_TRUE(Kinds(changes, true).empty());
}

TEST(Evaluator, ASilenceMutesItsScopeAndAHeldResolveGoesOutWhenItEnds) {
  Evaluator ev;
  FakeSource src;
  AlertRule rule = ErrorRateRule();
  rule.endpoint = "*";
  src.Set({"identity", "", "POST /login"}, [](int64_t t) { return t < kMonday + 10 * kMin ? 30.0 : 0.0; });
  src.Set({"identity", "", "GET /me"}, [](int64_t) { return 30.0; });
  // Fired and notified before the silence, resolved under it.
  Silence s;
  s.project = 1;
  s.rule_id = 7;
  s.endpoint = "POST /login";
  s.start_us = kMonday + 5 * kMin;
  s.end_us = kMonday + 20 * kMin;
  auto changes = Ticks(&ev, {rule}, &src, kMonday, kMonday + 30 * kMin, {s});
  std::vector<std::string> login, me;
  for (const auto& c : changes) {
    auto& v = c.alert.scope.endpoint == "POST /login" ? login : me;
    v.push_back(std::string(ChangeKindName(c.kind)) + (c.notify ? "+" : "-"));
  }
  EXPECT_EQ(login, (std::vector<std::string>{"firing+", "resolved-", "resolved+"}));
  EXPECT_EQ(me, (std::vector<std::string>{"firing+"})) << "the silence names one endpoint";
  EXPECT_EQ(changes.back().at_us, kMonday + 20 * kMin);
}

TEST(Evaluator, DisabledOrDeletedRulesDropTheirAlerts) {
  Evaluator ev;
  FakeSource src;
  AlertRule rule = ErrorRateRule();
  src.Set({"identity", "", ""}, [](int64_t) { return 30.0; });
  std::vector<AlertChange> changes;
  ev.Evaluate({rule}, {}, &src, kMonday, &changes);
  EXPECT_EQ(ev.Current().size(), 1u);
  rule.enabled = false;
  ev.Evaluate({rule}, {}, &src, kMonday + 5 * kSec, &changes);
  EXPECT_TRUE(ev.Current().empty());
  rule.enabled = true;
  ev.Evaluate({rule}, {}, &src, kMonday + 10 * kSec, &changes);
  EXPECT_EQ(ev.Current().size(), 1u);
  ev.Evaluate({}, {}, &src, kMonday + 15 * kSec, &changes);
  EXPECT_EQ(ev.size(), 0u);
}

TEST(Evaluator, AlertIdsContinueFromTheRestoredCounter) {
  Evaluator ev;
  ev.set_next_alert_id(1000);
  FakeSource src;
  src.Set({"identity", "", ""}, [](int64_t) { return 30.0; });
  std::vector<AlertChange> changes;
  ev.Evaluate({ErrorRateRule()}, {}, &src, kMonday, &changes);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].alert.alert_id, 1000u);
  EXPECT_EQ(ev.next_alert_id(), 1001u);
}

TEST(Backtest, TheLastStepIsTheEndItself) {
  FakeSource src;
  // The breach begins 3 s before the end: only an evaluation at the end sees it.
  src.Set({"identity", "", ""}, [](int64_t t) { return t >= kMonday + 3597 * kSec ? 15.0 : 0.5; });
  auto changes = Backtest(ErrorRateRule(), &src, kMonday, kMonday + 3600 * kSec, 5 * kSec);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].at_us, kMonday + 3600 * kSec);
}

TEST(Backtest, SaysWhenARuleWouldHaveFiredInThePastHour) {
  FakeSource src;
  src.Set({"identity", "", ""}, [](int64_t t) {
    return t >= kMonday + 20 * kMin && t < kMonday + 25 * kMin ? 15.0 : 0.5;
  });
  auto changes = Backtest(ErrorRateRule(), &src, kMonday, kMonday + 60 * kMin, 5 * kSec);
  ASSERT_EQ(Kinds(changes, false), (std::vector<std::string>{"firing:critical", "resolved:critical"}));
  EXPECT_EQ(changes[0].at_us, kMonday + 20 * kMin);
  EXPECT_EQ(changes[1].at_us, kMonday + 25 * kMin);
}

}  // namespace
}  // namespace loupe::alert
