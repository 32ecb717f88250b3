#include "server/metrics_store.h"

#include <chrono>
#include <utility>

#include "common/logging.h"

namespace loupe::server {

Result<std::unique_ptr<tsdb::TimeSeriesStore>> OpenMetricsStore(const std::string& data_dir,
                                                                const auth::Registry& registry) {
  tsdb::TsdbOptions options;
  options.dir = data_dir + "/tsdb";
  options.aggregate_retention_days = auth::kDefaultRollupRetentionDays;
  for (const auth::Project& p : registry.AllProjects()) {
    options.aggregate_retention_per_project[p.id] = p.rollup_retention_days;
  }
  auto opened = tsdb::TimeSeriesStore::Open(std::move(options));
  if (!opened.ok()) return opened.status();
  // A damaged block costs its window only; the rest serves (store verify
  // names it).
  if (!(*opened)->open_status().ok()) {
    LogError("time-series store: skipped damaged blocks: " + (*opened)->open_status().ToString());
  }
  return opened;
}

void MetricsMaintainer::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void MetricsMaintainer::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void MetricsMaintainer::Loop() {
  std::unique_lock<std::mutex> l(mu_);
  while (!stop_) {
    cv_.wait_for(l, std::chrono::milliseconds(interval_ms_));
    if (stop_) break;
    l.unlock();
    for (const auth::Project& p : registry_->AllProjects()) {
      tsdb_->SetAggregateRetention(p.id, p.rollup_retention_days);
    }
    Status s = tsdb_->Maintain(clock_->NowMicros() / 1000);
    if (!s.ok())
      LogWarningRateLimited("tsdb maintain", "time-series store maintenance: " + s.ToString());
    l.lock();
  }
}

}  // namespace loupe::server
