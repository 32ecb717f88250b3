// Store conformance, rollups (store/rollup.h): the cells add up to the raw
// rows, also when steps arrive late; filters, whole buckets and user
// sketches. See store_conformance.h.
#include <gmock/gmock.h>

#include <map>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "testing/store_conformance.h"
#include "testing/store_conformance_internal.h"

namespace loupe::testing {

using model::StepKind;
using model::Transaction;
using model::TxId;
using store::ScanOrder;
using store::TxFilter;
using store::TxRow;

void LinkStoreConformanceRollupTests() {}

namespace {

// ---- rollups (store/rollup.h) ----

using CellKey = std::tuple<int64_t, std::string, std::string, std::string>;

// by_endpoint false: cells per (service, instance), endpoint "" (kMinute).
std::map<CellKey, store::RollupStats> RawCells(const store::Store& s, model::ProjectId p,
                                               int64_t from, int64_t to, int64_t step,
                                               bool by_endpoint = true) {
  std::map<CellKey, store::RollupStats> out;
  TxFilter f;
  f.from_us = from;
  f.to_us = to;
  EXPECT_TRUE(s.Scan(p, f, store::ScanOrder::kAny, [&](std::span<const store::TxRow> rows) {
                 for (const store::TxRow& r : rows) {
                   const int64_t bucket = r.end_us / step * step;
                   out[{bucket, std::string(r.service), std::string(r.instance),
                        by_endpoint ? std::string(r.endpoint) : std::string()}]
                       .Add(r.elapsed_us(), r.error, r.summary);
                 }
                 return true;
               }).ok());
  return out;
}

std::map<CellKey, store::RollupStats> RollupCells(const store::Store& s, model::ProjectId p,
                                                  store::RollupResolution res,
                                                  const store::RollupFilter& f) {
  std::map<CellKey, store::RollupStats> out;
  Status st = s.ScanRollups(p, res, f, [&](std::span<const store::RollupRow> rows) {
    for (const store::RollupRow& r : rows) {
      EXPECT_GE(r.bucket_us, f.from_us);
      EXPECT_LE(r.bucket_us + store::RollupStepUs(res), f.to_us);
      out[{r.bucket_us, std::string(r.service), std::string(r.instance), std::string(r.endpoint)}]
          .Merge(*r.counts, r.hist);
    }
    return true;
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

// Transactions spread over 12 minutes from kT0 (which is 20 s past a
// minute), several services, instances and endpoints, errors, SQL and
// external sums, and elapsed times from 0.3 ms to 9 s.
std::vector<Transaction> RollupWorkload(TxId first, size_t n, uint64_t seed) {
  std::vector<Transaction> out;
  uint64_t x = seed;
  auto next = [&] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  const char* services[] = {"shop", "orders", "payment"};
  const char* endpoints[] = {"GET /", "GET /search", "POST /checkout", "GET /item/{id}"};
  for (size_t i = 0; i < n; ++i) {
    const int64_t end = kT0 + static_cast<int64_t>(next() % (12 * kMinute));
    const int64_t elapsed = 300 + static_cast<int64_t>(next() % 9'000'000) / (1 + next() % 50);
    Transaction tx = Tx(first + i, end, elapsed);
    tx.service = services[next() % 3];
    tx.instance = tx.service + "-" + std::to_string(next() % 3);
    tx.endpoint = endpoints[next() % 4];
    tx.error = next() % 10 == 0;
    tx.status = tx.error ? 500 : 200;
    tx.summary.sql_count = static_cast<uint32_t>(next() % 5);
    tx.summary.sql_us = static_cast<int64_t>(next() % 10'000);
    tx.summary.external_count = static_cast<uint32_t>(next() % 2);
    tx.summary.external_us = static_cast<int64_t>(next() % 50'000);
    tx.user = next() % 4 == 0 ? "" : "user-" + std::to_string(next() % 200);
    tx.client_ip = "10.1.0." + std::to_string(next() % 250);
    out.push_back(std::move(tx));
  }
  return out;
}

void ExpectRollupsMatchRawRows(const store::Store& s, const char* when) {
  SCOPED_TRACE(when);
  ASSERT_TRUE(s.has_rollups());
  const int64_t from = kT0 - 20'000'000;   // a minute boundary
  const int64_t to = from + 15 * kMinute;  // after everything
  for (store::RollupResolution res : store::kRollupResolutions) {
    const int64_t step = store::RollupStepUs(res);
    // Five-minute buckets wholly inside [from, to): from is 20 s before kT0;
    // align to 5 minutes for the comparison.
    const int64_t a = (from + step - 1) / step * step;
    const int64_t b = to / step * step;
    store::RollupFilter f;
    f.from_us = a;
    f.to_us = b;
    auto want = RawCells(s, kP1, a, b, step, res != store::RollupResolution::kMinute);
    auto got = RollupCells(s, kP1, res, f);
    ASSERT_FALSE(want.empty());
    ASSERT_EQ(got.size(), want.size()) << "resolution " << static_cast<int>(res);
    for (const auto& [key, w] : want) {
      auto it = got.find(key);
      ASSERT_NE(it, got.end()) << std::get<0>(key) << " " << std::get<1>(key);
      EXPECT_EQ(it->second, w) << std::get<0>(key) << " " << std::get<1>(key) << " "
                               << std::get<2>(key) << " " << std::get<3>(key);
    }
  }
}

TEST_P(StoreConformanceTest, RollupsAddUpToTheRawRows) {
  if (!store().has_rollups()) GTEST_SKIP() << "store keeps no rollups";
  std::vector<Transaction> first = RollupWorkload(1, 1500, 7);
  ASSERT_TRUE(AppendTxs(store(), kP1, first).ok());
  ASSERT_TRUE(store().Flush().ok());  // a durable store: these are in files now
  ASSERT_TRUE(AppendTxs(store(), kP1, RollupWorkload(5001, 1500, 11)).ok());
  // Appending again is idempotent for rollups too.
  ASSERT_TRUE(AppendTxs(store(), kP1, {first.begin(), first.begin() + 300}).ok());
  ASSERT_TRUE(AppendTxs(store(), kP2, RollupWorkload(9001, 100, 13)).ok());
  ExpectRollupsMatchRawRows(store(), "files and memtable");
  if (!GetParam().durable) return;
  Reopen();
  ExpectRollupsMatchRawRows(store(), "after reopen");
}

// SQL and external steps of a transaction that arrive late reach the rollup
// cells of its end time, whether the transaction is in a memtable or a file,
// and a replay of the same late steps (the ingest log after a crash) adds
// nothing; the files rebuilt or reopened count them too.
TEST_P(StoreConformanceTest, RollupsAgreeWithRowsWhenStepsArriveLate) {
  if (!store().has_rollups()) GTEST_SKIP() << "store keeps no rollups";
  std::vector<Transaction> first = RollupWorkload(1, 1500, 7);
  std::vector<Transaction> second = RollupWorkload(5001, 1500, 11);
  ASSERT_TRUE(AppendTxs(store(), kP1, first).ok());
  ASSERT_TRUE(store().Flush().ok());  // a durable store: these are in files now
  ASSERT_TRUE(AppendTxs(store(), kP1, second).ok());
  // Late SQL and external steps for every third transaction of both sets.
  auto late_batch = [&](uint64_t round) {
    store::WriteBatch b;
    for (const std::vector<Transaction>* set : {&first, &second}) {
      for (size_t i = 0; i < set->size(); i += 3) {
        const Transaction& tx = (*set)[i];
        const model::SpanId base = (tx.id << 12) + round * 16;
        b.late_steps.push_back(
            {tx.id,
             {MakeStep(base + 1, StepKind::kSql, tx.start_us, 100 + static_cast<int64_t>(i), "q"),
              MakeStep(base + 2, StepKind::kSql, tx.start_us, 7, "q2"),
              MakeStep(base + 3, StepKind::kExternal, tx.start_us, 900, "call"),
              MakeStep(base + 4, StepKind::kMethod, tx.start_us, 5, "m")}});
      }
    }
    return b;
  };
  ASSERT_TRUE(store().Append(kP1, late_batch(1)).ok());
  ExpectRollupsMatchRawRows(store(), "late steps of rows in files and in the memtable");
  ASSERT_TRUE(store().Append(kP1, late_batch(1)).ok());  // replayed
  ExpectRollupsMatchRawRows(store(), "replayed");
  ASSERT_TRUE(store().Flush().ok());
  ASSERT_TRUE(store().Append(kP1, late_batch(2)).ok());
  ExpectRollupsMatchRawRows(store(), "second round, all rows in files");
  uint64_t sql = 0;
  ASSERT_TRUE(store()
                  .Scan(kP1, {}, ScanOrder::kAny,
                        [&](std::span<const TxRow> rows) {
                          for (const TxRow& r : rows) sql += r.summary.sql_count;
                          return true;
                        })
                  .ok());
  uint64_t base_sql = 0;
  for (const auto* set : {&first, &second}) {
    for (const Transaction& tx : *set) base_sql += tx.summary.sql_count;
  }
  EXPECT_EQ(sql, base_sql + 2 * 2 * 1000) << "1,000 transactions, two rounds of 2 SQL steps";
  if (!GetParam().durable) return;
  Reopen();
  ExpectRollupsMatchRawRows(store(), "after reopen");
  ASSERT_TRUE(store().Append(kP1, late_batch(2)).ok());  // the log replayed after a crash
  ExpectRollupsMatchRawRows(store(), "replayed after reopen");
}

TEST_P(StoreConformanceTest, RollupFiltersAreExactAndRangesTakeWholeBuckets) {
  if (!store().has_rollups()) GTEST_SKIP() << "store keeps no rollups";
  ASSERT_TRUE(AppendTxs(store(), kP1, RollupWorkload(1, 800, 3)).ok());
  auto total = [&](store::RollupResolution res, const store::RollupFilter& f) {
    uint64_t n = 0;
    EXPECT_TRUE(store()
                    .ScanRollups(kP1, res, f,
                                 [&](std::span<const store::RollupRow> rows) {
                                   for (const auto& r : rows) n += r.counts->count;
                                   return true;
                                 })
                    .ok());
    return n;
  };
  auto raw = [&](const TxFilter& f) { return ScanIds(store(), kP1, f).size(); };
  store::RollupFilter f;
  f.from_us = kT0 - 20'000'000;
  f.to_us = f.from_us + 15 * kMinute;
  TxFilter t;
  t.from_us = f.from_us;
  t.to_us = f.to_us;
  EXPECT_EQ(total(store::RollupResolution::kSecond, f), 800u);
  f.service = t.service = "orders";
  f.instance = t.instance = "orders-1";
  f.endpoint = t.endpoint = "GET /search";
  EXPECT_EQ(total(store::RollupResolution::kSecond, f), raw(t));
  EXPECT_GT(raw(t), 0u);
  f.endpoint = "GET /sear";  // exact match only
  EXPECT_EQ(total(store::RollupResolution::kSecond, f), 0u);
  // A range that cuts a bucket leaves that bucket out.
  store::RollupFilter cut;
  cut.from_us = kT0 + 500'000;  // inside a second
  cut.to_us = kT0 + 2 * kMinute + 250'000;
  TxFilter whole;
  whole.from_us = kT0 + 1'000'000;
  whole.to_us = kT0 + 2 * kMinute;
  EXPECT_EQ(total(store::RollupResolution::kSecond, cut), raw(whole));
  // Another project's cells are not there.
  EXPECT_EQ(total(store::RollupResolution::kSecond, store::RollupFilter{}), 800u);
  uint64_t other = 0;
  ASSERT_TRUE(store()
                  .ScanRollups(kP2, store::RollupResolution::kSecond, store::RollupFilter{},
                               [&](std::span<const store::RollupRow> rows) {
                                 other += rows.size();
                                 return true;
                               })
                  .ok());
  EXPECT_EQ(other, 0u);
}

TEST_P(StoreConformanceTest, UserSketchesCountDistinctUsersPerHour) {
  if (!store().has_rollups()) GTEST_SKIP() << "store keeps no rollups";
  const int64_t hour = 3'600'000'000;
  const int64_t h0 = kT0 / hour * hour;
  std::vector<Transaction> txs;
  TxId id = 1;
  // Hour 0: 1,000 users seen 3 times each; hour 1: 400 of them plus 100
  // anonymous clients counted by IP.
  for (int rep = 0; rep < 3; ++rep) {
    for (int u = 0; u < 1000; ++u) {
      Transaction tx = Tx(id++, h0 + (u * 3 + rep) * 1'000'000LL);
      tx.user = "user-" + std::to_string(u);
      txs.push_back(tx);
    }
  }
  for (int u = 0; u < 500; ++u) {
    Transaction tx = Tx(id++, h0 + hour + u * 1'000'000LL);
    tx.user = u < 400 ? "user-" + std::to_string(u) : "";
    tx.client_ip = "10.2.0." + std::to_string(u);
    txs.push_back(tx);
  }
  ASSERT_TRUE(AppendTxs(store(), kP1, txs).ok());
  auto count = [&]() {
    std::map<int64_t, HyperLogLog> hours;
    store::RollupFilter f;
    f.from_us = h0;
    f.to_us = h0 + 2 * hour;
    EXPECT_TRUE(store()
                    .ScanUsers(kP1, f,
                               [&](std::span<const store::UsersRow> rows) {
                                 for (const auto& r : rows) {
                                   auto [it, added] =
                                       hours.try_emplace(r.hour_us, r.users->precision());
                                   it->second.Merge(*r.users);
                                 }
                                 return true;
                               })
                    .ok());
    std::vector<double> out;
    for (const auto& [h, hll] : hours) out.push_back(hll.Estimate());
    return out;
  };
  std::vector<double> got = count();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_NEAR(got[0], 1000, 50);
  EXPECT_NEAR(got[1], 500, 25);
  if (!GetParam().durable) return;
  ASSERT_TRUE(store().Flush().ok());
  Reopen();
  got = count();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_NEAR(got[0], 1000, 50);
  EXPECT_NEAR(got[1], 500, 25);
}

}  // namespace
}  // namespace loupe::testing
