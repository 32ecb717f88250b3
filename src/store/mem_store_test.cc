#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/store.h"
#include "testing/store_conformance.h"

namespace loupe::store {
namespace {

// A "durable" store for exercising the suite's reopen tests: one MemStore per
// directory outlives the handles opened on it; Close() only closes the handle.
class DirStore final : public Store {
 public:
  static std::unique_ptr<Store> Open(const std::string& dir) {
    static std::mutex mu;
    static std::map<std::string, std::shared_ptr<Store>> stores;
    std::lock_guard<std::mutex> lock(mu);
    std::shared_ptr<Store>& s = stores[dir];
    if (!s) s = NewMemStore();
    return std::make_unique<DirStore>(s);
  }
  explicit DirStore(std::shared_ptr<Store> s) : s_(std::move(s)) {}
  Status Append(ProjectId p, WriteBatch b) override {
    if (closed_) return Status::Unavailable("closed");
    return s_->Append(p, std::move(b));
  }
  Status Scan(ProjectId p, const TxFilter& f, ScanOrder o, const RowVisitor& v) const override {
    return s_->Scan(p, f, o, v);
  }
  Result<model::Transaction> Get(ProjectId p, model::TxId id) const override {
    return s_->Get(p, id);
  }
  Result<std::vector<model::Transaction>> GetTrace(ProjectId p,
                                                   const model::TraceId& t) const override {
    return s_->GetTrace(p, t);
  }
  Status PutInstance(ProjectId p, const InstanceInfo& i) override { return s_->PutInstance(p, i); }
  Result<std::vector<InstanceInfo>> ListInstances(ProjectId p) const override {
    return s_->ListInstances(p);
  }
  StoreStats Stats() const override { return s_->Stats(); }
  bool has_rollups() const override { return s_->has_rollups(); }
  Status ScanRollups(ProjectId p, RollupResolution r, const RollupFilter& f,
                     const RollupVisitor& v) const override {
    return s_->ScanRollups(p, r, f, v);
  }
  Status ScanUsers(ProjectId p, const RollupFilter& f, const UsersVisitor& v) const override {
    return s_->ScanUsers(p, f, v);
  }
  Status Close() override {
    closed_ = true;
    return Status::OK();
  }

 private:
  std::shared_ptr<Store> s_;
  bool closed_ = false;
};

LOUPE_INSTANTIATE_STORE_CONFORMANCE(
    MemStore,
    (::loupe::testing::StoreConformanceParam{
        .name = "mem",
        .open = [](const std::string&) { return NewMemStore(); },
    }),
    (::loupe::testing::StoreConformanceParam{
        .name = "mem_kept_per_dir", .open = &DirStore::Open, .durable = true}));

constexpr int64_t kMinute = 60'000'000;
constexpr int64_t kT0 = 1'700'000'000'000'000;

model::Transaction Tx(model::TxId id, int64_t end_us) {
  model::Transaction tx;
  tx.id = id;
  tx.trace_id[0] = static_cast<uint8_t>(id % 3);  // a few shared traces
  tx.trace_id[1] = 1;
  tx.start_us = end_us - 1000;
  tx.end_us = end_us;
  tx.service = "shop";
  return tx;
}

std::vector<model::TxId> AllIds(const Store& s, ProjectId p) {
  std::vector<model::TxId> ids;
  EXPECT_TRUE(s.Scan(p, {}, ScanOrder::kNewestFirst, [&](std::span<const TxRow> rows) {
                 for (const TxRow& r : rows) ids.push_back(r.id);
                 return true;
               }).ok());
  return ids;
}

TEST(MemStore, EvictsOldestMinutePartitionsPastTheLimit) {
  std::unique_ptr<Store> s = NewMemStore(6);
  // Two transactions per minute, minutes 0..4, arriving newest minute first.
  for (int m = 4; m >= 0; --m) {
    WriteBatch b;
    b.transactions = {Tx(10 * m + 1, kT0 + m * kMinute), Tx(10 * m + 2, kT0 + m * kMinute + 5)};
    ASSERT_TRUE(s->Append(1, std::move(b)).ok());
  }
  // 10 appended, limit 6: minutes 0 and 1 are gone.
  EXPECT_THAT(AllIds(*s, 1), ::testing::ElementsAre(42, 41, 32, 31, 22, 21));
  EXPECT_EQ(s->Stats().transactions, 6u);
  EXPECT_EQ(s->Get(1, 11).status().code(), Status::Code::kNotFound);
  ASSERT_TRUE(s->Get(1, 21).ok());
  // Trace chains survive the eviction of some of their members.
  for (uint8_t t = 0; t < 3; ++t) {
    model::TraceId trace{};
    trace[0] = t;
    trace[1] = 1;
    auto got = s->GetTrace(1, trace);
    ASSERT_TRUE(got.ok());
    size_t want = 0;
    for (model::TxId id : {21, 22, 31, 32, 41, 42}) want += id % 3 == t;
    EXPECT_EQ(got->size(), want) << "trace " << int{t};
  }
  // An evicted id may be written again.
  WriteBatch b;
  b.transactions = {Tx(11, kT0 + 5 * kMinute)};
  ASSERT_TRUE(s->Append(1, std::move(b)).ok());
  EXPECT_TRUE(s->Get(1, 11).ok());
}

TEST(MemStore, EvictionIsGlobalAcrossProjects) {
  std::unique_ptr<Store> s = NewMemStore(2);
  WriteBatch a;
  a.transactions = {Tx(1, kT0)};
  ASSERT_TRUE(s->Append(1, std::move(a)).ok());
  WriteBatch b;
  b.transactions = {Tx(2, kT0 + kMinute), Tx(3, kT0 + 2 * kMinute)};
  ASSERT_TRUE(s->Append(2, std::move(b)).ok());
  EXPECT_TRUE(AllIds(*s, 1).empty());
  EXPECT_THAT(AllIds(*s, 2), ::testing::ElementsAre(3, 2));
}

TEST(MemStore, AppendAfterCloseIsUnavailable) {
  std::unique_ptr<Store> s = NewMemStore();
  ASSERT_TRUE(s->Close().ok());
  WriteBatch b;
  b.transactions = {Tx(1, kT0)};
  Status st = s->Append(1, std::move(b));
  EXPECT_EQ(st.code(), Status::Code::kUnavailable);
  EXPECT_TRUE(st.retryable());
}

TEST(MemStore, ZeroTransactionIdIsAnOrdinaryKey) {
  std::unique_ptr<Store> s = NewMemStore();
  WriteBatch b;
  b.transactions = {Tx(0, kT0), Tx(0, kT0 + 1)};
  ASSERT_TRUE(s->Append(1, std::move(b)).ok());
  EXPECT_EQ(s->Stats().transactions, 1u);
  EXPECT_TRUE(s->Get(1, 0).ok());
}

}  // namespace
}  // namespace loupe::store
