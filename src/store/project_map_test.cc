#include "store/project_map.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "store/rw_lock.h"

namespace loupe::store {
namespace {

struct P {
  explicit P(ProjectId i) : id(i) {}
  ProjectId id;
};

TEST(ProjectMapTest, GetOrCreateMakesAProjectOnceAndFindReturnsIt) {
  ProjectMap<P> m;
  EXPECT_EQ(m.Find(7), nullptr);
  int made = 0;
  auto make = [&made](ProjectId id) {
    ++made;
    return std::make_unique<P>(id);
  };
  P* p = m.GetOrCreate(7, make);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->id, 7u);
  EXPECT_EQ(m.GetOrCreate(7, make), p);
  EXPECT_EQ(m.Find(7), p);
  EXPECT_EQ(made, 1);
  m.GetOrCreate(8, make);
  EXPECT_EQ(m.All().size(), 2u);
}

TEST(ProjectMapTest, ConcurrentGetOrCreateOfOneIdMakesOneProject) {
  ProjectMap<P> m;
  std::atomic<int> made{0};
  std::vector<P*> got(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (ProjectId id = 0; id < 200; ++id) {
        P* p = m.GetOrCreate(id, [&made](ProjectId i) {
          made.fetch_add(1);
          return std::make_unique<P>(i);
        });
        if (id == 199) got[t] = p;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(made.load(), 200);
  for (P* p : got) EXPECT_EQ(p, got[0]);
}

// Two readers holding the lock shared in turns, so that at every moment
// one of them holds it: a reader-preferring lock never lets the writer in.
TEST(RwLockTest, AWriterIsNotStarvedByOverlappingReaders) {
  RwLock mu;
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        ReadLock lock(mu);
        std::this_thread::sleep_for(std::chrono::microseconds(500));
      }
    });
  }
  const auto start = std::chrono::steady_clock::now();
  int writes = 0;
  for (; writes < 50; ++writes) WriteLock lock(mu);
  const auto took = std::chrono::steady_clock::now() - start;
  stop.store(true);
  for (auto& th : readers) th.join();
  EXPECT_EQ(writes, 50);
  EXPECT_LT(took, std::chrono::seconds(5));
}

}  // namespace
}  // namespace loupe::store
