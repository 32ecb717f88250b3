#include "store/tsdb/chunk.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>

namespace loupe::tsdb {
namespace {

std::vector<double> RoundTripValues(const std::vector<double>& in, size_t* bytes = nullptr) {
  std::string enc;
  EncodeValues(in, &enc);
  if (bytes) *bytes = enc.size();
  std::vector<double> out;
  EXPECT_TRUE(DecodeValues(enc, in.size(), &out));
  return out;
}

void ExpectSameBits(const std::vector<double>& a, const std::vector<double>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(std::bit_cast<uint64_t>(a[i]), std::bit_cast<uint64_t>(b[i])) << "at " << i;
  }
}

TEST(BitStream, WritesAndReadsEveryWidth) {
  BitWriter w;
  for (int n = 1; n <= 64; ++n) w.Write(0xA5A5A5A5A5A5A5A5ULL >> (64 - n), n);
  const std::string bytes = w.Bytes();
  BitReader r(bytes);
  for (int n = 1; n <= 64; ++n) {
    uint64_t v;
    ASSERT_TRUE(r.Read(n, &v));
    EXPECT_EQ(v, 0xA5A5A5A5A5A5A5A5ULL >> (64 - n)) << n;
  }
  uint64_t v;
  EXPECT_FALSE(r.Read(16, &v));
}

TEST(Timestamps, RoundTripRegularJitteredAndExtreme) {
  std::mt19937_64 rng(7);
  std::vector<int64_t> ts;
  int64_t t = 1'700'000'000'000;
  for (int i = 0; i < 5000; ++i) {
    t += 5000 + static_cast<int64_t>(rng() % 7) - 3;
    if (i % 97 == 0) t += static_cast<int64_t>(rng() % 10'000'000);  // gaps
    ts.push_back(t);
  }
  ts.push_back(std::numeric_limits<int64_t>::max());  // a 64-bit delta-of-delta
  std::string enc;
  EncodeTimestamps(ts, &enc);
  std::vector<int64_t> out;
  ASSERT_TRUE(DecodeTimestamps(enc, ts.size(), &out));
  EXPECT_EQ(out, ts);
  EXPECT_FALSE(DecodeTimestamps(enc.substr(0, enc.size() / 2), ts.size(), &out));
}

TEST(Timestamps, RegularIntervalCostsOneBitEach) {
  std::vector<int64_t> ts;
  for (int i = 0; i < 1000; ++i) ts.push_back(1'700'000'000'000 + i * 5000);
  std::string enc;
  EncodeTimestamps(ts, &enc);
  EXPECT_LE(enc.size(), 8 + 4 + 1000 / 8 + 1);
}

TEST(Values, RandomDoublesRoundTripBitExact) {
  std::mt19937_64 rng(1);
  std::vector<double> v;
  for (int i = 0; i < 10000; ++i) v.push_back(std::bit_cast<double>(rng()));
  ExpectSameBits(v, RoundTripValues(v));
}

TEST(Values, ConstantSeriesIsAboutOneBitPerSample) {
  std::vector<double> v(1000, 42.5);
  size_t bytes;
  ExpectSameBits(v, RoundTripValues(v, &bytes));
  EXPECT_LE(bytes, 1 + 8 + 1000 / 8 + 1);
}

TEST(Values, CounterUsesDecimalModeAndStaysExact) {
  std::vector<double> v;
  double c = 1234.56;
  std::mt19937 rng(3);
  for (int i = 0; i < 2000; ++i) {
    c += static_cast<double>(rng() % 500) / 100.0;
    v.push_back(std::round(c * 100) / 100);
  }
  size_t bytes;
  ExpectSameBits(v, RoundTripValues(v, &bytes));
  std::string enc;
  EncodeValues(v, &enc);
  EXPECT_EQ(enc[0], 3);  // two digits after the point
  // XOR would need ~25+ bits per value here.
  EXPECT_LT(bytes, v.size() * 2);
}

TEST(Values, NaNInfinitiesAndSignedZeroRoundTrip) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> v = {1.0, nan, -inf, inf, -0.0, 0.0, 3.25, nan, nan, 1e308, -1e-308};
  ExpectSameBits(v, RoundTripValues(v));
  std::vector<double> zeros = {0.0, -0.0, 0.0};
  ExpectSameBits(zeros, RoundTripValues(zeros));
}

TEST(Values, LargeIntegersFallBackExactly) {
  std::vector<double> v = {9.1e15, 9.2e15, 1.0, -9.3e15};
  ExpectSameBits(v, RoundTripValues(v));
}

TEST(Values, TruncatedOrUnknownModeFailsWithoutCrashing) {
  std::vector<double> v(100);
  for (int i = 0; i < 100; ++i) v[i] = i * 1.37;
  std::string enc;
  EncodeValues(v, &enc);
  std::vector<double> out;
  for (size_t cut = 0; cut < enc.size(); ++cut) {
    EXPECT_FALSE(DecodeValues(enc.substr(0, cut), v.size(), &out)) << cut;
  }
  std::string bad = enc;
  bad[0] = 9;
  EXPECT_FALSE(DecodeValues(bad, v.size(), &out));
}

TEST(HeadEncoders, StreamingMatchesWholeColumnDecoding) {
  BitWriter tw, vw;
  TimestampEncoder te;
  XorEncoder ve;
  std::vector<int64_t> ts;
  std::vector<double> vs;
  for (int i = 0; i < 777; ++i) {
    ts.push_back(1000 + i * 15000 + (i % 3));
    vs.push_back(std::sin(i) * 100);
    te.Append(ts.back(), &tw);
    ve.Append(vs.back(), &vw);
  }
  const std::string tb = tw.Bytes(), vb = vw.Bytes();
  BitReader tr2(tb), vr2(vb);
  TimestampDecoder td;
  XorDecoder vd;
  for (size_t i = 0; i < ts.size(); ++i) {
    int64_t t;
    double v;
    ASSERT_TRUE(td.Next(&tr2, &t));
    ASSERT_TRUE(vd.Next(&vr2, &v));
    EXPECT_EQ(t, ts[i]);
    EXPECT_EQ(v, vs[i]);
  }
}

}  // namespace
}  // namespace loupe::tsdb
