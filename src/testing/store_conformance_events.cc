// Store conformance, events: AppendEvents and ScanEvents (store.h,
// "Events"): newest first in append order, filters, projects apart, and
// kept across a reopen by a durable store. See store_conformance.h.
#include <gmock/gmock.h>

#include <string>
#include <vector>

#include "testing/store_conformance.h"
#include "testing/store_conformance_internal.h"
#include "testing/event_filter.h"

namespace loupe::testing {

using ::testing::ElementsAre;

void LinkStoreConformanceEventTests() {}

namespace {


model::Event Ev(int64_t t, const char* type, const char* level, std::string service,
                model::TxId tx = 0) {
  model::Event e;
  e.time_us = t;
  e.type = type;
  e.level = level;
  e.instance = service + "-1";
  e.service = std::move(service);
  e.endpoint = "GET /x";
  e.message = std::string(type) + " " + std::to_string(t);
  e.tx_id = tx;
  return e;
}

std::vector<std::string> Messages(const store::Store& s, model::ProjectId p,
                                  const store::EventFilter& f = {}, size_t stop_after = 0) {
  std::vector<std::string> out;
  Status st = s.ScanEvents(p, f, [&](const model::Event& e) {
    out.push_back(e.message);
    return stop_after == 0 || out.size() < stop_after;
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

std::vector<model::Event> Sample() {
  return {Ev(kT0 + 3, model::kEventSqlException, model::kLevelWarning, "shop", 0x11),
          Ev(kT0 + 1, model::kEventAgentStart, model::kLevelNormal, "shop"),  // a late clock
          Ev(kT0 + 5, model::kEventHttpError, model::kLevelFatal, "cart", 0x12)};
}

}  // namespace

TEST_P(StoreConformanceTest, EventsComeNewestFirstInAppendOrder) {
  std::vector<model::Event> ev = Sample();
  ASSERT_TRUE(store().AppendEvents(kP1, {ev.data(), 2}).ok());
  ASSERT_TRUE(store().AppendEvents(kP1, {ev.data() + 2, 1}).ok());
  ASSERT_TRUE(store().AppendEvents(kP2, {ev.data(), 1}).ok());
  EXPECT_THAT(Messages(store(), kP1), ElementsAre(ev[2].message, ev[1].message, ev[0].message));
  EXPECT_THAT(Messages(store(), kP2), ElementsAre(ev[0].message));
  EXPECT_TRUE(Messages(store(), 99).empty());
  EXPECT_THAT(Messages(store(), kP1, {}, 1), ElementsAre(ev[2].message));  // the visitor stops

  model::Event got;
  ASSERT_TRUE(store().ScanEvents(kP1, EventFilterOf(0, kAnyTime, "", model::kEventHttpError),
                                 [&](const model::Event& e) {
                                   got = e;
                                   return true;
                                 }).ok());
  EXPECT_EQ(got.time_us, ev[2].time_us);
  EXPECT_STREQ(got.level, model::kLevelFatal);
  EXPECT_EQ(got.service, "cart");
  EXPECT_EQ(got.instance, "cart-1");
  EXPECT_EQ(got.endpoint, "GET /x");
  EXPECT_EQ(got.tx_id, 0x12u);
}

TEST_P(StoreConformanceTest, EventFiltersAreExactAndTimeIsHalfOpen) {
  std::vector<model::Event> ev = Sample();
  ASSERT_TRUE(store().AppendEvents(kP1, ev).ok());
  EXPECT_THAT(Messages(store(), kP1, EventFilterOf(0, kAnyTime, model::kLevelNormal)), ElementsAre(ev[1].message));
  EXPECT_THAT(Messages(store(), kP1, EventFilterOf(0, kAnyTime, "", model::kEventSqlException)),
              ElementsAre(ev[0].message));
  EXPECT_THAT(Messages(store(), kP1, EventFilterOf(0, kAnyTime, "", "", "shop")),
              ElementsAre(ev[1].message, ev[0].message));
  EXPECT_TRUE(Messages(store(), kP1, EventFilterOf(0, kAnyTime, "", "", "sho")).empty());
  EXPECT_THAT(Messages(store(), kP1, EventFilterOf(kT0 + 1, kT0 + 5)),
              ElementsAre(ev[1].message, ev[0].message));
}

TEST_P(StoreConformanceTest, EventsSurviveReopenAfterFlush) {
  if (!GetParam().durable) GTEST_SKIP() << "store is not durable";
  std::vector<model::Event> ev = Sample();
  ASSERT_TRUE(store().AppendEvents(kP1, ev).ok());
  ASSERT_TRUE(store().Flush().ok());
  Reopen();
  EXPECT_THAT(Messages(store(), kP1), ElementsAre(ev[2].message, ev[1].message, ev[0].message));
}

}  // namespace loupe::testing
