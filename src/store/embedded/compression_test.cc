#include "store/embedded/compression.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>

namespace loupe::store {
namespace {

// Compressible but not trivial: a few hundred KiB of repeated, varied lines.
std::string Sample() {
  std::string s;
  for (int i = 0; s.size() < (256 << 10); ++i) {
    s +=
        "GET /api/v1/orders/" + std::to_string(i % 977) + " 200 " + std::to_string(i * 7919) + "\n";
  }
  return s;
}

bool RoundTrips(Compression c) {
  const std::string in = Sample();
  std::string packed, out;
  const Compression used = Compress(c, 3, in, &packed);
  if (used != c) return false;
  return Uncompress(used, packed, in.size(), &out).ok() && out == in;
}

TEST(CompressionTest, RoundTripsEveryCodec) {
  EXPECT_TRUE(RoundTrips(Compression::kZstd));
  EXPECT_TRUE(RoundTrips(Compression::kLz4));
  const std::string in = Sample();
  std::string packed, out;
  ASSERT_EQ(Compress(Compression::kNone, 0, in, &packed), Compression::kNone);
  ASSERT_TRUE(Uncompress(Compression::kNone, packed, in.size(), &out).ok());
  EXPECT_EQ(out, in);
}

// The rollup benchmark closed its store from a static object's destructor at
// exit(), which runs after the main thread's thread_local destructors: the
// flush compressed and decompressed with the thread's zstd contexts after they
// were freed, and corrupted the heap. Here an object constructed before the
// contexts (so destroyed after them) compresses in its destructor at thread
// exit. Under AddressSanitizer the old code fails with heap-use-after-free.
TEST(CompressionTest, ZstdWorksAfterTheThreadsDestructorsRan) {
  struct CompressesWhenDestroyed {
    bool* ok;
    ~CompressesWhenDestroyed() { *ok = RoundTrips(Compression::kZstd); }
  };
  bool ok = false;
  std::thread([&ok] {
    thread_local CompressesWhenDestroyed late{&ok};
    static_cast<void>(late);
    // The contexts come after `late`, so thread exit destroys them first.
    EXPECT_TRUE(RoundTrips(Compression::kZstd));
  }).join();
  EXPECT_TRUE(ok);
}

}  // namespace
}  // namespace loupe::store
