#include "alert/alert_service.h"

#include <time.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <unordered_map>
#include <utility>

#include "alert/alert_state.h"
#include "common/logging.h"
#include "model/event.h"

namespace loupe::alert {
namespace {

int64_t ThreadCpuMicros() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1'000'000 + ts.tv_nsec / 1000;
}

std::string Number(double v) {
  if (std::isnan(v)) return "no data";
  char buf[32];
  if (std::fabs(v) >= 100 || v == std::floor(v)) {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  } else {
    std::snprintf(buf, sizeof(buf), "%.2f", v);
  }
  return buf;
}

// A change of what a rule watches starts its alerts afresh; a change of its
// name, thresholds, channels or policies keeps them.
bool SameTarget(const AlertRule& a, const AlertRule& b) {
  return a.service == b.service && a.instance == b.instance && a.endpoint == b.endpoint &&
         a.signal == b.signal && a.event_type == b.event_type && a.band == b.band &&
         a.window_s == b.window_s && a.baseline == b.baseline && a.comparison == b.comparison;
}

// '%'-encodes s for a URL query value.
std::string QueryEscape(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

std::string AlertLink(std::string_view project, const AlertRule& rule, const ScopeKey& scope,
                      int64_t since_us, int64_t until_us) {
  constexpr int64_t kSec = 1'000'000;
  int64_t from = since_us - rule.window_s * kSec - 5 * 60 * kSec;
  int64_t to = until_us + 60 * kSec;
  std::string link = "/#/xview?project=" + QueryEscape(project);
  if (!scope.service.empty()) link += "&service=" + QueryEscape(scope.service);
  if (!scope.instance.empty()) link += "&instance=" + QueryEscape(scope.instance);
  if (!scope.endpoint.empty()) link += "&endpoint=" + QueryEscape(scope.endpoint);
  link += "&from=" + std::to_string(from / 1000);
  link += "&to=" + std::to_string(to / 1000);
  if (rule.signal == Signal::kErrorRate || rule.signal == Signal::kErrorCount) link += "&error=1";
  return link;
}

std::string AlertText(const AlertRule& rule, const AlertChange& c) {
  std::string s = rule.name;
  s += " · ";
  s += SignalName(rule.signal);
  if (rule.baseline != Baseline::kNone) s += " ratio";
  s += " ";
  s += Number(c.alert.value);
  if (c.kind == AlertChange::Kind::kResolved) {
    s += " (resolved)";
  } else {
    s += rule.comparison == Comparison::kAbove ? " ≥ " : " ≤ ";
    s += Number(c.alert.threshold);
    s += " (";
    s += LevelName(c.alert.level);
    s += ")";
  }
  const ScopeKey& k = c.alert.scope;
  if (!k.service.empty()) {
    s += " · " + k.service;
    if (!k.instance.empty()) s += " " + k.instance;
    if (!k.endpoint.empty()) s += " " + k.endpoint;
  }
  return s;
}

AlertService::AlertService(AlertConfig* config, SourceFactory sources, live::EventLog* events,
                           AlertSink* sink, Clock* clock, AlertServiceOptions options)
    : config_(config),
      sources_(std::move(sources)),
      events_(events),
      sink_(sink),
      clock_(clock),
      options_(options),
      source_(sources_()),
      env_(options.env != nullptr ? options.env : Env::Default()) {
  LoadState();
}

void AlertService::LoadState() {
  const std::string& path = options_.state_path;
  if (path.empty() || !env_->FileExists(path)) return;
  Result<std::string> bytes = ReadFileToString(env_, path);
  Result<AlertStateData> state =
      bytes.ok() ? DecodeAlertState(*bytes) : Result<AlertStateData>(bytes.status());
  if (!state.ok()) {
    // Alerts matter less than starting: begin empty (a still-breached rule
    // fires again under a new id) and keep the bad file for a post-mortem.
    Status moved = env_->RenameFile(path, path + ".bad");
    LogError("alert state " + path + ": " + state.status().ToString() + "; starting without it (" +
             (moved.ok() ? "moved to " + path + ".bad" : "not moved: " + moved.message()) + ")");
    return;
  }
  evaluator_.Restore(state->held);
  evaluator_.set_next_alert_id(std::max(evaluator_.next_alert_id(), state->next_alert_id));
  saved_state_version_ = evaluator_.state_version();
  std::map<uint32_t, std::vector<Alert>> current;
  for (Alert& a : evaluator_.Current()) current[a.project].push_back(std::move(a));
  std::lock_guard<std::mutex> l(mu_);
  history_ = std::move(state->history);
  for (auto& [project, h] : history_) {
    while (h.size() > options_.history_per_project) h.pop_front();
  }
  current_ = std::move(current);
}

void AlertService::SaveState() {
  if (options_.state_path.empty()) return;
  AlertStateData state;
  std::string bytes;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!history_dirty_ && evaluator_.state_version() == saved_state_version_) return;
    state.next_alert_id = evaluator_.next_alert_id();
    state.held = evaluator_.Held();
    state.history = history_;
    history_dirty_ = false;
  }
  const uint64_t version = evaluator_.state_version();
  EncodeAlertState(state, &bytes);
  Status st = WriteFileAtomically(env_, options_.state_path, bytes);
  std::lock_guard<std::mutex> l(mu_);
  if (!st.ok()) {
    history_dirty_ = true;  // try again next tick
    if (stats_.state_write_errors++ % 100 == 0) {
      LogWarning("alert state: " + st.ToString() + " (retried every tick)");
    }
    return;
  }
  saved_state_version_ = version;
  ++stats_.state_writes;
}

AlertService::~AlertService() { Stop(); }

void AlertService::Start() {
  std::lock_guard<std::mutex> l(run_mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void AlertService::Stop() {
  {
    std::lock_guard<std::mutex> l(run_mu_);
    stop_ = true;
  }
  run_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void AlertService::Run() {
  std::unique_lock<std::mutex> l(run_mu_);
  while (!stop_) {
    l.unlock();
    Tick();
    l.lock();
    run_cv_.wait_for(l, std::chrono::microseconds(options_.tick_us), [&] { return stop_; });
  }
}

void AlertService::Tick() {
  std::lock_guard<std::mutex> tick(tick_mu_);
  int64_t cpu0 = ThreadCpuMicros();
  int64_t now = clock_->NowMicros();
  uint64_t version = config_->rules_version();
  if (version != rules_version_) {
    std::vector<AlertRule> fresh = config_->AllRules();
    std::unordered_map<uint64_t, const AlertRule*> by_id;
    for (const AlertRule& r : fresh) by_id[r.id] = &r;
    for (const AlertRule& old : rules_) {
      auto it = by_id.find(old.id);
      if (it == by_id.end() || !SameTarget(old, *it->second)) evaluator_.Forget(old.id);
    }
    rules_ = std::move(fresh);
    rules_version_ = version;
  }
  std::vector<Silence> silences = config_->AllSilences();
  std::vector<AlertChange> changes;
  evaluator_.Evaluate(rules_, silences, source_.get(), now, &changes);
  Record(changes, rules_);
  // After Record: the tick's notifications are queued durably before the
  // state says they were sent, so a crash in between repeats a message
  // (receivers de-duplicate) rather than losing one.
  SaveState();

  std::map<uint32_t, std::vector<Alert>> current;
  uint64_t firing = 0;
  for (Alert& a : evaluator_.Current()) {
    firing += a.state == AlertState::kFiring;
    current[a.project].push_back(std::move(a));
  }
  uint64_t enabled = std::count_if(rules_.begin(), rules_.end(),
                                   [](const AlertRule& r) { return r.enabled; });
  int64_t cpu = ThreadCpuMicros() - cpu0;
  std::lock_guard<std::mutex> l(mu_);
  current_ = std::move(current);
  ++stats_.ticks;
  stats_.evaluation_cpu_us += static_cast<uint64_t>(std::max<int64_t>(cpu, 0));
  stats_.last_tick_cpu_us = static_cast<uint64_t>(std::max<int64_t>(cpu, 0));
  stats_.rules = enabled;
  stats_.firing = firing;
}

void AlertService::Record(const std::vector<AlertChange>& changes,
                          const std::vector<AlertRule>& rules) {
  if (changes.empty()) return;
  std::unordered_map<uint64_t, const AlertRule*> by_id;
  for (const AlertRule& r : rules) by_id[r.id] = &r;
  std::map<uint64_t, AlertNotice> notices;  // by rule, in rule order
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const AlertChange& c : changes) {
      if (!c.state_changed) continue;
      auto& h = history_[c.alert.project];
      h.push_back(c);
      while (h.size() > options_.history_per_project) h.pop_front();
      history_dirty_ = true;
    }
  }
  for (const AlertChange& c : changes) {
    auto rule = by_id.find(c.alert.rule_id);
    if (rule == by_id.end()) continue;
    if (c.state_changed && events_ != nullptr) {
      model::Event e;
      e.time_us = c.at_us;
      e.type = model::kEventAlert;
      e.level = c.kind == AlertChange::Kind::kResolved ? model::kLevelNormal
                : c.alert.level == Level::kCritical   ? model::kLevelFatal
                                                      : model::kLevelWarning;
      e.message = AlertText(*rule->second, c);
      e.service = c.alert.scope.service;
      e.instance = c.alert.scope.instance;
      e.endpoint = c.alert.scope.endpoint;
      events_->Append(c.alert.project, e);
    }
    if (c.notify && sink_ != nullptr && !rule->second->channels.empty()) {
      AlertNotice& n = notices[c.alert.rule_id];
      n.rule = *rule->second;
      n.changes.push_back(c);
    }
  }
  for (auto& [id, n] : notices) {
    sink_->Notify(n);
    std::lock_guard<std::mutex> l(mu_);
    ++stats_.notices;
  }
}

std::vector<Alert> AlertService::Current(uint32_t project) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = current_.find(project);
  return it == current_.end() ? std::vector<Alert>{} : it->second;
}

std::vector<AlertChange> AlertService::History(uint32_t project, int64_t from_us, int64_t to_us,
                                               size_t limit) const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<AlertChange> out;
  auto it = history_.find(project);
  if (it == history_.end()) return out;
  for (auto c = it->second.rbegin(); c != it->second.rend() && out.size() < limit; ++c) {
    if (c->at_us >= from_us && c->at_us < to_us) out.push_back(*c);
  }
  return out;
}

std::vector<AlertChange> AlertService::Test(const AlertRule& rule, int64_t from_us,
                                            int64_t to_us, int64_t step_us) const {
  std::unique_ptr<SignalSource> source = sources_();
  return Backtest(rule, source.get(), from_us, to_us, step_us);
}

void AlertService::RegisterMetrics(MetricsRegistry* m) {
  auto one = [this](auto field) {
    return [this, field]() -> std::vector<std::pair<Labels, double>> {
      return {{{}, field(stats())}};
    };
  };
  m->AddCallback("loupe_alert_rules", "Enabled alert rules (all projects).",
                 one([](const Stats& s) { return static_cast<double>(s.rules); }));
  m->AddCallback("loupe_alerts_firing", "Alerts firing now (all projects).",
                 one([](const Stats& s) { return static_cast<double>(s.firing); }));
  m->AddCounterCallback("loupe_alert_evaluations_total", "Alert evaluation ticks.",
                        one([](const Stats& s) { return static_cast<double>(s.ticks); }));
  m->AddCounterCallback(
      "loupe_alert_evaluation_cpu_seconds_total", "CPU time spent evaluating alert rules.",
      one([](const Stats& s) { return static_cast<double>(s.evaluation_cpu_us) / 1e6; }));
  m->AddCounterCallback(
      "loupe_alert_config_refused_total",
      "Alert rules, channels or silences refused because the project was at its cap.",
      [this]() -> std::vector<std::pair<Labels, double>> {
        return {{{}, static_cast<double>(config_->refused_over_cap())}};
      });
  m->AddCounterCallback("loupe_alert_notices_total",
                        "Alert notices handed to notifications (one per rule and tick).",
                        one([](const Stats& s) { return static_cast<double>(s.notices); }));
}

AlertService::Stats AlertService::stats() const {
  std::lock_guard<std::mutex> l(mu_);
  return stats_;
}

}  // namespace loupe::alert
