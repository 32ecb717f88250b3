// MemStore: the in-memory Store, for tests and `--store memory`.
//
// Everything lives in memory until the process ends or eviction drops it:
// rows are kept in one-minute time partitions and, past `max_transactions`
// over all projects, the oldest partition (by end time) goes, with its
// rows, their profiles, their user and client-IP strings and their
// one-second rollup cells (five-minute cells and user sketches stay).
// Events: the last 100,000 per project. Nothing is durable; Flush is a
// no-op and SetRetention is ignored.
//
// Thread-safety: as Store. Append and eviction hold a project's lock
// exclusively, reads hold it shared while their visitor runs.
#ifndef LOUPE_STORE_MEM_MEM_STORE_H_
#define LOUPE_STORE_MEM_MEM_STORE_H_

#include <cstddef>
#include <memory>

#include "store/store.h"

namespace loupe::store {

// An in-memory store. Data lives until the process ends. `max_transactions`
// bounds memory: past it the oldest transactions (by end time) are evicted.
std::unique_ptr<Store> NewMemStore(size_t max_transactions = 20'000'000);

}  // namespace loupe::store

#endif  // LOUPE_STORE_MEM_MEM_STORE_H_
