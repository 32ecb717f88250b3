#include "alert/alert_service.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <thread>

#include "alert/alert_state.h"
#include "common/env.h"
#include "live/event_log.h"

namespace loupe::alert {
namespace {

constexpr int64_t kSec = 1'000'000;
constexpr int64_t kNow = 1796601600LL * kSec;

// Error rates per endpoint of "identity", set by the test.
struct Levels {
  std::mutex mu;
  std::map<std::string, double> error_rate;
};

class ScriptedSource : public SignalSource {
 public:
  explicit ScriptedSource(Levels* levels) : levels_(levels) {}
  void Read(const AlertRule& rule, int64_t, std::vector<ScopeSample>* out) override {
    std::lock_guard<std::mutex> l(levels_->mu);
    for (const auto& [endpoint, v] : levels_->error_rate) {
      if (rule.service == "identity") out->push_back({{"identity", "", endpoint}, v, 1000});
    }
  }

 private:
  Levels* levels_;
};

class RecordingSink : public AlertSink {
 public:
  void Notify(const AlertNotice& n) override {
    std::lock_guard<std::mutex> l(mu);
    notices.push_back(n);
  }
  std::mutex mu;
  std::vector<AlertNotice> notices;
};

class AlertServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = std::move(AlertConfig::Open("").value());
    auto ch = config_->AddChannel(1, *ParseChannel(R"({"name": "hook", "type": "webhook", "url": "http://h/x"})"));
    ASSERT_TRUE(ch.ok());
    auto rule = ParseRule(R"({"name": "identity errors", "service": "identity", "endpoint": "*",
                              "signal": "error_rate", "warning": 5, "critical": 10})");
    ASSERT_TRUE(rule.ok());
    rule->channels = {ch->id};
    auto added = config_->AddRule(1, *rule);
    ASSERT_TRUE(added.ok());
    rule_ = *added;
    service_ = std::make_unique<AlertService>(
        config_.get(), [this] { return std::make_unique<ScriptedSource>(&levels_); }, &events_,
        &sink_, &clock_);
  }

  void Set(const std::string& endpoint, double v) {
    std::lock_guard<std::mutex> l(levels_.mu);
    levels_.error_rate[endpoint] = v;
  }

  std::unique_ptr<AlertConfig> config_;
  AlertRule rule_;
  Levels levels_;
  live::EventLog events_;
  RecordingSink sink_;
  ManualClock clock_{kNow};
  std::unique_ptr<AlertService> service_;
};

TEST_F(AlertServiceTest, EndpointsFiringInOneTickAreOneNoticeAndAnEventEach) {
  Set("POST /login", 30);
  Set("POST /token", 12);
  Set("GET /me", 0);
  service_->Tick();
  ASSERT_EQ(sink_.notices.size(), 1u);
  EXPECT_EQ(sink_.notices[0].rule.id, rule_.id);
  EXPECT_EQ(sink_.notices[0].changes.size(), 2u);
  auto current = service_->Current(1);
  ASSERT_EQ(current.size(), 2u);
  EXPECT_TRUE(service_->Current(2).empty());
  live::EventQuery q;
  q.type = model::kEventAlert;
  auto page = events_.Query(1, q);
  ASSERT_EQ(page.events.size(), 2u);
  EXPECT_STREQ(page.events[0].level, model::kLevelFatal);
  EXPECT_NE(page.events[0].message.find("identity errors · error_rate"), std::string::npos)
      << page.events[0].message;

  // Resolved in the next tick: a notice and a NORMAL event.
  Set("POST /login", 0);
  clock_.Advance(5 * kSec);
  service_->Tick();
  ASSERT_EQ(sink_.notices.size(), 2u);
  ASSERT_EQ(sink_.notices[1].changes.size(), 1u);
  EXPECT_EQ(sink_.notices[1].changes[0].kind, AlertChange::Kind::kResolved);
  auto history = service_->History(1, 0, INT64_MAX, 100);
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(history[0].kind, AlertChange::Kind::kResolved) << "newest first";
  EXPECT_EQ(service_->stats().firing, 1u);
  EXPECT_EQ(service_->stats().ticks, 2u);
}

TEST_F(AlertServiceTest, ARuleWithoutChannelsAlertsWithoutNotices) {
  AlertRule r = rule_;
  r.channels.clear();
  ASSERT_TRUE(config_->UpdateRule(1, rule_.id, r).ok());
  Set("POST /login", 30);
  service_->Tick();
  EXPECT_TRUE(sink_.notices.empty());
  EXPECT_EQ(service_->Current(1).size(), 1u);
}

TEST_F(AlertServiceTest, ChangingWhatARuleWatchesStartsItsAlertsAfresh) {
  Set("POST /login", 30);
  service_->Tick();
  uint64_t first = service_->Current(1)[0].alert_id;
  AlertRule r = rule_;
  r.name = "renamed";  // same target: the alert goes on
  ASSERT_TRUE(config_->UpdateRule(1, rule_.id, r).ok());
  clock_.Advance(5 * kSec);
  service_->Tick();
  EXPECT_EQ(service_->Current(1)[0].alert_id, first);
  r.window_s = 300;  // another target: a new alert
  ASSERT_TRUE(config_->UpdateRule(1, rule_.id, r).ok());
  clock_.Advance(5 * kSec);
  service_->Tick();
  EXPECT_NE(service_->Current(1)[0].alert_id, first);
  ASSERT_TRUE(config_->DeleteRule(1, rule_.id).ok());
  clock_.Advance(5 * kSec);
  service_->Tick();
  EXPECT_TRUE(service_->Current(1).empty());
}

TEST_F(AlertServiceTest, TestReplaysTheRuleWithoutTouchingLiveAlerts) {
  Set("POST /login", 30);
  auto changes = service_->Test(rule_, kNow - 3600 * kSec, kNow, 5 * kSec);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].kind, AlertChange::Kind::kFiring);
  EXPECT_TRUE(service_->Current(1).empty());
  EXPECT_TRUE(sink_.notices.empty());
}

TEST_F(AlertServiceTest, TheThreadTicksUntilStopped) {
  AlertServiceOptions o;
  o.tick_us = 10'000;
  AlertService svc(config_.get(), [this] { return std::make_unique<ScriptedSource>(&levels_); },
                   nullptr, nullptr, &clock_, o);
  svc.Start();
  for (int i = 0; i < 500 && svc.stats().ticks < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  svc.Stop();
  uint64_t ticks = svc.stats().ticks;
  EXPECT_GE(ticks, 3u);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(svc.stats().ticks, ticks);
}

// A data directory for the durable state, removed afterwards.
class StateDir {
 public:
  StateDir() {
    char tmpl[] = "/tmp/loupe-alert-state-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  ~StateDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string file() const { return dir_ + "/alert-state.bin"; }

 private:
  std::string dir_;
};

class AlertStateTest : public AlertServiceTest {
 protected:
  // A service as the server makes one after a restart (or a kill -9: the
  // old one is simply abandoned, its state as last written).
  std::unique_ptr<AlertService> Restart() {
    AlertServiceOptions o;
    o.state_path = dir_.file();
    return std::make_unique<AlertService>(
        config_.get(), [this] { return std::make_unique<ScriptedSource>(&levels_); }, &events_,
        &sink_, &clock_, o);
  }
  StateDir dir_;
};

TEST_F(AlertStateTest, AFiringAlertKeepsItsIdAndSinceAcrossARestartAndIsNotSentAgain) {
  auto svc = Restart();
  Set("POST /login", 30);
  svc->Tick();
  ASSERT_EQ(sink_.notices.size(), 1u);
  Alert before = svc->Current(1).at(0);
  svc.reset();

  clock_.Advance(5 * kSec);
  svc = Restart();
  ASSERT_EQ(svc->Current(1).size(), 1u) << "shown before the first tick";
  EXPECT_EQ(svc->Current(1)[0].alert_id, before.alert_id);
  svc->Tick();
  EXPECT_EQ(sink_.notices.size(), 1u) << "no second firing message";
  ASSERT_EQ(svc->Current(1).size(), 1u);
  EXPECT_EQ(svc->Current(1)[0].alert_id, before.alert_id);
  EXPECT_EQ(svc->Current(1)[0].since_us, before.since_us);

  Set("POST /login", 0);
  clock_.Advance(5 * kSec);
  svc->Tick();
  ASSERT_EQ(sink_.notices.size(), 2u);
  EXPECT_EQ(sink_.notices[1].changes.at(0).kind, AlertChange::Kind::kResolved);
  EXPECT_EQ(sink_.notices[1].changes.at(0).alert.alert_id, before.alert_id);
  auto history = svc->History(1, 0, INT64_MAX, 100);
  ASSERT_EQ(history.size(), 2u) << "the firing from before the restart is still there";
  EXPECT_EQ(history[1].kind, AlertChange::Kind::kFiring);
}

TEST_F(AlertStateTest, NewAlertsAfterARestartGetNewIds) {
  auto svc = Restart();
  Set("POST /login", 30);
  svc->Tick();
  uint64_t first = svc->Current(1).at(0).alert_id;
  Set("POST /login", 0);
  clock_.Advance(5 * kSec);
  svc->Tick();
  svc = Restart();
  Set("POST /login", 30);
  clock_.Advance(5 * kSec);
  svc->Tick();
  EXPECT_GT(svc->Current(1).at(0).alert_id, first);
}

TEST_F(AlertStateTest, APendingTimerAndARepeatTimerContinueAcrossARestart) {
  AlertRule r = rule_;
  r.for_s = 60;
  r.repeat_minutes = 10;
  ASSERT_TRUE(config_->UpdateRule(1, rule_.id, r).ok());
  auto svc = Restart();
  Set("POST /login", 30);
  svc->Tick();  // pending from now
  clock_.Advance(50 * kSec);
  svc = Restart();
  svc->Tick();
  EXPECT_TRUE(sink_.notices.empty()) << "50 s of a 60 s `for`";
  clock_.Advance(10 * kSec);
  svc = Restart();
  svc->Tick();
  ASSERT_EQ(sink_.notices.size(), 1u) << "the `for` counted from before the restarts";

  clock_.Advance(9 * 60 * kSec);
  svc = Restart();
  svc->Tick();
  EXPECT_EQ(sink_.notices.size(), 1u);
  clock_.Advance(60 * kSec);
  svc = Restart();
  svc->Tick();
  ASSERT_EQ(sink_.notices.size(), 2u);
  EXPECT_EQ(sink_.notices[1].changes.at(0).kind, AlertChange::Kind::kRepeat);
}

TEST_F(AlertStateTest, ATickThatChangesNothingWritesNothing) {
  auto svc = Restart();
  Set("POST /login", 30);
  svc->Tick();
  EXPECT_EQ(svc->stats().state_writes, 1u);
  for (int i = 0; i < 3; ++i) {
    Set("POST /login", 30 + i);  // the value moves, the state does not
    clock_.Advance(5 * kSec);
    svc->Tick();
  }
  EXPECT_EQ(svc->stats().state_writes, 1u);
  Set("POST /login", 0);
  clock_.Advance(5 * kSec);
  svc->Tick();
  EXPECT_EQ(svc->stats().state_writes, 2u);
}

TEST_F(AlertStateTest, ACorruptFileIsMovedAsideAndTheServiceStartsEmpty) {
  auto svc = Restart();
  Set("POST /login", 30);
  svc->Tick();
  svc.reset();
  std::string bytes = ReadFileToString(Env::Default(), dir_.file()).value();
  bytes[bytes.size() / 2] ^= 0x40;
  ASSERT_TRUE(WriteFileAtomically(Env::Default(), dir_.file(), bytes).ok());

  svc = Restart();
  EXPECT_TRUE(svc->Current(1).empty());
  EXPECT_TRUE(svc->History(1, 0, INT64_MAX, 100).empty());
  EXPECT_TRUE(Env::Default()->FileExists(dir_.file() + ".bad"));
  EXPECT_FALSE(Env::Default()->FileExists(dir_.file()));
  clock_.Advance(5 * kSec);
  svc->Tick();
  EXPECT_EQ(sink_.notices.size(), 2u) << "fires again, as without state";
  EXPECT_TRUE(Env::Default()->FileExists(dir_.file()));
}

TEST_F(AlertStateTest, HistoryStaysCappedWhenLoaded) {
  AlertStateData state;
  for (int i = 0; i < 20; ++i) {
    AlertChange c;
    c.alert.project = 1;
    c.alert.alert_id = i + 1;
    c.at_us = kNow + i;
    state.history[1].push_back(c);
  }
  std::string bytes;
  EncodeAlertState(state, &bytes);
  ASSERT_TRUE(WriteFileAtomically(Env::Default(), dir_.file(), bytes).ok());
  AlertServiceOptions o;
  o.state_path = dir_.file();
  o.history_per_project = 5;
  AlertService svc(config_.get(), [this] { return std::make_unique<ScriptedSource>(&levels_); },
                   nullptr, nullptr, &clock_, o);
  auto h = svc.History(1, 0, INT64_MAX, 100);
  ASSERT_EQ(h.size(), 5u);
  EXPECT_EQ(h[0].alert.alert_id, 20u) << "the newest kept";
}

}  // namespace
}  // namespace loupe::alert
