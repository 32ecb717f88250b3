#include "common/hll.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "common/hash.h"

namespace loupe {
namespace {

double RelativeError(double estimate, double truth) { return std::fabs(estimate - truth) / truth; }

TEST(HyperLogLog, EmptyEstimatesZero) {
  HyperLogLog h(12);
  EXPECT_TRUE(h.empty());
  EXPECT_EQ(h.Estimate(), 0.0);
}

TEST(HyperLogLog, SmallCountsAreNearlyExact) {
  HyperLogLog h(14);
  for (int n = 1; n <= 1000; ++n) {
    h.Add("user-" + std::to_string(n));
    if (n == 1 || n == 10 || n == 100 || n == 1000) {
      EXPECT_NEAR(h.Estimate(), n, std::max(0.5, n * 0.01)) << n;
    }
  }
}

TEST(HyperLogLog, DuplicatesDoNotCount) {
  HyperLogLog h(12);
  for (int rep = 0; rep < 50; ++rep) {
    for (int i = 0; i < 300; ++i) h.Add("10.0.0." + std::to_string(i));
  }
  EXPECT_NEAR(h.Estimate(), 300, 300 * 0.03);
}

// Error bounds are about 4 standard errors (1.04 / sqrt(2^p)) so the test is
// deterministic in practice while still catching a broken estimator.
struct ErrorCase {
  int precision;
  int distinct;
  double max_error;
};

class HyperLogLogError : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(HyperLogLogError, WithinBound) {
  const ErrorCase c = GetParam();
  HyperLogLog h(c.precision);
  std::string key;
  for (int i = 0; i < c.distinct; ++i) {
    key = "user-";
    key += std::to_string(i);
    h.Add(key);
  }
  const double err = RelativeError(h.Estimate(), c.distinct);
  EXPECT_LT(err, c.max_error) << "estimate " << h.Estimate();
  RecordProperty("relative_error", std::to_string(err));
}

INSTANTIATE_TEST_SUITE_P(Distinct, HyperLogLogError,
                         ::testing::Values(ErrorCase{12, 100'000, 0.065},
                                           ErrorCase{12, 1'000'000, 0.065},
                                           ErrorCase{14, 100'000, 0.033},
                                           ErrorCase{14, 1'000'000, 0.033}));

// Across many independent sketches the mean error is near zero (no bias,
// including the transition range 2.5m..5m where raw HLL is biased) and the
// spread matches the theory.
TEST(HyperLogLog, UnbiasedAcrossRanges) {
  constexpr int kP = 10;  // m = 1024: cheap to run many trials
  constexpr int kTrials = 200;
  for (int n : {500, 2'000, 3'000, 5'000, 20'000}) {
    double sum_rel = 0, sum_sq = 0;
    for (int t = 0; t < kTrials; ++t) {
      HyperLogLog h(kP);
      for (int i = 0; i < n; ++i) h.AddHash(Mix64((uint64_t(t) << 32) + i + 1));
      const double rel = (h.Estimate() - n) / n;
      sum_rel += rel;
      sum_sq += rel * rel;
    }
    const double mean = sum_rel / kTrials;
    const double rms = std::sqrt(sum_sq / kTrials);
    EXPECT_LT(std::fabs(mean), 0.012) << n;  // ~3 standard errors of the mean
    EXPECT_LT(rms, 1.3 * 1.04 / 32) << n;    // theory: 1.04 / sqrt(1024)
  }
}

TEST(HyperLogLog, MergeEstimatesTheUnion) {
  HyperLogLog a(14), b(14), both(14);
  for (int i = 0; i < 60'000; ++i) {
    std::string k = "k" + std::to_string(i);
    if (i < 40'000) a.Add(k);
    if (i >= 20'000) b.Add(k);
    both.Add(k);
  }
  a.Merge(b);
  EXPECT_EQ(a.Estimate(), both.Estimate());
  EXPECT_LT(RelativeError(a.Estimate(), 60'000), 0.033);
}

TEST(HyperLogLog, ClearResets) {
  HyperLogLog h(12);
  h.Add("x");
  EXPECT_FALSE(h.empty());
  h.Clear();
  EXPECT_TRUE(h.empty());
  EXPECT_EQ(h.Estimate(), 0.0);
}

TEST(HyperLogLog, PrecisionIsClamped) {
  EXPECT_EQ(HyperLogLog(1).precision(), HyperLogLog::kMinPrecision);
  EXPECT_EQ(HyperLogLog(30).precision(), HyperLogLog::kMaxPrecision);
}

}  // namespace
}  // namespace loupe
