// Query semantics on a small hand-made data set with exact expected numbers.
//
// The data set (times in ms after T, a 10 s window [T, T+10 s) is queried):
//
//   id service instance endpoint      end_ms  elapsed  error sql sql_ms ext_ms user
//    1 shop    shop-1   GET /a          1000       10     -    1     2      0 alice
//    2 shop    shop-1   GET /a          2500       30     -    2     8      0 bob
//    3 shop    shop-2   GET /b          2600      200     E    0     0    150 alice
//    4 shop    shop-2   GET /a          5000       20     -    1     3      0 carol
//    5 auth    auth-1   POST /login     5500        5     -    0     0      0 alice
//    6 shop    shop-1   GET /b          9999      100     E    3    40     50 bob
//    7 auth    auth-1   POST /login    12000       15     -    0     0      0 dave  (outside)
#include "query/query.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "query/xview_bins.h"
#include "store/mem/mem_store.h"
#include "testing/raw_rows_store.h"

namespace loupe::query {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr int64_t kMs = 1000;
constexpr int64_t kT = 1'700'000'000'000'000;  // a multiple of 10 s
constexpr model::ProjectId kP = 1;

struct Row {
  model::TxId id;
  const char* service;
  const char* instance;
  const char* endpoint;
  int64_t end_ms;
  int64_t elapsed_ms;
  bool error;
  uint32_t sql;
  int64_t sql_ms, ext_ms;
  const char* user;
};

model::Transaction MakeTx(const Row& r) {
  model::Transaction tx;
  tx.id = r.id;
  tx.trace_id[0] = static_cast<uint8_t>(r.id);
  tx.trace_id[15] = 1;
  tx.service = r.service;
  tx.instance = r.instance;
  tx.endpoint = r.endpoint;
  tx.http_method = std::string(r.endpoint).substr(0, std::string(r.endpoint).find(' '));
  tx.end_us = kT + r.end_ms * kMs;
  tx.start_us = tx.end_us - r.elapsed_ms * kMs;
  tx.error = r.error;
  tx.status = r.error ? 500 : 200;
  tx.error_type = r.error ? "HTTP 500" : "";
  tx.summary.sql_count = r.sql;
  tx.summary.sql_us = r.sql_ms * kMs;
  tx.summary.external_count = r.ext_ms > 0;
  tx.summary.external_us = r.ext_ms * kMs;
  tx.user = r.user;
  tx.client_ip = "10.0.0." + std::to_string(r.id);
  return tx;
}

class QueryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Load({
        {1, "shop", "shop-1", "GET /a", 1000, 10, false, 1, 2, 0, "alice"},
        {2, "shop", "shop-1", "GET /a", 2500, 30, false, 2, 8, 0, "bob"},
        {3, "shop", "shop-2", "GET /b", 2600, 200, true, 0, 0, 150, "alice"},
        {4, "shop", "shop-2", "GET /a", 5000, 20, false, 1, 3, 0, "carol"},
        {5, "auth", "auth-1", "POST /login", 5500, 5, false, 0, 0, 0, "alice"},
        {6, "shop", "shop-1", "GET /b", 9999, 100, true, 3, 40, 50, "bob"},
        {7, "auth", "auth-1", "POST /login", 12000, 15, false, 0, 0, 0, "dave"},
    });
    window_.from_us = kT;
    window_.to_us = kT + 10'000 * kMs;
  }

  void Load(const std::vector<Row>& rows) {
    store::WriteBatch b;
    // Arrival order differs from end order on purpose.
    for (auto it = rows.rbegin(); it != rows.rend(); ++it) b.transactions.push_back(MakeTx(*it));
    ASSERT_TRUE(store_->Append(kP, std::move(b)).ok());
  }

  static std::vector<model::TxId> Ids(const TxList& l) {
    std::vector<model::TxId> ids;
    for (const TxListRow& r : l.rows) ids.push_back(r.id);
    return ids;
  }

  // "[0.5, 1, null]" — %g numbers, NaN as null (as the API renders them).
  static std::string Fmt(const std::vector<double>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) s += ", ";
      char buf[32];
      if (std::isnan(v[i])) {
        s += "null";
      } else {
        std::snprintf(buf, sizeof buf, "%.6g", v[i]);
        s += buf;
      }
    }
    return s + "]";
  }

  // Non-empty cells as "x,y=count/errors", in index order.
  static std::string Cells(const XViewBins& b) {
    std::string s;
    for (size_t i = 0; i < b.count.size(); ++i) {
      if (b.count[i] == 0) continue;
      if (!s.empty()) s += " ";
      s += std::to_string(i / b.y_bins) + "," + std::to_string(i % b.y_bins) + "=" +
           std::to_string(b.count[i]) + "/" + std::to_string(b.errors[i]);
    }
    return s;
  }

  std::unique_ptr<store::Store> store_ = store::NewMemStore();
  store::TxFilter window_;
};

// ---- transactions ----

TEST_F(QueryTest, NewestFirstWithLimitIsTruncated) {
  Result<TxList> l = ListTransactions(*store_, kP, window_, 3, TxSort::kNewest);
  ASSERT_TRUE(l.ok());
  EXPECT_THAT(Ids(*l), ElementsAre(6, 5, 4));
  EXPECT_TRUE(l->truncated);

  l = ListTransactions(*store_, kP, window_, 6, TxSort::kNewest);
  EXPECT_THAT(Ids(*l), ElementsAre(6, 5, 4, 3, 2, 1));
  EXPECT_FALSE(l->truncated);
}

TEST_F(QueryTest, ListRowsCarryEveryListField) {
  Result<TxList> l = ListTransactions(*store_, kP, window_, 1, TxSort::kNewest);
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l->rows.size(), 1u);
  const TxListRow& r = l->rows[0];
  EXPECT_EQ(r.id, 6u);
  EXPECT_EQ(r.service, "shop");
  EXPECT_EQ(r.instance, "shop-1");
  EXPECT_EQ(r.endpoint, "GET /b");
  EXPECT_EQ(r.http_method, "GET");
  EXPECT_EQ(r.user, "bob");
  EXPECT_EQ(r.client_ip, "10.0.0.6");
  EXPECT_EQ(r.error_type, "HTTP 500");
  EXPECT_EQ(r.start_us, kT + 9899 * kMs);
  EXPECT_EQ(r.end_us, kT + 9999 * kMs);
  EXPECT_EQ(r.status, 500);
  EXPECT_TRUE(r.error);
  EXPECT_EQ(r.summary.sql_count, 3u);
  EXPECT_EQ(r.summary.sql_us, 40 * kMs);
  EXPECT_EQ(r.summary.external_us, 50 * kMs);
}

TEST_F(QueryTest, SlowestSqlAndExternalSorts) {
  Result<TxList> l = ListTransactions(*store_, kP, window_, 3, TxSort::kSlowest);
  ASSERT_TRUE(l.ok());
  EXPECT_THAT(Ids(*l), ElementsAre(3, 6, 2));
  EXPECT_TRUE(l->truncated);

  l = ListTransactions(*store_, kP, window_, 3, TxSort::kSqlTime);
  EXPECT_THAT(Ids(*l), ElementsAre(6, 2, 4));

  // Ties (external 0 ms for 1, 2, 4, 5) go to the newest.
  l = ListTransactions(*store_, kP, window_, 4, TxSort::kExternalTime);
  EXPECT_THAT(Ids(*l), ElementsAre(3, 6, 5, 4));

  l = ListTransactions(*store_, kP, window_, 100, TxSort::kSlowest);
  EXPECT_THAT(Ids(*l), ElementsAre(3, 6, 2, 4, 1, 5));
  EXPECT_FALSE(l->truncated);

  l = ListTransactions(*store_, kP, window_, 0, TxSort::kSlowest);
  EXPECT_THAT(Ids(*l), IsEmpty());
  EXPECT_TRUE(l->truncated);
}

TEST_F(QueryTest, ListFiltersPassThrough) {
  store::TxFilter f = window_;
  f.errors_only = true;
  EXPECT_THAT(Ids(*ListTransactions(*store_, kP, f, 10, TxSort::kNewest)), ElementsAre(6, 3));
  f = window_;
  f.user = "alice";
  f.min_elapsed_us = 10 * kMs;
  EXPECT_THAT(Ids(*ListTransactions(*store_, kP, f, 10, TxSort::kSlowest)), ElementsAre(3, 1));
  f = {};  // no window: id 7 too
  EXPECT_THAT(Ids(*ListTransactions(*store_, kP, f, 2, TxSort::kNewest)), ElementsAre(7, 6));
}

// ---- X-View ----

TEST_F(QueryTest, XViewExactPointsInEndOrder) {
  XViewOptions o;
  o.max_points = 6;
  Result<XView> x = ComputeXView(*store_, kP, window_, o);
  ASSERT_TRUE(x.ok());
  EXPECT_FALSE(x->binned);
  EXPECT_EQ(x->total, 6u);
  EXPECT_THAT(x->points.id, ElementsAre(1, 2, 3, 4, 5, 6));
  EXPECT_THAT(x->points.end_us, ElementsAre(kT + 1000 * kMs, kT + 2500 * kMs, kT + 2600 * kMs,
                                            kT + 5000 * kMs, kT + 5500 * kMs, kT + 9999 * kMs));
  EXPECT_THAT(x->points.elapsed_us,
              ElementsAre(10 * kMs, 30 * kMs, 200 * kMs, 20 * kMs, 5 * kMs, 100 * kMs));
  EXPECT_THAT(x->points.error, ElementsAre(0, 0, 1, 0, 0, 1));
}

TEST_F(QueryTest, XViewBinsPastMaxPoints) {
  // 10 x bins of 1 s; 4 y bins log-scaled over [5 ms, 200 ms] with lower
  // edges 5, 12.57, 31.62, 79.53 ms.
  XViewOptions o;
  o.max_points = 5;
  o.x_bins = 10;
  o.y_bins = 4;
  Result<XView> x = ComputeXView(*store_, kP, window_, o);
  ASSERT_TRUE(x.ok());
  ASSERT_TRUE(x->binned);
  EXPECT_EQ(x->total, 6u);
  EXPECT_THAT(x->points.id, IsEmpty());
  const XViewBins& b = x->bins;
  EXPECT_EQ(b.from_us, kT);
  EXPECT_EQ(b.to_us, kT + 10'000 * kMs);
  EXPECT_EQ(b.x_bins, 10);
  EXPECT_EQ(b.y_bins, 4);
  EXPECT_DOUBLE_EQ(b.y_min_ms, 5);
  EXPECT_DOUBLE_EQ(b.y_max_ms, 200);
  ASSERT_EQ(b.count.size(), 40u);
  EXPECT_EQ(Cells(b), "1,0=1/0 2,1=1/0 2,3=1/1 5,0=1/0 5,1=1/0 9,3=1/1");
}

TEST_F(QueryTest, XViewOpenRangeUsesTheDataRange) {
  XViewOptions o;
  o.max_points = 0;
  o.x_bins = 11;
  o.y_bins = 1;
  Result<XView> x = ComputeXView(*store_, kP, {}, o);
  ASSERT_TRUE(x.ok());
  ASSERT_TRUE(x->binned);
  EXPECT_EQ(x->total, 7u);
  EXPECT_EQ(x->bins.from_us, kT + 1000 * kMs);
  EXPECT_EQ(x->bins.to_us, kT + 12000 * kMs + 1);
  // 11 bins of 1 s (+1 µs / 11) from T+1 s: ends 1, 2.5, 2.6, 5, 5.5, 9.999, 12 s.
  EXPECT_EQ(Cells(x->bins), "0,0=1/0 1,0=2/1 3,0=1/0 4,0=1/0 8,0=1/1 10,0=1/0");
}

TEST_F(QueryTest, XViewYRangeHasAFloorOfAtenthOfAMillisecond) {
  Load({{20, "fast", "f-1", "GET /ping", 3000, 0, false, 0, 0, 0, ""}});
  XViewOptions o;
  o.max_points = 1;
  o.y_bins = 10;
  Result<XView> x = ComputeXView(*store_, kP, window_, o);
  ASSERT_TRUE(x.ok());
  EXPECT_DOUBLE_EQ(x->bins.y_min_ms, 0.1);
  EXPECT_DOUBLE_EQ(x->bins.y_max_ms, 200);
}

TEST(QueryXView, BinsMatchTheDirectFormulaOnRandomData) {
  // x = floor((end - from) * x_bins / (to - from)),
  // y = floor(y_bins * log(v / y_min) / log(y_max / y_min)) clamped to the grid;
  // points within 1e-9 (relative) of a y edge are skipped: rounding may go either way.
  std::mt19937_64 rng(3);
  for (int round = 0; round < 4; ++round) {
    std::unique_ptr<store::Store> s = store::NewMemStore();
    const int64_t from = kT + 777, to = from + 3'600'000'001LL + round * 12345;
    const int x_bins = 600 + round * 7, y_bins = std::array<int, 4>{100, 61, 5000, 7}[round];
    std::lognormal_distribution<double> el(std::log(30'000.0), 1.5);
    store::WriteBatch b;
    std::vector<std::pair<int64_t, int64_t>> rows;  // end, elapsed
    for (int i = 0; i < 20'000; ++i) {
      int64_t end = from + static_cast<int64_t>(rng() % static_cast<uint64_t>(to - from));
      auto e = static_cast<int64_t>(el(rng)) + (i % 50 == 0 ? 0 : 1);
      model::Transaction tx;
      tx.id = static_cast<model::TxId>(i + 1);
      tx.end_us = end;
      tx.start_us = end - e;
      tx.error = i % 7 == 0;
      b.transactions.push_back(tx);
      rows.emplace_back(end, e);
    }
    ASSERT_TRUE(s->Append(kP, std::move(b)).ok());
    store::TxFilter f;
    f.from_us = from;
    f.to_us = to;
    XViewOptions o;
    o.max_points = 1000;
    o.x_bins = x_bins;
    o.y_bins = y_bins;
    Result<XView> x = ComputeXView(*s, kP, f, o);
    ASSERT_TRUE(x.ok());
    ASSERT_TRUE(x->binned);
    const XViewBins& bins = x->bins;
    std::vector<uint32_t> want(bins.count.size());
    const double lmin = std::log(bins.y_min_ms * 1000),
                 lspan = std::log(bins.y_max_ms * 1000) - lmin;
    uint64_t skipped = 0, total = 0;
    for (auto [end, e] : rows) {
      auto xi = static_cast<int>(static_cast<__int128>(end - from) * x_bins / (to - from));
      double yf = e <= 0 ? -1 : (std::log(static_cast<double>(e)) - lmin) / lspan * y_bins;
      if (std::abs(yf - std::round(yf)) < 1e-9 * y_bins) {
        ++skipped;
        continue;
      }
      int yi = std::clamp(static_cast<int>(std::floor(yf)), 0, y_bins - 1);
      ++want[static_cast<size_t>(xi) * y_bins + yi];
      ++total;
    }
    // Compare cell by cell after removing the skipped points' freedom: every
    // cell may exceed the direct count by at most the skipped points.
    uint64_t diff = 0, got_total = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_GE(bins.count[i], want[i]) << "cell " << i;
      diff += bins.count[i] - want[i];
      got_total += bins.count[i];
    }
    EXPECT_EQ(diff, skipped);
    EXPECT_EQ(got_total, 20'000u);
    EXPECT_LE(skipped, 5u);
  }
}

// YBins compares integer values against integer thresholds; the cell must be
// the one the floating-point edges give: the number of edges edge(1..n-1)
// at or below (double)v. Checked at every edge's integer neighbourhood,
// every value below 2^17 and random values up to 2^47, for grids where one
// step from the table suffices and grids where it loops.
TEST(QueryXView, YBinsMatchTheFloatingPointEdgesExactly) {
  struct Grid {
    double y_min_us, y_max_us;
    int n;
  };
  const Grid grids[] = {
      {100, 30'000'000, 100}, {100, 8'000'000, 100}, {100, 200'000, 100},
      {100, 101, 100},        {100, 1000, 5000},     {123.456, 98765.4, 61},
      {100, 1e12, 7},         {0.5, 3, 10},          {100, 140'737'488'355'327.0, 100},
      {5000, 5001, 3}};
  std::mt19937_64 rng(11);
  for (const Grid& g : grids) {
    internal::YBins bins(g.y_min_us, g.y_max_us, g.n);
    const double log_min = std::log2(g.y_min_us);
    const double span = std::log2(g.y_max_us) - log_min;
    std::vector<double> edge(g.n + 1);
    for (int k = 0; k <= g.n; ++k) edge[k] = std::exp2(log_min + span * k / g.n);
    auto want = [&](int64_t v) {
      if (v < 1) return 0;
      if (v >= (int64_t{1} << 48)) return g.n - 1;
      int k = 0;
      for (int j = 1; j < g.n; ++j) k += static_cast<double>(v) >= edge[j];
      return k;
    };
    std::vector<int64_t> vals;
    for (int k = 1; k < g.n; ++k) {
      const auto c = static_cast<int64_t>(std::ceil(edge[k]));
      for (int64_t d = -3; d <= 3; ++d) vals.push_back(c + d);
    }
    for (int64_t v = -2; v < (1 << 17); ++v) vals.push_back(v);
    for (int i = 0; i < 20'000; ++i)
      vals.push_back(static_cast<int64_t>(rng() >> (17 + rng() % 47)));
    for (int64_t v : vals) {
      ASSERT_EQ(bins.Bin(v), want(v))
          << "v " << v << " grid " << g.y_min_us << ".." << g.y_max_us << " / " << g.n;
      if (bins.one_step()) {
        ASSERT_EQ(bins.BinOneStep(v), want(v));
      }
      ASSERT_EQ(bins.BinLoop(v), want(v));
    }
  }
}

TEST_F(QueryTest, XViewRejectsEmptyGrids) {
  XViewOptions o;
  o.x_bins = 0;
  EXPECT_EQ(ComputeXView(*store_, kP, window_, o).status().code(), Status::Code::kInvalidArgument);
}

// ---- series ----

TEST_F(QueryTest, SeriesMetricsInTwoSecondBuckets) {
  // Buckets [0,2) [2,4) [4,6) [6,8) [8,10) s hold ids {1} {2,3} {4,5} {} {6}.
  store::TxFilter f = window_;
  f.from_us = kT + 500 * kMs;  // aligned down to T
  auto series = [&](Metric m) {
    Result<Series> s = ComputeSeries(*store_, kP, f, m, 2'000 * kMs, GroupBy::kNone);
    EXPECT_TRUE(s.ok());
    EXPECT_EQ(s->from_us, kT);
    EXPECT_EQ(s->step_us, 2'000 * kMs);
    EXPECT_EQ(s->buckets, 5u);
    EXPECT_EQ(s->lines.size(), 1u);
    EXPECT_EQ(s->lines[0].key, "");
    return Fmt(s->lines[0].values);
  };
  EXPECT_EQ(series(Metric::kTps), "[0.5, 1, 1, 0, 0.5]");
  EXPECT_EQ(series(Metric::kCount), "[1, 2, 2, 0, 1]");
  EXPECT_EQ(series(Metric::kErrors), "[0, 1, 0, 0, 1]");
  EXPECT_EQ(series(Metric::kResponseTime), "[10, 115, 12.5, null, 100]");
  EXPECT_EQ(series(Metric::kErrorRate), "[0, 50, 0, null, 100]");
}

TEST_F(QueryTest, SeriesBucketCountRoundsUp) {
  store::TxFilter f = window_;
  f.to_us = kT + 10'001 * kMs;
  Result<Series> s = ComputeSeries(*store_, kP, f, Metric::kCount, 2'000 * kMs, GroupBy::kNone);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->buckets, 6u);
  EXPECT_EQ(Fmt(s->lines[0].values), "[1, 2, 2, 0, 1, 0]");
}

TEST_F(QueryTest, SeriesGroupedFoldsTheRestIntoOther) {
  Result<Series> s =
      ComputeSeries(*store_, kP, window_, Metric::kCount, 5'000 * kMs, GroupBy::kService, 1);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->lines.size(), 2u);
  EXPECT_EQ(s->lines[0].key, "shop");
  EXPECT_EQ(Fmt(s->lines[0].values), "[3, 2]");
  EXPECT_EQ(s->lines[1].key, "(other)");
  EXPECT_EQ(Fmt(s->lines[1].values), "[0, 1]");

  s = ComputeSeries(*store_, kP, window_, Metric::kCount, 5'000 * kMs, GroupBy::kInstance);
  ASSERT_TRUE(s.ok());
  std::vector<std::string> keys;
  for (const SeriesLine& l : s->lines) keys.push_back(l.key + " " + Fmt(l.values));
  // By total count, then name; no (other) when everything fits.
  EXPECT_THAT(keys, ElementsAre("shop-1 [2, 1]", "shop-2 [1, 1]", "auth-1 [0, 1]"));
}

// 10,000 instances (the seed customer's fleet), grouped by instance: 20
// lines and "(other)", nothing lost in the fold, and the working memory that
// of those 21 lines, not a bucket array per instance — from rollups and from
// raw rows. Instance i sends 1 + i % 97 transactions, so the winners are
// known.
TEST(QuerySeries, GroupingTenThousandInstancesKeepsTwentyLinesInBoundedMemory) {
  auto s = store::NewMemStore();
  constexpr int kInstances = 10'000;
  const int64_t start = kT + 777;  // ragged: rollups and raw rows both answer
  uint64_t total = 0;
  store::WriteBatch b;
  for (int i = 0; i < kInstances; ++i) {
    for (int k = 0; k < 1 + i % 97; ++k) {
      model::Transaction tx;
      tx.id = static_cast<model::TxId>(i) * 1000 + static_cast<model::TxId>(k) + 1;
      tx.service = "svc-" + std::to_string(i % 50);
      tx.instance = "inst-" + std::to_string(i);
      tx.endpoint = "GET /";
      tx.end_us = start + (static_cast<int64_t>(k) * 7'919 + i) % 600 * 100'000;
      tx.start_us = tx.end_us - 1000;
      b.transactions.push_back(std::move(tx));
      ++total;
    }
  }
  ASSERT_TRUE(s->Append(kP, std::move(b)).ok());
  testing::RawRowsStore raw(*s);
  store::TxFilter f;
  f.from_us = start;
  f.to_us = start + 60'000'000;
  for (const store::Store* st :
       {static_cast<const store::Store*>(s.get()), static_cast<const store::Store*>(&raw)}) {
    Result<Series> r = ComputeSeries(*st, kP, f, Metric::kCount, 10'000'000, GroupBy::kInstance);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(r->lines.size(), 21u);
    EXPECT_EQ(r->lines.back().key, "(other)");
    // 97 transactions: instances 96, 193, ...; the 20 smallest names of them.
    std::vector<std::string> want;
    for (int i = 96; i < kInstances; i += 97) want.push_back("inst-" + std::to_string(i));
    std::sort(want.begin(), want.end());
    want.resize(20);
    std::vector<std::string> got;
    double sum = 0;
    for (size_t l = 0; l < r->lines.size(); ++l) {
      if (l < 20) got.push_back(r->lines[l].key);
      for (double v : r->lines[l].values) sum += v;
    }
    EXPECT_EQ(got, want);
    EXPECT_EQ(sum, static_cast<double>(total));
    EXPECT_LE(r->peak_bucket_arrays, kSeriesOnePassGroups + 1);
    EXPECT_GE(r->peak_bucket_arrays, 21u);
  }
  // Few groups still take the one pass.
  f.service = "svc-1";
  Result<Series> one = ComputeSeries(*s, kP, f, Metric::kCount, 10'000'000, GroupBy::kInstance);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->lines.size(), 21u);
  EXPECT_LE(one->peak_bucket_arrays, 201u);  // the service's 200 instances
}

TEST_F(QueryTest, SeriesOtherResponseTimeIsTheWeightedMean) {
  // GET /a (3 calls) is the top line; (other) = GET /b {200, 100} + POST /login {5}.
  Result<Series> s = ComputeSeries(*store_, kP, window_, Metric::kResponseTime, 10'000 * kMs,
                                   GroupBy::kEndpoint, 1);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->lines.size(), 2u);
  EXPECT_EQ(s->lines[0].key, "GET /a");
  EXPECT_EQ(Fmt(s->lines[0].values), "[20]");
  EXPECT_EQ(s->lines[1].key, "(other)");
  EXPECT_EQ(Fmt(s->lines[1].values), "[101.667]");  // (200+100+5)/3, not (150+5)/2
}

TEST_F(QueryTest, SeriesOpenRangeUsesTheDataRange) {
  Result<Series> s = ComputeSeries(*store_, kP, {}, Metric::kCount, 4'000 * kMs, GroupBy::kNone);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->from_us, kT);  // first end T+1 s, aligned down to 4 s
  EXPECT_EQ(Fmt(s->lines[0].values), "[3, 2, 1, 1]");

  Result<Series> none = ComputeSeries(*store_, 99, {}, Metric::kCount, 4'000 * kMs, GroupBy::kNone);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->buckets, 0u);
}

TEST_F(QueryTest, SeriesRejectsBadSteps) {
  EXPECT_EQ(ComputeSeries(*store_, kP, window_, Metric::kTps, 0, GroupBy::kNone).status().code(),
            Status::Code::kInvalidArgument);
  store::TxFilter year = window_;
  year.to_us = kT + 366LL * 86400 * 1'000'000;
  EXPECT_EQ(ComputeSeries(*store_, kP, year, Metric::kTps, 1, GroupBy::kNone).status().code(),
            Status::Code::kInvalidArgument);
}

// ---- endpoints ----

// Percentiles from the rollups' histograms: within half a bin (store/rollup.h).
constexpr double kHistError = 0.061;

TEST_F(QueryTest, EndpointStatistics) {
  std::string source;
  Result<std::vector<EndpointStats>> e = ComputeEndpoints(*store_, kP, window_, &source);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(source, "rollups");
  ASSERT_EQ(e->size(), 3u);
  const EndpointStats& a = (*e)[0];  // ids 1, 2, 4 (two instances, one row)
  EXPECT_EQ(a.service, "shop");
  EXPECT_EQ(a.endpoint, "GET /a");
  EXPECT_EQ(a.count, 3u);
  EXPECT_EQ(a.errors, 0u);
  EXPECT_DOUBLE_EQ(a.avg_ms, 20);
  EXPECT_DOUBLE_EQ(a.max_ms, 30);
  EXPECT_NEAR(a.p50_ms, 20, 20 * kHistError);
  EXPECT_NEAR(a.p95_ms, 30, 30 * kHistError);
  EXPECT_NEAR(a.p99_ms, 30, 30 * kHistError);
  EXPECT_DOUBLE_EQ(a.avg_sql_count, 4.0 / 3);
  EXPECT_DOUBLE_EQ(a.avg_sql_ms, 13.0 / 3);
  EXPECT_DOUBLE_EQ(a.avg_external_count, 0);
  EXPECT_DOUBLE_EQ(a.avg_external_ms, 0);

  const EndpointStats& b = (*e)[1];  // ids 3, 6
  EXPECT_EQ(b.endpoint, "GET /b");
  EXPECT_EQ(b.count, 2u);
  EXPECT_EQ(b.errors, 2u);
  EXPECT_DOUBLE_EQ(b.avg_ms, 150);
  EXPECT_DOUBLE_EQ(b.max_ms, 200);
  EXPECT_NEAR(b.p50_ms, 100, 100 * kHistError);
  EXPECT_NEAR(b.p95_ms, 200, 200 * kHistError);
  EXPECT_DOUBLE_EQ(b.avg_sql_count, 1.5);
  EXPECT_DOUBLE_EQ(b.avg_sql_ms, 20);
  EXPECT_DOUBLE_EQ(b.avg_external_ms, 100);

  const EndpointStats& c = (*e)[2];
  EXPECT_EQ(c.service, "auth");
  EXPECT_EQ(c.endpoint, "POST /login");
  EXPECT_EQ(c.count, 1u);
  EXPECT_NEAR(c.p50_ms, 5, 5 * kHistError);
  EXPECT_NEAR(c.p99_ms, 5, 5 * kHistError);
}

TEST(QueryEndpoints, PercentilesAreExactNearestRank) {
  std::unique_ptr<store::Store> s = store::NewMemStore();
  store::WriteBatch b;
  for (int i = 1; i <= 200; ++i) {  // elapsed 1..200 ms, shuffled by a stride
    int v = (i * 73) % 200 + 1;
    model::Transaction tx;
    tx.id = static_cast<model::TxId>(i);
    tx.service = "svc";
    tx.endpoint = "GET /x";
    tx.end_us = kT + i * kMs;
    tx.start_us = tx.end_us - v * kMs;
    b.transactions.push_back(tx);
  }
  // The same endpoint name in another service is another row.
  model::Transaction other;
  other.id = 1000;
  other.service = "svc2";
  other.endpoint = "GET /x";
  other.end_us = kT;
  other.start_us = kT - 7 * kMs;
  b.transactions.push_back(other);
  ASSERT_TRUE(s->Append(kP, std::move(b)).ok());

  Result<std::vector<EndpointStats>> e = ComputeEndpoints(*s, kP, {});
  ASSERT_TRUE(e.ok());
  ASSERT_EQ(e->size(), 2u);
  EXPECT_EQ((*e)[0].count, 200u);
  EXPECT_DOUBLE_EQ((*e)[0].p50_ms, 100);
  EXPECT_DOUBLE_EQ((*e)[0].p95_ms, 190);
  EXPECT_DOUBLE_EQ((*e)[0].p99_ms, 198);
  EXPECT_DOUBLE_EQ((*e)[0].max_ms, 200);
  EXPECT_DOUBLE_EQ((*e)[0].avg_ms, 100.5);
  EXPECT_EQ((*e)[1].service, "svc2");
  EXPECT_DOUBLE_EQ((*e)[1].p95_ms, 7);
}

// ---- traces ----

TEST(QueryTrace, ParentIsTheTransactionHoldingTheParentSpan) {
  std::unique_ptr<store::Store> s = store::NewMemStore();
  model::TraceId trace{};
  trace[0] = 0xee;
  auto tx = [&](model::TxId id, model::SpanId span, model::SpanId parent, int64_t start_ms) {
    model::Transaction t;
    t.id = id;
    t.trace_id = trace;
    t.span_id = span;
    t.parent_span_id = parent;
    t.start_us = kT + start_ms * kMs;
    t.end_us = t.start_us + 10 * kMs;
    return t;
  };
  model::Transaction front = tx(1, 0xa1, 0, 0);
  model::Step call;
  call.span_id = 0xa2;
  call.kind = model::StepKind::kExternal;
  front.steps.push_back(call);
  model::Transaction api = tx(2, 0xb1, 0xa2, 1);    // called from front's step
  model::Transaction db = tx(3, 0xc1, 0xb1, 2);     // child of api's root span
  model::Transaction lost = tx(4, 0xd1, 0x999, 3);  // caller not stored
  store::WriteBatch b;
  b.transactions = {lost, db, api, front};
  ASSERT_TRUE(s->Append(kP, std::move(b)).ok());

  Result<std::vector<TraceTx>> t = GetTrace(*s, kP, trace);
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->size(), 4u);
  std::vector<std::pair<model::TxId, model::TxId>> links;
  for (const TraceTx& x : *t) links.emplace_back(x.tx.id, x.parent_tx);
  EXPECT_THAT(links, ElementsAre(std::pair<model::TxId, model::TxId>{1, 0},
                                 std::pair<model::TxId, model::TxId>{2, 1},
                                 std::pair<model::TxId, model::TxId>{3, 2},
                                 std::pair<model::TxId, model::TxId>{4, 0}));
  EXPECT_EQ((*t)[0].tx.steps.size(), 1u);

  Result<std::vector<TraceTx>> none = GetTrace(*s, kP, model::TraceId{});
  ASSERT_TRUE(none.ok());
  EXPECT_THAT(*none, IsEmpty());
}

// ---- rollups or raw rows ----

using RawOnly = testing::RawRowsStore;

uint64_t ScanCount(const store::Store& s, const store::TxFilter& f) {
  uint64_t n = 0;
  EXPECT_TRUE(s.Scan(kP, f, store::ScanOrder::kAny, [&](std::span<const store::TxRow> rows) {
                 n += rows.size();
                 return true;
               }).ok());
  return n;
}

// 40 minutes of traffic at ~50 TPS over 3 services × 4 endpoints.
std::unique_ptr<store::Store> RollupStore(int64_t start) {
  std::unique_ptr<store::Store> s = store::NewMemStore();
  std::mt19937_64 rng(9);
  store::WriteBatch b;
  const char* svcs[] = {"shop", "orders", "pay"};
  const char* eps[] = {"GET /", "GET /a", "POST /b", "GET /c/{id}"};
  for (model::TxId id = 1; id <= 120'000; ++id) {
    model::Transaction tx;
    tx.id = id;
    tx.trace_id[0] = static_cast<uint8_t>(id);
    tx.trace_id[1] = static_cast<uint8_t>(id >> 8);
    tx.trace_id[2] = static_cast<uint8_t>(id >> 16);
    tx.service = svcs[rng() % 3];
    tx.instance = tx.service + "-" + std::to_string(rng() % 2);
    tx.endpoint = eps[rng() % 4];
    tx.end_us = start + static_cast<int64_t>(rng() % (40 * 60'000'000ull));
    tx.start_us = tx.end_us - 200 - static_cast<int64_t>(rng() % 3'000'000);
    tx.error = rng() % 20 == 0;
    tx.summary.sql_count = static_cast<uint32_t>(rng() % 4);
    tx.summary.sql_us = static_cast<int64_t>(rng() % 9000);
    tx.summary.external_us = static_cast<int64_t>(rng() % 40'000);
    b.transactions.push_back(std::move(tx));
  }
  EXPECT_TRUE(s->Append(kP, std::move(b)).ok());
  return s;
}

TEST(QueryRollups, SeriesFromRollupsEqualsSeriesFromRawRows) {
  const int64_t start = 1'700'000'000'000'000 + 123'456;  // not on any boundary
  auto s = RollupStore(start);
  RawOnly raw(*s, false);
  struct Case {
    int64_t from_off, to_off, step;
    GroupBy g;
  };
  const int64_t kMin = 60'000'000;
  const Case cases[] = {
      {0, 40 * kMin, 60 * 1'000'000, GroupBy::kNone},                    // ragged ends, 1 s cells
      {-start % (5 * kMin), 35 * kMin, 300'000'000, GroupBy::kService},  // 5-minute cells
      {7'777, 33 * kMin + 1, 300'000'000, GroupBy::kEndpoint},
      {kMin, 2 * kMin, 1'000'000, GroupBy::kInstance},
      {3, 40 * kMin, 1'500'000, GroupBy::kNone},  // not whole seconds: raw only
  };
  for (const Case& c : cases) {
    store::TxFilter f;
    f.from_us = start + c.from_off;
    f.to_us = start + c.to_off;
    for (Metric m : {Metric::kCount, Metric::kErrors, Metric::kResponseTime}) {
      Result<Series> a = ComputeSeries(*s, kP, f, m, c.step, c.g, 3);
      // The raw side in two passes (as when groups × buckets is too large
      // for one): both ways give the same lines.
      Result<Series> b = ComputeSeries(raw, kP, f, m, c.step, c.g, 3, /*one_pass_cells=*/0);
      ASSERT_TRUE(a.ok() && b.ok());
      EXPECT_EQ(b->source, "raw");
      EXPECT_EQ(a->source, c.step % 1'000'000 == 0 ? "rollups+raw" : "raw");
      ASSERT_EQ(a->lines.size(), b->lines.size());
      for (size_t l = 0; l < a->lines.size(); ++l) {
        EXPECT_EQ(a->lines[l].key, b->lines[l].key);
        ASSERT_EQ(a->lines[l].values.size(), b->lines[l].values.size());
        for (size_t i = 0; i < a->lines[l].values.size(); ++i) {
          const double x = a->lines[l].values[i], y = b->lines[l].values[i];
          if (std::isnan(y)) {
            EXPECT_TRUE(std::isnan(x));
          } else {
            EXPECT_NEAR(x, y, 1e-9 * std::max(1.0, std::fabs(y))) << "bucket " << i;
          }
        }
      }
    }
  }
  // Filters the rollups cannot answer go to raw rows.
  store::TxFilter f;
  f.from_us = start;
  f.to_us = start + 10 * kMin;
  f.min_elapsed_us = 1'000'000;
  Result<Series> slow = ComputeSeries(*s, kP, f, Metric::kCount, 60'000'000, GroupBy::kNone);
  ASSERT_TRUE(slow.ok());
  EXPECT_EQ(slow->source, "raw");
}

TEST(QueryRollups, EndpointsFromRollupsMatchRawRowsExceptPercentilesWithinABin) {
  const int64_t start = 1'700'000'000'000'000 + 654'321;
  auto s = RollupStore(start);
  RawOnly raw(*s, false);
  store::TxFilter f;
  f.from_us = start + 1'234;
  f.to_us = start + 38 * 60'000'000LL + 77;
  std::string src_a, src_b;
  auto a = ComputeEndpoints(*s, kP, f, &src_a);
  auto b = ComputeEndpoints(raw, kP, f, &src_b);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(src_a, "rollups+raw");
  EXPECT_EQ(src_b, "raw");
  ASSERT_EQ(a->size(), b->size());
  ASSERT_EQ(a->size(), 12u);
  for (size_t i = 0; i < a->size(); ++i) {
    const EndpointStats &x = (*a)[i], &y = (*b)[i];
    EXPECT_EQ(x.service, y.service);
    EXPECT_EQ(x.endpoint, y.endpoint);
    EXPECT_EQ(x.count, y.count);
    EXPECT_EQ(x.errors, y.errors);
    EXPECT_DOUBLE_EQ(x.avg_ms, y.avg_ms);
    EXPECT_DOUBLE_EQ(x.max_ms, y.max_ms);
    EXPECT_DOUBLE_EQ(x.avg_sql_count, y.avg_sql_count);
    EXPECT_DOUBLE_EQ(x.avg_sql_ms, y.avg_sql_ms);
    EXPECT_DOUBLE_EQ(x.avg_external_count, y.avg_external_count);
    EXPECT_DOUBLE_EQ(x.avg_external_ms, y.avg_external_ms);
    EXPECT_NEAR(x.p50_ms, y.p50_ms, y.p50_ms * kHistError);
    EXPECT_NEAR(x.p95_ms, y.p95_ms, y.p95_ms * kHistError);
    EXPECT_NEAR(x.p99_ms, y.p99_ms, y.p99_ms * kHistError);
  }
}

TEST(QueryRollups, ADamagedRollupFileFallsBackToRawRows) {
  const int64_t start = 1'700'000'000'000'000;
  auto s = RollupStore(start);
  RawOnly broken(*s, true);
  RawOnly raw(*s, false);
  store::TxFilter f;
  f.from_us = start;
  f.to_us = start + 30 * 60'000'000LL;
  Result<Series> a = ComputeSeries(broken, kP, f, Metric::kCount, 300'000'000, GroupBy::kNone);
  Result<Series> b = ComputeSeries(raw, kP, f, Metric::kCount, 300'000'000, GroupBy::kNone);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->source, "raw");
  EXPECT_EQ(a->lines[0].values, b->lines[0].values);
  std::string src;
  auto e = ComputeEndpoints(broken, kP, f, &src);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(src, "raw");
}

TEST(QueryRollups, UsersPerHourAndDayFromSketches) {
  std::unique_ptr<store::Store> s = store::NewMemStore();
  const int64_t hour = 3'600'000'000;
  const int64_t day0 = 1'699'920'000'000'000;  // a UTC midnight
  store::WriteBatch b;
  model::TxId id = 1;
  // 24 hours; hour h sees users [h*10, h*10 + 300): the day sees 530.
  for (int h = 0; h < 24; ++h) {
    for (int u = 0; u < 300; ++u) {
      model::Transaction tx;
      tx.id = id++;
      tx.trace_id[0] = static_cast<uint8_t>(id);
      tx.trace_id[1] = static_cast<uint8_t>(id >> 8);
      tx.trace_id[2] = static_cast<uint8_t>(id >> 16);
      tx.service = u % 2 ? "shop" : "api";
      tx.end_us = day0 + h * hour + u * 1'000'000LL;
      tx.start_us = tx.end_us - 1000;
      tx.user = "u" + std::to_string(h * 10 + u);
      b.transactions.push_back(tx);
    }
  }
  ASSERT_TRUE(s->Append(kP, std::move(b)).ok());
  store::TxFilter f;
  f.from_us = day0;
  f.to_us = day0 + 24 * hour;
  Result<Series> hourly = ComputeSeries(*s, kP, f, Metric::kUsers, hour, GroupBy::kNone);
  ASSERT_TRUE(hourly.ok()) << hourly.status().ToString();
  ASSERT_EQ(hourly->lines.size(), 1u);
  ASSERT_EQ(hourly->lines[0].values.size(), 24u);
  for (double v : hourly->lines[0].values) EXPECT_NEAR(v, 300, 15);
  Result<Series> daily = ComputeSeries(*s, kP, f, Metric::kUsers, 24 * hour, GroupBy::kService);
  ASSERT_TRUE(daily.ok());
  ASSERT_EQ(daily->lines.size(), 2u);
  double total = 0;
  for (const SeriesLine& l : daily->lines) {
    ASSERT_EQ(l.values.size(), 1u);
    total += l.values[0];
  }
  EXPECT_NEAR(total, 530, 30);
  EXPECT_EQ(ComputeSeries(*s, kP, f, Metric::kUsers, 60'000'000, GroupBy::kNone).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(ComputeSeries(*s, kP, f, Metric::kUsers, hour, GroupBy::kEndpoint).status().code(),
            Status::Code::kInvalidArgument);
}

TEST(QueryRollups, HitmapFromRollupsEqualsHitmapFromRawRows) {
  const int64_t start = 1'700'000'000'000'000 + 987'654;
  auto s = RollupStore(start);
  RawOnly raw(*s, false);
  for (const auto& [svc, ep, step] :
       {std::tuple<const char*, const char*, int64_t>{"", "", 60'000'000},
        {"shop", "", 10'000'000},
        {"", "GET /a", 300'000'000}}) {
    store::TxFilter f;
    f.from_us = start + 1'111;
    f.to_us = start + 37 * 60'000'000LL + 5;
    f.service = svc;
    f.endpoint = ep;
    Result<Hitmap> a = ComputeHitmap(*s, kP, f, step);
    Result<Hitmap> b = ComputeHitmap(raw, kP, f, step);
    ASSERT_TRUE(a.ok() && b.ok()) << a.status().ToString();
    EXPECT_EQ(a->source, "rollups+raw");
    EXPECT_EQ(b->source, "raw");
    EXPECT_EQ(a->x_bins, b->x_bins);
    EXPECT_EQ(a->min_bin, b->min_bin);
    EXPECT_EQ(a->max_bin, b->max_bin);
    EXPECT_EQ(a->count, b->count);
    EXPECT_EQ(a->errors, b->errors);
    uint64_t n = 0;
    for (uint32_t c : a->count) n += c;
    EXPECT_EQ(n, ScanCount(*s, f));
    EXPECT_GT(a->y_bins(), 5u);
  }
  store::TxFilter f;
  f.from_us = start;
  f.to_us = start + 60'000'000LL * 60 * 24;
  EXPECT_EQ(ComputeHitmap(*s, kP, f, 1'000'000).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(ComputeHitmap(*s, kP, store::TxFilter{}, 1'000'000).status().code(),
            Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace loupe::query
