#include "bounded_queue.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>
#include <vector>

namespace loupe::internal {
namespace {

TEST(BoundedQueue, HoldsExactlyCapacity) {
  for (size_t cap : {2, 3, 8, 100}) {
    BoundedQueue<int> q(cap);
    for (size_t i = 0; i < cap; ++i) EXPECT_TRUE(q.TryPush(static_cast<int>(i)));
    EXPECT_FALSE(q.TryPush(-1)) << cap;
    EXPECT_EQ(q.SizeApprox(), cap);
    int v;
    for (size_t i = 0; i < cap; ++i) {
      ASSERT_TRUE(q.TryPop(&v));
      EXPECT_EQ(v, static_cast<int>(i));
    }
    EXPECT_FALSE(q.TryPop(&v));
    // Wraps around.
    for (int round = 0; round < 5; ++round) {
      EXPECT_TRUE(q.TryPush(round));
      ASSERT_TRUE(q.TryPop(&v));
      EXPECT_EQ(v, round);
    }
  }
}

TEST(BoundedQueue, CapacityBelowTwoIsRaised) {
  BoundedQueue<int> q(1);
  EXPECT_EQ(q.capacity(), 2u);
  EXPECT_TRUE(q.TryPush(1));
  EXPECT_TRUE(q.TryPush(2));
  EXPECT_FALSE(q.TryPush(3));
}

TEST(BoundedQueue, ConcurrentProducersLoseNothingAccepted) {
  BoundedQueue<int> q(64);
  std::atomic<int> accepted{0};
  std::atomic<bool> done{false};
  std::set<int> seen;
  std::thread consumer([&] {
    int v;
    while (!done || q.SizeApprox() > 0) {
      if (q.TryPop(&v)) seen.insert(v);
    }
  });
  std::vector<std::thread> producers;
  for (int p = 0; p < 4; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < 20000; ++i) {
        if (q.TryPush(p * 1000000 + i)) accepted.fetch_add(1);
      }
    });
  }
  for (auto& t : producers) t.join();
  done = true;
  consumer.join();
  EXPECT_EQ(seen.size(), static_cast<size_t>(accepted.load()));
}

}  // namespace
}  // namespace loupe::internal
