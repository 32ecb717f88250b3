// Storage figures per project in /metrics, computed at scrape time from
// Store::Usage() (and the embedded engine's lifecycle counters).
//
// Families (gauges; `project` is the project's name — projects are created
// by admins only, so the label set stays small):
//   loupe_store_disk_bytes{project}          segments + rollups on disk
//   loupe_store_memtable_bytes{project}      appended, not yet in a segment
//   loupe_store_segments{project}
//   loupe_store_partitions{project}          time partitions holding data
//   loupe_store_oldest_data_seconds{project} end time of the oldest transaction (absent: none)
//   loupe_store_free_disk_bytes              on the store's file system
//   loupe_store_lifecycle{event}             embedded engine only: compactions,
//       failed_compactions, partitions_dropped, segments_dropped,
//       transactions_dropped, expired_rejected, rollup_files_dropped (since start)
//
// Ownership: store and registry are borrowed and must outlive `metrics`'
// last Render().
#ifndef LOUPE_SERVER_STORE_METRICS_H_
#define LOUPE_SERVER_STORE_METRICS_H_

#include "auth/registry.h"
#include "common/metrics.h"
#include "store/embedded/embedded_store.h"
#include "store/store.h"

namespace loupe::server {

// `embedded` may be null (another store); otherwise the same object as store.
void RegisterStoreMetrics(MetricsRegistry* metrics, const store::Store* store,
                          const store::EmbeddedStore* embedded, const auth::Registry* registry);

}  // namespace loupe::server

#endif  // LOUPE_SERVER_STORE_METRICS_H_
