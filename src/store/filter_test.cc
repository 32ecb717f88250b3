#include "store/filter.h"

#include <gtest/gtest.h>

#include <limits>

namespace loupe::store {
namespace {

// A row as the tests describe it: elapsed, error and its ids by column.
struct Row {
  int64_t elapsed = 100;
  bool error = false;
  uint32_t ids[kNumDictColumns] = {};
};

bool Matches(const CompiledFilter& f, const Row& r) {
  return f.MatchRest(r.elapsed, r.error, [&r](int c) { return r.ids[c]; });
}

class CompiledFilterTest : public ::testing::Test {
 protected:
  CompiledFilterTest() {
    project_[kDictService].Intern("shop");     // 1
    project_[kDictService].Intern("billing");  // 2
    project_[kDictEndpoint].Intern("GET /");   // 1
  }
  ProjectDicts project_;
};

TEST_F(CompiledFilterTest, NoTestBesidesTheTimeRangeMatchesEveryRow) {
  TxFilter tf;
  tf.from_us = 10;
  tf.to_us = 20;
  CompiledFilter f;
  ASSERT_TRUE(f.Compile(project_, tf));
  EXPECT_FALSE(f.rest);
  EXPECT_TRUE(f.InRange(10));
  EXPECT_TRUE(f.InRange(19));
  EXPECT_FALSE(f.InRange(20));
  EXPECT_FALSE(f.InRange(9));
  Row r;
  r.elapsed = -5;
  EXPECT_TRUE(Matches(f, r));
}

TEST_F(CompiledFilterTest, ABoundedValueTheProjectNeverSawMatchesNothing) {
  TxFilter tf;
  tf.service = "unknown";
  CompiledFilter f;
  EXPECT_FALSE(f.Compile(project_, tf));
}

TEST_F(CompiledFilterTest, EmptyTimeOrElapsedRangeMatchesNothing) {
  TxFilter tf;
  tf.from_us = tf.to_us = 5;
  CompiledFilter f;
  EXPECT_FALSE(f.Compile(project_, tf));
  tf = TxFilter();
  tf.min_elapsed_us = 10;
  tf.max_elapsed_us = 9;
  EXPECT_FALSE(f.Compile(project_, tf));
}

TEST_F(CompiledFilterTest, MinElapsedZeroIsNoLowerBoundAndBoundsAreInclusive) {
  TxFilter tf;
  tf.max_elapsed_us = 100;
  CompiledFilter f;
  ASSERT_TRUE(f.Compile(project_, tf));
  EXPECT_EQ(f.min_el, std::numeric_limits<int64_t>::min());
  Row r;
  r.elapsed = -1;  // bad data, still shown
  EXPECT_TRUE(Matches(f, r));
  r.elapsed = 100;
  EXPECT_TRUE(Matches(f, r));
  r.elapsed = 101;
  EXPECT_FALSE(Matches(f, r));
  tf.min_elapsed_us = 50;
  ASSERT_TRUE(f.Compile(project_, tf));
  r.elapsed = 49;
  EXPECT_FALSE(Matches(f, r));
}

TEST_F(CompiledFilterTest, ErrorsOnlyAndEachStringTestMustHold) {
  TxFilter tf;
  tf.service = "billing";
  tf.endpoint = "GET /";
  tf.errors_only = true;
  CompiledFilter f;
  ASSERT_TRUE(f.Compile(project_, tf));
  EXPECT_EQ(f.nstr, 2);
  Row r;
  r.error = true;
  r.ids[kDictService] = 2;
  r.ids[kDictEndpoint] = 1;
  EXPECT_TRUE(Matches(f, r));
  r.ids[kDictService] = 1;
  EXPECT_FALSE(Matches(f, r));
  r.ids[kDictService] = 2;
  r.ids[kDictEndpoint] = 0;
  EXPECT_FALSE(Matches(f, r));
  r.ids[kDictEndpoint] = 1;
  r.error = false;
  EXPECT_FALSE(Matches(f, r));
}

TEST_F(CompiledFilterTest, BindLocalResolvesUserPerSetOfRowsAndRebinds) {
  LocalDicts a, b;
  a[LocalSlot(kDictUser)].Intern("bob");    // 1
  a[LocalSlot(kDictUser)].Intern("alice");  // 2
  b[LocalSlot(kDictUser)].Intern("alice");  // 1
  TxFilter tf;
  tf.user = "alice";
  tf.service = "shop";
  CompiledFilter f;
  ASSERT_TRUE(f.Compile(project_, tf));  // user values are not the project's to know
  Row r;
  r.ids[kDictService] = 1;
  ASSERT_TRUE(f.BindLocal(a));
  r.ids[kDictUser] = 2;
  EXPECT_TRUE(Matches(f, r));
  r.ids[kDictUser] = 1;
  EXPECT_FALSE(Matches(f, r));
  ASSERT_TRUE(f.BindLocal(b));
  EXPECT_TRUE(Matches(f, r));
  LocalDicts none;
  EXPECT_FALSE(f.BindLocal(none));
}

TEST_F(CompiledFilterTest, BindMapsProjectIdsToASetsOwnIds) {
  TxFilter tf;
  tf.service = "billing";
  CompiledFilter f;
  ASSERT_TRUE(f.Compile(project_, tf));
  // A set of rows whose local id 0 is the project's 2 ("billing").
  ASSERT_TRUE(f.Bind([](int c, uint32_t project, std::string_view v) -> int64_t {
    EXPECT_EQ(c, kDictService);
    EXPECT_EQ(v, "billing");
    return project == 2 ? 0 : -1;
  }));
  Row r;
  r.ids[kDictService] = 0;
  EXPECT_TRUE(Matches(f, r));
  EXPECT_FALSE(f.Bind([](int, uint32_t, std::string_view) -> int64_t { return -1; }));
}

TEST_F(CompiledFilterTest, RollupFilterResolvesItsFirstColumnsOrMatchesNothing) {
  RollupFilter rf;
  rf.from_us = 1;
  rf.to_us = 2;
  rf.service = "billing";
  rf.endpoint = "GET /";
  RollupIdFilter ids;
  ASSERT_TRUE(CompileRollupFilter(project_, rf, 3, &ids));
  EXPECT_EQ(ids.from_us, 1);
  EXPECT_EQ(ids.to_us, 2);
  EXPECT_EQ(ids.service, 2);
  EXPECT_EQ(ids.instance, -1);
  EXPECT_EQ(ids.endpoint, 1);
  rf.endpoint = "GET /unknown";
  EXPECT_FALSE(CompileRollupFilter(project_, rf, 3, &ids));
  RollupIdFilter users;
  ASSERT_TRUE(CompileRollupFilter(project_, rf, 1, &users));  // service alone
  EXPECT_EQ(users.service, 2);
  EXPECT_EQ(users.endpoint, -1);
  EXPECT_EQ(RollupNamerOf(project_)(0, 2), "billing");
  EXPECT_EQ(RollupNamerOf(project_)(2, 1), "GET /");
}

}  // namespace
}  // namespace loupe::store
