// Self-monitoring metrics in the Prometheus text format.
//
// Components register counters, gauges and histograms once (at construction)
// and update them on hot paths with relaxed atomics. Label values are fixed
// at registration, so cardinality is bounded by the code, never by input.
// Render() produces the exposition for GET /metrics.
//
// Thread-safety: registration and Render() take a mutex; updates are lock-free.
// Returned pointers live as long as the registry.
#ifndef LOUPE_COMMON_METRICS_H_
#define LOUPE_COMMON_METRICS_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace loupe {

class Counter {
 public:
  void Inc(uint64_t n = 1) noexcept { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Gauge {
 public:
  void Set(double v) noexcept { v_.store(v, std::memory_order_relaxed); }
  void Add(double d) noexcept {
    double cur = v_.load(std::memory_order_relaxed);
    while (!v_.compare_exchange_weak(cur, cur + d, std::memory_order_relaxed)) {
    }
  }
  double value() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

// Fixed-bucket histogram (seconds, bytes, ...). Buckets are upper bounds.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v) noexcept;
  const std::vector<double>& bounds() const { return bounds_; }
  // Cumulative counts per bound, then +Inf; and sum.
  void Snapshot(std::vector<uint64_t>* cumulative, double* sum, uint64_t* count) const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1
  Gauge sum_;
};

using Labels = std::vector<std::pair<std::string, std::string>>;

class MetricsRegistry {
 public:
  // The same (name, labels) returns the same object. `help` of the first
  // registration of a name wins.
  Counter* GetCounter(std::string_view name, std::string_view help, const Labels& labels = {});
  Gauge* GetGauge(std::string_view name, std::string_view help, const Labels& labels = {});
  Histogram* GetHistogram(std::string_view name, std::string_view help, std::vector<double> bounds,
                          const Labels& labels = {});
  // A gauge computed at render time (queue depth, memory, per-project figures).
  // The callback returns (labels, value) pairs; keep their number bounded.
  void AddCallback(std::string_view name, std::string_view help,
                   std::function<std::vector<std::pair<Labels, double>>()> fn);
  // The same for a counter kept elsewhere (CPU seconds from /proc, a
  // component's own totals): rendered with `# TYPE name counter`. The values
  // must never decrease while the process runs.
  void AddCounterCallback(std::string_view name, std::string_view help,
                          std::function<std::vector<std::pair<Labels, double>>()> fn);

  std::string Render() const;

  // The process-wide registry.
  static MetricsRegistry* Default();

 private:
  struct Family {
    std::string help;
    std::string type;                                          // counter, gauge, histogram
    std::map<std::string, std::unique_ptr<Counter>> counters;  // key: rendered labels
    std::map<std::string, std::unique_ptr<Gauge>> gauges;
    std::map<std::string, std::unique_ptr<Histogram>> histograms;
    std::vector<std::function<std::vector<std::pair<Labels, double>>()>> callbacks;
  };
  Family* GetFamily(std::string_view name, std::string_view help, const char* type);

  mutable std::mutex mu_;
  std::map<std::string, Family, std::less<>> families_;
};

}  // namespace loupe

#endif  // LOUPE_COMMON_METRICS_H_
