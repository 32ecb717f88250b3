#include "alert/evaluator.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <tuple>
#include <unordered_set>

namespace loupe::alert {
namespace {

constexpr int64_t kDayUs = 86'400'000'000;

bool FixedScope(const AlertRule& r) { return r.instance != "*" && r.endpoint != "*"; }

ScopeKey RuleScope(const AlertRule& r) { return {r.service, r.instance, r.endpoint}; }

// Signals computed from transactions in the window, where a minimum volume
// of calls makes sense.
bool VolumeSignal(Signal s) {
  return s != Signal::kActive && s != Signal::kInstanceDown && s != Signal::kEvent;
}

bool Matches(const std::string& matcher, const std::string& value) {
  return matcher.empty() || matcher == value;
}

}  // namespace

std::string_view AlertStateName(AlertState s) noexcept {
  switch (s) {
    case AlertState::kNormal: return "normal";
    case AlertState::kPending: return "pending";
    case AlertState::kFiring: return "firing";
  }
  return "normal";
}

std::string_view LevelName(Level l) noexcept {
  switch (l) {
    case Level::kNone: return "none";
    case Level::kWarning: return "warning";
    case Level::kCritical: return "critical";
  }
  return "none";
}

std::string_view ChangeKindName(AlertChange::Kind k) noexcept {
  switch (k) {
    case AlertChange::Kind::kFiring: return "firing";
    case AlertChange::Kind::kLevel: return "level";
    case AlertChange::Kind::kRepeat: return "repeat";
    case AlertChange::Kind::kResolved: return "resolved";
  }
  return "firing";
}

Level LevelOf(const AlertRule& r, double value, double* threshold) noexcept {
  auto past = [&](double t) {
    return r.comparison == Comparison::kAbove ? value >= t : value <= t;
  };
  if (r.critical && past(*r.critical)) {
    *threshold = *r.critical;
    return Level::kCritical;
  }
  if (r.warning && past(*r.warning)) {
    *threshold = *r.warning;
    return Level::kWarning;
  }
  *threshold = r.warning ? *r.warning : (r.critical ? *r.critical : 0);
  return Level::kNone;
}

bool InQuietHours(const QuietHours& q, int64_t now_us) noexcept {
  if (q.weekdays == 0) return false;
  const int64_t now_s = now_us >= 0 ? now_us / 1'000'000 : (now_us - 999'999) / 1'000'000;
  int64_t local_s = now_s + (q.tz != nullptr ? q.tz->OffsetAt(now_s) : q.tz_offset_minutes * 60);
  int64_t day = local_s >= 0 ? local_s / 86400 : (local_s - 86399) / 86400;
  int minute = static_cast<int>((local_s - day * 86400) / 60);
  int weekday = static_cast<int>(((day + 4) % 7 + 7) % 7);  // 1970-01-01 was a Thursday
  auto on = [&](int wd) { return (q.weekdays >> ((wd + 7) % 7)) & 1; };
  if (q.from_minute < q.to_minute) {
    return on(weekday) && minute >= q.from_minute && minute < q.to_minute;
  }
  // Across midnight: the days name the day the quiet period starts.
  return (on(weekday) && minute >= q.from_minute) || (on(weekday - 1) && minute < q.to_minute);
}

bool Silenced(const std::vector<Silence>& silences, const AlertRule& rule, const ScopeKey& scope,
              int64_t now_us) noexcept {
  for (const Silence& s : silences) {
    if (s.project == rule.project && (s.rule_id == 0 || s.rule_id == rule.id) &&
        now_us >= s.start_us && now_us < s.end_us && Matches(s.service, scope.service) &&
        Matches(s.instance, scope.instance) && Matches(s.endpoint, scope.endpoint)) {
      return true;
    }
  }
  return false;
}

size_t Evaluator::ScopeHash::operator()(const ScopeKey& k) const noexcept {
  std::hash<std::string> h;
  size_t x = h(k.service);
  x ^= h(k.instance) + 0x9e3779b97f4a7c15ULL + (x << 6) + (x >> 2);
  x ^= h(k.endpoint) + 0x9e3779b97f4a7c15ULL + (x << 6) + (x >> 2);
  return x;
}

size_t Evaluator::size() const {
  size_t n = 0;
  for (const auto& [id, m] : alerts_) n += m.size();
  return n;
}

void Evaluator::Step(const AlertRule& rule, Entry* e, Level level, double value,
                     double threshold, bool has_data, bool muted, int64_t now_us,
                     std::vector<AlertChange>* changes) {
  Alert& a = e->alert;
  a.muted = muted;
  auto emit = [&](AlertChange::Kind kind, bool state_changed, bool notify) {
    if (notify) a.last_notified_us = now_us;
    changes->push_back(AlertChange{kind, a, now_us, state_changed, notify});
  };

  // A resolve held back by a mute goes out first, once the mute is over.
  if (e->resolve_held && !muted) {
    e->resolve_held = false;
    Alert firing = a;
    a = e->held_resolve;
    emit(AlertChange::Kind::kResolved, false, true);
    a = firing;
    a.muted = muted;
  }

  if (!has_data) {
    switch (rule.no_data) {
      case NoData::kKeep:
        level = a.state == AlertState::kNormal ? Level::kNone : a.level;
        value = a.value;
        threshold = a.threshold;
        if (a.state == AlertState::kPending) return;  // neither fires nor clears
        break;
      case NoData::kOk:
        level = Level::kNone;
        break;
      case NoData::kAlerting:
        level = Level::kCritical;
        value = std::numeric_limits<double>::quiet_NaN();
        threshold = rule.critical ? *rule.critical : *rule.warning;
        break;
    }
  }

  switch (a.state) {
    case AlertState::kNormal:
      if (level == Level::kNone) return;
      a.alert_id = next_alert_id_++;
      a.since_us = now_us;
      a.last_notified_us = 0;
      e->notified_level = Level::kNone;
      e->resolve_held = false;  // a new episode supersedes a resolve still muted
      a.level = level;
      a.value = value;
      a.threshold = threshold;
      if (rule.for_s > 0) {
        a.state = AlertState::kPending;
        return;
      }
      a.state = AlertState::kFiring;
      break;
    case AlertState::kPending:
      a.value = value;
      if (level == Level::kNone) {
        a.state = AlertState::kNormal;
        a.level = Level::kNone;
        return;
      }
      a.level = level;
      a.threshold = threshold;
      if (now_us - a.since_us < rule.for_s * 1'000'000) return;
      a.state = AlertState::kFiring;
      break;
    case AlertState::kFiring:
      a.value = value;
      if (level == Level::kNone) {
        bool sent = e->notified_level != Level::kNone;
        bool notify = sent && rule.send_resolved && !muted;
        a.state = AlertState::kNormal;
        emit(AlertChange::Kind::kResolved, true, notify);
        if (sent && rule.send_resolved && muted) {
          e->resolve_held = true;
          e->held_resolve = a;
        }
        a.level = Level::kNone;
        e->notified_level = Level::kNone;
        return;
      }
      if (level != a.level) {
        a.level = level;
        a.threshold = threshold;
        bool notify = !muted;
        emit(AlertChange::Kind::kLevel, true, notify);
        if (notify) e->notified_level = level;
        return;
      }
      a.threshold = threshold;
      if (muted) return;
      if (e->notified_level != a.level) {  // held back by a mute until now
        emit(e->notified_level == Level::kNone ? AlertChange::Kind::kFiring
                                               : AlertChange::Kind::kLevel,
             false, true);
        e->notified_level = a.level;
      } else if (rule.repeat_minutes > 0 &&
                 now_us - a.last_notified_us >= rule.repeat_minutes * 60'000'000) {
        emit(AlertChange::Kind::kRepeat, false, true);
      }
      return;
  }
  // Became Firing at this tick (from Normal with for_s 0, or from Pending).
  emit(AlertChange::Kind::kFiring, true, !muted);
  if (!muted) e->notified_level = a.level;
}

void Evaluator::StepTracked(const AlertRule& rule, Entry* e, Level level, double value,
                            double threshold, bool has_data, bool muted, int64_t now_us,
                            std::vector<AlertChange>* changes) {
  // The fields a restart needs; value and muted are refreshed every tick and
  // would make every tick a write.
  auto key = [](const Entry& x) {
    const Alert& a = x.alert;
    return std::make_tuple(a.alert_id, a.state, a.level, a.since_us, a.last_notified_us,
                           x.notified_level, x.resolve_held);
  };
  auto before = key(*e);
  size_t emitted = changes->size();
  Step(rule, e, level, value, threshold, has_data, muted, now_us, changes);
  if (changes->size() != emitted || key(*e) != before) ++state_version_;
}

void Evaluator::Evaluate(const std::vector<AlertRule>& rules, const std::vector<Silence>& silences,
                         SignalSource* source, int64_t now_us,
                         std::vector<AlertChange>* changes) {
  source->BeginTick(now_us, rules);
  std::unordered_set<uint64_t> live_rules;
  live_rules.reserve(rules.size());
  for (const AlertRule& rule : rules) {
    if (!rule.enabled) continue;
    live_rules.insert(rule.id);
    RuleAlerts& alerts = alerts_[rule.id];
    for (auto& [scope, e] : alerts) e.seen = false;
    bool quiet = InQuietHours(rule.quiet, now_us);

    samples_.clear();
    source->Read(rule, now_us, &samples_);
    base_.clear();
    if (rule.baseline != Baseline::kNone) {
      int64_t back = rule.baseline == Baseline::kYesterday ? kDayUs : 7 * kDayUs;
      source->Read(rule, now_us - back, &base_);
    }

    for (const ScopeSample& s : samples_) {
      double value = s.value;
      bool quiet_volume = VolumeSignal(rule.signal) && s.volume < rule.min_volume;
      if (rule.baseline != Baseline::kNone && !quiet_volume) {
        auto b = std::find_if(base_.begin(), base_.end(),
                              [&](const ScopeSample& x) { return x.scope == s.scope; });
        // Nothing to compare with (no calls or a zero a period ago): normal.
        quiet_volume = b == base_.end() || !(b->value > 0);
        if (!quiet_volume) value = s.value / b->value;
      }
      double threshold = 0;
      Level level = quiet_volume ? Level::kNone : LevelOf(rule, value, &threshold);
      auto it = alerts.find(s.scope);
      if (it == alerts.end()) {
        if (level == Level::kNone) continue;  // Normal stays implicit
        it = alerts.emplace(s.scope, Entry{}).first;
        it->second.alert.rule_id = rule.id;
        it->second.alert.project = rule.project;
        it->second.alert.scope = s.scope;
      }
      it->second.seen = true;
      bool muted = quiet || Silenced(silences, rule, s.scope, now_us);
      StepTracked(rule, &it->second, level, value, threshold, true, muted, now_us, changes);
    }

    // A fixed scope that should alert without data has no entry yet.
    if (rule.no_data == NoData::kAlerting && FixedScope(rule)) {
      ScopeKey scope = RuleScope(rule);
      if (!alerts.count(scope)) {
        bool had = std::any_of(samples_.begin(), samples_.end(),
                               [&](const ScopeSample& x) { return x.scope == scope; });
        if (!had) {
          Entry& e = alerts[scope];
          e.alert.rule_id = rule.id;
          e.alert.project = rule.project;
          e.alert.scope = scope;
        }
      }
    }
    for (auto it = alerts.begin(); it != alerts.end();) {
      Entry& e = it->second;
      if (!e.seen) {
        bool muted = quiet || Silenced(silences, rule, it->first, now_us);
        StepTracked(rule, &e, Level::kNone, 0, 0, false, muted, now_us, changes);
      }
      if (e.alert.state == AlertState::kNormal && !e.resolve_held) {
        it = alerts.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto it = alerts_.begin(); it != alerts_.end();) {
    if (live_rules.count(it->first) && !it->second.empty()) {
      ++it;
      continue;
    }
    if (!it->second.empty()) ++state_version_;  // a disabled or deleted rule's alerts
    it = alerts_.erase(it);
  }
}

std::vector<Alert> Evaluator::Current() const {
  std::vector<Alert> out;
  for (const auto& [id, m] : alerts_) {
    for (const auto& [scope, e] : m) {
      if (e.alert.state != AlertState::kNormal) out.push_back(e.alert);
    }
  }
  std::sort(out.begin(), out.end(), [](const Alert& a, const Alert& b) {
    return std::tie(a.rule_id, a.scope.service, a.scope.instance, a.scope.endpoint) <
           std::tie(b.rule_id, b.scope.service, b.scope.instance, b.scope.endpoint);
  });
  return out;
}

void Evaluator::Forget(uint64_t rule_id) {
  if (alerts_.erase(rule_id) > 0) ++state_version_;
}

std::vector<HeldAlert> Evaluator::Held() const {
  std::vector<HeldAlert> out;
  for (const auto& [id, m] : alerts_) {
    for (const auto& [scope, e] : m) out.push_back(e);
  }
  std::sort(out.begin(), out.end(), [](const HeldAlert& a, const HeldAlert& b) {
    const Alert& x = a.alert;
    const Alert& y = b.alert;
    return std::tie(x.rule_id, x.scope.service, x.scope.instance, x.scope.endpoint) <
           std::tie(y.rule_id, y.scope.service, y.scope.instance, y.scope.endpoint);
  });
  return out;
}

void Evaluator::Restore(const std::vector<HeldAlert>& held) {
  alerts_.clear();
  for (const HeldAlert& h : held) {
    Entry e;
    static_cast<HeldAlert&>(e) = h;
    alerts_[h.alert.rule_id][h.alert.scope] = std::move(e);
    next_alert_id_ = std::max(next_alert_id_, h.alert.alert_id + 1);
  }
  ++state_version_;
}

std::vector<AlertChange> Backtest(const AlertRule& rule, SignalSource* source, int64_t from_us,
                                  int64_t to_us, int64_t step_us) {
  Evaluator ev;
  std::vector<AlertRule> rules{rule};
  rules[0].enabled = true;
  std::vector<AlertChange> changes;
  // Every step from from_us, and a last one at to_us itself: "the last
  // hour" includes what arrived in its final seconds.
  const int64_t step = std::max<int64_t>(step_us, 1'000'000);
  for (int64_t t = from_us; t <= to_us; t = t < to_us && t + step > to_us ? to_us : t + step) {
    ev.Evaluate(rules, {}, source, t, &changes);
  }
  return changes;
}

}  // namespace loupe::alert
