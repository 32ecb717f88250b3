#include "record_ring.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace loupe::internal {
namespace {

bool Push(RecordRing& r, std::string_view s) {
  RecordRing::Ticket t;
  char* p = r.Reserve(s.size(), &t);
  if (p == nullptr) return false;
  std::memcpy(p, s.data(), s.size());
  r.Commit(t);
  return true;
}

std::string Pop(RecordRing& r) {
  std::string_view v;
  if (!r.Read(&v)) return "(none)";
  return std::string(v);
}

TEST(RecordRing, KeepsOrderAndContentsAcrossWrapAround) {
  // Sizes that do not divide the ring, so records land at every offset and
  // some are pushed to the ring's start past a filler.
  RecordRing r(1000, 1000);
  EXPECT_EQ(r.capacity(), 1000u);
  uint64_t next_in = 0, next_out = 0;
  for (int round = 0; round < 2000; ++round) {
    const size_t len = 1 + (round * 37) % 120;
    const std::string rec = std::to_string(next_in) + std::string(len, 'a' + round % 26);
    if (Push(r, rec)) ++next_in;
    if (round % 3 == 0) {
      std::string_view v;
      while (r.Read(&v)) {
        const std::string want = std::to_string(next_out);
        ASSERT_EQ(v.substr(0, want.size()), want);
        const char c = v.back();
        ASSERT_EQ(v.find_first_not_of(c, want.size()), std::string_view::npos);
        ++next_out;
      }
      r.Release();
    }
  }
  EXPECT_GT(next_in, 1000u);
  std::string_view v;
  while (r.Read(&v)) ++next_out;
  EXPECT_EQ(next_out, next_in);
}

TEST(RecordRing, FullByBytesDropsUntilReleased) {
  RecordRing r(256, 1000);
  const std::string rec(56, 'x');  // 64 bytes with its header
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(Push(r, rec)) << i;
  EXPECT_FALSE(Push(r, rec));
  EXPECT_FALSE(Push(r, "y"));
  EXPECT_EQ(r.BytesApprox(), 256u);
  EXPECT_EQ(r.SizeApprox(), 4u);
  // Read but not released: still full.
  EXPECT_EQ(Pop(r), rec);
  EXPECT_FALSE(Push(r, "y"));
  r.Release();
  EXPECT_TRUE(Push(r, "y"));
  EXPECT_EQ(r.SizeApprox(), 4u);
}

TEST(RecordRing, FullByCountDrops) {
  RecordRing r(4096, 3);
  EXPECT_TRUE(Push(r, "a"));
  EXPECT_TRUE(Push(r, "b"));
  EXPECT_TRUE(Push(r, "c"));
  EXPECT_FALSE(Push(r, "d"));
  EXPECT_EQ(r.SizeApprox(), 3u);
  EXPECT_EQ(Pop(r), "a");
  r.Release();
  EXPECT_TRUE(Push(r, "d"));
  EXPECT_EQ(Pop(r), "b");
  EXPECT_EQ(Pop(r), "c");
  EXPECT_EQ(Pop(r), "d");
  EXPECT_EQ(Pop(r), "(none)");
}

TEST(RecordRing, RefusesARecordLargerThanTheRing) {
  RecordRing r(128, 10);
  EXPECT_FALSE(Push(r, std::string(121, 'x')));
  EXPECT_TRUE(Push(r, std::string(120, 'x')));
  EXPECT_EQ(r.SizeApprox(), 1u);
}

TEST(RecordRing, ReaderStopsAtARecordNotYetCommitted) {
  RecordRing r(1024, 10);
  RecordRing::Ticket t1;
  char* p1 = r.Reserve(3, &t1);
  ASSERT_NE(p1, nullptr);
  ASSERT_TRUE(Push(r, "two"));
  EXPECT_EQ(Pop(r), "(none)");  // "two" waits behind the first
  std::memcpy(p1, "one", 3);
  r.Commit(t1);
  EXPECT_EQ(Pop(r), "one");
  EXPECT_EQ(Pop(r), "two");
}

TEST(RecordRing, ZeroCapacityRefusesEverything) {
  RecordRing r(0, 10);
  EXPECT_FALSE(Push(r, "a"));
  EXPECT_EQ(Pop(r), "(none)");
}

// Producers on several threads against one consumer: every record that was
// accepted arrives once, intact and in each producer's order.
TEST(RecordRing, ManyProducersOneConsumer) {
  constexpr int kThreads = 4;
  constexpr uint32_t kPerThread = 50000;
  RecordRing r(16 << 10, 1 << 20);
  std::atomic<int> running{kThreads};
  std::vector<uint32_t> accepted(kThreads, 0);
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      for (uint32_t i = 0; i < kPerThread; ++i) {
        // thread, sequence, then filler bytes that repeat the sequence.
        const size_t len = 8 + i % 50;
        RecordRing::Ticket tk;
        char* p = r.Reserve(len, &tk);
        if (p == nullptr) continue;
        const uint32_t id = static_cast<uint32_t>(t);
        std::memcpy(p, &id, 4);
        std::memcpy(p + 4, &i, 4);
        std::memset(p + 8, static_cast<int>(i & 0xff), len - 8);
        r.Commit(tk);
        ++accepted[t];
      }
      running.fetch_sub(1);
    });
  }
  std::vector<int64_t> last(kThreads, -1);
  std::vector<uint32_t> received(kThreads, 0);
  bool ok = true;
  for (;;) {
    const bool done = running.load() == 0;
    std::string_view v;
    while (r.Read(&v)) {
      uint32_t id, seq;
      std::memcpy(&id, v.data(), 4);
      std::memcpy(&seq, v.data() + 4, 4);
      ok &= id < kThreads && v.size() == 8 + seq % 50 && static_cast<int64_t>(seq) > last[id];
      for (size_t k = 8; k < v.size(); ++k) ok &= static_cast<uint8_t>(v[k]) == (seq & 0xff);
      if (id < kThreads) {
        last[id] = seq;
        ++received[id];
      }
    }
    r.Release();
    if (done) break;
  }
  for (auto& p : producers) p.join();
  EXPECT_TRUE(ok);
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(received[t], accepted[t]) << t;
  EXPECT_EQ(r.SizeApprox(), 0u);
  EXPECT_EQ(r.BytesApprox(), 0u);
}

}  // namespace
}  // namespace loupe::internal
