// StoreSignalSource: the SignalSource of `loupe server` (alert/evaluator.h).
//
// Transaction signals (tps, calls, response_time, p95, p99, error_rate,
// error_count) come from the store's one-second rollups over the rule's
// window [end - window_s, end), whole seconds: one ScanRollups per project
// and window per tick, aggregated into every scope at once (the project, each
// service, each (service, endpoint), each (service, instance)), so a thousand
// rules over a thousand endpoints cost one scan, not a thousand. Percentiles
// come from the merged rollup histograms (within ±6.1 %, store/rollup.h).
// The window ends `lag_s` seconds before the evaluation time: transactions
// are stored when they end and their spans have arrived, so the newest
// seconds are still filling.
//
// active: active transactions of the scope now (ActiveRegistry, all bands or
// one band). instance_down: seconds since each instance of the scope was last
// seen (the store's instance list). event: events of the rule's type in the
// window (EventLog); throttled: requests throttled in the window, from the
// agents' throttle events.
//
// Thread-safety: not thread-safe; the evaluation thread owns it. The store,
// registry and log it reads are thread-safe.
#ifndef LOUPE_ALERT_STORE_SIGNALS_H_
#define LOUPE_ALERT_STORE_SIGNALS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "alert/evaluator.h"
#include "live/active_registry.h"
#include "live/event_log.h"
#include "store/rollup.h"
#include "store/store.h"

namespace loupe::alert {

class StoreSignalSource final : public SignalSource {
 public:
  // Any pointer but store may be null (that signal then has no data).
  StoreSignalSource(const store::Store* store, const live::ActiveRegistry* active,
                    const live::EventLog* events, int64_t lag_s = 2);

  // Band thresholds (µs, increasing) of a service, for active rules of one
  // band (control/agent_config's bands). Without it such rules have no data.
  using BandThresholds =
      std::function<std::vector<int64_t>(uint32_t project, const std::string& service)>;
  void set_band_thresholds(BandThresholds f) { band_thresholds_ = std::move(f); }

  // Drops what the previous tick read.
  void BeginTick(int64_t now_us) override { windows_.clear(); }

  void Read(const AlertRule& rule, int64_t end_us, std::vector<ScopeSample>* out) override;

  // Rollup scans done since construction (tests, /metrics).
  uint64_t scans() const { return scans_; }

 private:
  struct ScopeLess {
    bool operator()(const ScopeKey& a, const ScopeKey& b) const {
      return std::tie(a.service, a.instance, a.endpoint) <
             std::tie(b.service, b.instance, b.endpoint);
    }
  };
  struct Agg {
    store::RollupCounts counts;
    std::vector<store::HistBin> hist;
  };
  // Every scope's aggregate over one window of one project.
  struct Window {
    Agg project;
    std::unordered_map<std::string, Agg> service;
    std::map<std::pair<std::string, std::string>, Agg> endpoint;  // (service, endpoint)
    std::map<std::pair<std::string, std::string>, Agg> instance;  // (service, instance)
  };

  const Window& WindowOf(uint32_t project, int64_t from_us, int64_t to_us);
  void ReadTransactions(const AlertRule& rule, int64_t from_us, int64_t to_us,
                        std::vector<ScopeSample>* out);
  void ReadActive(const AlertRule& rule, std::vector<ScopeSample>* out);
  void ReadInstanceDown(const AlertRule& rule, int64_t end_us, std::vector<ScopeSample>* out);
  void ReadEvents(const AlertRule& rule, int64_t from_us, int64_t to_us,
                  std::vector<ScopeSample>* out);

  const store::Store* store_;
  const live::ActiveRegistry* active_;
  const live::EventLog* events_;
  int64_t lag_us_;
  BandThresholds band_thresholds_;
  std::map<std::tuple<uint32_t, int64_t, int64_t>, Window> windows_;
  uint64_t scans_ = 0;
};

// The value of a transaction signal over an aggregate of `seconds` seconds.
double TransactionSignal(Signal s, const store::RollupCounts& c,
                         const std::vector<store::HistBin>& hist, int64_t seconds);

}  // namespace loupe::alert

#endif  // LOUPE_ALERT_STORE_SIGNALS_H_
