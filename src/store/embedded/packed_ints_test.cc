#include "store/embedded/packed_ints.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <vector>

namespace loupe::store {
namespace {

std::vector<int64_t> Decode(std::string_view in, uint32_t n, bool* ok) {
  std::vector<int64_t> out(n, 0x5a5a);
  std::vector<int> seen(n, 0);
  *ok = DecodePacked(in, n, [&](uint32_t i, int64_t v) {
    out[i] = v;
    ++seen[i];
  });
  if (*ok) {
    for (int c : seen) EXPECT_EQ(c, 1) << "each index once";
  }
  return out;
}

void ExpectRoundTrip(const std::vector<int64_t>& v) {
  std::string enc;
  EncodePacked(v.data(), v.size(), &enc);
  bool ok = false;
  EXPECT_EQ(Decode(enc, static_cast<uint32_t>(v.size()), &ok), v);
  EXPECT_TRUE(ok);
  // The same bytes placed at the end of a buffer (no slack after them) and
  // in the middle of one decode alike.
  std::string framed = "xx" + enc + std::string(20, '\xff');
  EXPECT_EQ(
      Decode(std::string_view(framed).substr(2, enc.size()), static_cast<uint32_t>(v.size()), &ok),
      v);
  EXPECT_TRUE(ok);
}

TEST(PackedIntsTest, RoundTripsEveryWidthAndBlockShape) {
  std::mt19937_64 rng(1);
  for (int width = 0; width <= 64; ++width) {
    for (size_t n : {1, 7, 63, 64, 65, 200, 8192}) {
      std::vector<int64_t> v(n);
      for (int64_t& x : v) {
        uint64_t r = rng();
        if (width < 64) r &= (uint64_t{1} << width) - 1;
        x = static_cast<int64_t>(r) - (width == 64 ? 0 : int64_t{1} << (width > 0 ? width - 1 : 0));
      }
      ExpectRoundTrip(v);
    }
  }
  ExpectRoundTrip({});
  ExpectRoundTrip({std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), 0});
  ExpectRoundTrip(std::vector<int64_t>(300, -7));
}

TEST(PackedIntsTest, AnOutlierWidensOnlyItsOwnBlock) {
  std::vector<int64_t> small(640, 1000), outlier = small;
  for (size_t i = 0; i < small.size(); ++i) small[i] = outlier[i] = 1000 + i % 50;
  outlier[100] = 60'000'000;  // a one-minute request among ~1 ms ones
  std::string a, b;
  EncodePacked(small.data(), small.size(), &a);
  EncodePacked(outlier.data(), outlier.size(), &b);
  EXPECT_LE(b.size(), a.size() + 64 * 20 / 8 + 8);
  ExpectRoundTrip(outlier);
}

TEST(PackedIntsTest, DamagedInputIsRejected) {
  std::vector<int64_t> v(500);
  std::mt19937_64 rng(2);
  for (int64_t& x : v) x = static_cast<int64_t>(rng() % 100000);
  std::string enc;
  EncodePacked(v.data(), v.size(), &enc);
  bool ok = true;
  for (size_t cut = 0; cut < enc.size(); ++cut) {
    Decode(std::string_view(enc).substr(0, cut), 500, &ok);
    EXPECT_FALSE(ok) << "truncated to " << cut;
  }
  Decode(enc + "x", 500, &ok);
  EXPECT_FALSE(ok) << "trailing byte";
  Decode(enc, 499, &ok);
  EXPECT_FALSE(ok) << "fewer values than stored";
  std::string bad_width;
  PutZigZag(&bad_width, 0);
  bad_width.push_back(65);
  bad_width.append(600, '\0');
  Decode(bad_width, 64, &ok);
  EXPECT_FALSE(ok) << "width over 64";
}

}  // namespace
}  // namespace loupe::store
