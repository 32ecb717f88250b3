#include "alert/store_signals.h"

#include <algorithm>
#include <utility>

namespace loupe::alert {
namespace {

constexpr int64_t kSecondUs = 1'000'000;

void Add(const store::RollupRow& row, store::RollupCounts* counts,
         std::vector<store::HistBin>* hist) {
  counts->Merge(*row.counts);
  if (!row.hist.empty()) store::MergeHist(row.hist, hist);
}

bool IsTransactionSignal(Signal s) {
  switch (s) {
    case Signal::kTps:
    case Signal::kCalls:
    case Signal::kResponseTime:
    case Signal::kP95:
    case Signal::kP99:
    case Signal::kErrorRate:
    case Signal::kErrorCount:
      return true;
    default:
      return false;
  }
}

}  // namespace

double TransactionSignal(Signal s, const store::RollupCounts& c,
                         const std::vector<store::HistBin>& hist, int64_t seconds) {
  double n = static_cast<double>(c.count);
  switch (s) {
    case Signal::kTps: return seconds > 0 ? n / static_cast<double>(seconds) : 0;
    case Signal::kCalls: return n;
    case Signal::kResponseTime: return c.count ? c.elapsed_sum_us / n / 1000.0 : 0;
    case Signal::kP95: return store::HistPercentileUs(hist, 0.95, c.elapsed_max_us) / 1000.0;
    case Signal::kP99: return store::HistPercentileUs(hist, 0.99, c.elapsed_max_us) / 1000.0;
    case Signal::kErrorRate: return c.count ? 100.0 * static_cast<double>(c.errors) / n : 0;
    case Signal::kErrorCount: return static_cast<double>(c.errors);
    default: return 0;
  }
}

StoreSignalSource::StoreSignalSource(const store::Store* store,
                                     const live::ActiveRegistry* active,
                                     const live::EventLog* events, int64_t lag_s)
    : store_(store), active_(active), events_(events), lag_us_(lag_s * kSecondUs) {}

const StoreSignalSource::Window& StoreSignalSource::WindowOf(uint32_t project, int64_t from_us,
                                                             int64_t to_us) {
  auto key = std::make_tuple(project, from_us, to_us);
  auto it = windows_.find(key);
  if (it != windows_.end()) return it->second;
  Window& w = windows_[key];
  if (store_ == nullptr || !store_->has_rollups()) return w;
  store::RollupFilter f;
  f.from_us = from_us;
  f.to_us = to_us;
  ++scans_;
  // The rollups' answer or nothing: a failed scan reads as no data, and the
  // rule's NoData decides (the store logs its own errors).
  (void)store_->ScanRollups(project, store::RollupResolution::kSecond, f,
                            [&](std::span<const store::RollupRow> rows) {
                              for (const store::RollupRow& r : rows) {
                                std::string service(r.service);
                                Add(r, &w.project.counts, &w.project.hist);
                                Agg& s = w.service[service];
                                Add(r, &s.counts, &s.hist);
                                Agg& e = w.endpoint[{service, std::string(r.endpoint)}];
                                Add(r, &e.counts, &e.hist);
                                Agg& i = w.instance[{service, std::string(r.instance)}];
                                Add(r, &i.counts, &i.hist);
                              }
                              return true;
                            });
  return w;
}

void StoreSignalSource::Read(const AlertRule& rule, int64_t end_us,
                             std::vector<ScopeSample>* out) {
  int64_t to = (end_us - lag_us_) / kSecondUs * kSecondUs;
  int64_t from = to - rule.window_s * kSecondUs;
  if (IsTransactionSignal(rule.signal) || rule.signal == Signal::kThrottled) {
    if (rule.signal == Signal::kThrottled) {
      ReadEvents(rule, from, to, out);
    } else {
      ReadTransactions(rule, from, to, out);
    }
  } else if (rule.signal == Signal::kActive) {
    ReadActive(rule, out);
  } else if (rule.signal == Signal::kInstanceDown) {
    ReadInstanceDown(rule, end_us, out);
  } else {
    ReadEvents(rule, from, to, out);
  }
}

void StoreSignalSource::ReadTransactions(const AlertRule& rule, int64_t from_us, int64_t to_us,
                                         std::vector<ScopeSample>* out) {
  const Window& w = WindowOf(rule.project, from_us, to_us);
  int64_t seconds = (to_us - from_us) / kSecondUs;
  auto emit = [&](ScopeKey scope, const Agg& a) {
    if (a.counts.count == 0 && a.counts.errors == 0) return;  // no transactions: no data
    out->push_back({std::move(scope), TransactionSignal(rule.signal, a.counts, a.hist, seconds),
                    static_cast<int64_t>(a.counts.count)});
  };
  if (rule.service.empty()) {
    emit({}, w.project);
    return;
  }
  auto each = [&](const auto& map, bool endpoint) {
    for (auto it = map.lower_bound({rule.service, std::string()});
         it != map.end() && it->first.first == rule.service; ++it) {
      emit(endpoint ? ScopeKey{rule.service, "", it->first.second}
                    : ScopeKey{rule.service, it->first.second, ""},
           it->second);
    }
  };
  if (rule.endpoint == "*") return each(w.endpoint, true);
  if (rule.instance == "*") return each(w.instance, false);
  if (!rule.endpoint.empty()) {
    auto it = w.endpoint.find({rule.service, rule.endpoint});
    if (it != w.endpoint.end()) emit({rule.service, "", rule.endpoint}, it->second);
    return;
  }
  if (!rule.instance.empty()) {
    auto it = w.instance.find({rule.service, rule.instance});
    if (it != w.instance.end()) emit({rule.service, rule.instance, ""}, it->second);
    return;
  }
  auto it = w.service.find(rule.service);
  if (it != w.service.end()) emit({rule.service, "", ""}, it->second);
}

void StoreSignalSource::ReadActive(const AlertRule& rule, std::vector<ScopeSample>* out) {
  if (active_ == nullptr) return;
  live::ActiveQuery q;
  q.service = rule.service;
  q.instance = rule.instance == "*" ? "" : rule.instance;
  bool per_endpoint = !rule.endpoint.empty();
  q.limit = per_endpoint ? 100'000 : 0;
  if (rule.band >= 0 && band_thresholds_) {
    q.thresholds = [&](const std::string& service) {
      return band_thresholds_(rule.project, service);
    };
  }
  std::map<ScopeKey, double, ScopeLess> sums;
  for (const live::InstanceActive& ia : active_->Active(rule.project, q)) {
    if (ia.stale) continue;
    double n = static_cast<double>(ia.active_total);
    if (rule.band >= 0) {
      n = static_cast<size_t>(rule.band) < ia.bands.size() ? static_cast<double>(ia.bands[rule.band])
                                                          : 0;
    }
    if (per_endpoint) {
      for (const model::ActiveTx& tx : ia.active) {
        if (rule.endpoint != "*" && tx.endpoint != rule.endpoint) continue;
        sums[{ia.service, "", rule.endpoint == "*" ? tx.endpoint : rule.endpoint}] += 1;
      }
      continue;
    }
    ScopeKey scope{rule.service, rule.instance == "*" ? ia.instance : rule.instance, ""};
    sums[scope] += n;
  }
  if (sums.empty() && !per_endpoint && rule.instance != "*") {
    return;  // nothing reported: no data
  }
  for (auto& [scope, v] : sums) out->push_back({scope, v, 0});
}

void StoreSignalSource::ReadInstanceDown(const AlertRule& rule, int64_t end_us,
                                         std::vector<ScopeSample>* out) {
  if (store_ == nullptr) return;
  auto list = store_->ListInstances(rule.project);
  if (!list.ok()) return;
  for (const store::InstanceInfo& i : *list) {
    if (!rule.service.empty() && i.service != rule.service) continue;
    if (!rule.instance.empty() && rule.instance != "*" && i.instance != rule.instance) continue;
    double down_s = std::max<double>(0, static_cast<double>(end_us - i.last_seen_us) / 1e6);
    out->push_back({{i.service, i.instance, ""}, down_s, 0});
  }
}

void StoreSignalSource::ReadEvents(const AlertRule& rule, int64_t from_us, int64_t to_us,
                                   std::vector<ScopeSample>* out) {
  if (events_ == nullptr) return;
  live::EventQuery q;
  q.from_us = from_us;
  q.to_us = to_us;
  q.type = rule.signal == Signal::kThrottled ? model::kEventThrottle : rule.event_type;
  q.service = rule.service;
  q.limit = 100'000;
  std::map<ScopeKey, double, ScopeLess> counts;
  for (const model::Event& e : events_->Query(rule.project, q).events) {
    if (!rule.instance.empty() && rule.instance != "*" && e.instance != rule.instance) continue;
    if (!rule.endpoint.empty() && rule.endpoint != "*" && e.endpoint != rule.endpoint) continue;
    ScopeKey scope{rule.service, rule.instance == "*" ? e.instance : rule.instance,
                   rule.endpoint == "*" ? e.endpoint : rule.endpoint};
    counts[scope] += static_cast<double>(std::max<int64_t>(e.count, 1));
  }
  // Counting signals: a fixed scope with no events is 0, not "no data".
  bool fixed = rule.instance != "*" && rule.endpoint != "*";
  if (fixed && counts.empty()) counts[{rule.service, rule.instance, rule.endpoint}] = 0;
  for (auto& [scope, v] : counts) out->push_back({scope, v, 0});
}

}  // namespace loupe::alert
