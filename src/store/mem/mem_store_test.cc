#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/mem/mem_store.h"
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
  Status AppendEvents(ProjectId p, std::span<const model::Event> e) override {
    if (closed_) return Status::Unavailable("closed");
    return s_->AppendEvents(p, e);
  }
  Status ScanEvents(ProjectId p, const EventFilter& f, const EventVisitor& v) const override {
    return s_->ScanEvents(p, f, v);
  }
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

// A week of distinct visitors: each transaction has a user and a client IP
// never seen before. The store keeps max_transactions rows; the strings of
// evicted rows must go with them (a per-project dictionary kept every one).
TEST(MemStore, DistinctUsersAreForgottenWithTheirEvictedRows) {
  constexpr size_t kKept = 50'000;
  constexpr int kUsers = 2'000'000;
  std::unique_ptr<Store> s = NewMemStore(kKept);
  uint64_t peak_entries = 0;
  for (int i = 0; i < kUsers; i += 10'000) {
    WriteBatch b;
    for (int k = i; k < i + 10'000; ++k) {
      // 1,000 a minute: the 50,000 kept rows span 50 minute partitions.
      model::Transaction tx = Tx(static_cast<model::TxId>(k) + 1, kT0 + int64_t{k} * 60'000);
      for (int byte = 0; byte < 4; ++byte) tx.trace_id[byte] = static_cast<uint8_t>(k >> 8 * byte);
      tx.user = "user-" + std::to_string(k);
      tx.client_ip = "10." + std::to_string(k >> 16) + "." + std::to_string((k >> 8) & 255) + "." +
                     std::to_string(k & 255);
      b.transactions.push_back(std::move(tx));
    }
    ASSERT_TRUE(s->Append(1, std::move(b)).ok());
    peak_entries = std::max(peak_entries, s->Stats().dictionary_entries);
  }
  // Two strings per kept row, plus the rows of the partition being filled
  // and a few per partition for "" and the bounded columns.
  EXPECT_LE(peak_entries, 2 * (kKept + 2 * 1'000) + 1'000);
  EXPECT_LE(s->Stats().dictionary_bytes, size_t{20} << 20);
  // The newest users are still found, by filter and by id.
  TxFilter f;
  f.user = "user-" + std::to_string(kUsers - 1);
  std::vector<model::TxId> ids;
  ASSERT_TRUE(s->Scan(1, f, ScanOrder::kAny, [&](std::span<const TxRow> rows) {
                 for (const TxRow& r : rows) ids.push_back(r.id);
                 return true;
               }).ok());
  EXPECT_THAT(ids, ::testing::ElementsAre(static_cast<model::TxId>(kUsers)));
  auto got = s->Get(1, kUsers);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->user, "user-" + std::to_string(kUsers - 1));
  f.user = "user-0";  // evicted
  ids.clear();
  ASSERT_TRUE(s->Scan(1, f, ScanOrder::kNewestFirst, [&](std::span<const TxRow> rows) {
                 for (const TxRow& r : rows) ids.push_back(r.id);
                 return true;
               }).ok());
  EXPECT_THAT(ids, ::testing::IsEmpty());
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
