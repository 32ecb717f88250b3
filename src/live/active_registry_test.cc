#include "live/active_registry.h"

#include <gtest/gtest.h>

namespace loupe::live {
namespace {

constexpr int64_t kSec = 1'000'000;
constexpr int64_t kT0 = 1'700'000'000 * kSec;

model::ActiveSnapshot Snap(std::string instance, int64_t time_us, int64_t started_us = kT0 - kSec) {
  model::ActiveSnapshot s;
  s.service = "orders";
  s.instance = std::move(instance);
  s.host = "web-3";
  s.time_us = time_us;
  s.started_us = started_us;
  return s;
}

model::ActiveTx Tx(std::string id, int64_t elapsed_us) {
  model::ActiveTx a;
  a.id = std::move(id);
  a.elapsed_us = elapsed_us;
  a.endpoint = "GET /x";
  return a;
}

model::StackSample Sample(int64_t t, std::vector<std::string> frames,
                          std::string endpoint = "GET /x") {
  model::StackSample s;
  s.time_us = t;
  s.endpoint = std::move(endpoint);
  s.frames = std::move(frames);
  return s;
}

std::vector<std::string> Types(EventLog& log) {
  std::vector<std::string> out;
  EventQuery q;
  q.from_us = 0;
  for (const auto& e : log.Query(1, q).events) out.insert(out.begin(), e.type);  // oldest first
  return out;
}

class ActiveRegistryTest : public ::testing::Test {
 protected:
  ManualClock clock_{kT0};
  EventLog events_;
};

TEST_F(ActiveRegistryTest, ExtrapolatesElapsedSortsAndCountsBands) {
  ActiveRegistry reg(&clock_, &events_);
  model::ActiveSnapshot s = Snap("i1", kT0);
  s.active = {Tx("a", 500'000), Tx("b", 2'900'000), Tx("c", 9'000'000)};
  ASSERT_TRUE(reg.Submit(1, s).ok());
  clock_.Advance(200'000);
  ActiveQuery q;
  q.thresholds = [](const std::string&) { return std::vector<int64_t>{3 * kSec, 8 * kSec}; };
  auto list = reg.Active(1, q);
  ASSERT_EQ(list.size(), 1u);
  const InstanceActive& i = list[0];
  EXPECT_FALSE(i.stale);
  ASSERT_EQ(i.active.size(), 3u);
  EXPECT_EQ(i.active[0].id, "c");
  EXPECT_EQ(i.active[0].elapsed_us, 9'200'000);
  EXPECT_EQ(i.active[1].elapsed_us, 3'100'000);  // crossed into "slow" while waiting
  EXPECT_EQ(i.bands, (std::vector<uint64_t>{1, 1, 1}));
  q.limit = 1;
  list = reg.Active(1, q);
  EXPECT_EQ(list[0].active.size(), 1u);
  EXPECT_EQ(list[0].active_total, 3u);
}

TEST_F(ActiveRegistryTest, StaleAfterFiveSecondsOmittedAfterTenMinutes) {
  ActiveRegistry reg(&clock_, &events_);
  model::ActiveSnapshot s = Snap("i1", kT0);
  s.active = {Tx("a", 1)};
  ASSERT_TRUE(reg.Submit(1, s).ok());
  clock_.Advance(5 * kSec);
  EXPECT_FALSE(reg.Active(1, {})[0].stale);
  clock_.Advance(1);
  auto list = reg.Active(1, {});
  ASSERT_EQ(list.size(), 1u);
  EXPECT_TRUE(list[0].stale);
  EXPECT_TRUE(list[0].active.empty());
  clock_.Advance(600 * kSec);
  EXPECT_TRUE(reg.Active(1, {}).empty());
}

TEST_F(ActiveRegistryTest, StartRestartStopAndResumeEvents) {
  ActiveRegistry reg(&clock_, &events_);
  ASSERT_TRUE(reg.Submit(1, Snap("i1", kT0)).ok());
  ASSERT_TRUE(reg.Submit(1, Snap("i1", kT0 + kSec)).ok());  // same start: nothing
  EXPECT_EQ(Types(events_), (std::vector<std::string>{"AGENT_START"}));
  ASSERT_TRUE(reg.Submit(1, Snap("i1", kT0 + 2 * kSec, kT0 + 2 * kSec)).ok());
  EXPECT_EQ(Types(events_), (std::vector<std::string>{"AGENT_START", "AGENT_START"}));
  clock_.Advance(29 * kSec);
  reg.Sweep();
  EXPECT_EQ(Types(events_).size(), 2u);
  clock_.Advance(1 * kSec);
  reg.Sweep();
  reg.Sweep();  // once only
  EXPECT_EQ(Types(events_), (std::vector<std::string>{"AGENT_START", "AGENT_START", "AGENT_STOP"}));
  EventQuery q;
  q.from_us = 0;
  q.type = "AGENT_STOP";
  EXPECT_STREQ(events_.Query(1, q).events[0].level, "WARNING");
  ASSERT_TRUE(reg.Submit(1, Snap("i1", clock_.NowMicros(), kT0 + 2 * kSec)).ok());
  EXPECT_EQ(Types(events_).back(), "AGENT_START");  // reporting again
}

TEST_F(ActiveRegistryTest, ThrottleEventsAreCappedPerSnapshot) {
  ActiveOptions o;
  o.max_throttle_events_per_snapshot = 2;
  ActiveRegistry reg(&clock_, &events_, o);
  model::ActiveSnapshot s = Snap("i1", kT0);
  for (int i = 0; i < 5; ++i) {
    model::ThrottleEntry t;
    t.endpoint = "E" + std::to_string(i);
    t.action = "reject";
    t.count = 10;
    t.active = 51;
    t.limit = 50;
    s.throttled.push_back(t);
  }
  auto r = reg.Submit(1, s);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->events, 4u);  // start + 2 + 1 folded
  EventQuery q;
  q.from_us = 0;
  q.type = "THROTTLED";
  auto page = events_.Query(1, q);
  ASSERT_EQ(page.events.size(), 3u);
  EXPECT_NE(page.events[0].message.find("30 more requests on 3 more endpoints"), std::string::npos)
      << page.events[0].message;
  EXPECT_EQ(page.events[2].endpoint, "E0");
}

TEST_F(ActiveRegistryTest, InstanceCapRefusesNewInstancesOnly) {
  ActiveOptions o;
  o.max_instances_per_project = 2;
  ActiveRegistry reg(&clock_, &events_, o);
  ASSERT_TRUE(reg.Submit(1, Snap("i1", kT0)).ok());
  ASSERT_TRUE(reg.Submit(1, Snap("i2", kT0)).ok());
  auto r = reg.Submit(1, Snap("i3", kT0));
  EXPECT_EQ(r.status().code(), Status::Code::kResourceExhausted);
  EXPECT_TRUE(reg.Submit(1, Snap("i1", kT0 + 1)).ok());
  EXPECT_TRUE(reg.Submit(2, Snap("i3", kT0)).ok());  // per project
  clock_.Advance(601 * kSec);
  reg.Sweep();  // forgotten instances free their slots
  EXPECT_TRUE(reg.Submit(1, Snap("i3", clock_.NowMicros())).ok());
}

TEST_F(ActiveRegistryTest, StackSharesCountAFrameOncePerSample) {
  ActiveRegistry reg(&clock_, &events_);
  model::ActiveSnapshot s = Snap("i1", kT0);
  s.stacks = {Sample(kT0, {"tx", "f", "sql"}), Sample(kT0, {"tx", "f", "sql"}),
              Sample(kT0, {"tx", "f", "g", "f"}),  // recursion: f once
              Sample(kT0, {"tx"}, "POST /y")};
  ASSERT_TRUE(reg.Submit(1, s).ok());
  StackQuery q;
  StackAggregate a = reg.Stacks(1, q);
  EXPECT_EQ(a.samples, 4u);
  ASSERT_GE(a.frames.size(), 4u);
  EXPECT_EQ(a.frames[0].frame, "tx");
  EXPECT_EQ(a.frames[0].samples, 4u);
  EXPECT_EQ(a.frames[0].self_samples, 1u);
  EXPECT_EQ(a.frames[1].frame, "f");
  EXPECT_EQ(a.frames[1].samples, 3u);
  EXPECT_EQ(a.frames[1].self_samples, 1u);
  EXPECT_EQ(a.frames[2].frame, "sql");
  EXPECT_EQ(a.frames[2].self_samples, 2u);
  ASSERT_EQ(a.endpoints.size(), 2u);
  EXPECT_EQ(a.endpoints[0], (std::pair<std::string, uint64_t>{"GET /x", 3}));
  q.endpoint = "POST /y";
  EXPECT_EQ(reg.Stacks(1, q).samples, 1u);
  q.endpoint = "unknown";
  EXPECT_EQ(reg.Stacks(1, q).samples, 0u);
  q = {};
  q.from_us = kT0 + 1;
  EXPECT_EQ(reg.Stacks(1, q).samples, 0u);
  q = {};
  q.limit = 1;
  EXPECT_EQ(reg.Stacks(1, q).frames.size(), 1u);
}

TEST_F(ActiveRegistryTest, StackRingDropsOldestByCountAndAge) {
  ActiveOptions o;
  o.max_stack_samples = 3;
  ActiveRegistry reg(&clock_, &events_, o);
  model::ActiveSnapshot s = Snap("i1", kT0);
  for (int i = 0; i < 5; ++i) s.stacks.push_back(Sample(kT0 + i, {"f" + std::to_string(i)}));
  auto r = reg.Submit(1, s);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->stack_samples_evicted, 2u);
  StackAggregate a = reg.Stacks(1, {});
  EXPECT_EQ(a.samples, 3u);
  for (const auto& f : a.frames) EXPECT_NE(f.frame, "f0");
  clock_.Advance(3601 * kSec);
  reg.Sweep();
  EXPECT_EQ(reg.Stacks(1, {}).samples, 0u);
  EXPECT_EQ(reg.stack_samples_evicted(), 5u);
}

TEST_F(ActiveRegistryTest, TextBudgetDropsSamplesAndRecoversWhenFreed) {
  ActiveOptions o;
  o.max_stack_text_bytes = 2000;
  o.stack_window_us = 10 * kSec;
  ActiveRegistry reg(&clock_, &events_, o);
  model::ActiveSnapshot s = Snap("i1", kT0);
  for (int i = 0; i < 20; ++i) s.stacks.push_back(Sample(kT0, {std::string(100, 'a' + i)}));
  auto r = reg.Submit(1, s);
  ASSERT_TRUE(r.ok());
  EXPECT_GT(r->stack_samples_dropped, 0u);
  EXPECT_GT(r->stack_samples_kept, 0u);
  EXPECT_EQ(reg.stack_samples_dropped(), r->stack_samples_dropped);
  clock_.Advance(11 * kSec);  // all samples expire, their texts are released
  model::ActiveSnapshot s2 = Snap("i1", clock_.NowMicros());
  s2.stacks = s.stacks;
  auto r2 = reg.Submit(1, s2);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->stack_samples_kept, r->stack_samples_kept);
}

}  // namespace
}  // namespace loupe::live
