// RawRowsStore: a read-only view of a store without its rollups, so query/
// reads raw rows — the baseline of tests and benchmarks that compare the
// two. broken_rollups: it claims rollups but every ScanRollups ends in
// kCorruption after delivering the real cells (a damaged rollup file).
// Writes are accepted and ignored. Thread-safety: that of the wrapped store.
#ifndef LOUPE_TESTING_RAW_ROWS_STORE_H_
#define LOUPE_TESTING_RAW_ROWS_STORE_H_

#include "store/store.h"

namespace loupe::testing {

class RawRowsStore final : public store::Store {
 public:
  explicit RawRowsStore(const store::Store& s, bool broken_rollups = false)
      : s_(s), broken_(broken_rollups) {}

  Status Append(model::ProjectId, store::WriteBatch) override { return Status::OK(); }
  Status Scan(model::ProjectId p, const store::TxFilter& f, store::ScanOrder o,
              const store::RowVisitor& v) const override {
    return s_.Scan(p, f, o, v);
  }
  Result<model::Transaction> Get(model::ProjectId p, model::TxId id) const override {
    return s_.Get(p, id);
  }
  Result<std::vector<model::Transaction>> GetTrace(model::ProjectId p,
                                                   const model::TraceId& t) const override {
    return s_.GetTrace(p, t);
  }
  Status PutInstance(model::ProjectId, const store::InstanceInfo&) override { return Status::OK(); }
  Result<std::vector<store::InstanceInfo>> ListInstances(model::ProjectId p) const override {
    return s_.ListInstances(p);
  }
  store::StoreStats Stats() const override { return s_.Stats(); }
  Status AppendEvents(model::ProjectId, std::span<const model::Event>) override {
    return Status::OK();
  }
  Status ScanEvents(model::ProjectId p, const store::EventFilter& f,
                    const store::EventVisitor& v) const override {
    return s_.ScanEvents(p, f, v);
  }
  Status Close() override { return Status::OK(); }
  bool has_rollups() const override { return broken_; }
  Status ScanRollups(model::ProjectId p, store::RollupResolution r, const store::RollupFilter& f,
                     const store::RollupVisitor& v) const override {
    Status st = s_.ScanRollups(p, r, f, v);
    return st.ok() ? Status::Corruption("rollup file damaged") : st;
  }

 private:
  const store::Store& s_;
  const bool broken_;
};

}  // namespace loupe::testing

#endif  // LOUPE_TESTING_RAW_ROWS_STORE_H_
