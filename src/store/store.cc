// Store's default methods (store.h).
#include "store/store.h"

#include <vector>

namespace loupe::store {

Status Store::ScanScatter(ProjectId project, const TxFilter& filter,
                          const ScatterVisitor& visit) const {
  TxFilter narrow = filter;
  narrow.fields = 0;
  std::vector<int64_t> end, elapsed;
  std::vector<uint8_t> error;
  return Scan(project, narrow, ScanOrder::kAny, [&](std::span<const TxRow> rows) {
    end.clear();
    elapsed.clear();
    error.clear();
    for (const TxRow& r : rows) {
      end.push_back(r.end_us);
      elapsed.push_back(r.elapsed_us());
      error.push_back(r.error ? 1 : 0);
    }
    return visit(end, elapsed, error);
  });
}

}  // namespace loupe::store
