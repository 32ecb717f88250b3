#include "store/late_merge.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace loupe::store {
namespace {

using ::testing::ElementsAre;

model::Step S(model::SpanId id, int64_t start, std::string name = "") {
  model::Step s;
  s.span_id = id;
  s.start_us = start;
  s.kind = model::StepKind::kSql;
  s.elapsed_us = 10;
  s.name = name.empty() ? std::to_string(id) : std::move(name);
  return s;
}

std::vector<std::string> Names(const std::vector<model::Step>& steps) {
  std::vector<std::string> out;
  for (const auto& s : steps) out.push_back(s.name);
  return out;
}

TEST(GroupLateStepsTest, EntriesOfOneTransactionBecomeOneInArrivalOrder) {
  std::vector<LateSteps> late;
  late.push_back({1, {S(11, 5)}});
  late.push_back({2, {S(21, 5)}, 3});
  late.push_back({1, {S(12, 1)}, 7});
  late.push_back({3, {}, 0});  // carries nothing
  late.push_back({1, {S(13, 9)}, 4});
  late.push_back({2, {}, 1});
  GroupLateSteps(&late);
  ASSERT_EQ(late.size(), 2u);
  EXPECT_EQ(late[0].tx, 1u);
  EXPECT_THAT(Names(late[0].steps), ElementsAre("11", "12", "13"));
  EXPECT_EQ(late[0].dropped_steps, 7u) << "the largest total";
  EXPECT_EQ(late[1].tx, 2u);
  EXPECT_THAT(Names(late[1].steps), ElementsAre("21"));
  EXPECT_EQ(late[1].dropped_steps, 3u);
}

TEST(GroupLateStepsTest, AnEntryWithOnlyADroppedTotalIsKept) {
  std::vector<LateSteps> late;
  late.push_back({1, {}, 2});
  GroupLateSteps(&late);
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(late[0].dropped_steps, 2u);
  late[0].dropped_steps = 0;
  GroupLateSteps(&late);
  EXPECT_TRUE(late.empty());
}

TEST(TakeFreshStepsTest, DropsKnownAndRepeatedSpanIdsButNeverIdZero) {
  std::unordered_set<model::SpanId> seen = {11};
  std::vector<model::Step> late = {S(11, 1),      S(12, 9, "b"), S(12, 9, "b again"),
                                   S(0, 3, "e1"), S(0, 3, "e2"), S(13, 3, "c")};
  std::vector<model::Step> fresh = TakeFreshSteps(&late, &seen);
  // Sorted by start, equal starts in arrival order.
  EXPECT_THAT(Names(fresh), ElementsAre("e1", "e2", "c", "b"));
  EXPECT_EQ(seen.count(12), 1u);
  EXPECT_EQ(seen.count(13), 1u);
}

TEST(MergeByStartTest, KeepsStartOrderWithStoredStepsFirstOnTies) {
  std::vector<model::Step> steps = {S(1, 10, "a"), S(2, 20, "b"), S(3, 30, "c")};
  MergeByStart(&steps, {S(4, 5, "w"), S(5, 20, "x"), S(6, 40, "y")});
  EXPECT_THAT(Names(steps), ElementsAre("w", "a", "b", "x", "c", "y"));
  MergeByStart(&steps, {S(7, 40, "z")});  // at the end: appended
  EXPECT_THAT(Names(steps), ElementsAre("w", "a", "b", "x", "c", "y", "z"));
  std::vector<model::Step> empty;
  MergeByStart(&empty, {S(8, 1, "only")});
  EXPECT_THAT(Names(empty), ElementsAre("only"));
}

TEST(SummaryOfTest, CountsSqlAndExternalStepsWithoutCpu) {
  model::Step ext = S(2, 0);
  ext.kind = model::StepKind::kExternal;
  ext.elapsed_us = 40;
  model::Summary d = SummaryOf({S(1, 0), ext, S(3, 0)});
  EXPECT_EQ(d.sql_count, 2u);
  EXPECT_EQ(d.sql_us, 20);
  EXPECT_EQ(d.external_count, 1u);
  EXPECT_EQ(d.external_us, 40);
  EXPECT_EQ(d.cpu_us, 0);
}

}  // namespace
}  // namespace loupe::store
