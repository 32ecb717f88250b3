// Notifier: delivers notifications to channels (Slack incoming webhooks,
// e-mail over SMTP, Alertmanager-compatible webhooks) through one durable
// queue and one worker thread per channel. Design, limits and defaults:
// docs/design/notify.md.
//
// Enqueue returns once the notification is durable in the channel's queue
// (DeliveryQueue: survives kill -9); it never waits for the network. Each
// channel's worker takes the oldest entry, renders it, makes one attempt and
//  - delivered: removes it;
//  - retryable (connection error, timeout, 408, 429, 5xx, SMTP 4xx): waits
//    and tries the same entry again — the receiver's Retry-After when given
//    (capped by max_retry_after_ms), else exponential back-off from
//    initial_backoff_ms doubling to max_backoff_ms with jitter (a random
//    delay between half and all of the step);
//  - failed for good (other 3xx/4xx, SMTP 5xx, refused target): removes it.
// An entry older than max_age_ms is dropped unattempted ("expired"). A slow
// or dead receiver holds up only its own channel. Every attempt (and every
// drop) is appended to the channel's bounded delivery log (last
// delivery_log_size records, in memory; the API shows it).
//
// Delivery is at least once: a crash after a delivery and before its 'done'
// record delivers it again after restart, with the same notification id
// (webhooks: "notificationId" field and Idempotency-Key header; e-mail:
// Message-ID; Slack: shown in the message).
//
// Secrets: channel URLs and the SMTP password never reach the log, the
// delivery log or error messages; targets appear as RedactUrl(url).
//
// Thread-safety: all methods are thread-safe. The destructor stops the
// workers (an attempt in flight is cancelled) and leaves pending entries
// queued for the next Open.
#ifndef LOUPE_NOTIFY_NOTIFIER_H_
#define LOUPE_NOTIFY_NOTIFIER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/env.h"
#include "common/status.h"
#include "notify/notification.h"
#include "notify/target_guard.h"
#include "notify/transport.h"

namespace loupe::notify {

enum class ChannelType { kSlack, kWebhook, kEmail };

struct ChannelConfig {
  // [A-Za-z0-9_-], 1 to 64 characters; names the queue directory, so keep it
  // stable for the life of the channel.
  std::string id;
  std::string name;  // shown to receivers (webhook "receiver")
  ChannelType type = ChannelType::kWebhook;
  std::string url;                     // kSlack, kWebhook: http(s) URL (a secret)
  std::vector<std::string> addresses;  // kEmail: recipients (1 to 50)
};

struct NotifierOptions {
  Env* env = Env::Default();     // not owned
  Clock* clock = Clock::Real();  // wall time for enqueue times, ages and the log; not owned
  std::string dir;               // queues live in dir/<channel id>/
  bool sync = true;              // fsync queue records (false only in tests)

  std::vector<std::string> allow_hosts;  // --notify-allow-hosts (see TargetGuard)
  SmtpOptions smtp;                      // e-mail channels need smtp.host and smtp.from
  std::string external_url;              // Loupe's base URL, for webhook "externalURL"
  Timeouts timeouts;                     // per attempt

  size_t max_queue = 10'000;  // pending per channel; full: drop oldest
  int64_t initial_backoff_ms = 1'000;
  int64_t max_backoff_ms = 300'000;        // 5 min
  int64_t max_retry_after_ms = 3'600'000;  // a receiver's Retry-After is capped at 1 h
  int64_t max_age_ms = 86'400'000;         // undelivered after 24 h: dropped
  size_t delivery_log_size = 500;          // records kept per channel
};

// One attempt or drop, as the delivery log shows it.
struct DeliveryRecord {
  int64_t time_ms = 0;  // when the attempt ended (wall clock)
  std::string channel_id;
  std::string notification_id;
  // "delivered", "retry" (failed, will retry), "failed" (given up: permanent
  // error), "expired" (older than max_age_ms), "dropped" (queue full).
  std::string result;
  int attempt = 0;  // 1 for the first attempt of this entry in this process
  int code = 0;     // HTTP status or SMTP reply; 0: none
  int64_t latency_ms = 0;
  int64_t retry_in_ms = 0;  // result "retry": the wait before the next attempt
  std::string target;       // redacted URL or "smtp://host:port"
  std::string error;        // redacted; empty when delivered
};

struct ChannelStats {
  uint64_t enqueued = 0;
  uint64_t attempts = 0;
  uint64_t delivered = 0;
  uint64_t retries = 0;  // attempts that ended in "retry"
  uint64_t failed = 0;   // given up after a permanent error
  uint64_t expired = 0;
  uint64_t dropped_overflow = 0;  // oldest dropped because the queue was full
  uint64_t pending = 0;
  uint64_t replayed = 0;  // pending entries found in the queue at SetChannel
};

class Notifier {
 public:
  // Validates options (allow-list, SMTP from address), creates dir.
  static Result<std::unique_ptr<Notifier>> Open(const NotifierOptions& options);

  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Adds a channel (opening and replaying its queue: pending notifications
  // from before a restart are delivered) or updates one (new target used
  // from the next attempt; a waiting retry is attempted at once).
  // kInvalidArgument naming the field: bad id, URL, address, or e-mail
  // without SMTP configuration. The URL is checked for form here; the
  // allow-list is applied at each attempt (a refused target fails then).
  Status SetChannel(const ChannelConfig& config);

  // Stops the channel's worker. With discard_queue the files of its queue are
  // deleted (the empty directory stays); otherwise they stay for a later
  // SetChannel. kNotFound if unknown.
  Status RemoveChannel(std::string_view id, bool discard_queue);

  // Queues n for the channel durably. kNotFound: no such channel.
  // kInvalidArgument: n.id empty or not [A-Za-z0-9._-]{1,128}, or n encodes
  // to more than kMaxNotificationBytes (delivery_queue.h).
  // kResourceExhausted / kIoError: the queue could not be written (n is not
  // queued). A full queue drops its oldest entry (counted, logged) instead.
  Status Enqueue(std::string_view channel_id, const Notification& n);

  // Delivers n to the channel now, once, bypassing its queue: one attempt
  // that takes at most timeout_ms (capped by options.timeouts), never
  // retried and never queued (a channel's test message). Blocks the caller
  // for the attempt; runs beside the channel's worker. The attempt is in the
  // delivery log and the stats like any, with result "delivered" or
  // "failed" (a retryable error too: nothing will retry it). kNotFound: no
  // such channel; kInvalidArgument: a bad n.id.
  Result<DeliveryRecord> SendNow(std::string_view channel_id, const Notification& n,
                                 int64_t timeout_ms);

  // The channel's delivery log, newest first, at most `limit` records.
  // Empty for an unknown channel.
  std::vector<DeliveryRecord> DeliveryLog(std::string_view channel_id, size_t limit) const;

  Result<ChannelStats> Stats(std::string_view channel_id) const;

  // The guard built from options.allow_hosts (for the API's validation).
  const TargetGuard& guard() const { return guard_; }

 private:
  struct Channel;

  explicit Notifier(const NotifierOptions& options);
  void Run(Channel* ch);
  // One attempt of n on the channel as configured in cfg; fills rec's target,
  // code, error, latency and time. `cancel` aborts it.
  AttemptOutcome Attempt(const ChannelConfig& cfg, const Notification& n, const Timeouts& timeouts,
                         std::atomic<bool>* cancel, DeliveryRecord* rec);
  // Appends to the channel's delivery log and counts rec.result in its stats.
  void Record(Channel* ch, DeliveryRecord rec);

  const NotifierOptions options_;
  TargetGuard guard_;

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Channel>, std::less<>> channels_;  // GUARDED_BY(mu_)
};

}  // namespace loupe::notify

#endif  // LOUPE_NOTIFY_NOTIFIER_H_
