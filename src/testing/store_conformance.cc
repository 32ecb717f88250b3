#include "testing/store_conformance.h"

#include <gmock/gmock.h>
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <random>
#include <set>
#include <thread>
#include <tuple>
#include <vector>

#include "testing/store_conformance_internal.h"

namespace loupe::testing {

using model::Step;
using model::StepKind;
using model::Transaction;
using model::TxId;
using store::ScanOrder;
using store::StoreStats;
using store::TxFilter;
using store::TxRow;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

ScatterPoints ScanScatterPoints(const store::Store& s, model::ProjectId project,
                                const TxFilter& filter) {
  ScatterPoints points;
  Status st = s.ScanScatter(project, filter,
                            [&](std::span<const int64_t> end, std::span<const int64_t> elapsed,
                                std::span<const uint8_t> error) {
                              EXPECT_EQ(end.size(), elapsed.size());
                              EXPECT_EQ(end.size(), error.size());
                              for (size_t i = 0; i < end.size(); ++i)
                                points.insert({end[i], elapsed[i], error[i] != 0});
                              return true;
                            });
  EXPECT_TRUE(st.ok()) << st.ToString();
  return points;
}

std::string StoreConformanceName(const ::testing::TestParamInfo<StoreConformanceParam>& info) {
  LinkStoreConformanceLateTests();
  LinkStoreConformanceRollupTests();
  LinkStoreConformanceEventTests();
  return info.param.name;
}

void StoreConformanceTest::SetUp() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "loupe-store-XXXXXX").string();
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  dir_ = tmpl;
  ASSERT_TRUE(GetParam().open) << "StoreConformanceParam.open is required";
  store_ = GetParam().open(dir_);
  ASSERT_NE(store_, nullptr) << "opening the store in " << dir_;
}

void StoreConformanceTest::TearDown() {
  if (store_) {
    Status s = store_->Close();
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  store_.reset();
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

void StoreConformanceTest::Reopen() {
  ASSERT_TRUE(GetParam().durable);
  Status st = store_->Close();
  ASSERT_TRUE(st.ok()) << st.ToString();
  store_.reset();
  const StoreFactory& f = GetParam().reopen ? GetParam().reopen : GetParam().open;
  store_ = f(dir_);
  ASSERT_NE(store_, nullptr) << "reopening the store in " << dir_;
}

namespace {

void ExpectSameSteps(const std::vector<Step>& got, const std::vector<Step>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE("step " + std::to_string(i));
    EXPECT_EQ(got[i].span_id, want[i].span_id);
    EXPECT_EQ(got[i].parent_span_id, want[i].parent_span_id);
    EXPECT_EQ(got[i].kind, want[i].kind);
    EXPECT_EQ(got[i].error, want[i].error);
    EXPECT_EQ(got[i].start_us, want[i].start_us);
    EXPECT_EQ(got[i].elapsed_us, want[i].elapsed_us);
    EXPECT_EQ(got[i].name, want[i].name);
    EXPECT_EQ(got[i].sql, want[i].sql);
    EXPECT_EQ(got[i].db_system, want[i].db_system);
    EXPECT_EQ(got[i].binds, want[i].binds);
    EXPECT_EQ(got[i].rows, want[i].rows);
    EXPECT_EQ(got[i].url, want[i].url);
    EXPECT_EQ(got[i].host, want[i].host);
    EXPECT_EQ(got[i].http_status, want[i].http_status);
    EXPECT_EQ(got[i].message, want[i].message);
    EXPECT_EQ(got[i].stack, want[i].stack);
    EXPECT_EQ(got[i].attributes, want[i].attributes);
  }
}

void ExpectSameTx(const Transaction& got, const Transaction& want) {
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.trace_id, want.trace_id);
  EXPECT_EQ(got.span_id, want.span_id);
  EXPECT_EQ(got.parent_span_id, want.parent_span_id);
  EXPECT_EQ(got.service, want.service);
  EXPECT_EQ(got.instance, want.instance);
  EXPECT_EQ(got.host, want.host);
  EXPECT_EQ(got.endpoint, want.endpoint);
  EXPECT_EQ(got.http_method, want.http_method);
  EXPECT_EQ(got.url, want.url);
  EXPECT_EQ(got.start_us, want.start_us);
  EXPECT_EQ(got.end_us, want.end_us);
  EXPECT_EQ(got.status, want.status);
  EXPECT_EQ(got.error, want.error);
  EXPECT_EQ(got.error_type, want.error_type);
  EXPECT_EQ(got.client_ip, want.client_ip);
  EXPECT_EQ(got.user, want.user);
  EXPECT_EQ(got.summary.sql_count, want.summary.sql_count);
  EXPECT_EQ(got.summary.sql_us, want.summary.sql_us);
  EXPECT_EQ(got.summary.fetch_count, want.summary.fetch_count);
  EXPECT_EQ(got.summary.fetch_us, want.summary.fetch_us);
  EXPECT_EQ(got.summary.external_count, want.summary.external_count);
  EXPECT_EQ(got.summary.external_us, want.summary.external_us);
  EXPECT_EQ(got.summary.cpu_us, want.summary.cpu_us);
  EXPECT_EQ(got.dropped_steps, want.dropped_steps);
  ExpectSameSteps(got.steps, want.steps);
}

// A transaction with every field and a profile of every step kind.
Transaction RichTx(TxId id, int64_t end_us) {
  Transaction tx = Tx(id, end_us, 150 * kMs);
  tx.parent_span_id = 0xabcdef0123456789ULL;
  tx.status = 503;
  tx.error = true;
  tx.error_type = "HTTP 503";
  tx.dropped_steps = 7;
  tx.summary.cpu_us = 1234;
  tx.summary.fetch_count = 2;
  tx.summary.fetch_us = 333;
  Step sql = MakeStep(id * 16 + 2, StepKind::kSql, tx.start_us + 1 * kMs, 12 * kMs, "SELECT posts");
  sql.parent_span_id = tx.span_id;
  sql.sql = "SELECT * FROM posts WHERE id = ?";
  sql.db_system = "postgresql";
  sql.binds = {"42", "", "x\0y"};
  sql.rows = 1;
  Step ext = MakeStep(id * 16 + 3, StepKind::kExternal, tx.start_us + 20 * kMs, 80 * kMs, "GET");
  ext.parent_span_id = tx.span_id;
  ext.url = "http://auth/check";
  ext.host = "auth";
  ext.http_status = 503;
  ext.error = true;
  ext.attributes = {{"peer.service", "auth"}, {"retry", "2"}};
  Step method =
      MakeStep(id * 16 + 4, StepKind::kMethod, tx.start_us + 110 * kMs, 5 * kMs, "Render::page");
  method.parent_span_id = tx.span_id;
  Step err = MakeStep(0, StepKind::kError, tx.start_us + 140 * kMs, 0, "TimeoutError");
  err.parent_span_id = ext.span_id;
  err.error = true;
  err.message = "upstream timed out";
  err.stack = "at a()\nat b()";
  Step msg = MakeStep(id * 16 + 5, StepKind::kMessage, tx.start_us + 145 * kMs, 1 * kMs, "log");
  msg.message = std::string(300, 'm');
  tx.steps = {sql, ext, method, err, msg};
  tx.summary.Add(tx.steps);
  return tx;
}

TEST_P(StoreConformanceTest, AppendThenGetRoundTripsEveryField) {
  Transaction tx = RichTx(0x1111, kT0);
  ASSERT_TRUE(AppendTxs(store(), kP1, {tx}).ok());
  Result<Transaction> got = store().Get(kP1, tx.id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ExpectSameTx(*got, tx);
  EXPECT_EQ(store().Stats().transactions, 1u);
  EXPECT_EQ(store().Stats().steps, 5u);
}

TEST_P(StoreConformanceTest, TransactionWithoutStepsRoundTrips) {
  Transaction tx = Tx(0x2222, kT0);
  tx.service = tx.instance = tx.endpoint = tx.user = tx.client_ip = tx.http_method = "";
  ASSERT_TRUE(AppendTxs(store(), kP1, {tx}).ok());
  Result<Transaction> got = store().Get(kP1, tx.id);
  ASSERT_TRUE(got.ok());
  ExpectSameTx(*got, tx);
}

TEST_P(StoreConformanceTest, GetOfUnknownIdIsNotFound) {
  ASSERT_TRUE(AppendTxs(store(), kP1, {Tx(1, kT0)}).ok());
  Result<Transaction> got = store().Get(kP1, 2);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Status::Code::kNotFound);
  EXPECT_EQ(store().Get(77, 1).status().code(), Status::Code::kNotFound);
}

TEST_P(StoreConformanceTest, AppendIsIdempotentByTransactionId) {
  Transaction first = RichTx(0x3333, kT0);
  Transaction replay = first;
  replay.endpoint = "changed";
  replay.steps.clear();
  ASSERT_TRUE(AppendTxs(store(), kP1, {first}).ok());
  ASSERT_TRUE(AppendTxs(store(), kP1, {replay}).ok());
  ASSERT_TRUE(AppendTxs(store(), kP1, {Tx(0x4444, kT0), Tx(0x4444, kT0 + 5)}).ok());

  EXPECT_THAT(AllIds(store(), kP1), UnorderedElementsAre(0x3333u, 0x4444u));
  StoreStats st = store().Stats();
  EXPECT_EQ(st.transactions, 2u);
  EXPECT_EQ(st.duplicates_skipped, 2u);
  EXPECT_EQ(st.steps, 5u);
  Result<Transaction> got = store().Get(kP1, first.id);
  ASSERT_TRUE(got.ok());
  ExpectSameTx(*got, first);  // the first write wins
}

TEST_P(StoreConformanceTest, TimeRangeIsHalfOpenOnEndTime) {
  const int64_t from = kT0, to = kT0 + 10 * kMinute;
  std::vector<Transaction> txs = {
      Tx(1, from - 1),
      Tx(2, from),                   // first included
      Tx(3, from + 1, 5 * kMinute),  // started long before `from`: still included
      Tx(4, to - 1),                 // last included
      Tx(5, to),                     // excluded
      Tx(6, from + 3 * kMinute),
  };
  ASSERT_TRUE(AppendTxs(store(), kP1, txs).ok());
  TxFilter f;
  f.from_us = from;
  f.to_us = to;
  EXPECT_THAT(ScanIds(store(), kP1, f), ElementsAre(4u, 6u, 3u, 2u));
  EXPECT_THAT(ScanIds(store(), kP1, f, ScanOrder::kAny), UnorderedElementsAre(2u, 3u, 4u, 6u));
  f.from_us = from + 1;
  f.to_us = from + 2;
  EXPECT_THAT(ScanIds(store(), kP1, f), ElementsAre(3u));
  f.to_us = f.from_us;  // empty range
  EXPECT_THAT(ScanIds(store(), kP1, f), IsEmpty());
  EXPECT_THAT(AllIds(store(), kP1), ElementsAre(5u, 4u, 6u, 3u, 2u, 1u));
}

TEST_P(StoreConformanceTest, StringFiltersAreExactMatches) {
  auto make = [](TxId id, std::string svc, std::string inst, std::string ep, std::string user,
                 std::string ip) {
    Transaction t = Tx(id, kT0 + static_cast<int64_t>(id) * kMs);
    t.service = std::move(svc);
    t.instance = std::move(inst);
    t.endpoint = std::move(ep);
    t.user = std::move(user);
    t.client_ip = std::move(ip);
    return t;
  };
  ASSERT_TRUE(AppendTxs(store(), kP1,
                        {make(1, "shop", "shop-1", "GET /a", "alice", "10.0.0.1"),
                         make(2, "shop", "shop-2", "GET /b", "bob", "10.0.0.2"),
                         make(3, "auth", "auth-1", "GET /a", "alice", "10.0.0.2"),
                         make(4, "shopping", "shop-1x", "GET /a/", "", "")})
                  .ok());
  TxFilter f;
  f.service = "shop";
  EXPECT_THAT(ScanIds(store(), kP1, f), ElementsAre(2u, 1u));
  f = {};
  f.instance = "shop-1";
  EXPECT_THAT(ScanIds(store(), kP1, f), ElementsAre(1u));
  f = {};
  f.endpoint = "GET /a";
  EXPECT_THAT(ScanIds(store(), kP1, f), ElementsAre(3u, 1u));
  f = {};
  f.user = "alice";
  EXPECT_THAT(ScanIds(store(), kP1, f), ElementsAre(3u, 1u));
  f = {};
  f.client_ip = "10.0.0.2";
  EXPECT_THAT(ScanIds(store(), kP1, f), ElementsAre(3u, 2u));
  f = {};
  f.service = "nope";
  EXPECT_THAT(ScanIds(store(), kP1, f), IsEmpty());
  f = {};
  f.service = "shop";
  f.endpoint = "GET /a";
  f.user = "alice";
  f.client_ip = "10.0.0.1";
  f.instance = "shop-1";
  EXPECT_THAT(ScanIds(store(), kP1, f), ElementsAre(1u));
  f.client_ip = "10.0.0.2";
  EXPECT_THAT(ScanIds(store(), kP1, f), IsEmpty());
}

TEST_P(StoreConformanceTest, ElapsedBoundsAreInclusive) {
  ASSERT_TRUE(AppendTxs(store(), kP1,
                        {Tx(1, kT0 + 1, 0), Tx(2, kT0 + 2, 10 * kMs - 1), Tx(3, kT0 + 3, 10 * kMs),
                         Tx(4, kT0 + 4, 20 * kMs), Tx(5, kT0 + 5, 20 * kMs + 1)})
                  .ok());
  TxFilter f;
  f.min_elapsed_us = 10 * kMs;
  EXPECT_THAT(ScanIds(store(), kP1, f), ElementsAre(5u, 4u, 3u));
  f.max_elapsed_us = 20 * kMs;
  EXPECT_THAT(ScanIds(store(), kP1, f), ElementsAre(4u, 3u));
  f.min_elapsed_us = 0;
  f.max_elapsed_us = 10 * kMs - 1;
  EXPECT_THAT(ScanIds(store(), kP1, f), ElementsAre(2u, 1u));
}

TEST_P(StoreConformanceTest, ErrorsOnlyKeepsFailedTransactions) {
  std::vector<Transaction> txs;
  for (TxId i = 1; i <= 6; ++i) {
    txs.push_back(Tx(i, kT0 + static_cast<int64_t>(i)));
    txs.back().error = i % 3 == 0;
  }
  ASSERT_TRUE(AppendTxs(store(), kP1, txs).ok());
  TxFilter f;
  f.errors_only = true;
  EXPECT_THAT(ScanIds(store(), kP1, f), ElementsAre(6u, 3u));
  f.service = "shop";
  f.from_us = kT0 + 4;
  EXPECT_THAT(ScanIds(store(), kP1, f), ElementsAre(6u));
}

TEST_P(StoreConformanceTest, ScanRowsCarryTheListFields) {
  Transaction a = RichTx(0x50, kT0);
  Transaction b = Tx(0x51, kT0 + kMs);
  b.instance = "shop-2";
  ASSERT_TRUE(AppendTxs(store(), kP1, {a, b}).ok());
  std::vector<TxRow> rows;
  std::vector<std::string> strs;
  ASSERT_TRUE(store()
                  .Scan(kP1, {}, ScanOrder::kNewestFirst,
                        [&](std::span<const TxRow> batch) {
                          for (const TxRow& r : batch) {
                            rows.push_back(r);
                            for (std::string_view s : {r.service, r.instance, r.endpoint, r.user,
                                                       r.client_ip, r.http_method, r.error_type})
                              strs.emplace_back(s);
                          }
                          return true;
                        })
                  .ok());
  ASSERT_EQ(rows.size(), 2u);
  const TxRow& r = rows[1];
  EXPECT_EQ(r.id, a.id);
  EXPECT_EQ(r.trace_id, a.trace_id);
  EXPECT_EQ(r.start_us, a.start_us);
  EXPECT_EQ(r.end_us, a.end_us);
  EXPECT_EQ(r.elapsed_us(), 150 * kMs);
  EXPECT_EQ(r.status, 503);
  EXPECT_TRUE(r.error);
  EXPECT_THAT(
      std::vector<std::string>(strs.begin() + 7, strs.end()),
      ElementsAre("shop", "shop-1", "GET /api/posts/{id}", "u42", "10.0.0.7", "GET", "HTTP 503"));
  EXPECT_EQ(r.summary.sql_count, 1u);
  EXPECT_EQ(r.summary.sql_us, 12 * kMs);
  EXPECT_EQ(r.summary.external_count, 1u);
  EXPECT_EQ(r.summary.external_us, 80 * kMs);
  EXPECT_EQ(r.summary.cpu_us, 1234);
  // Dense ids: equal strings, equal ids; different strings, different ids.
  EXPECT_EQ(rows[0].service_id, rows[1].service_id);
  EXPECT_EQ(rows[0].endpoint_id, rows[1].endpoint_id);
  EXPECT_NE(rows[0].instance_id, rows[1].instance_id);
}

TEST_P(StoreConformanceTest, ProjectionHintStillFillsTheRequestedFields) {
  Transaction a = RichTx(0x58, kT0);
  ASSERT_TRUE(AppendTxs(store(), kP1, {a}).ok());
  for (uint32_t fields : {0u, uint32_t{store::kFieldTraceId}, uint32_t{store::kFieldStatus},
                          uint32_t{store::kFieldGroups}, uint32_t{store::kFieldClient},
                          uint32_t{store::kFieldSummary}}) {
    SCOPED_TRACE("fields " + std::to_string(fields));
    TxFilter f;
    f.fields = fields;
    f.service = "shop";  // filters still apply to unprojected columns
    f.errors_only = true;
    std::vector<TxRow> rows;
    ASSERT_TRUE(store()
                    .Scan(kP1, f, ScanOrder::kNewestFirst,
                          [&](std::span<const TxRow> b) {
                            rows.insert(rows.end(), b.begin(), b.end());
                            return true;
                          })
                    .ok());
    ASSERT_EQ(rows.size(), 1u);
    const TxRow& r = rows[0];
    EXPECT_EQ(r.id, a.id);
    EXPECT_EQ(r.start_us, a.start_us);
    EXPECT_EQ(r.end_us, a.end_us);
    EXPECT_TRUE(r.error);
    if (fields & store::kFieldTraceId) {
      EXPECT_EQ(r.trace_id, a.trace_id);
    }
    if (fields & store::kFieldStatus) {
      EXPECT_EQ(r.status, a.status);
      EXPECT_EQ(r.error_type, a.error_type);
    }
    if (fields & store::kFieldGroups) {
      EXPECT_EQ(r.service, a.service);
      EXPECT_EQ(r.instance, a.instance);
      EXPECT_EQ(r.endpoint, a.endpoint);
    }
    if (fields & store::kFieldClient) {
      EXPECT_EQ(r.user, a.user);
      EXPECT_EQ(r.client_ip, a.client_ip);
      EXPECT_EQ(r.http_method, a.http_method);
    }
    if (fields & store::kFieldSummary) {
      EXPECT_EQ(r.summary.sql_us, a.summary.sql_us);
    }
  }
}

TEST_P(StoreConformanceTest, ScanScatterGivesTheColumnsOfTheRowsScanGives) {
  std::mt19937_64 rng(11);
  std::vector<Transaction> txs;
  for (TxId i = 1; i <= 2000; ++i) {
    int64_t end = kT0 + static_cast<int64_t>(rng() % static_cast<uint64_t>(30 * kMinute));
    Transaction t = Tx(i, end, static_cast<int64_t>(rng() % (5000 * kMs)) + 1);
    t.error = rng() % 10 == 0;
    txs.push_back(t);
  }
  for (size_t i = 0; i < txs.size(); i += 400) {
    std::vector<Transaction> part(txs.begin() + i, txs.begin() + std::min(txs.size(), i + 400));
    ASSERT_TRUE(AppendTxs(store(), kP1, part).ok());
  }
  TxFilter windows[3];
  windows[1].from_us = kT0 + 5 * kMinute;
  windows[1].to_us = kT0 + 20 * kMinute + 123;
  windows[2] = windows[1];
  windows[2].min_elapsed_us = 1000 * kMs;
  windows[2].errors_only = true;
  for (const TxFilter& f : windows) {
    ScatterPoints rows, cols;
    ASSERT_TRUE(store()
                    .Scan(kP1, f, ScanOrder::kAny,
                          [&](std::span<const TxRow> batch) {
                            for (const TxRow& r : batch) {
                              rows.insert({r.end_us, r.elapsed_us(), r.error});
                            }
                            return true;
                          })
                    .ok());
    cols = ScanScatterPoints(store(), kP1, f);
    EXPECT_FALSE(rows.empty());
    EXPECT_EQ(cols, rows);
  }
}

TEST_P(StoreConformanceTest, NewestFirstIsDescendingEndTimeWhateverTheArrivalOrder) {
  std::mt19937_64 rng(7);
  std::vector<Transaction> txs;
  for (TxId i = 1; i <= 3000; ++i) {
    int64_t end = kT0 + static_cast<int64_t>(rng() % static_cast<uint64_t>(30 * kMinute));
    txs.push_back(Tx(i, end));
  }
  // Several batches, each internally shuffled: arrival order is not end order.
  for (size_t i = 0; i < txs.size(); i += 500) {
    std::vector<Transaction> part(txs.begin() + i, txs.begin() + std::min(txs.size(), i + 500));
    ASSERT_TRUE(AppendTxs(store(), kP1, part).ok());
  }
  TxFilter f;
  f.from_us = kT0 + 5 * kMinute;
  f.to_us = kT0 + 20 * kMinute + 123;
  std::vector<int64_t> ends;
  ASSERT_TRUE(store()
                  .Scan(kP1, f, ScanOrder::kNewestFirst,
                        [&](std::span<const TxRow> rows) {
                          for (const TxRow& r : rows) ends.push_back(r.end_us);
                          return true;
                        })
                  .ok());
  size_t want = 0;
  for (const Transaction& t : txs) want += t.end_us >= f.from_us && t.end_us < f.to_us;
  EXPECT_EQ(ends.size(), want);
  EXPECT_TRUE(std::is_sorted(ends.rbegin(), ends.rend()));
  // A later append lands in order too.
  ASSERT_TRUE(AppendTxs(store(), kP1, {Tx(9999, kT0 + 10 * kMinute)}).ok());
  std::vector<TxId> ids = ScanIds(store(), kP1, f);
  EXPECT_EQ(ids.size(), want + 1);
  ends.clear();
  ASSERT_TRUE(store()
                  .Scan(kP1, f, ScanOrder::kNewestFirst,
                        [&](std::span<const TxRow> rows) {
                          for (const TxRow& r : rows) ends.push_back(r.end_us);
                          return true;
                        })
                  .ok());
  EXPECT_TRUE(std::is_sorted(ends.rbegin(), ends.rend()));
  EXPECT_EQ(ScanIds(store(), kP1, f, ScanOrder::kAny).size(), want + 1);
}

TEST_P(StoreConformanceTest, ScanStopsWhenTheVisitorReturnsFalse) {
  std::vector<Transaction> txs;
  for (TxId i = 1; i <= 5000; ++i) txs.push_back(Tx(i, kT0 + static_cast<int64_t>(i) * kMs));
  ASSERT_TRUE(AppendTxs(store(), kP1, txs).ok());
  for (ScanOrder order : {ScanOrder::kNewestFirst, ScanOrder::kAny}) {
    int calls = 0;
    size_t seen = 0;
    TxId first = 0;
    ASSERT_TRUE(store()
                    .Scan(kP1, {}, order,
                          [&](std::span<const TxRow> rows) {
                            ++calls;
                            EXPECT_FALSE(rows.empty());
                            if (first == 0) first = rows[0].id;
                            seen += rows.size();
                            return false;
                          })
                    .ok());
    EXPECT_EQ(calls, 1);
    EXPECT_LT(seen, 5000u);
    if (order == ScanOrder::kNewestFirst) {
      EXPECT_EQ(first, 5000u);
    }
  }
}

TEST_P(StoreConformanceTest, GetTraceReturnsTheTraceOrderedByStart) {
  model::TraceId trace = TraceOf(0xfeed);
  Transaction front = Tx(0x60, kT0 + 100 * kMs, 100 * kMs);  // starts at +0
  Transaction mid = Tx(0x61, kT0 + 90 * kMs, 80 * kMs);      // starts at +10 ms
  Transaction back = Tx(0x62, kT0 + 2 * kMinute, 30 * kMs);  // another partition
  for (Transaction* t : {&front, &mid, &back}) t->trace_id = trace;
  mid.parent_span_id = front.span_id;
  Transaction other = Tx(0x63, kT0 + 50 * kMs);
  ASSERT_TRUE(AppendTxs(store(), kP1, {back, other}).ok());
  ASSERT_TRUE(AppendTxs(store(), kP1, {mid}).ok());
  ASSERT_TRUE(AppendTxs(store(), kP1, {front}).ok());

  Result<std::vector<Transaction>> got = store().GetTrace(kP1, trace);
  ASSERT_TRUE(got.ok());
  std::vector<TxId> ids;
  for (const Transaction& t : *got) ids.push_back(t.id);
  EXPECT_THAT(ids, ElementsAre(0x60u, 0x61u, 0x62u));
  EXPECT_EQ((*got)[1].parent_span_id, front.span_id);
  EXPECT_EQ((*got)[0].host, "host-a");  // with profiles

  Result<std::vector<Transaction>> none = store().GetTrace(kP1, TraceOf(0xbad));
  ASSERT_TRUE(none.ok());
  EXPECT_THAT(*none, IsEmpty());
}

TEST_P(StoreConformanceTest, ProjectsAreIsolated) {
  Transaction a = Tx(0x70, kT0);
  a.service = "one";
  Transaction b = Tx(0x70, kT0);  // same id and trace in another project
  b.service = "two";
  ASSERT_TRUE(AppendTxs(store(), kP1, {a}).ok());
  ASSERT_TRUE(AppendTxs(store(), kP2, {b, Tx(0x71, kT0 + 1)}).ok());
  ASSERT_TRUE(AppendLate(store(), kP2, 0x70, {MakeStep(9, StepKind::kSql, kT0, 1, "x")}).ok());
  store::InstanceInfo inst;
  inst.service = "two";
  inst.instance = "two-1";
  ASSERT_TRUE(store().PutInstance(kP2, inst).ok());

  EXPECT_THAT(AllIds(store(), kP1), ElementsAre(0x70u));
  EXPECT_THAT(AllIds(store(), kP2), ElementsAre(0x71u, 0x70u));
  TxFilter f;
  f.service = "two";
  EXPECT_THAT(ScanIds(store(), kP1, f), IsEmpty());
  Result<Transaction> got = store().Get(kP1, 0x70);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->service, "one");
  EXPECT_THAT(got->steps, IsEmpty());
  EXPECT_EQ(store().Get(kP1, 0x71).status().code(), Status::Code::kNotFound);
  Result<std::vector<Transaction>> trace = store().GetTrace(kP1, a.trace_id);
  ASSERT_TRUE(trace.ok());
  ASSERT_EQ(trace->size(), 1u);
  EXPECT_EQ((*trace)[0].service, "one");
  Result<std::vector<store::InstanceInfo>> insts = store().ListInstances(kP1);
  ASSERT_TRUE(insts.ok());
  EXPECT_THAT(*insts, IsEmpty());
  EXPECT_THAT(AllIds(store(), 3), IsEmpty());
  EXPECT_EQ(store().Stats().duplicates_skipped, 0u);
}

TEST_P(StoreConformanceTest, InstancesKeepFirstAndLastSeen) {
  store::InstanceInfo i;
  i.service = "shop";
  i.instance = "shop-1";
  i.host = "h1";
  i.kind = "cpp";
  i.sdk = "loupe-cpp 0.1";
  i.first_seen_us = kT0 + 10;
  i.last_seen_us = kT0 + 20;
  ASSERT_TRUE(store().PutInstance(kP1, i).ok());
  store::InstanceInfo later = i;
  later.host = "h2";
  later.first_seen_us = kT0 + 30;
  later.last_seen_us = kT0 + 40;
  ASSERT_TRUE(store().PutInstance(kP1, later).ok());
  store::InstanceInfo earlier = i;
  earlier.host = "";
  earlier.first_seen_us = kT0 + 5;
  earlier.last_seen_us = kT0 + 6;
  ASSERT_TRUE(store().PutInstance(kP1, earlier).ok());
  store::InstanceInfo other = i;
  other.service = "auth";
  other.instance = "auth-1";
  ASSERT_TRUE(store().PutInstance(kP1, other).ok());

  Result<std::vector<store::InstanceInfo>> got = store().ListInstances(kP1);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].service, "auth");
  const store::InstanceInfo& s = (*got)[1];
  EXPECT_EQ(s.instance, "shop-1");
  EXPECT_EQ(s.host, "h2");
  EXPECT_EQ(s.kind, "cpp");
  EXPECT_EQ(s.sdk, "loupe-cpp 0.1");
  EXPECT_EQ(s.first_seen_us, kT0 + 5);
  EXPECT_EQ(s.last_seen_us, kT0 + 40);
}

TEST_P(StoreConformanceTest, ConcurrentAppendsAndScansLoseNothing) {
  constexpr int kWriters = 3, kBatches = 40, kPerBatch = 50;
  std::atomic<bool> done{false};
  std::atomic<int> bad_order{0};
  std::atomic<int> readers_started{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      while (readers_started.load() < 2) std::this_thread::yield();
      for (int b = 0; b < kBatches; ++b) {
        std::vector<Transaction> txs;
        for (int i = 0; i < kPerBatch; ++i) {
          TxId id = static_cast<TxId>((w + 1) * 1'000'000 + b * kPerBatch + i);
          txs.push_back(Tx(id, kT0 + ((b * kPerBatch + i) * 7919 % 100'000) * kMs));
        }
        EXPECT_TRUE(AppendTxs(store(), kP1, std::move(txs)).ok());
        // Replays are skipped, concurrently too.
        if (b % 10 == 0) {
          EXPECT_TRUE(AppendTxs(store(), kP1, {Tx((w + 1) * 1'000'000, kT0)}).ok());
        }
      }
    });
  }
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&] {
      readers_started.fetch_add(1);
      do {
        int64_t prev = std::numeric_limits<int64_t>::max();
        size_t n = 0;
        EXPECT_TRUE(store()
                        .Scan(kP1, {}, ScanOrder::kNewestFirst,
                              [&](std::span<const TxRow> rows) {
                                for (const TxRow& row : rows) {
                                  if (row.end_us > prev) bad_order.fetch_add(1);
                                  prev = row.end_us;
                                  ++n;
                                }
                                return true;
                              })
                        .ok());
        (void)store().Get(kP1, 1'000'001);
      } while (!done.load());
    });
  }
  for (int w = 0; w < kWriters; ++w) threads[w].join();
  done.store(true);
  for (size_t i = kWriters; i < threads.size(); ++i) threads[i].join();

  EXPECT_EQ(bad_order.load(), 0);
  std::vector<TxId> ids = ScanIds(store(), kP1, {}, ScanOrder::kAny);
  EXPECT_EQ(ids.size(), static_cast<size_t>(kWriters * kBatches * kPerBatch));
  EXPECT_EQ(std::set<TxId>(ids.begin(), ids.end()).size(), ids.size());
  EXPECT_EQ(store().Stats().transactions, static_cast<uint64_t>(kWriters * kBatches * kPerBatch));
  EXPECT_EQ(store().Stats().duplicates_skipped, static_cast<uint64_t>(kWriters * kBatches / 10));
}

TEST_P(StoreConformanceTest, StatsReportSize) {
  std::vector<Transaction> txs;
  for (TxId i = 1; i <= 100; ++i) txs.push_back(RichTx(i, kT0 + static_cast<int64_t>(i)));
  ASSERT_TRUE(AppendTxs(store(), kP1, txs).ok());
  StoreStats st = store().Stats();
  EXPECT_EQ(st.transactions, 100u);
  EXPECT_EQ(st.steps, 500u);
  EXPECT_GT(st.bytes, 0u);
}

TEST_P(StoreConformanceTest, CloseIsIdempotent) {
  ASSERT_TRUE(AppendTxs(store(), kP1, {Tx(1, kT0)}).ok());
  EXPECT_TRUE(store().Close().ok());
  EXPECT_TRUE(store().Close().ok());
}

TEST_P(StoreConformanceTest, ReopenKeepsEverythingAcknowledged) {
  if (!GetParam().durable) GTEST_SKIP() << "store is not durable";
  Transaction rich = RichTx(0x80, kT0);
  Transaction late_target = Tx(0x81, kT0 + 3 * kMinute, 50 * kMs);
  late_target.trace_id = rich.trace_id;
  ASSERT_TRUE(AppendTxs(store(), kP1, {rich, late_target}).ok());
  ASSERT_TRUE(AppendTxs(store(), kP2, {Tx(0x82, kT0)}).ok());
  ASSERT_TRUE(AppendLate(store(), kP1, late_target.id,
                         {MakeStep(0x91, StepKind::kSql, late_target.start_us + 1, 2 * kMs, "q")})
                  .ok());
  store::InstanceInfo inst;
  inst.service = "shop";
  inst.instance = "shop-1";
  inst.first_seen_us = kT0;
  inst.last_seen_us = kT0 + 9;
  ASSERT_TRUE(store().PutInstance(kP1, inst).ok());

  Reopen();

  Result<Transaction> got = store().Get(kP1, rich.id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ExpectSameTx(*got, rich);
  Result<Transaction> late = store().Get(kP1, late_target.id);
  ASSERT_TRUE(late.ok());
  ASSERT_EQ(late->steps.size(), 1u);
  EXPECT_EQ(late->summary.sql_count, 1u);
  EXPECT_THAT(AllIds(store(), kP1), ElementsAre(0x81u, 0x80u));
  EXPECT_THAT(AllIds(store(), kP2), ElementsAre(0x82u));
  Result<std::vector<Transaction>> trace = store().GetTrace(kP1, rich.trace_id);
  ASSERT_TRUE(trace.ok());
  EXPECT_EQ(trace->size(), 2u);
  Result<std::vector<store::InstanceInfo>> insts = store().ListInstances(kP1);
  ASSERT_TRUE(insts.ok());
  ASSERT_EQ(insts->size(), 1u);
  EXPECT_EQ((*insts)[0].last_seen_us, kT0 + 9);
  EXPECT_EQ(store().Stats().transactions, 3u);

  // Idempotence and late-step de-duplication survive the reopen.
  ASSERT_TRUE(AppendTxs(store(), kP1, {rich}).ok());
  ASSERT_TRUE(AppendLate(store(), kP1, late_target.id,
                         {MakeStep(0x91, StepKind::kSql, late_target.start_us + 1, 2 * kMs, "q")})
                  .ok());
  EXPECT_EQ(store().Stats().transactions, 3u);
  late = store().Get(kP1, late_target.id);
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late->steps.size(), 1u);
  EXPECT_EQ(late->summary.sql_count, 1u);
}

}  // namespace
}  // namespace loupe::testing
