#include "log/crc32c.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace loupe {
namespace {

TEST(Crc32cTest, KnownValuesAndPathsAgree) {
  // RFC 3720 B.4 test vectors.
  std::string zeros(32, '\0');
  EXPECT_EQ(crc32c::Value(zeros), 0x8a9136aau);
  std::string ones(32, '\xff');
  EXPECT_EQ(crc32c::Value(ones), 0x62a8ab43u);
  EXPECT_EQ(crc32c::Value("123456789", 9), 0xe3069283u);
  std::string data;
  for (int i = 0; i < 1000; ++i) data.push_back(static_cast<char>(i * 31));
  for (size_t off = 0; off < 9; ++off) {
    for (size_t n : {0, 1, 7, 8, 9, 63, 500}) {
      EXPECT_EQ(crc32c::Value(data.data() + off, n),
                crc32c::ExtendPortable(0, data.data() + off, n));
    }
  }
  EXPECT_EQ(crc32c::Extend(crc32c::Value("1234", 4), "56789", 5), 0xe3069283u);
  // The hardware path's three streams (blocks of 3 × 4096 and 3 × 256
  // bytes): every length around the block edges, every alignment, a
  // running CRC carried in.
  std::string big;
  for (int i = 0; i < 40'000; ++i) big.push_back(static_cast<char>((i * 2654435761u) >> 13));
  std::vector<size_t> lens;
  for (size_t base : {768u, 1536u, 12288u, 13056u, 24576u, 36864u}) {
    for (size_t d = 0; d < 20; ++d) {
      lens.push_back(base + d);
      lens.push_back(base - 1 - d);
    }
  }
  for (size_t n = 0; n < 3000; n += 7) lens.push_back(n);
  for (size_t n = 3000; n < 39'000; n += 997) lens.push_back(n);
  for (size_t off = 0; off < 9; ++off) {
    for (size_t n : lens) {
      ASSERT_EQ(crc32c::Extend(0x1234567u, big.data() + off, n),
                crc32c::ExtendPortable(0x1234567u, big.data() + off, n))
          << "offset " << off << " length " << n;
    }
  }
  EXPECT_EQ(crc32c::Unmask(crc32c::Mask(0x12345678u)), 0x12345678u);
}

}  // namespace
}  // namespace loupe
