// AlertNotifier: the bridge from alerts to notifications (docs/design/alerts.md).
//
// - As the AlertService's sink it turns a notice (the alerts of one rule that
//   changed in one tick) into one notify::Notification listing them (title,
//   value against threshold, scope, since, the dashboard link under
//   --external-url, Alertmanager labels; more than 100 alerts are cut into
//   messages of 100) and queues it durably on each of the rule's enabled
//   channels. Ids are stable: per alert transition (a repeat shares its
//   firing's id), and for a group a hash of its members' ids, so receivers
//   de-duplicate what at-least-once delivery sends twice.
// - It keeps the Notifier's channels in step with AlertConfig's (added,
//   changed, deleted through the API) before each use.
// - It answers the API's channel test (one synchronous attempt, not queued)
//   and delivery log.
//
// Thread-safety: all methods are thread-safe (the evaluation thread notifies
// while API threads test and read logs).
#ifndef LOUPE_SERVER_ALERT_NOTIFY_H_
#define LOUPE_SERVER_ALERT_NOTIFY_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "alert/alert_config.h"
#include "alert/alert_service.h"
#include "api/api.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "model/project.h"
#include "notify/notifier.h"

namespace loupe::server {

class AlertNotifier final : public alert::AlertSink {
 public:
  using ProjectName = std::function<std::string(model::ProjectId)>;

  // All pointers must outlive this object. external_url: the dashboard's
  // base ("http://127.0.0.1:7070"), no trailing slash.
  AlertNotifier(notify::Notifier* notifier, alert::AlertConfig* config, ProjectName project_name,
                std::string external_url, Clock* clock);

  void Notify(const alert::AlertNotice& notice) override;

  // Sends a test message to the channel now, once (at most timeout_ms, then
  // "failed"), and returns the attempt. Never queued, never retried; the
  // attempt is in the channel's delivery log.
  api::ChannelAttempt Test(const alert::Channel& channel, int64_t timeout_ms = 10'000);

  // The channel's delivery log, newest first.
  std::vector<api::ChannelAttempt> Deliveries(const alert::Channel& channel, size_t limit);

  // Mirrors AlertConfig's channels into the Notifier (idempotent).
  void Sync();

  // Adds to /metrics, summed over channels (read at scrape time):
  // loupe_notify_deliveries_total{result="delivered"|"retry"|"failed"|
  // "expired"|"dropped"} and loupe_notify_pending. Deleted channels' counts
  // stay in the totals. This object must outlive the registry's last Render().
  void RegisterMetrics(MetricsRegistry* metrics);

  // notify's id of an AlertConfig channel ("c12").
  static std::string ChannelId(uint64_t id) { return "c" + std::to_string(id); }

 private:
  notify::Notification Build(const alert::AlertRule& rule, const alert::AlertChange& change) const;
  // One notification for `members` (one: itself), at now_us.
  notify::Notification Group(const alert::AlertRule& rule,
                             const std::vector<notify::Notification>& members,
                             int64_t now_us) const;
  void Remember(const std::string& notification_id, uint64_t alert_id, std::string kind);

  notify::Notifier* const notifier_;
  alert::AlertConfig* const config_;
  const ProjectName project_name_;
  const std::string external_url_;
  Clock* const clock_;

  std::mutex mu_;
  std::map<uint64_t, alert::Channel> synced_;  // what the Notifier has, by channel id
  std::map<uint64_t, std::string> refused_;    // why SetChannel refused a channel
  notify::ChannelStats retired_;               // counts of channels removed since start
  // notification id → (alert id, kind) for the delivery log; bounded FIFO.
  std::map<std::string, std::pair<uint64_t, std::string>> sent_;
  std::deque<std::string> sent_order_;
};

}  // namespace loupe::server

#endif  // LOUPE_SERVER_ALERT_NOTIFY_H_
