// EventJournal: order, filters, reopen, the replay de-duplication across a
// crash, day segments and retention, damaged and torn segments.
#include "store/embedded/event_journal.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/clock.h"
#include "log/wal.h"
#include "testing/event_filter.h"

namespace loupe::store {
namespace {

using testing::EventFilterOf;
using testing::kAnyTime;

namespace fs = std::filesystem;
constexpr int64_t kDay = int64_t{86'400} * 1'000'000;
constexpr int64_t kT0 = 1'700'000'000'000'000;  // 2023-11-14 22:13:20 UTC

model::Event Ev(int64_t t, const char* type, model::TxId tx = 0, std::string service = "pay") {
  model::Event e;
  e.time_us = t;
  e.type = type;
  e.level = model::kLevelWarning;
  e.tx_id = tx;
  e.service = std::move(service);
  e.message = std::string(type) + " at " + std::to_string(t);
  e.instance = "pay-1";
  e.endpoint = "POST /pay";
  return e;
}

class EventJournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "event_journal_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
    clock_.Set(kT0);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<EventJournal> Open() {
    EventJournalOptions o;
    o.dir = dir_;
    o.clock = &clock_;
    o.sync = false;
    auto j = EventJournal::Open(o);
    EXPECT_TRUE(j.ok()) << j.status().ToString();
    return j.ok() ? std::move(*j) : nullptr;
  }

  // Times of the matching events, in the order Scan gives them.
  static std::vector<int64_t> Times(const EventJournal& j, ProjectId p, EventFilter f = {},
                                    int64_t not_before = INT64_MIN) {
    std::vector<int64_t> out;
    Status s = j.Scan(p, f, not_before, [&](const model::Event& e) {
      out.push_back(e.time_us);
      return true;
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  std::vector<std::string> Segments() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) {
      uint64_t seg;
      if (log::ParseWalSegmentName(e.path().filename().string(), &seg)) {
        out.push_back(e.path().string());
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  std::string dir_;
  ManualClock clock_{0};
};

TEST_F(EventJournalTest, NewestFirstWithFiltersAndProjectsApart) {
  auto j = Open();
  ASSERT_NE(j, nullptr);
  model::Event a = Ev(kT0 + 1, model::kEventSqlException, 11);
  model::Event b = Ev(kT0 + 2, model::kEventHttpError, 12, "shop");
  model::Event c = Ev(kT0 + 3, model::kEventAgentStart);
  c.level = model::kLevelNormal;
  ASSERT_TRUE(j->Append(1, {&a, 1}).ok());
  ASSERT_TRUE(j->Append(2, {&b, 1}).ok());
  ASSERT_TRUE(j->Append(1, {&c, 1}).ok());
  ASSERT_TRUE(j->Sync().ok());  // half on disk, half queued
  model::Event d = Ev(kT0 + 4, model::kEventSqlException, 14);
  ASSERT_TRUE(j->Append(1, {&d, 1}).ok());

  EXPECT_EQ(Times(*j, 1), (std::vector<int64_t>{kT0 + 4, kT0 + 3, kT0 + 1}));
  EXPECT_EQ(Times(*j, 2), (std::vector<int64_t>{kT0 + 2}));
  EXPECT_EQ(Times(*j, 1, EventFilterOf(0, kAnyTime, "", model::kEventSqlException)),
            (std::vector<int64_t>{kT0 + 4, kT0 + 1}));
  EXPECT_EQ(Times(*j, 1, EventFilterOf(0, kAnyTime, model::kLevelNormal)),
            (std::vector<int64_t>{kT0 + 3}));
  EXPECT_EQ(Times(*j, 1, EventFilterOf(kT0 + 2, kT0 + 4)),
            (std::vector<int64_t>{kT0 + 3}));
  EXPECT_EQ(Times(*j, 1, {}, kT0 + 3), (std::vector<int64_t>{kT0 + 4, kT0 + 3}));

  // Every field comes back.
  model::Event got;
  ASSERT_TRUE(j->Scan(1, EventFilterOf(kT0 + 4, kAnyTime), INT64_MIN, [&](const model::Event& e) {
                 got = e;
                 return false;
               }).ok());
  EXPECT_STREQ(got.type, model::kEventSqlException);
  EXPECT_STREQ(got.level, model::kLevelWarning);
  EXPECT_EQ(got.tx_id, 14u);
  EXPECT_EQ(got.message, d.message);
  EXPECT_EQ(got.instance, "pay-1");
  EXPECT_EQ(got.endpoint, "POST /pay");
}

TEST_F(EventJournalTest, EventsSurviveReopen) {
  {
    auto j = Open();
    for (int i = 0; i < 100; ++i) {
      model::Event e = Ev(kT0 + i, model::kEventServiceException, 1000 + i);
      ASSERT_TRUE(j->Append(7, {&e, 1}).ok());
    }
    ASSERT_TRUE(j->Sync().ok());
  }
  auto j = Open();
  std::vector<int64_t> t = Times(*j, 7);
  ASSERT_EQ(t.size(), 100u);
  EXPECT_EQ(t.front(), kT0 + 99);
  EXPECT_EQ(t.back(), kT0);
  EXPECT_EQ(j->stats().replay_duplicates, 0u);
}

// A crash after the checkpoint whose Sync wrote mark 2: the ingest log
// replays requests from checkpoint 2's start, which may precede mark 2
// (requests that came while it flushed) but not mark 1. Their events come
// again and are skipped; older ones and events without a transaction are not.
TEST_F(EventJournalTest, ReplayedEventsAfterTheSecondToLastMarkAreSkippedOnce) {
  {
    auto j = Open();
    model::Event a = Ev(kT0 + 1, model::kEventSqlException, 1);
    ASSERT_TRUE(j->Append(1, {&a, 1}).ok());
    ASSERT_TRUE(j->Sync().ok());  // mark 1
    model::Event b = Ev(kT0 + 2, model::kEventSqlException, 2);
    ASSERT_TRUE(j->Append(1, {&b, 1}).ok());
    ASSERT_TRUE(j->Sync().ok());  // mark 2
    model::Event c = Ev(kT0 + 3, model::kEventHttpError, 3);
    model::Event stop = Ev(kT0 + 4, model::kEventAgentStop);
    ASSERT_TRUE(j->Append(1, {&c, 1}).ok());
    ASSERT_TRUE(j->Append(1, {&stop, 1}).ok());
    // Close writes the queue, as a crash after the writer's commit would.
  }
  auto j = Open();
  // The replay: b and c again (their requests followed checkpoint 1), and
  // a new transaction's event; c's transaction again under another type is
  // a different event. The agent stop is not from a transaction.
  model::Event b = Ev(kT0 + 2, model::kEventSqlException, 2);
  model::Event c = Ev(kT0 + 3, model::kEventHttpError, 3);
  model::Event c2 = Ev(kT0 + 3, model::kEventBadResponseTime, 3);
  model::Event d = Ev(kT0 + 5, model::kEventSqlException, 4);
  model::Event stop = Ev(kT0 + 4, model::kEventAgentStop);
  for (const model::Event* e : {&b, &c, &c2, &d, &stop}) ASSERT_TRUE(j->Append(1, {e, 1}).ok());
  EXPECT_EQ(j->stats().replay_duplicates, 2u);
  EXPECT_EQ(Times(*j, 1), (std::vector<int64_t>{kT0 + 4, kT0 + 5, kT0 + 3, kT0 + 4, kT0 + 3,
                                                kT0 + 2, kT0 + 1}));
  // After the next Sync (the checkpoint after recovery) nothing is skipped.
  ASSERT_TRUE(j->Sync().ok());
  ASSERT_TRUE(j->Append(1, {&b, 1}).ok());
  EXPECT_EQ(j->stats().replay_duplicates, 2u);
}

TEST_F(EventJournalTest, DaySegmentsAndRetentionByWholeDays) {
  {
    auto j = Open();
    for (int day = 0; day < 4; ++day) {
      clock_.Set(kT0 + day * kDay);
      model::Event e = Ev(kT0 + day * kDay, model::kEventHttpError, 100 + day);
      ASSERT_TRUE(j->Append(1, {&e, 1}).ok());
      ASSERT_TRUE(j->Sync().ok());
    }
    EXPECT_EQ(Segments().size(), 4u);
    // Everything before day 2 goes: days 0 and 1.
    ASSERT_TRUE(j->DropBefore(kT0 + 2 * kDay).ok());
    EXPECT_EQ(Segments().size(), 2u);
    EXPECT_EQ(Times(*j, 1), (std::vector<int64_t>{kT0 + 3 * kDay, kT0 + 2 * kDay}));
  }
  // The index agrees after a reopen; a query outside the kept days reads nothing.
  auto j = Open();
  EXPECT_EQ(Times(*j, 1), (std::vector<int64_t>{kT0 + 3 * kDay, kT0 + 2 * kDay}));
  EXPECT_TRUE(Times(*j, 1, EventFilterOf(0, kT0 + kDay)).empty());
  EXPECT_EQ(j->stats().segments, 2u);
}

TEST_F(EventJournalTest, DamagedSegmentLosesItsRestNotTheQuery) {
  {
    auto j = Open();
    for (int day = 0; day < 3; ++day) {
      clock_.Set(kT0 + day * kDay);
      model::Event e = Ev(kT0 + day * kDay, model::kEventHttpError, 100 + day);
      ASSERT_TRUE(j->Append(1, {&e, 1}).ok());
      ASSERT_TRUE(j->Sync().ok());
    }
  }
  std::vector<std::string> segs = Segments();
  ASSERT_GE(segs.size(), 3u);
  {
    // Flip a byte inside the middle day's first record.
    std::fstream f(segs[1], std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(40);
    char c;
    f.read(&c, 1);
    c ^= 0x5a;
    f.seekp(40);
    f.write(&c, 1);
  }
  auto j = Open();
  ASSERT_NE(j, nullptr);
  EXPECT_EQ(Times(*j, 1), (std::vector<int64_t>{kT0 + 2 * kDay, kT0}));
  EXPECT_EQ(j->stats().corrupt_reads, 1u);
}

TEST_F(EventJournalTest, TornTailIsCutAtOpen) {
  {
    auto j = Open();
    for (int i = 0; i < 3; ++i) {
      model::Event e = Ev(kT0 + i, model::kEventHttpError, 100 + i);
      ASSERT_TRUE(j->Append(1, {&e, 1}).ok());
      ASSERT_TRUE(j->Sync().ok());
    }
  }
  std::vector<std::string> segs = Segments();
  ASSERT_FALSE(segs.empty());
  fs::resize_file(segs.back(), fs::file_size(segs.back()) - 3);
  auto j = Open();
  ASSERT_NE(j, nullptr);
  std::vector<int64_t> t = Times(*j, 1);
  ASSERT_FALSE(t.empty());
  EXPECT_EQ(t.back(), kT0);
  model::Event e = Ev(kT0 + 10, model::kEventHttpError, 200);
  ASSERT_TRUE(j->Append(1, {&e, 1}).ok());
  ASSERT_TRUE(j->Sync().ok());
  EXPECT_EQ(Times(*j, 1).front(), kT0 + 10);
}

TEST_F(EventJournalTest, FullQueueRefusesWithAClearError) {
  EventJournalOptions o;
  o.dir = dir_;
  o.clock = &clock_;
  o.sync = false;
  o.max_queued = 3;
  auto j = EventJournal::Open(o);
  ASSERT_TRUE(j.ok());
  std::vector<model::Event> many(4, Ev(kT0, model::kEventHttpError, 1));
  Status s = (*j)->Append(1, many);
  EXPECT_EQ(s.code(), Status::Code::kResourceExhausted);
  EXPECT_NE(s.message().find("queue is full"), std::string::npos);
  EXPECT_EQ((*j)->stats().refused, 4u);
}

}  // namespace
}  // namespace loupe::store
