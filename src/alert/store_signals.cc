#include "alert/store_signals.h"

#include <algorithm>
#include <utility>

namespace loupe::alert {
namespace {

constexpr int64_t kSecondUs = 1'000'000;
constexpr int64_t kDayUs = 86'400 * kSecondUs;
constexpr size_t kHistBins = 512;  // store::ElapsedBin < 64 octaves × 8

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

bool IsPercentile(Signal s) { return s == Signal::kP95 || s == Signal::kP99; }

uint64_t Pair(uint32_t a, uint32_t b) { return uint64_t{a} << 32 | b; }

}  // namespace

double TransactionSignal(Signal s, const store::RollupCounts& c, const std::vector<uint64_t>* hist,
                         int64_t seconds) {
  double n = static_cast<double>(c.count);
  switch (s) {
    case Signal::kTps: return seconds > 0 ? n / static_cast<double>(seconds) : 0;
    case Signal::kCalls: return n;
    case Signal::kResponseTime: return c.count ? c.elapsed_sum_us / n / 1000.0 : 0;
    case Signal::kP95:
    case Signal::kP99:
      if (hist == nullptr) return 0;
      return store::DenseHistPercentileUs(*hist, s == Signal::kP95 ? 0.95 : 0.99,
                                          c.elapsed_max_us) /
             1000.0;
    case Signal::kErrorRate: return c.count ? 100.0 * static_cast<double>(c.errors) / n : 0;
    case Signal::kErrorCount: return static_cast<double>(c.errors);
    default: return 0;
  }
}

StoreSignalSource::StoreSignalSource(const store::Store* store,
                                     const live::ActiveRegistry* active,
                                     const live::EventLog* events, int64_t lag_s)
    : store_(store), active_(active), events_(events), lag_us_(lag_s * kSecondUs) {}

int64_t StoreSignalSource::OffsetOf(const AlertRule& rule, bool baseline) {
  if (!baseline) return 0;
  return rule.baseline == Baseline::kLastWeek ? 7 * kDayUs : kDayUs;
}

uint8_t StoreSignalSource::LevelOf(const AlertRule& r) {
  return r.service.empty()     ? kProject
         : !r.endpoint.empty() ? kEndpoint
         : !r.instance.empty() ? kInstance
                               : kService;
}

void StoreSignalSource::Plan(const AlertRule& r, int64_t offset_us) {
  uint8_t level = LevelOf(r);
  Scan& scan = scans_by_offset_[{r.project, offset_us}];
  auto w = std::find_if(scan.windows.begin(), scan.windows.end(),
                        [&](const WindowAggs& x) { return x.seconds == r.window_s; });
  if (w == scan.windows.end()) {
    w = scan.windows.emplace(
        std::upper_bound(scan.windows.begin(), scan.windows.end(), r.window_s,
                         [](int64_t s, const WindowAggs& x) { return s < x.seconds; }));
    w->seconds = r.window_s;
  }
  w->levels |= level;
  if (IsPercentile(r.signal)) w->hist_levels |= level;
}

void StoreSignalSource::BeginTick(int64_t now_us, const std::vector<AlertRule>& rules) {
  now_us_ = now_us;
  scans_by_offset_.clear();
  for (const AlertRule& r : rules) {
    if (!r.enabled || !IsTransactionSignal(r.signal)) continue;
    Plan(r, 0);
    if (r.baseline != Baseline::kNone) Plan(r, OffsetOf(r, true));
  }
}

StoreSignalSource::Scan* StoreSignalSource::ScanFor(uint32_t project, int64_t offset_us) {
  auto it = scans_by_offset_.find({project, offset_us});
  if (it == scans_by_offset_.end()) return nullptr;
  if (!it->second.done) Run(project, offset_us, &it->second);
  return &it->second;
}

void StoreSignalSource::Run(uint32_t project, int64_t offset, Scan* scan) {
  scan->done = true;
  scan->to_us = (now_us_ - offset - lag_us_) / kSecondUs * kSecondUs;
  if (store_ == nullptr || !store_->has_rollups() || scan->windows.empty()) return;
  store::RollupFilter f;
  f.to_us = scan->to_us;
  f.from_us = scan->to_us - scan->windows.back().seconds * kSecondUs;
  f.with_hist = std::any_of(scan->windows.begin(), scan->windows.end(),
                            [](const WindowAggs& w) { return w.hist_levels != 0; });
  ++scans_;

  auto add = [](Agg& a, const store::RollupRow& r, bool hist) {
    a.counts.Merge(*r.counts);
    if (!hist) return;
    if (!a.hist) a.hist = std::make_unique<std::vector<uint64_t>>(kHistBins);
    for (const store::HistBin& b : r.hist) {
      if (b.bin < kHistBins) (*a.hist)[b.bin] += b.count;
    }
  };
  // A failed scan reads as no data and the rule's NoData decides (the store
  // logs its own errors).
  // Names are registered when a key first enters a window's aggregates, not
  // looked up for every row: with 10,000 rules over five windows those
  // lookups were 17 % of a tick (perf; docs/benchmarks.md "Alerts").
  auto agg = [&](std::unordered_map<uint64_t, Agg>& m, uint64_t k, std::string_view name,
                 std::unordered_map<uint64_t, std::string>& names,
                 std::map<std::pair<uint32_t, std::string>, uint32_t>& ids, uint32_t service_id,
                 uint32_t id) -> Agg& {
    auto [it, fresh] = m.try_emplace(k);
    if (fresh && names.emplace(k, std::string(name)).second) {
      ids.emplace(std::make_pair(service_id, std::string(name)), id);
    }
    return it->second;
  };
  (void)store_->ScanRollups(
      project, store::RollupResolution::kSecond, f, [&](std::span<const store::RollupRow> rows) {
        for (const store::RollupRow& r : rows) {
          if (!scan->service_names.count(r.service_id)) {
            scan->service_names.emplace(r.service_id, std::string(r.service));
            scan->service_ids.emplace(std::string(r.service), r.service_id);
          }
          int64_t age_s = (scan->to_us - r.bucket_us + kSecondUs - 1) / kSecondUs;
          // Windows ascend: walk from the longest down while the cell is inside.
          for (auto w = scan->windows.rbegin(); w != scan->windows.rend() && w->seconds >= age_s;
               ++w) {
            if (w->levels & kProject) add(w->project, r, w->hist_levels & kProject);
            if (w->levels & kService) add(w->service[r.service_id], r, w->hist_levels & kService);
            if (w->levels & kEndpoint) {
              add(agg(w->endpoint, Pair(r.service_id, r.endpoint_id), r.endpoint,
                      scan->endpoint_names, scan->endpoint_ids, r.service_id, r.endpoint_id),
                  r, w->hist_levels & kEndpoint);
            }
            if (w->levels & kInstance) {
              add(agg(w->instance, Pair(r.service_id, r.instance_id), r.instance,
                      scan->instance_names, scan->instance_ids, r.service_id, r.instance_id),
                  r, w->hist_levels & kInstance);
            }
          }
        }
        return true;
      });
}

void StoreSignalSource::Read(const AlertRule& rule, int64_t end_us,
                             std::vector<ScopeSample>* out) {
  int64_t to = (end_us - lag_us_) / kSecondUs * kSecondUs;
  int64_t from = to - rule.window_s * kSecondUs;
  if (IsTransactionSignal(rule.signal)) {
    ReadTransactions(rule, end_us, out);
  } else if (rule.signal == Signal::kActive) {
    ReadActive(rule, out);
  } else if (rule.signal == Signal::kInstanceDown) {
    ReadInstanceDown(rule, end_us, out);
  } else {
    ReadEvents(rule, from, to, out);
  }
}

void StoreSignalSource::ReadTransactions(const AlertRule& rule, int64_t end_us,
                                         std::vector<ScopeSample>* out) {
  if (now_us_ == 0) now_us_ = end_us;  // read without BeginTick (tests)
  const int64_t offset = now_us_ - end_us;
  const uint8_t level = LevelOf(rule);
  const uint8_t hist = IsPercentile(rule.signal) ? level : 0;
  auto it = scans_by_offset_.find({rule.project, offset});
  bool covered = it != scans_by_offset_.end() &&
                 std::any_of(it->second.windows.begin(), it->second.windows.end(),
                             [&](const WindowAggs& x) {
                               return x.seconds == rule.window_s && (x.levels & level) &&
                                      (x.hist_levels & hist) == hist;
                             });
  if (!covered) {
    // A rule BeginTick did not see (tests, one-off reads): plan it beside
    // what was planned, and scan again if the scan already ran.
    std::vector<std::tuple<int64_t, uint8_t, uint8_t>> needs;
    if (it != scans_by_offset_.end()) {
      for (const WindowAggs& x : it->second.windows) needs.emplace_back(x.seconds, x.levels, x.hist_levels);
      scans_by_offset_.erase(it);
    }
    Plan(rule, offset);
    for (auto [seconds, levels, hists] : needs) {
      Scan& sc = scans_by_offset_[{rule.project, offset}];
      auto x = std::find_if(sc.windows.begin(), sc.windows.end(),
                            [&](const WindowAggs& w) { return w.seconds == seconds; });
      if (x == sc.windows.end()) {
        x = sc.windows.emplace(
            std::upper_bound(sc.windows.begin(), sc.windows.end(), seconds,
                             [](int64_t s, const WindowAggs& w) { return s < w.seconds; }));
        x->seconds = seconds;
      }
      x->levels |= levels;
      x->hist_levels |= hists;
    }
  }
  Scan* scan = ScanFor(rule.project, offset);
  auto w = std::find_if(scan->windows.begin(), scan->windows.end(),
                        [&](const WindowAggs& x) { return x.seconds == rule.window_s; });
  auto emit = [&](ScopeKey scope, const Agg& a) {
    if (a.counts.count == 0) return;  // no transactions: no data
    out->push_back({std::move(scope),
                    TransactionSignal(rule.signal, a.counts, a.hist.get(), w->seconds),
                    static_cast<int64_t>(a.counts.count)});
  };
  if (rule.service.empty()) return emit({}, w->project);
  auto sid = scan->service_ids.find(rule.service);
  if (sid == scan->service_ids.end()) return;
  const uint32_t service = sid->second;
  if (rule.endpoint == "*" || rule.instance == "*") {
    bool by_endpoint = rule.endpoint == "*";
    const auto& aggs = by_endpoint ? w->endpoint : w->instance;
    const auto& names = by_endpoint ? scan->endpoint_names : scan->instance_names;
    size_t first = out->size();
    for (const auto& [key, agg] : aggs) {
      if (key >> 32 != service) continue;
      const std::string& name = names.at(key);
      emit(by_endpoint ? ScopeKey{rule.service, "", name} : ScopeKey{rule.service, name, ""}, agg);
    }
    // Hash order is no order: sort so alerts and notices read the same each tick.
    std::sort(out->begin() + first, out->end(), [](const ScopeSample& a, const ScopeSample& b) {
      return std::tie(a.scope.instance, a.scope.endpoint) <
             std::tie(b.scope.instance, b.scope.endpoint);
    });
    return;
  }
  if (!rule.endpoint.empty() || !rule.instance.empty()) {
    bool by_endpoint = !rule.endpoint.empty();
    const auto& ids = by_endpoint ? scan->endpoint_ids : scan->instance_ids;
    auto id = ids.find({service, by_endpoint ? rule.endpoint : rule.instance});
    if (id == ids.end()) return;
    const auto& aggs = by_endpoint ? w->endpoint : w->instance;
    auto a = aggs.find(Pair(service, id->second));
    if (a != aggs.end()) {
      emit({rule.service, rule.instance, rule.endpoint}, a->second);
    }
    return;
  }
  auto a = w->service.find(service);
  if (a != w->service.end()) emit({rule.service, "", ""}, a->second);
}

void StoreSignalSource::ReadActive(const AlertRule& rule, std::vector<ScopeSample>* out) {
  if (active_ == nullptr) return;
  live::ActiveQuery q;
  q.service = rule.service;
  q.instance = rule.instance == "*" ? "" : rule.instance;
  bool per_endpoint = !rule.endpoint.empty();
  q.limit = per_endpoint ? 100'000 : 0;
  if (rule.band >= 0) {
    if (!band_thresholds_) return;
    q.thresholds = [&](const std::string& service) {
      return band_thresholds_(rule.project, service);
    };
  }
  struct Less {
    bool operator()(const ScopeKey& a, const ScopeKey& b) const {
      return std::tie(a.service, a.instance, a.endpoint) <
             std::tie(b.service, b.instance, b.endpoint);
    }
  };
  std::map<ScopeKey, double, Less> sums;
  bool reported = false;
  for (const live::InstanceActive& ia : active_->Active(rule.project, q)) {
    if (ia.stale) continue;
    reported = true;
    if (per_endpoint) {
      for (const model::ActiveTx& tx : ia.active) {
        if (rule.endpoint != "*" && tx.endpoint != rule.endpoint) continue;
        sums[{rule.service, "", rule.endpoint == "*" ? tx.endpoint : rule.endpoint}] += 1;
      }
      continue;
    }
    double n = static_cast<double>(ia.active_total);
    if (rule.band >= 0) {
      n = static_cast<size_t>(rule.band) < ia.bands.size()
              ? static_cast<double>(ia.bands[rule.band])
              : 0;
    }
    sums[{rule.service, rule.instance == "*" ? ia.instance : rule.instance, ""}] += n;
  }
  // An agent that reports and has nothing running says 0 for a fixed scope.
  bool fixed = rule.instance != "*" && rule.endpoint != "*";
  if (reported && fixed && sums.empty()) sums[{rule.service, rule.instance, rule.endpoint}] = 0;
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
  q.type = rule.signal == Signal::kThrottled ? model::kEventThrottled : rule.event_type;
  q.service = rule.service;
  q.limit = 100'000;
  struct Less {
    bool operator()(const ScopeKey& a, const ScopeKey& b) const {
      return std::tie(a.service, a.instance, a.endpoint) <
             std::tie(b.service, b.instance, b.endpoint);
    }
  };
  std::map<ScopeKey, double, Less> counts;
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
