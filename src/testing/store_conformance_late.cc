// Store conformance, late steps: steps that arrive after their transaction
// (or before it, parked until it comes), their deduplication, and the
// dropped_steps total they carry. See store_conformance.h.
#include <gmock/gmock.h>

#include <algorithm>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "testing/store_conformance.h"
#include "testing/store_conformance_internal.h"

namespace loupe::testing {

using model::Step;
using model::StepKind;
using model::Transaction;
using store::ScanOrder;
using store::StoreStats;
using store::TxRow;
using ::testing::ElementsAre;

void LinkStoreConformanceLateTests() {}

namespace {

TEST_P(StoreConformanceTest, LateStepsMergeIntoProfileAndSummary) {
  Transaction tx = Tx(0x10, kT0, 100 * kMs);
  tx.steps = {MakeStep(0x11, StepKind::kSql, tx.start_us + 50 * kMs, 10 * kMs, "B")};
  tx.summary.Add(tx.steps);
  ASSERT_TRUE(AppendTxs(store(), kP1, {tx}).ok());

  ASSERT_TRUE(
      AppendLate(store(), kP1, tx.id,
                 {MakeStep(0x12, StepKind::kExternal, tx.start_us + 60 * kMs, 30 * kMs, "C"),
                  MakeStep(0x13, StepKind::kSql, tx.start_us + 1 * kMs, 4 * kMs, "A")})
          .ok());

  Result<Transaction> got = store().Get(kP1, tx.id);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->steps.size(), 3u);
  EXPECT_EQ(got->steps[0].name, "A");  // in start order
  EXPECT_EQ(got->steps[1].name, "B");
  EXPECT_EQ(got->steps[2].name, "C");
  EXPECT_EQ(got->summary.sql_count, 2u);
  EXPECT_EQ(got->summary.sql_us, 14 * kMs);
  EXPECT_EQ(got->summary.external_count, 1u);
  EXPECT_EQ(got->summary.external_us, 30 * kMs);

  // Scan rows carry the updated summary too.
  store::TxFilter f;
  std::vector<model::Summary> sums;
  ASSERT_TRUE(store()
                  .Scan(kP1, f, ScanOrder::kAny,
                        [&](std::span<const TxRow> rows) {
                          for (const TxRow& r : rows) sums.push_back(r.summary);
                          return true;
                        })
                  .ok());
  ASSERT_EQ(sums.size(), 1u);
  EXPECT_EQ(sums[0].sql_count, 2u);
  EXPECT_EQ(sums[0].external_us, 30 * kMs);

  StoreStats st = store().Stats();
  EXPECT_EQ(st.late_steps_merged, 2u);
  EXPECT_EQ(st.steps, 3u);
}

TEST_P(StoreConformanceTest, LateStepsAreDeduplicatedBySpanId) {
  Transaction tx = Tx(0x20, kT0, 100 * kMs);
  tx.steps = {MakeStep(0x21, StepKind::kSql, tx.start_us + 10 * kMs, 10 * kMs, "have")};
  tx.summary.Add(tx.steps);
  ASSERT_TRUE(AppendTxs(store(), kP1, {tx}).ok());

  std::vector<Step> late = {
      MakeStep(0x21, StepKind::kSql, tx.start_us + 10 * kMs, 10 * kMs, "have"),  // stored
      MakeStep(0x22, StepKind::kSql, tx.start_us + 30 * kMs, 5 * kMs, "new"),
      MakeStep(0x22, StepKind::kSql, tx.start_us + 30 * kMs, 5 * kMs, "new"),  // in batch
      MakeStep(0, StepKind::kError, tx.start_us + 40 * kMs, 0, "E1"),          // id 0: never a dup
      MakeStep(0, StepKind::kError, tx.start_us + 40 * kMs, 0, "E1"),
  };
  ASSERT_TRUE(AppendLate(store(), kP1, tx.id, late).ok());
  // A replay of the same late batch adds only the id-less steps again.
  ASSERT_TRUE(AppendLate(store(), kP1, tx.id, {late[1]}).ok());

  Result<Transaction> got = store().Get(kP1, tx.id);
  ASSERT_TRUE(got.ok());
  std::vector<std::string> names;
  for (const Step& s : got->steps) names.push_back(s.name);
  EXPECT_THAT(names, ElementsAre("have", "new", "E1", "E1"));
  EXPECT_EQ(got->summary.sql_count, 2u);
  EXPECT_EQ(got->summary.sql_us, 15 * kMs);
  EXPECT_EQ(store().Stats().late_steps_merged, 3u);
  EXPECT_EQ(store().Stats().steps, 4u);
}

TEST_P(StoreConformanceTest, LateStepsOfUnknownTransactionAreCountedAsOrphaned) {
  ASSERT_TRUE(AppendTxs(store(), kP1, {Tx(0x30, kT0)}).ok());
  ASSERT_TRUE(AppendLate(store(), kP1, 0x31,
                         {MakeStep(1, StepKind::kSql, kT0, 1, "a"),
                          MakeStep(2, StepKind::kSql, kT0, 1, "b")})
                  .ok());
  StoreStats st = store().Stats();
  EXPECT_EQ(st.late_steps_orphaned, 2u);
  EXPECT_EQ(st.late_steps_merged, 0u);
  EXPECT_EQ(st.transactions, 1u);
  EXPECT_EQ(store().Get(kP1, 0x31).status().code(), Status::Code::kNotFound);
  EXPECT_THAT(AllIds(store(), kP1), ElementsAre(0x30u));
}

// Two ingest requests can pass each other between the assembler and the
// store (the log replay runs them on several threads): late steps that come
// before their transaction wait for it.
TEST_P(StoreConformanceTest, LateStepsThatOvertakeTheirTransactionJoinItWhenItComes) {
  Transaction tx = Tx(0x50, kT0, 100 * kMs);
  ASSERT_TRUE(AppendLate(store(), kP1, tx.id,
                         {MakeStep(0x51, StepKind::kSql, tx.start_us + 10 * kMs, 5 * kMs, "a"),
                          MakeStep(0x52, StepKind::kSql, tx.start_us + 20 * kMs, 5 * kMs, "b")})
                  .ok());
  EXPECT_EQ(store().Stats().late_steps_orphaned, 2u) << "orphaned until the transaction comes";
  ASSERT_TRUE(AppendTxs(store(), kP1, {tx}).ok());
  Result<Transaction> got = store().Get(kP1, tx.id);
  ASSERT_TRUE(got.ok());
  std::vector<std::string> names;
  for (const Step& s : got->steps) names.push_back(s.name);
  EXPECT_THAT(names, ElementsAre("a", "b"));
  EXPECT_EQ(got->summary.sql_count, 2u);
  StoreStats st = store().Stats();
  EXPECT_EQ(st.late_steps_orphaned, 0u);
  EXPECT_EQ(st.late_steps_merged, 2u);
  EXPECT_EQ(st.steps, 2u);
  // The row's summary counts them too (what lists and the X-View read).
  bool seen = false;
  ASSERT_TRUE(store()
                  .Scan(kP1, {}, ScanOrder::kNewestFirst,
                        [&](std::span<const TxRow> rows) {
                          for (const TxRow& r : rows) {
                            if (r.id == tx.id) {
                              seen = true;
                              EXPECT_EQ(r.summary.sql_count, 2u);
                            }
                          }
                          return true;
                        })
                  .ok());
  EXPECT_TRUE(seen);
}

TEST_P(StoreConformanceTest, LateStepsInTheBatchOfTheirTransactionMerge) {
  Transaction tx = Tx(0x40, kT0, 100 * kMs);
  store::WriteBatch b;
  b.transactions.push_back(tx);
  b.late_steps.push_back(
      {tx.id, {MakeStep(0x41, StepKind::kExternal, tx.start_us + 5 * kMs, 7 * kMs, "call")}});
  ASSERT_TRUE(store().Append(kP1, std::move(b)).ok());
  Result<Transaction> got = store().Get(kP1, tx.id);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->steps.size(), 1u);
  EXPECT_EQ(got->summary.external_count, 1u);
  EXPECT_EQ(got->summary.external_us, 7 * kMs);
}

// The assembler used to emit one LateSteps entry per late span: a store must
// merge a batch of thousands of entries naming one transaction (and
// duplicates, and steps in any order) into one profile in start order.
TEST_P(StoreConformanceTest, ManyLateEntriesOfOneTransactionMergeInStartOrderWithoutDuplicates) {
  Transaction tx = Tx(0x60, kT0, 1000 * kMs);
  tx.steps = {MakeStep(0x61, StepKind::kSql, tx.start_us + 500 * kMs, 1 * kMs, "first")};
  tx.summary.Add(tx.steps);
  ASSERT_TRUE(AppendTxs(store(), kP1, {tx}).ok());
  auto step = [&](int i) {
    // Starts descending with i, several sharing a start.
    return MakeStep(0x1000 + i, i % 2 ? StepKind::kSql : StepKind::kExternal,
                    tx.start_us + (3002 - i) / 3 * 300, 10 + i, "s" + std::to_string(i));
  };
  auto batch_of = [&](int from, int to) {
    store::WriteBatch b;
    for (int i = from; i < to; ++i) {
      b.late_steps.push_back({tx.id, {step(i)}});
      if (i % 10 == 0) b.late_steps.push_back({tx.id, {step(i)}});  // duplicate in the batch
    }
    b.late_steps.push_back({tx.id, {tx.steps[0]}});  // already stored
    return b;
  };
  ASSERT_TRUE(store().Append(kP1, batch_of(0, 2000)).ok());
  ASSERT_TRUE(store().Flush().ok());
  ASSERT_TRUE(store().Append(kP1, batch_of(1900, 2100)).ok());  // 100 replayed, 100 new

  auto check = [&](const char* when) {
    SCOPED_TRACE(when);
    Result<Transaction> got = store().Get(kP1, tx.id);
    ASSERT_TRUE(got.ok());
    ASSERT_EQ(got->steps.size(), 2101u);
    EXPECT_TRUE(
        std::is_sorted(got->steps.begin(), got->steps.end(),
                       [](const Step& a, const Step& b) { return a.start_us < b.start_us; }));
    std::set<model::SpanId> ids;
    model::Summary want = tx.summary;
    for (int i = 0; i < 2100; ++i) want.Add({step(i)});
    for (const Step& s : got->steps) ids.insert(s.span_id);
    EXPECT_EQ(ids.size(), 2101u);
    EXPECT_EQ(got->summary.sql_count, want.sql_count);
    EXPECT_EQ(got->summary.sql_us, want.sql_us);
    EXPECT_EQ(got->summary.external_count, want.external_count);
    EXPECT_EQ(got->summary.external_us, want.external_us);
    // Equal starts keep their arrival order (s0, s1 and s2 share a start).
    std::vector<std::string> same_start;
    for (const Step& s : got->steps) {
      if (s.start_us == step(0).start_us) same_start.push_back(s.name);
    }
    EXPECT_THAT(same_start, ElementsAre("s0", "s1", "s2"));
  };
  check("merged");
  EXPECT_EQ(store().Stats().late_steps_merged, 2100u);
  if (!GetParam().durable) return;
  Reopen();
  check("after reopen");
}

// A transaction whose late steps hit the assembler's max_steps_per_tx
// counts them in dropped_steps; LateSteps carries the total, so a replayed
// (older) total does not count twice.
TEST_P(StoreConformanceTest, LateStepsCutByTheCapCountInDroppedSteps) {
  Transaction tx = Tx(0x70, kT0, 100 * kMs);
  tx.dropped_steps = 2;
  ASSERT_TRUE(AppendTxs(store(), kP1, {tx}).ok());
  auto dropped = [&] {
    Result<Transaction> got = store().Get(kP1, tx.id);
    EXPECT_TRUE(got.ok());
    return got.ok() ? got->dropped_steps : 0u;
  };
  auto late = [&](std::vector<Step> steps, uint32_t total) {
    store::WriteBatch b;
    b.late_steps.push_back({tx.id, std::move(steps), total});
    return store().Append(kP1, std::move(b));
  };
  ASSERT_TRUE(late({MakeStep(0x71, StepKind::kSql, tx.start_us + 1, 1, "a")}, 5).ok());
  EXPECT_EQ(dropped(), 5u);
  ASSERT_TRUE(late({}, 4).ok());  // an older total, replayed
  EXPECT_EQ(dropped(), 5u);
  ASSERT_TRUE(store().Flush().ok());  // a durable store: the row is in a file now
  ASSERT_TRUE(late({}, 9).ok());      // every step cut
  EXPECT_EQ(dropped(), 9u);
  ASSERT_TRUE(late({MakeStep(0x71, StepKind::kSql, tx.start_us + 1, 1, "a")}, 8).ok());
  EXPECT_EQ(dropped(), 9u);
  Result<Transaction> got = store().Get(kP1, tx.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->steps.size(), 1u);

  // Parked until the transaction comes, the total still counts.
  Transaction other = Tx(0x72, kT0, 100 * kMs);
  store::WriteBatch b;
  b.late_steps.push_back({other.id, {}, 3});
  ASSERT_TRUE(store().Append(kP1, std::move(b)).ok());
  ASSERT_TRUE(AppendTxs(store(), kP1, {other}).ok());
  got = store().Get(kP1, other.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->dropped_steps, 3u);

  if (!GetParam().durable) return;
  Reopen();
  EXPECT_EQ(dropped(), 9u);
  ASSERT_TRUE(late({}, 7).ok());
  EXPECT_EQ(dropped(), 9u);
}

}  // namespace
}  // namespace loupe::testing
