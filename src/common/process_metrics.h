// The process_* metrics of the Prometheus conventions, read from /proc at
// scrape time: process_resident_memory_bytes (gauge) and
// process_cpu_seconds_total (counter).
//
// Thread-safety: call once per registry; the callbacks are safe to run from
// any thread.
#ifndef LOUPE_COMMON_PROCESS_METRICS_H_
#define LOUPE_COMMON_PROCESS_METRICS_H_

#include "common/metrics.h"

namespace loupe {

void RegisterProcessMetrics(MetricsRegistry* m);

}  // namespace loupe

#endif  // LOUPE_COMMON_PROCESS_METRICS_H_
