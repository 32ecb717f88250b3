// StoreSignalSource: the SignalSource of `loupe server` (alert/evaluator.h).
//
// Transaction signals (tps, calls, response_time, p95, p99, error_rate,
// error_count) come from the store's one-second rollups. At the start of a
// tick the source looks at every rule once and plans: per project and time
// offset (now; a day ago and a week ago for baselines) ONE scan over the
// longest window any rule needs, aggregating while it reads into exactly the
// (window, scope level) pairs rules asked for — the project, services,
// (service, endpoint) or (service, instance) — keyed by the store's dense ids,
// with histograms only where a rule reads a percentile. So a thousand rules
// over a thousand endpoints cost one or a few scans a tick, not a thousand
// (bench/alert_benchmark.cc). Percentiles come from the merged rollup
// histograms (within ±6.1 %, store/rollup.h).
//
// Windows end `lag_s` (2) seconds before the evaluation time, on a whole
// second: the newest second is still filling (the assembler waits briefly
// for a transaction's last spans), and a breach must reach a receiver within
// 10 s (issue 12's budget), so the lag stays short; an SDK's export delay
// comes on top, as data the server does not have yet.
//
// active: active transactions of the scope now (ActiveRegistry, all bands or
// one band). instance_down: seconds since each instance of the scope was last
// seen (the store's instance list). event: events of the rule's type in the
// window (EventLog); throttled: requests throttled in the window, from the
// agents' throttle events.
//
// Thread-safety: not thread-safe; one evaluation thread owns it. The store,
// registry and log it reads are thread-safe.
#ifndef LOUPE_ALERT_STORE_SIGNALS_H_
#define LOUPE_ALERT_STORE_SIGNALS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
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

  // Plans the tick's scans from the rules; drops what the previous tick read.
  void BeginTick(int64_t now_us, const std::vector<AlertRule>& rules) override;

  void Read(const AlertRule& rule, int64_t end_us, std::vector<ScopeSample>* out) override;

  // Rollup scans done since construction (tests, the benchmark).
  uint64_t scans() const { return scans_; }

 private:
  enum LevelBit : uint8_t { kProject = 1, kService = 2, kEndpoint = 4, kInstance = 8 };
  struct Agg {
    store::RollupCounts counts;
    std::unique_ptr<std::vector<uint64_t>> hist;  // dense by bin, when asked for
  };
  // What the rules of one window want, and the aggregates once scanned.
  struct WindowAggs {
    int64_t seconds = 0;
    uint8_t levels = 0;       // LevelBit
    uint8_t hist_levels = 0;  // LevelBit of levels whose percentiles are read
    Agg project;
    std::unordered_map<uint32_t, Agg> service;    // by service id
    std::unordered_map<uint64_t, Agg> endpoint;   // by service id << 32 | endpoint id
    std::unordered_map<uint64_t, Agg> instance;   // by service id << 32 | instance id
  };
  // One scan: a project at one time offset, every window its rules need.
  struct Scan {
    int64_t to_us = 0;
    bool done = false;
    std::vector<WindowAggs> windows;  // ascending seconds
    std::unordered_map<std::string, uint32_t> service_ids;
    std::map<std::pair<uint32_t, std::string>, uint32_t> endpoint_ids, instance_ids;
    std::unordered_map<uint32_t, std::string> service_names;
    std::unordered_map<uint64_t, std::string> endpoint_names, instance_names;
  };

  static int64_t OffsetOf(const AlertRule& rule, bool baseline);
  static uint8_t LevelOf(const AlertRule& rule);  // the LevelBit a rule reads
  // Adds what rule r reads at offset_us before now to that scan's plan.
  void Plan(const AlertRule& r, int64_t offset_us);
  // The planned scan, run on first use; null when none is planned.
  Scan* ScanFor(uint32_t project, int64_t offset_us);
  void Run(uint32_t project, int64_t offset_us, Scan* scan);
  void ReadTransactions(const AlertRule& rule, int64_t end_us, std::vector<ScopeSample>* out);
  void ReadActive(const AlertRule& rule, std::vector<ScopeSample>* out);
  void ReadInstanceDown(const AlertRule& rule, int64_t end_us, std::vector<ScopeSample>* out);
  void ReadEvents(const AlertRule& rule, int64_t from_us, int64_t to_us,
                  std::vector<ScopeSample>* out);

  const store::Store* store_;
  const live::ActiveRegistry* active_;
  const live::EventLog* events_;
  int64_t lag_us_;
  BandThresholds band_thresholds_;
  int64_t now_us_ = 0;
  std::map<std::pair<uint32_t, int64_t>, Scan> scans_by_offset_;  // (project, offset)
  uint64_t scans_ = 0;
};

// The value of a transaction signal over `seconds` seconds of counts with a
// dense histogram (may be null when the signal is no percentile).
double TransactionSignal(Signal s, const store::RollupCounts& c, const std::vector<uint64_t>* hist,
                         int64_t seconds);

}  // namespace loupe::alert

#endif  // LOUPE_ALERT_STORE_SIGNALS_H_
