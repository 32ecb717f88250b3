#include "server/alert_notify.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "common/logging.h"

namespace loupe::server {
namespace {

constexpr size_t kSentRemembered = 10'000;
constexpr size_t kGroupMax = 100;

std::string_view UnitOf(alert::Signal s, bool baseline) {
  if (baseline) return "×";
  switch (s) {
    case alert::Signal::kErrorRate: return "%";
    case alert::Signal::kResponseTime:
    case alert::Signal::kP95:
    case alert::Signal::kP99: return "ms";
    case alert::Signal::kTps: return "tps";
    case alert::Signal::kInstanceDown: return "s";
    default: return "";
  }
}

std::string ScopeText(const alert::ScopeKey& k) {
  if (k.service.empty()) return "the whole project";
  if (!k.endpoint.empty()) return "endpoint " + k.endpoint + " of " + k.service;
  if (!k.instance.empty()) return "instance " + k.instance + " of " + k.service;
  return "service " + k.service;
}

notify::ChannelConfig ConfigOf(const alert::Channel& c) {
  notify::ChannelConfig n;
  n.id = AlertNotifier::ChannelId(c.id);
  n.name = c.name;
  n.type = c.type == alert::ChannelType::kEmail   ? notify::ChannelType::kEmail
           : c.type == alert::ChannelType::kSlack ? notify::ChannelType::kSlack
                                                  : notify::ChannelType::kWebhook;
  n.url = c.url;
  n.addresses = c.addresses;
  return n;
}

api::ChannelAttempt AttemptOf(const notify::DeliveryRecord& r) {
  api::ChannelAttempt a;
  a.at_us = r.time_ms * 1000;
  a.result = r.result;
  a.ok = r.result == "delivered";
  a.status = r.code;
  a.latency_ms = static_cast<double>(r.latency_ms);
  a.error = r.error;
  a.attempt = r.attempt;
  return a;
}

}  // namespace

AlertNotifier::AlertNotifier(notify::Notifier* notifier, alert::AlertConfig* config,
                             ProjectName project_name, std::string external_url, Clock* clock)
    : notifier_(notifier),
      config_(config),
      project_name_(std::move(project_name)),
      external_url_(std::move(external_url)),
      clock_(clock) {}

void AlertNotifier::Sync() {
  std::vector<alert::Channel> now = config_->AllChannels();
  std::lock_guard<std::mutex> l(mu_);
  std::map<uint64_t, alert::Channel> wanted;
  for (alert::Channel& c : now) wanted.emplace(c.id, std::move(c));
  for (auto it = synced_.begin(); it != synced_.end();) {
    if (wanted.count(it->first)) {
      ++it;
      continue;
    }
    // Deleted through the API: its queue goes too, its counts into retired_.
    if (auto st = notifier_->Stats(ChannelId(it->first)); st.ok()) {
      retired_.delivered += st->delivered;
      retired_.retries += st->retries;
      retired_.failed += st->failed;
      retired_.expired += st->expired;
      retired_.dropped_overflow += st->dropped_overflow;
    }
    Status s = notifier_->RemoveChannel(ChannelId(it->first), /*discard_queue=*/true);
    if (!s.ok() && s.code() != Status::Code::kNotFound) {
      LogWarning("notifications: removing channel " + ChannelId(it->first) + ": " + s.message());
    }
    it = synced_.erase(it);
  }
  for (auto& [id, c] : wanted) {
    auto it = synced_.find(id);
    if (it != synced_.end() && it->second == c) continue;
    Status s = notifier_->SetChannel(ConfigOf(c));
    if (!s.ok() && refused_[id] == s.message()) continue;  // logged already
    if (!s.ok()) {
      refused_[id] = s.message();
      // The message names the field, never the URL (notify redacts).
      LogWarning("notifications: channel " + ChannelId(id) + " (" + c.name + "): " + s.message());
      continue;
    }
    refused_.erase(id);
    synced_[id] = c;
  }
}

void AlertNotifier::Remember(const std::string& notification_id, uint64_t alert_id,
                             std::string kind) {
  std::lock_guard<std::mutex> l(mu_);
  if (sent_.emplace(notification_id, std::make_pair(alert_id, std::move(kind))).second) {
    sent_order_.push_back(notification_id);
    if (sent_order_.size() > kSentRemembered) {
      sent_.erase(sent_order_.front());
      sent_order_.pop_front();
    }
  }
}

notify::Notification AlertNotifier::Build(const alert::AlertRule& rule,
                                          const alert::AlertChange& c) const {
  const alert::Alert& a = c.alert;
  notify::Notification n;
  const bool resolved = c.kind == alert::AlertChange::Kind::kResolved;
  n.state = resolved ? notify::AlertState::kResolved : notify::AlertState::kFiring;
  // One id per transition: a repeat and a held firing share the firing's id
  // (since_us); a level change and a resolve are transitions of their own.
  int64_t at_ms = (c.kind == alert::AlertChange::Kind::kFiring ||
                   c.kind == alert::AlertChange::Kind::kRepeat)
                      ? a.since_us / 1000
                      : c.at_us / 1000;
  n.alert_id = std::to_string(a.alert_id);
  n.id = notify::MakeNotificationId(n.alert_id, n.state, at_ms);
  n.project = project_name_(a.project);
  n.rule_id = std::to_string(rule.id);
  n.rule_name = rule.name;
  n.level = a.level == alert::Level::kCritical ? "CRITICAL" : "WARNING";
  n.signal = std::string(alert::SignalName(rule.signal));
  n.value = std::isnan(a.value) ? 0 : a.value;
  n.threshold = a.threshold;
  n.unit = std::string(UnitOf(rule.signal, rule.baseline != alert::Baseline::kNone));
  n.scope = ScopeText(a.scope);
  n.since_ms = a.since_us / 1000;
  n.ends_ms = resolved ? c.at_us / 1000 : 0;
  n.link = external_url_ + alert::AlertLink(n.project, rule, a.scope, a.since_us, c.at_us);
  std::string value = std::isnan(a.value) ? "no data" : notify::FormatValue(a.value, n.unit);
  if (resolved) {
    n.title = rule.name + " resolved: " + n.signal + " " + value + " · " + n.scope;
  } else {
    n.title = rule.name + ": " + n.signal + " " + value +
              (rule.comparison == alert::Comparison::kAbove ? " ≥ " : " ≤ ") +
              notify::FormatValue(a.threshold, n.unit) + " (" +
              std::string(alert::LevelName(a.level)) + ") · " + n.scope;
  }
  n.labels = {{"alertname", rule.name}, {"severity", std::string(alert::LevelName(a.level))},
              {"project", n.project}};
  if (!a.scope.service.empty()) n.labels.emplace_back("service", a.scope.service);
  if (!a.scope.instance.empty()) n.labels.emplace_back("instance", a.scope.instance);
  if (!a.scope.endpoint.empty()) n.labels.emplace_back("endpoint", a.scope.endpoint);
  n.annotations = {{"summary", n.title}};
  return n;
}

notify::Notification AlertNotifier::Group(const alert::AlertRule& rule,
                                          const std::vector<notify::Notification>& members,
                                          int64_t now_us) const {
  if (members.size() == 1) return members[0];
  notify::Notification g = members[0];  // the flat fields describe the first alert
  std::vector<std::string> ids;
  size_t firing = 0;
  bool critical = false;
  int64_t since_ms = members[0].since_ms;
  for (const notify::Notification& m : members) {
    ids.push_back(m.id);
    g.alerts.push_back({m.alert_id, m.state, m.level, m.title, m.value, m.threshold, m.scope,
                        m.since_ms, m.ends_ms, m.link, m.labels, m.annotations});
    if (m.state == notify::AlertState::kFiring) {
      ++firing;
      critical |= m.level == "CRITICAL";
    }
    since_ms = std::min(since_ms, m.since_ms);
  }
  g.id = notify::MakeGroupNotificationId(ids);
  g.state = firing > 0 ? notify::AlertState::kFiring : notify::AlertState::kResolved;
  if (firing > 0) g.level = critical ? "CRITICAL" : "WARNING";
  g.title = rule.name + ": " + std::to_string(members.size()) + " alerts";
  if (firing > 0 && firing < members.size()) {
    g.title += " (" + std::to_string(firing) + " firing, " +
               std::to_string(members.size() - firing) + " resolved)";
  } else {
    g.title += firing > 0 ? " firing" : " resolved";
  }
  g.title += " · " + g.signal;
  // The link shows the rule's whole scope ("*" = every endpoint / instance)
  // from the earliest alert on.
  alert::ScopeKey scope{rule.service, rule.instance == "*" ? "" : rule.instance,
                        rule.endpoint == "*" ? "" : rule.endpoint};
  g.scope = ScopeText(scope);
  g.link = external_url_ + alert::AlertLink(g.project, rule, scope, since_ms * 1000, now_us);
  g.labels = {{"alertname", rule.name}, {"project", g.project}};
  if (!rule.service.empty()) g.labels.emplace_back("service", rule.service);
  g.annotations = {{"summary", g.title}};
  return g;
}

void AlertNotifier::Notify(const alert::AlertNotice& notice) {
  Sync();
  // One message per rule and tick; a burst larger than kGroupMax alerts
  // (thousands of endpoints at once) is cut into messages of kGroupMax so
  // each stays far under the queue's 256 KiB per notification.
  for (size_t begin = 0; begin < notice.changes.size(); begin += kGroupMax) {
    size_t end = std::min(notice.changes.size(), begin + kGroupMax);
    std::vector<notify::Notification> members;
    for (size_t i = begin; i < end; ++i) members.push_back(Build(notice.rule, notice.changes[i]));
    notify::Notification n = Group(notice.rule, members, notice.changes[begin].at_us);
    const alert::AlertChange& lead = notice.changes[begin];
    Remember(n.id, lead.alert.alert_id, std::string(alert::ChangeKindName(lead.kind)));
    for (uint64_t channel : notice.rule.channels) {
      {
        std::lock_guard<std::mutex> l(mu_);
        auto it = synced_.find(channel);
        if (it == synced_.end() || !it->second.enabled) continue;
      }
      Status s = notifier_->Enqueue(ChannelId(channel), n);
      if (!s.ok()) {
        LogWarning("notifications: queueing alert " + n.alert_id + " on channel " +
                   ChannelId(channel) + ": " + s.message());
      }
    }
  }
}

void AlertNotifier::RegisterMetrics(MetricsRegistry* m) {
  // Sums every channel's stats into one ChannelStats (pending included).
  auto total = [this] {
    std::lock_guard<std::mutex> l(mu_);
    notify::ChannelStats t = retired_;
    t.pending = 0;
    for (const auto& [id, c] : synced_) {
      auto st = notifier_->Stats(ChannelId(id));
      if (!st.ok()) continue;
      t.delivered += st->delivered;
      t.retries += st->retries;
      t.failed += st->failed;
      t.expired += st->expired;
      t.dropped_overflow += st->dropped_overflow;
      t.pending += st->pending;
    }
    return t;
  };
  m->AddCounterCallback(
      "loupe_notify_deliveries_total",
      "Notification delivery attempts and drops by result (all channels).",
      [total]() -> std::vector<std::pair<Labels, double>> {
        notify::ChannelStats t = total();
        auto row = [](const char* result, uint64_t v) {
          return std::pair<Labels, double>{{{"result", result}}, static_cast<double>(v)};
        };
        return {row("delivered", t.delivered), row("retry", t.retries), row("failed", t.failed),
                row("expired", t.expired), row("dropped", t.dropped_overflow)};
      });
  m->AddCallback("loupe_notify_pending", "Notifications queued, not yet delivered (all channels).",
                 [total]() -> std::vector<std::pair<Labels, double>> {
                   return {{{}, static_cast<double>(total().pending)}};
                 });
}

api::ChannelAttempt AlertNotifier::Test(const alert::Channel& channel, int64_t timeout_ms) {
  Sync();
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!synced_.count(channel.id)) {
      api::ChannelAttempt a;
      a.kind = "test";
      auto why = refused_.find(channel.id);
      a.error = why != refused_.end() ? why->second : "the channel could not be set up";
      return a;
    }
  }
  const int64_t now_us = clock_->NowMicros();
  notify::Notification n;
  n.id = "test-" + ChannelId(channel.id) + "-" + std::to_string(now_us);
  n.project = project_name_(channel.project);
  n.alert_id = "0";
  n.rule_id = "0";
  n.rule_name = "Loupe test message";
  n.level = "WARNING";
  n.title = "Test message from Loupe for channel " + channel.name;
  n.scope = "a test";
  n.since_ms = now_us / 1000;
  n.link = external_url_ + "/";
  n.labels = {{"alertname", "LoupeTest"}, {"severity", "warning"}, {"project", n.project}};
  n.annotations = {{"summary", n.title}};
  Remember(n.id, 0, "test");
  Result<notify::DeliveryRecord> r = notifier_->SendNow(ChannelId(channel.id), n, timeout_ms);
  if (!r.ok()) {
    api::ChannelAttempt a;
    a.kind = "test";
    a.at_us = now_us;
    a.error = r.status().message();
    return a;
  }
  api::ChannelAttempt a = AttemptOf(*r);
  a.kind = "test";
  return a;
}

std::vector<api::ChannelAttempt> AlertNotifier::Deliveries(const alert::Channel& channel,
                                                           size_t limit) {
  Sync();
  std::vector<api::ChannelAttempt> out;
  for (const notify::DeliveryRecord& r : notifier_->DeliveryLog(ChannelId(channel.id), limit)) {
    api::ChannelAttempt a = AttemptOf(r);
    std::lock_guard<std::mutex> l(mu_);
    auto it = sent_.find(r.notification_id);
    if (it != sent_.end()) {
      a.alert_id = it->second.first;
      a.kind = it->second.second;
    }
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace loupe::server
