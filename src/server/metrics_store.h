// The server's time-series store (OTLP and host metrics; issue 13): opened in
// DATA_DIR/tsdb with each project's aggregate retention from the credentials
// registry, maintained (sealing, downsampling, retention) once a minute on a
// thread of its own.
//
// Only the embedded store mode has one: with --store memory the server takes
// no metrics and /v1/metrics answers 404 (docs/operations.md).
//
// A project's rollup_retention_days applies to its metric aggregates (read
// from the registry at open and before every Maintain, so a change made
// through the API applies within a minute); raw samples are kept
// raw_retention_days (8 by default).
//
// Thread-safety: MetricsMaintainer's Start and Stop from one thread.
#ifndef LOUPE_SERVER_METRICS_STORE_H_
#define LOUPE_SERVER_METRICS_STORE_H_

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "auth/registry.h"
#include "common/clock.h"
#include "common/status.h"
#include "store/tsdb/time_series_store.h"

namespace loupe::server {

// Opens DATA_DIR/tsdb. Blocks that fail their checks are logged (the store
// opens without them); an unusable directory fails.
Result<std::unique_ptr<tsdb::TimeSeriesStore>> OpenMetricsStore(const std::string& data_dir,
                                                                const auth::Registry& registry);

// Every `interval_ms` until Stop(): sets each project's aggregate retention
// from the registry, then calls tsdb->Maintain(now); failures are logged and
// retried at the next turn. All three are borrowed and must outlive it.
class MetricsMaintainer {
 public:
  MetricsMaintainer(tsdb::TimeSeriesStore* tsdb, const auth::Registry* registry, Clock* clock,
                    int64_t interval_ms = 60'000)
      : tsdb_(tsdb), registry_(registry), clock_(clock), interval_ms_(interval_ms) {}
  ~MetricsMaintainer() { Stop(); }
  MetricsMaintainer(const MetricsMaintainer&) = delete;
  MetricsMaintainer& operator=(const MetricsMaintainer&) = delete;

  void Start();
  void Stop();  // idempotent; waits for a Maintain in progress

 private:
  void Loop();

  tsdb::TimeSeriesStore* tsdb_;
  const auth::Registry* registry_;
  Clock* clock_;
  const int64_t interval_ms_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace loupe::server

#endif  // LOUPE_SERVER_METRICS_STORE_H_
