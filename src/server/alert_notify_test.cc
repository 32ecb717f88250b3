#include "server/alert_notify.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <set>
#include <string>

#include "notify/notify_test_util.h"

namespace loupe::server {
namespace {

using notify::testing::HttpReceiver;
using notify::testing::ScopedTempDir;

constexpr int64_t kSec = 1'000'000;
constexpr int64_t kNow = 1796601600LL * kSec;

class AlertNotifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = std::move(alert::AlertConfig::Open("").value());
    auto ch = config_->AddChannel(
        1, *alert::ParseChannel(R"({"name": "hook", "type": "webhook", "url": ")" + rx_.url() +
                                R"("})"));
    ASSERT_TRUE(ch.ok()) << ch.status().ToString();
    auto rule = alert::ParseRule(R"({"name": "identity errors", "service": "identity",
        "endpoint": "*", "signal": "error_rate", "warning": 5, "critical": 10})");
    ASSERT_TRUE(rule.ok());
    rule->channels = {ch->id};
    rule_ = *config_->AddRule(1, *rule);
    notify::NotifierOptions o;
    o.dir = tmp_.path();
    o.sync = false;
    o.allow_hosts = {"127.0.0.0/8"};
    notifier_ = std::move(notify::Notifier::Open(o).value());
    an_ = std::make_unique<AlertNotifier>(
        notifier_.get(), config_.get(), [](model::ProjectId) { return std::string("default"); },
        "http://loupe.test", &clock_);
  }

  // A notice of n endpoints of identity firing at once (the last resolving).
  alert::AlertNotice Notice(int n) const {
    alert::AlertNotice notice;
    notice.rule = rule_;
    for (int i = 0; i < n; ++i) {
      alert::AlertChange c;
      c.kind = i == n - 1 ? alert::AlertChange::Kind::kResolved : alert::AlertChange::Kind::kFiring;
      c.alert.alert_id = 100 + i;
      c.alert.rule_id = rule_.id;
      c.alert.project = 1;
      c.alert.scope = {"identity", "", "GET /e" + std::to_string(i)};
      c.alert.state = alert::AlertState::kFiring;
      c.alert.level = alert::Level::kCritical;
      c.alert.value = 30;
      c.alert.threshold = 10;
      c.alert.since_us = kNow - 60 * kSec;
      c.at_us = kNow;
      c.notify = true;
      notice.changes.push_back(c);
    }
    return notice;
  }

  std::vector<rapidjson::Document> Bodies(size_t n) {
    EXPECT_TRUE(rx_.WaitForRequests(n, 10'000));
    std::vector<rapidjson::Document> out;
    for (const auto& r : rx_.requests()) {
      out.emplace_back();
      out.back().Parse(r.body.c_str());
      EXPECT_FALSE(out.back().HasParseError());
    }
    return out;
  }

  ScopedTempDir tmp_;
  HttpReceiver rx_;
  ManualClock clock_{kNow};
  std::unique_ptr<alert::AlertConfig> config_;
  alert::AlertRule rule_;
  std::unique_ptr<notify::Notifier> notifier_;
  std::unique_ptr<AlertNotifier> an_;
};

TEST_F(AlertNotifierTest, ANoticeIsOneMessageListingItsAlerts) {
  an_->Notify(Notice(3));
  auto bodies = Bodies(1);
  ASSERT_EQ(bodies.size(), 1u);
  const auto& b = bodies[0];
  EXPECT_STREQ(b["status"].GetString(), "firing");
  ASSERT_EQ(b["alerts"].Size(), 3u);
  EXPECT_STREQ(b["alerts"][2]["status"].GetString(), "resolved");
  EXPECT_STREQ(b["alerts"][1]["labels"]["endpoint"].GetString(), "GET /e1");
  std::string summary = b["alerts"][0]["annotations"]["summary"].GetString();
  EXPECT_NE(summary.find("identity errors"), std::string::npos) << summary;
}

TEST_F(AlertNotifierTest, ABurstIsCutIntoMessagesOfAHundredWithStableIds) {
  an_->Notify(Notice(250));
  auto bodies = Bodies(3);
  ASSERT_EQ(bodies.size(), 3u);
  EXPECT_EQ(bodies[0]["alerts"].Size(), 100u);
  EXPECT_EQ(bodies[1]["alerts"].Size(), 100u);
  EXPECT_EQ(bodies[2]["alerts"].Size(), 50u);
  std::set<std::string> ids;
  for (const auto& b : bodies) ids.insert(b["notificationId"].GetString());
  EXPECT_EQ(ids.size(), 3u);

  // The same notice again (a restart re-sending it): the same ids.
  an_->Notify(Notice(250));
  auto again = Bodies(6);
  ASSERT_EQ(again.size(), 6u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_STREQ(again[3 + i]["notificationId"].GetString(),
                 again[i]["notificationId"].GetString());
  }
}

TEST_F(AlertNotifierTest, ASingleAlertKeepsItsTransitionId) {
  an_->Notify(Notice(1));
  auto bodies = Bodies(1);
  ASSERT_EQ(bodies.size(), 1u);
  EXPECT_EQ(bodies[0]["alerts"].Size(), 1u);
  // Resolved at kNow: the id of alert 100's resolve.
  EXPECT_EQ(std::string(bodies[0]["notificationId"].GetString()),
            notify::MakeNotificationId("100", notify::AlertState::kResolved, kNow / 1000));
}

}  // namespace
}  // namespace loupe::server
