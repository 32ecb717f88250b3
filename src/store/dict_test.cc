#include "store/dict.h"

#include <gtest/gtest.h>

#include <string>

namespace loupe::store {
namespace {

TEST(DictTest, EmptyStringIsIdZeroAndIdsAreDenseInFirstSeenOrder) {
  Dict d;
  EXPECT_EQ(d.size(), 1u);
  EXPECT_EQ(d.Intern(""), 0u);
  EXPECT_EQ(d.Intern("checkout"), 1u);
  EXPECT_EQ(d.Intern("cart"), 2u);
  EXPECT_EQ(d.Intern("checkout"), 1u);
  EXPECT_EQ(d.size(), 3u);
  EXPECT_EQ(d.Get(2), "cart");
}

TEST(DictTest, FindIsMinusOneForAStringNeverInterned) {
  Dict d;
  d.Intern("a");
  EXPECT_EQ(d.Find("a"), 1);
  EXPECT_EQ(d.Find(""), 0);
  EXPECT_EQ(d.Find("b"), -1);
  EXPECT_EQ(d.size(), 2u);  // Find adds nothing
}

TEST(DictTest, ViewsStayValidWhileTheDictGrows) {
  Dict d;
  const std::string_view first = d.Get(d.Intern("a short one"));
  const std::string_view longer = d.Get(d.Intern(std::string(100, 'x')));
  for (int i = 0; i < 100'000; ++i) d.Intern("value-" + std::to_string(i));
  EXPECT_EQ(first.data(), d.Get(1).data());
  EXPECT_EQ(first, "a short one");
  EXPECT_EQ(longer, std::string(100, 'x'));
}

TEST(DictTest, BytesCountHeapBuffersOfLongStringsOnly) {
  Dict shorts, longs;
  const size_t empty = shorts.bytes();
  for (int i = 0; i < 100; ++i) {
    shorts.Intern(std::to_string(i));
    longs.Intern(std::string(200, 'a') + std::to_string(i));
  }
  EXPECT_GT(shorts.bytes(), empty);
  EXPECT_GE(longs.bytes(), shorts.bytes() + 100 * 200);
}

TEST(InternColumnsTest, BoundedColumnsGoToTheProjectUserAndClientIpToTheRowsOwn) {
  ProjectDicts project;
  LocalDicts local_a, local_b;
  model::Transaction tx;
  tx.service = "shop";
  tx.instance = "web-1";
  tx.endpoint = "GET /cart";
  tx.http_method = "GET";
  tx.error_type = "HTTP 503";
  tx.user = "alice";
  tx.client_ip = "10.0.0.1";
  uint32_t ids[kNumDictColumns];
  const size_t grown = InternColumns(tx, project, local_a, ids);
  EXPECT_GT(grown, 0u);
  for (int c = 0; c < kNumDictColumns; ++c) EXPECT_EQ(ids[c], 1u) << c;
  EXPECT_EQ(project[kDictUser].size(), 1u);  // "" alone
  EXPECT_EQ(project[kDictClientIp].size(), 1u);
  EXPECT_EQ(ColumnString(project, local_a, kDictUser, ids[kDictUser]), "alice");
  EXPECT_EQ(ColumnString(project, local_a, kDictClientIp, ids[kDictClientIp]), "10.0.0.1");
  EXPECT_EQ(ColumnString(project, local_a, kDictEndpoint, ids[kDictEndpoint]), "GET /cart");

  // Another set of rows: the project's ids are shared, user ids are its own.
  tx.user = "bob";
  uint32_t again[kNumDictColumns];
  InternColumns(tx, project, local_b, again);
  EXPECT_EQ(again[kDictService], ids[kDictService]);
  EXPECT_EQ(again[kDictUser], 1u);
  EXPECT_EQ(local_a[LocalSlot(kDictUser)].Find("bob"), -1);
  EXPECT_EQ(InternColumns(tx, project, local_b, again), 0u);  // nothing new
}

}  // namespace
}  // namespace loupe::store
