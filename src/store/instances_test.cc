#include "store/instances.h"

#include <gtest/gtest.h>

namespace loupe::store {
namespace {

InstanceInfo Info(int64_t first, int64_t last, std::string host = "") {
  InstanceInfo i;
  i.service = "shop";
  i.instance = "web-1";
  i.host = std::move(host);
  i.first_seen_us = first;
  i.last_seen_us = last;
  return i;
}

TEST(InstancesTest, KeepsTheEarliestFirstSeenTheLatestLastSeenAndNonEmptyFields) {
  InstanceMap m;
  RecordInstance(&m, Info(0, 50, "h1"));
  RecordInstance(&m, Info(20, 40));
  RecordInstance(&m, Info(30, 60, "h2"));
  ASSERT_EQ(m.size(), 1u);
  const InstanceInfo& got = m.begin()->second;
  EXPECT_EQ(got.first_seen_us, 20);  // 0 is "not known", not the earliest
  EXPECT_EQ(got.last_seen_us, 60);
  EXPECT_EQ(got.host, "h2");
  RecordInstance(&m, Info(10, 0));
  EXPECT_EQ(got.first_seen_us, 10);
  EXPECT_EQ(got.last_seen_us, 60);
  EXPECT_EQ(got.host, "h2");  // an empty host leaves it
}

TEST(InstancesTest, DifferentServiceOrInstanceIsAnotherEntry) {
  InstanceMap m;
  InstanceInfo a = Info(1, 1), b = Info(1, 1), c = Info(1, 1);
  b.instance = "web-2";
  c.service = "billing";
  for (const InstanceInfo& i : {a, b, c, a}) RecordInstance(&m, i);
  EXPECT_EQ(m.size(), 3u);
}

}  // namespace
}  // namespace loupe::store
