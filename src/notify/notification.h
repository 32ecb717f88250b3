// Notification: one message about an alert, as the notify layer delivers it
// to a channel (Slack, e-mail, webhook). Design: docs/design/notify.md.
//
// A notification is a plain value. Its `id` is stable: the same alert
// transition always yields the same id (MakeNotificationId), and every retry
// and every re-delivery after a restart carries it, so receivers can
// de-duplicate (delivery is at least once). Encode/Decode give the bytes the
// durable queue stores.
// Thread-safety: plain values.
#ifndef LOUPE_NOTIFY_NOTIFICATION_H_
#define LOUPE_NOTIFY_NOTIFICATION_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace loupe::notify {

enum class AlertState : uint8_t { kFiring = 1, kResolved = 2 };

// "firing" / "resolved" (Alertmanager's words).
std::string_view AlertStateName(AlertState s) noexcept;

// Ordered name/value pairs; names are unique (the renderers keep the first).
using Pairs = std::vector<std::pair<std::string, std::string>>;

// One alert of a grouped notification (the per-alert part of Notification).
struct NotificationAlert {
  std::string alert_id;
  AlertState state = AlertState::kFiring;
  std::string level;
  std::string title;
  double value = 0;
  double threshold = 0;
  std::string scope;
  int64_t since_ms = 0;
  int64_t ends_ms = 0;
  std::string link;
  Pairs labels;
  Pairs annotations;
};

// A notification is about one rule. Its flat fields describe one alert (the
// first, when several); `alerts` lists every alert of a grouped notification
// (the alerts of one rule that changed in one evaluation tick), or is empty
// when the notification is about that one alert alone. `state` is then the
// group's: firing while any member fires; `level` the highest firing one.
struct Notification {
  std::string id;       // stable de-duplication key (MakeNotificationId)
  std::string project;  // project name
  std::string rule_id;
  std::string rule_name;
  std::string alert_id;
  AlertState state = AlertState::kFiring;
  std::string level;     // "WARNING" or "CRITICAL" (model::kLevel* words welcome)
  std::string title;     // one line: "Error rate of identity is 12.5 % (critical ≥ 10 %)"
  std::string signal;    // "error_rate", "p95", ...
  double value = 0;      // the signal's value that fired (or resolved)
  double threshold = 0;  // the level's threshold it was compared with
  std::string unit;      // "%", "ms", "tps", "" ...
  std::string scope;     // "service identity", "endpoint POST /pay of payment"
  int64_t since_ms = 0;  // when the alert started firing (Unix ms)
  int64_t ends_ms = 0;   // when it resolved; 0 while firing
  std::string link;      // dashboard view that shows it (absolute URL)
  Pairs labels;          // identifying: alertname, service, ... (webhook labels)
  Pairs annotations;     // descriptive: summary, description, runbook_url ...
  std::vector<NotificationAlert> alerts;  // grouped: every member, the first included
};

// The alerts a notification is about: its `alerts`, or one member made of its
// flat fields when that is empty.
std::vector<NotificationAlert> MembersOf(const Notification& n);

// The stable id of a grouped notification: a hex hash of its members' ids
// (each from MakeNotificationId), in order. One member: that member's id.
std::string MakeGroupNotificationId(const std::vector<std::string>& member_ids);

// The stable id of one alert transition: a hex hash of the alert id, the
// state and the time the state began (since_ms when firing, ends_ms when
// resolved). Retries and repeats of one transition share it.
std::string MakeNotificationId(std::string_view alert_id, AlertState state, int64_t at_ms);

// "12.5 %" / "830 ms" / "3": the value with up to 3 significant decimals and
// its unit, for message text.
std::string FormatValue(double v, std::string_view unit);

// Binary encoding for the durable queue (docs/design/notify.md, "Queue
// format"): version 2 (with members); Decode also reads version 1, what
// servers before grouping queued. Decode returns kCorruption on malformed
// input or an unknown version.
void EncodeNotification(const Notification& n, std::string* out);
Result<Notification> DecodeNotification(std::string_view in);

}  // namespace loupe::notify

#endif  // LOUPE_NOTIFY_NOTIFICATION_H_
