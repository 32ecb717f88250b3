// Private to the store conformance suite (store_conformance*.cc): the
// constants and helpers its files share. Not for other tests; the public
// interface is store_conformance.h.
#ifndef LOUPE_TESTING_STORE_CONFORMANCE_INTERNAL_H_
#define LOUPE_TESTING_STORE_CONFORMANCE_INTERNAL_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "store/store.h"
#include "testing/store_conformance.h"

namespace loupe::testing {

// Defined in store_conformance_late.cc, _rollup.cc and _events.cc, and
// called by StoreConformanceName (which LOUPE_INSTANTIATE_STORE_CONFORMANCE
// references), so that the linker keeps the tests of those files of this
// static library too. They do nothing.
void LinkStoreConformanceLateTests();
void LinkStoreConformanceRollupTests();
void LinkStoreConformanceEventTests();

inline constexpr int64_t kT0 = 1'700'000'000'000'000;  // µs, on a minute boundary + 20 s
inline constexpr int64_t kMs = 1000;
inline constexpr int64_t kMinute = 60'000'000;
inline constexpr model::ProjectId kP1 = 1, kP2 = 2;

inline model::TraceId TraceOf(uint64_t n) {
  model::TraceId t{};
  for (int i = 0; i < 8; ++i) t[i] = static_cast<uint8_t>(n >> (8 * i));
  t[15] = 0x5a;
  return t;
}

// A transaction ending at end_us after elapsed_us, alone in its own trace.
inline model::Transaction Tx(model::TxId id, int64_t end_us, int64_t elapsed_us = 10 * kMs) {
  model::Transaction tx;
  tx.id = id;
  tx.trace_id = TraceOf(id);
  tx.span_id = id * 16 + 1;
  tx.service = "shop";
  tx.instance = "shop-1";
  tx.host = "host-a";
  tx.endpoint = "GET /api/posts/{id}";
  tx.http_method = "GET";
  tx.url = "/api/posts/1?x=2";
  tx.start_us = end_us - elapsed_us;
  tx.end_us = end_us;
  tx.status = 200;
  tx.client_ip = "10.0.0.7";
  tx.user = "u42";
  return tx;
}

inline model::Step MakeStep(model::SpanId span, model::StepKind kind, int64_t start_us,
                            int64_t elapsed_us, std::string name) {
  model::Step s;
  s.span_id = span;
  s.kind = kind;
  s.start_us = start_us;
  s.elapsed_us = elapsed_us;
  s.name = std::move(name);
  return s;
}

inline Status AppendTxs(store::Store& s, model::ProjectId p, std::vector<model::Transaction> txs) {
  store::WriteBatch b;
  b.transactions = std::move(txs);
  return s.Append(p, std::move(b));
}

inline Status AppendLate(store::Store& s, model::ProjectId p, model::TxId tx,
                         std::vector<model::Step> steps) {
  store::WriteBatch b;
  b.late_steps.push_back({tx, std::move(steps)});
  return s.Append(p, std::move(b));
}

inline std::vector<model::TxId> ScanIds(const store::Store& s, model::ProjectId p,
                                        const store::TxFilter& f,
                                        store::ScanOrder order = store::ScanOrder::kNewestFirst) {
  std::vector<model::TxId> ids;
  Status st = s.Scan(p, f, order, [&](std::span<const store::TxRow> rows) {
    for (const store::TxRow& r : rows) ids.push_back(r.id);
    return true;
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  return ids;
}

inline std::vector<model::TxId> AllIds(const store::Store& s, model::ProjectId p) {
  return ScanIds(s, p, store::TxFilter{});
}

}  // namespace loupe::testing

#endif  // LOUPE_TESTING_STORE_CONFORMANCE_INTERNAL_H_
