// Rollup cells, histogram bins and percentiles (rollup.h).
#include "store/rollup.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

namespace loupe::store {
namespace {

TEST(ElapsedBin, EveryValueLiesInsideItsBin) {
  for (int64_t v = 1; v < (int64_t{1} << 20); v += 1 + v / 512) {
    const uint16_t b = ElapsedBin(v);
    EXPECT_LE(BinLowerUs(b), static_cast<double>(v)) << v;
    EXPECT_GT(BinLowerUs(static_cast<uint16_t>(b + 1)), static_cast<double>(v)) << v;
  }
  for (int e = 20; e < 62; ++e) {
    const int64_t v = (int64_t{1} << e) + (int64_t{1} << (e - 2)) + 12345;
    const uint16_t b = ElapsedBin(v);
    EXPECT_LE(BinLowerUs(b), static_cast<double>(v));
    EXPECT_GT(BinLowerUs(static_cast<uint16_t>(b + 1)), static_cast<double>(v));
  }
}

TEST(ElapsedBin, BinsAreMonotoneAndNonPositiveCountsAsOneMicrosecond) {
  uint16_t prev = 0;
  for (int64_t v = 1; v < 10'000'000; v = v * 11 / 10 + 1) {
    EXPECT_GE(ElapsedBin(v), prev);
    prev = ElapsedBin(v);
  }
  EXPECT_EQ(ElapsedBin(0), ElapsedBin(1));
  EXPECT_EQ(ElapsedBin(-5), ElapsedBin(1));
}

TEST(ElapsedBin, BinWidthIsUnderNinePercent) {
  for (uint16_t b = 24; b < 480; ++b) {
    EXPECT_LT(BinLowerUs(b + 1) / BinLowerUs(b), 1.126);
  }
}

// Percentiles from the histogram stay within 6.1 % of the exact nearest-rank
// ones, over distributions APM data takes.
TEST(HistPercentile, WithinHalfABinOfTheExactValue) {
  std::mt19937_64 rng(5);
  std::lognormal_distribution<double> lognormal(std::log(80'000.0), 1.2);
  std::exponential_distribution<double> expo(1.0 / 3'000.0);
  for (int dist = 0; dist < 3; ++dist) {
    std::vector<int64_t> v;
    RollupStats st;
    for (int i = 0; i < 20'000; ++i) {
      double x = dist == 0 ? lognormal(rng) : dist == 1 ? expo(rng) + 1 : 1000 + (i % 7) * 250'000;
      const auto us = static_cast<int64_t>(x);
      v.push_back(us);
      st.Add(us, false, {});
    }
    std::sort(v.begin(), v.end());
    for (double q : {0.5, 0.9, 0.95, 0.99, 0.999}) {
      const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
      const double exact = static_cast<double>(v[rank - 1]);
      const double est = HistPercentileUs(st.hist, q, st.elapsed_max_us);
      EXPECT_NEAR(est, exact, exact * 0.061) << "dist " << dist << " q " << q;
    }
    EXPECT_EQ(HistPercentileUs(st.hist, 1.0, st.elapsed_max_us), st.elapsed_max_us);
  }
  EXPECT_EQ(HistPercentileUs({}, 0.5, 0), 0);
}

TEST(RollupStats, AddAndMergeKeepSumsAndSortedBins) {
  RollupStats a, b, all;
  model::Summary s;
  s.sql_count = 2;
  s.sql_us = 100;
  s.external_count = 1;
  s.external_us = 7;
  for (int i = 0; i < 100; ++i) {
    const int64_t el = 1 + i * 997 % 50'000;
    const bool err = i % 9 == 0;
    (i % 2 ? a : b).Add(el, err, s);
    all.Add(el, err, s);
  }
  a.Merge(b, b.hist);
  EXPECT_EQ(a, all);
  EXPECT_TRUE(std::is_sorted(a.hist.begin(), a.hist.end(),
                             [](const HistBin& x, const HistBin& y) { return x.bin < y.bin; }));
  uint64_t n = 0, e = 0;
  for (const HistBin& h : a.hist) {
    n += h.count;
    e += h.errors;
  }
  EXPECT_EQ(n, 100u);
  EXPECT_EQ(e, a.errors);
  EXPECT_EQ(a.sql_count, 200u);
  EXPECT_EQ(a.external_us, 700);
}

TEST(RollupBuilder, CellsPerSecondAndFiveMinutesAndUsersPerHour) {
  RollupBuilder b;
  const int64_t t = 1'700'000'100'000'000;  // 100 s past a 5-minute boundary
  b.Add(t + 10, 1000, false, {}, 1, 2, 3, "alice");
  b.Add(t + 999'999, 2000, true, {}, 1, 2, 3, "bob");
  b.Add(t + 1'000'000, 3000, false, {}, 1, 2, 3, "alice");
  b.Add(t + 1'000'001, 3000, false, {}, 1, 2, 4, "");
  EXPECT_EQ(b.cells(RollupResolution::kSecond).size(), 3u);
  EXPECT_EQ(b.cells(RollupResolution::kFiveMinutes).size(), 2u);
  const RollupStats& first = b.cells(RollupResolution::kSecond)
                                 .at(RollupKey{t / kRollupSecondUs * kRollupSecondUs, 1, 2, 3});
  EXPECT_EQ(first.count, 2u);
  EXPECT_EQ(first.errors, 1u);
  EXPECT_EQ(first.elapsed_max_us, 2000);
  ASSERT_EQ(b.users().size(), 1u);
  EXPECT_NEAR(b.users().begin()->second.Estimate(), 2, 0.5);
  RollupBuilder c;
  c.Merge(b);
  c.Merge(b);
  EXPECT_EQ(c.cells(RollupResolution::kFiveMinutes)
                .at(RollupKey{t / kRollupFiveMinutesUs * kRollupFiveMinutesUs, 1, 2, 3})
                .count,
            6u);
  EXPECT_GT(c.bytes(), 0u);
}

TEST(RollupBuilderTest, LateSumsJoinTheTransactionsCellsWithoutCounting) {
  RollupBuilder b;
  model::Summary s;
  s.sql_count = 2;
  s.sql_us = 30;
  b.Add(61'500'000, 1000, false, s, 1, 2, 3, "u");
  model::Summary late;
  late.sql_count = 5;
  late.sql_us = 50;
  late.external_count = 1;
  late.external_us = 70;
  b.AddLate(61'500'000, late, 1, 2, 3);
  for (RollupResolution r : kRollupResolutions) {
    ASSERT_EQ(b.cells(r).size(), 1u);
    const RollupStats& c = b.cells(r).begin()->second;
    EXPECT_EQ(c.count, 1u);
    EXPECT_EQ(c.sql_count, 7u);
    EXPECT_EQ(c.sql_us, 80);
    EXPECT_EQ(c.external_count, 1u);
    EXPECT_EQ(c.external_us, 70);
    EXPECT_EQ(c.elapsed_max_us, 1000);
  }
  // Alone (the transaction's cell is in another file): sums, count 0; merged
  // into the transaction's cell, the maximum elapsed stays the transaction's.
  RollupBuilder alone;
  alone.AddLate(61'500'000, late, 1, 2, 3);
  const RollupStats& d = alone.cells(RollupResolution::kSecond).begin()->second;
  EXPECT_EQ(d.count, 0u);
  EXPECT_TRUE(d.hist.empty());
  RollupStats tx;
  tx.Add(1000, false, s);
  tx.Merge(d, d.hist);
  EXPECT_EQ(tx.count, 1u);
  EXPECT_EQ(tx.sql_count, 7u);
  EXPECT_EQ(tx.elapsed_max_us, 1000);
  RollupStats first;
  first.Merge(d, d.hist);
  first.Merge(tx, tx.hist);
  EXPECT_EQ(first.elapsed_max_us, 1000);
  EXPECT_EQ(first.sql_count, 12u);
}

}  // namespace
}  // namespace loupe::store
