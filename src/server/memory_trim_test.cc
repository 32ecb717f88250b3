#include "server/memory_trim.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace loupe::server {
namespace {

// Anonymous resident memory of this process, KiB.
long RssAnonKib() {
  long kib = -1;
  if (FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    while (std::fgets(line, sizeof line, f)) {
      if (std::sscanf(line, "RssAnon: %ld kB", &kib) == 1) break;
    }
    std::fclose(f);
  }
  return kib;
}

// What a burst of requests leaves behind: 128 MiB of small blocks, all freed
// but one block per 64 KiB, so the free memory sits between live blocks
// (free() alone returns only the top of a heap). The trim must hand those
// pages back.
TEST(MemoryTrimmer, TrimReturnsFreedPagesBetweenLiveBlocks) {
  MemoryTrimmer trimmer({/*arena_max=*/0, /*trim_interval_us=*/0}, nullptr);
  std::vector<char*> kept;
  // In a thread of its own, as a request handler would (another arena).
  std::thread([&] {
    constexpr size_t kBlock = 1024, kBlocks = (size_t{128} << 20) / kBlock;
    std::vector<char*> all(kBlocks);
    for (char*& p : all) {
      p = static_cast<char*>(std::malloc(kBlock));
      std::memset(p, 1, kBlock);
    }
    for (size_t i = 0; i < kBlocks; ++i) {
      if (i % 64 == 63) {
        kept.push_back(all[i]);
      } else {
        std::free(all[i]);
      }
    }
  }).join();
  const long before = RssAnonKib();
  ASSERT_GT(before, 100 << 10) << "the freed blocks should still be resident";
  EXPECT_TRUE(trimmer.TrimNow());
  const long after = RssAnonKib();
  EXPECT_LT(after, before - (64 << 10)) << before << " KiB -> " << after << " KiB";
  EXPECT_EQ(trimmer.trims(), 1u);
  for (char* p : kept) std::free(p);
}

}  // namespace
}  // namespace loupe::server
