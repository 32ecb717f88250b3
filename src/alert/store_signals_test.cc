#include "alert/store_signals.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "live/event_log.h"
#include "store/mem/mem_store.h"
#include "store/store.h"

namespace loupe::alert {
namespace {

constexpr int64_t kSec = 1'000'000;
constexpr int64_t kNow = 1796601600LL * kSec;  // 2026-12-07 00:00 UTC
constexpr uint32_t kProject = 1;

model::Transaction Tx(uint64_t id, std::string service, std::string instance,
                      std::string endpoint, int64_t end_us, int64_t elapsed_ms, bool error) {
  model::Transaction tx;
  tx.id = id;
  tx.service = std::move(service);
  tx.instance = std::move(instance);
  tx.endpoint = std::move(endpoint);
  tx.end_us = end_us;
  tx.start_us = end_us - elapsed_ms * 1000;
  tx.error = error;
  return tx;
}

class StoreSignalsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = store::NewMemStore();
    store::WriteBatch b;
    uint64_t id = 1;
    // In the minute before kNow - 2 s (the source's lag): identity serves
    // POST /login (100 calls, 20 errors, 100 ms; 2 slow ones of 3 s) on two
    // instances and GET /me (100 calls, no errors, 10 ms); billing 30 calls.
    for (int i = 0; i < 100; ++i) {
      int64_t end = kNow - 2 * kSec - 59 * kSec + i * 500'000;
      b.transactions.push_back(Tx(id++, "identity", i % 2 ? "id-1" : "id-2", "POST /login", end,
                                  i < 2 ? 3000 : 100, i % 5 == 0));
      b.transactions.push_back(Tx(id++, "identity", "id-1", "GET /me", end, 10, false));
      if (i < 30) b.transactions.push_back(Tx(id++, "billing", "b-1", "POST /pay", end, 50, false));
    }
    // Outside the window (it ends 2 s before kNow): must not count.
    b.transactions.push_back(Tx(id++, "identity", "id-1", "POST /login", kNow - 90 * kSec, 100, true));
    b.transactions.push_back(Tx(id++, "identity", "id-1", "POST /login", kNow - kSec, 100, true));
    ASSERT_TRUE(store_->Append(kProject, std::move(b)).ok());
  }

  std::map<std::string, ScopeSample> Read(const AlertRule& rule) {
    std::vector<ScopeSample> out;
    source_.Read(rule, kNow, &out);
    std::map<std::string, ScopeSample> by;
    for (auto& s : out) by[s.scope.service + "|" + s.scope.instance + "|" + s.scope.endpoint] = s;
    return by;
  }

  AlertRule Rule(Signal signal, std::string service = "", std::string instance = "",
                 std::string endpoint = "") {
    AlertRule r;
    r.project = kProject;
    r.signal = signal;
    r.window_s = 60;
    r.service = std::move(service);
    r.instance = std::move(instance);
    r.endpoint = std::move(endpoint);
    return r;
  }

  std::unique_ptr<store::Store> store_;
  live::EventLog events_;
  StoreSignalSource source_{nullptr, nullptr, nullptr};
};

TEST_F(StoreSignalsTest, ServiceEndpointAndProjectFiguresFromOneScan) {
  source_ = StoreSignalSource(store_.get(), nullptr, &events_);
  const AlertRule service = Rule(Signal::kErrorRate, "identity");
  const AlertRule endpoints = Rule(Signal::kErrorRate, "identity", "", "*");
  const AlertRule calls = Rule(Signal::kCalls);
  const AlertRule tps = Rule(Signal::kTps);
  const AlertRule instances = Rule(Signal::kErrorCount, "identity", "*");
  source_.BeginTick(kNow, {service, endpoints, calls, tps, instances});

  auto s = Read(service);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_DOUBLE_EQ(s["identity||"].value, 10.0) << "20 errors in 200 calls";
  EXPECT_EQ(s["identity||"].volume, 200);

  auto e = Read(endpoints);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_DOUBLE_EQ(e["identity||POST /login"].value, 20.0);
  EXPECT_DOUBLE_EQ(e["identity||GET /me"].value, 0.0);

  EXPECT_DOUBLE_EQ(Read(calls)["||"].value, 230.0);
  EXPECT_DOUBLE_EQ(Read(tps)["||"].value, 230.0 / 60);

  auto i = Read(instances);
  ASSERT_EQ(i.size(), 2u);
  EXPECT_DOUBLE_EQ(i["identity|id-2|"].value, 10.0) << "i = 0, 10, 20, …";
  EXPECT_DOUBLE_EQ(i["identity|id-1|"].value, 10.0) << "i = 5, 15, 25, …";
  EXPECT_EQ(i["identity|id-1|"].volume, 150) << "50 logins and every GET /me";
  EXPECT_EQ(source_.scans(), 1u) << "one rollup scan per project and tick";

  // A rule the tick did not plan is still answered (with a scan of its own).
  auto p95 = Read(Rule(Signal::kP95, "billing"));
  EXPECT_NEAR(p95["billing||"].value, 50.0, 50.0 * 0.07);
  EXPECT_EQ(source_.scans(), 2u);

  source_.BeginTick(kNow + 5'000'000, {service});
  Read(service);
  EXPECT_EQ(source_.scans(), 3u) << "a new tick reads fresh data";
}

TEST_F(StoreSignalsTest, WindowsOfDifferentLengthsShareTheScan) {
  source_ = StoreSignalSource(store_.get(), nullptr, &events_);
  AlertRule minute = Rule(Signal::kCalls, "identity");
  AlertRule ten_s = minute;
  ten_s.window_s = 10;
  AlertRule two_min = minute;
  two_min.window_s = 120;
  source_.BeginTick(kNow, {minute, ten_s, two_min});
  // Windows end at kNow - 2 s (the lag). Logins and /me end every 0.5 s
  // from kNow - 61 s to kNow - 11.5 s; one login at kNow - 90 s.
  EXPECT_DOUBLE_EQ(Read(minute)["identity||"].value, 200.0);
  EXPECT_DOUBLE_EQ(Read(two_min)["identity||"].value, 201.0);
  EXPECT_DOUBLE_EQ(Read(ten_s)["identity||"].value, 4.0)
      << "[kNow - 12 s, kNow - 2 s): i = 98, 99, a login and a /me each";
  EXPECT_EQ(source_.scans(), 1u);
}

TEST_F(StoreSignalsTest, ResponseTimesAndPercentiles) {
  source_ = StoreSignalSource(store_.get(), nullptr, &events_);
  auto avg = Read(Rule(Signal::kResponseTime, "identity", "", "POST /login"));
  EXPECT_DOUBLE_EQ(avg["identity||POST /login"].value, (98 * 100.0 + 2 * 3000.0) / 100);
  auto p95 = Read(Rule(Signal::kP95, "identity", "", "POST /login"));
  EXPECT_NEAR(p95["identity||POST /login"].value, 100.0, 100.0 * 0.07);
  auto p99 = Read(Rule(Signal::kP99, "identity", "", "POST /login"));
  EXPECT_NEAR(p99["identity||POST /login"].value, 3000.0, 3000.0 * 0.07);
}

TEST_F(StoreSignalsTest, AScopeWithoutTransactionsHasNoData) {
  source_ = StoreSignalSource(store_.get(), nullptr, &events_);
  EXPECT_TRUE(Read(Rule(Signal::kErrorRate, "search")).empty());
  EXPECT_TRUE(Read(Rule(Signal::kErrorRate, "identity", "", "DELETE /me")).empty());
}

TEST_F(StoreSignalsTest, EventsAndThrottledCountInTheWindow) {
  source_ = StoreSignalSource(store_.get(), nullptr, &events_);
  model::Event crash;
  crash.type = "NATIVE_CRITICAL_ERROR";
  crash.service = "identity";
  crash.instance = "id-1";
  crash.time_us = kNow - 10 * kSec;
  events_.Append(kProject, crash);
  crash.time_us = kNow - 600 * kSec;  // before the window
  events_.Append(kProject, crash);
  model::Event throttle;
  throttle.type = model::kEventThrottled;
  throttle.service = "identity";
  throttle.time_us = kNow - 20 * kSec;
  throttle.count = 40;
  events_.Append(kProject, throttle);

  AlertRule r = Rule(Signal::kEvent, "identity");
  r.event_type = "NATIVE_CRITICAL_ERROR";
  EXPECT_DOUBLE_EQ(Read(r)["identity||"].value, 1.0);
  EXPECT_DOUBLE_EQ(Read(Rule(Signal::kThrottled, "identity"))["identity||"].value, 40.0);
  AlertRule billing = r;
  billing.service = "billing";
  auto none = Read(billing);
  ASSERT_EQ(none.size(), 1u) << "a count is 0, not missing";
  EXPECT_DOUBLE_EQ(none["billing||"].value, 0.0);
}

TEST_F(StoreSignalsTest, InstanceDownIsSecondsSinceLastSeen) {
  source_ = StoreSignalSource(store_.get(), nullptr, &events_);
  store::InstanceInfo a{"identity", "id-1", "h1", "cpp", "", kNow - 3600 * kSec, kNow - 5 * kSec};
  store::InstanceInfo b{"identity", "id-2", "h2", "cpp", "", kNow - 3600 * kSec, kNow - 300 * kSec};
  ASSERT_TRUE(store_->PutInstance(kProject, a).ok());
  ASSERT_TRUE(store_->PutInstance(kProject, b).ok());
  auto s = Read(Rule(Signal::kInstanceDown, "identity", "*"));
  ASSERT_EQ(s.size(), 2u);
  EXPECT_DOUBLE_EQ(s["identity|id-1|"].value, 5.0);
  EXPECT_DOUBLE_EQ(s["identity|id-2|"].value, 300.0);
}

// The whole path: an error-rate rule over the store fires and resolves.
TEST_F(StoreSignalsTest, AnErrorRateRuleFiresOverTheStore) {
  source_ = StoreSignalSource(store_.get(), nullptr, &events_);
  AlertRule r = Rule(Signal::kErrorRate, "identity", "", "*");
  r.id = 1;
  r.name = "login errors";
  r.warning = 5;
  r.critical = 15;
  Evaluator ev;
  std::vector<AlertChange> changes;
  ev.Evaluate({r}, {}, &source_, kNow, &changes);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].alert.scope.endpoint, "POST /login");
  EXPECT_EQ(changes[0].alert.level, Level::kCritical);
  // Two minutes on, nothing in the window: no data, kept (NoData::kKeep).
  ev.Evaluate({r}, {}, &source_, kNow + 120 * kSec, &changes);
  EXPECT_EQ(changes.size(), 1u);
  r.no_data = NoData::kOk;
  ev.Evaluate({r}, {}, &source_, kNow + 125 * kSec, &changes);
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[1].kind, AlertChange::Kind::kResolved);
}

}  // namespace
}  // namespace loupe::alert
