#include "notify/notifier.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <random>
#include <thread>

#include "common/logging.h"
#include "notify/delivery_queue.h"
#include "notify/render.h"

namespace loupe::notify {

struct Notifier::Channel {
  std::unique_ptr<DeliveryQueue> queue;
  std::string dir;
  std::atomic<bool> stop{false};

  std::mutex mu;
  std::condition_variable cv;
  ChannelConfig config;            // GUARDED_BY(mu)
  uint64_t generation = 0;         // GUARDED_BY(mu); bumped by SetChannel
  bool wake = false;               // GUARDED_BY(mu); an entry was pushed
  std::deque<DeliveryRecord> log;  // GUARDED_BY(mu); newest at the back
  ChannelStats stats;              // GUARDED_BY(mu)

  std::thread worker;
};

namespace {

bool ValidId(std::string_view id, size_t max, bool allow_dot) {
  if (id.empty() || id.size() > max) return false;
  return std::all_of(id.begin(), id.end(), [allow_dot](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || (allow_dot && c == '.');
  });
}

std::string SmtpTarget(const SmtpOptions& smtp) {
  return "smtp://" + smtp.host + ":" + std::to_string(smtp.port);
}

}  // namespace

Notifier::Notifier(const NotifierOptions& options) : options_(options) {}

Result<std::unique_ptr<Notifier>> Notifier::Open(const NotifierOptions& options) {
  InitCurlOnce();
  Result<TargetGuard> guard = TargetGuard::Create(options.allow_hosts);
  if (!guard.ok()) return guard.status();
  if (!options.smtp.host.empty()) {
    Status s = ValidateEmailAddress(options.smtp.from);
    if (!s.ok()) return s.Annotate("smtp from");
  }
  if (options.dir.empty()) return Status::InvalidArgument("notify: no queue directory");
  LOUPE_RETURN_IF_ERROR(options.env->CreateDir(options.dir).Annotate("notify"));
  std::unique_ptr<Notifier> n(new Notifier(options));
  n->guard_ = std::move(guard).value();
  return n;
}

Notifier::~Notifier() {
  std::map<std::string, std::shared_ptr<Channel>, std::less<>> channels;
  {
    std::lock_guard<std::mutex> l(mu_);
    channels.swap(channels_);
  }
  for (auto& [id, ch] : channels) {
    {
      std::lock_guard<std::mutex> l(ch->mu);
      ch->stop = true;
    }
    ch->cv.notify_all();
  }
  for (auto& [id, ch] : channels) {
    if (ch->worker.joinable()) ch->worker.join();
  }
}

Status Notifier::SetChannel(const ChannelConfig& config) {
  if (!ValidId(config.id, 64, false)) {
    return Status::InvalidArgument("id: 1 to 64 characters of [A-Za-z0-9_-]");
  }
  if (config.type == ChannelType::kEmail) {
    if (options_.smtp.host.empty()) {
      return Status::InvalidArgument("type: e-mail channels need an SMTP server (--smtp-host)");
    }
    if (config.addresses.empty() || config.addresses.size() > 50) {
      return Status::InvalidArgument("addresses: 1 to 50 recipients");
    }
    for (const auto& a : config.addresses) {
      Status s = ValidateEmailAddress(a);
      if (!s.ok()) return s.Annotate("addresses");
    }
  } else {
    LOUPE_RETURN_IF_ERROR(ValidateTargetUrl(config.url));
  }

  std::shared_ptr<Channel> ch;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = channels_.find(config.id);
    if (it != channels_.end()) ch = it->second;
  }
  if (ch) {
    {
      std::lock_guard<std::mutex> l(ch->mu);
      ch->config = config;
      ++ch->generation;
    }
    ch->cv.notify_all();
    return Status::OK();
  }

  auto fresh = std::make_shared<Channel>();
  fresh->dir = options_.dir + "/" + config.id;
  DeliveryQueueOptions qo;
  qo.env = options_.env;
  qo.dir = fresh->dir;
  qo.max_entries = options_.max_queue;
  qo.sync = options_.sync;
  Result<std::unique_ptr<DeliveryQueue>> q = DeliveryQueue::Open(qo);
  if (!q.ok()) return q.status().Annotate("channel " + config.id);
  fresh->queue = std::move(q).value();
  fresh->config = config;
  fresh->stats.replayed = fresh->queue->replay_stats().pending;
  fresh->stats.pending = fresh->queue->size();
  if (fresh->queue->replay_stats().undecodable > 0) {
    LogWarning("notify channel " + config.id + ": " +
               std::to_string(fresh->queue->replay_stats().undecodable) +
               " queued notifications could not be decoded and were skipped");
  }
  std::lock_guard<std::mutex> l(mu_);
  auto [it, inserted] = channels_.emplace(config.id, fresh);
  if (!inserted) {
    // A concurrent SetChannel of the same id won; it holds the queue lock,
    // so ours could not have opened — but be safe and update theirs instead.
    return Status::Unavailable("channel " + config.id + " is being added concurrently");
  }
  Channel* raw = fresh.get();
  fresh->worker = std::thread([this, raw] { Run(raw); });
  return Status::OK();
}

Status Notifier::RemoveChannel(std::string_view id, bool discard_queue) {
  std::shared_ptr<Channel> ch;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = channels_.find(id);
    if (it == channels_.end()) return Status::NotFound("channel " + std::string(id));
    ch = it->second;
    channels_.erase(it);
  }
  {
    std::lock_guard<std::mutex> l(ch->mu);
    ch->stop = true;
  }
  ch->cv.notify_all();
  if (ch->worker.joinable()) ch->worker.join();
  // Closed, not destroyed: a concurrent Enqueue or Stats may still hold ch.
  ch->queue->Close();
  if (!discard_queue) return Status::OK();
  Result<std::vector<std::string>> files = options_.env->GetChildren(ch->dir);
  if (!files.ok()) return files.status();
  for (const auto& f : *files) {
    LOUPE_RETURN_IF_ERROR(options_.env->DeleteFile(ch->dir + "/" + f));
  }
  return options_.env->SyncDir(ch->dir);
}

Status Notifier::Enqueue(std::string_view channel_id, const Notification& n) {
  if (!ValidId(n.id, 128, true)) {
    return Status::InvalidArgument("notification id: 1 to 128 characters of [A-Za-z0-9._-]");
  }
  std::shared_ptr<Channel> ch;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = channels_.find(channel_id);
    if (it == channels_.end()) return Status::NotFound("channel " + std::string(channel_id));
    ch = it->second;
  }
  const int64_t now_ms = options_.clock->NowMicros() / 1000;
  std::optional<QueueEntry> dropped;
  LOUPE_RETURN_IF_ERROR(ch->queue->Push(n, now_ms, &dropped));
  {
    std::lock_guard<std::mutex> l(ch->mu);
    ++ch->stats.enqueued;
    ch->wake = true;
  }
  if (dropped) {
    DeliveryRecord rec;
    rec.time_ms = now_ms;
    rec.notification_id = dropped->notification.id;
    rec.result = "dropped";
    rec.error = "queue full (" + std::to_string(options_.max_queue) + "): oldest dropped";
    Record(ch.get(), std::move(rec));
    LogWarningRateLimited("notify queue_full", "notify channel " + std::string(channel_id) +
                                                   ": queue full, oldest dropped");
  }
  ch->cv.notify_all();
  return Status::OK();
}

void Notifier::Record(Channel* ch, DeliveryRecord rec) {
  std::lock_guard<std::mutex> l(ch->mu);
  // Counters change with the log under one lock, so readers see both agree.
  ChannelStats& st = ch->stats;
  if (rec.result == "delivered") {
    ++st.attempts;
    ++st.delivered;
  } else if (rec.result == "retry") {
    ++st.attempts;
    ++st.retries;
  } else if (rec.result == "failed") {
    ++st.attempts;
    ++st.failed;
  } else if (rec.result == "expired") {
    ++st.expired;
  } else if (rec.result == "dropped") {
    ++st.dropped_overflow;
  }
  rec.channel_id = ch->config.id;
  ch->log.push_back(std::move(rec));
  while (ch->log.size() > options_.delivery_log_size) ch->log.pop_front();
  ch->stats.pending = ch->queue ? ch->queue->size() : 0;
}

std::vector<DeliveryRecord> Notifier::DeliveryLog(std::string_view channel_id, size_t limit) const {
  std::shared_ptr<Channel> ch;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = channels_.find(channel_id);
    if (it == channels_.end()) return {};
    ch = it->second;
  }
  std::lock_guard<std::mutex> l(ch->mu);
  std::vector<DeliveryRecord> out;
  for (auto it = ch->log.rbegin(); it != ch->log.rend() && out.size() < limit; ++it) {
    out.push_back(*it);
  }
  return out;
}

Result<ChannelStats> Notifier::Stats(std::string_view channel_id) const {
  std::shared_ptr<Channel> ch;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = channels_.find(channel_id);
    if (it == channels_.end()) return Status::NotFound("channel " + std::string(channel_id));
    ch = it->second;
  }
  std::lock_guard<std::mutex> l(ch->mu);
  ChannelStats s = ch->stats;
  s.pending = ch->queue->size();
  return s;
}

AttemptOutcome Notifier::Attempt(const ChannelConfig& cfg, const Notification& n,
                                 const Timeouts& timeouts, std::atomic<bool>* cancel,
                                 DeliveryRecord* rec) {
  const int64_t now_ms = options_.clock->NowMicros() / 1000;
  const auto t0 = std::chrono::steady_clock::now();
  AttemptOutcome o;
  switch (cfg.type) {
    case ChannelType::kSlack:
      rec->target = RedactUrl(cfg.url);
      o = PostJson(guard_, cfg.url, RenderSlack(n), {}, timeouts, now_ms, cancel);
      break;
    case ChannelType::kWebhook:
      rec->target = RedactUrl(cfg.url);
      o = PostJson(guard_, cfg.url, RenderAlertmanager(n, cfg.name, options_.external_url),
                   {"Idempotency-Key: " + n.id, "X-Loupe-Notification-Id: " + n.id}, timeouts,
                   now_ms, cancel);
      break;
    case ChannelType::kEmail:
      rec->target = SmtpTarget(options_.smtp);
      o = SendMail(options_.smtp, cfg.addresses,
                   RenderEmail(n, options_.smtp.from, cfg.addresses, now_ms), timeouts, cancel);
      break;
  }
  rec->latency_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  rec->time_ms = options_.clock->NowMicros() / 1000;
  rec->code = o.code;
  rec->error = o.error;
  return o;
}

Result<DeliveryRecord> Notifier::SendNow(std::string_view channel_id, const Notification& n,
                                         int64_t timeout_ms) {
  if (!ValidId(n.id, 128, true)) return Status::InvalidArgument("notification id");
  std::shared_ptr<Channel> ch;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = channels_.find(channel_id);
    if (it == channels_.end()) return Status::NotFound("channel " + std::string(channel_id));
    ch = it->second;
  }
  ChannelConfig cfg;
  {
    std::lock_guard<std::mutex> l(ch->mu);
    cfg = ch->config;
  }
  Timeouts t = options_.timeouts;
  t.total_ms = std::min(t.total_ms, std::max<int64_t>(timeout_ms, 1));
  t.connect_ms = std::min(t.connect_ms, t.total_ms);
  DeliveryRecord rec;
  rec.channel_id = cfg.id;
  rec.notification_id = n.id;
  rec.attempt = 1;
  AttemptOutcome o = Attempt(cfg, n, t, &ch->stop, &rec);
  rec.result = o.kind == AttemptOutcome::Kind::kDelivered ? "delivered" : "failed";
  Record(ch.get(), rec);
  return rec;
}

void Notifier::Run(Channel* ch) {
  std::mt19937_64 rng(std::random_device{}());
  uint64_t current_seq = 0;
  int attempt = 0;  // attempts made on current_seq in this process
  while (!ch->stop) {
    std::optional<QueueEntry> e = ch->queue->Front();
    if (!e) {
      std::unique_lock<std::mutex> l(ch->mu);
      ch->cv.wait(l, [ch] { return ch->stop || ch->wake; });
      ch->wake = false;
      continue;
    }
    if (e->seq != current_seq) {
      current_seq = e->seq;
      attempt = 0;
    }
    const Notification& n = e->notification;
    const int64_t now_ms = options_.clock->NowMicros() / 1000;
    if (now_ms - e->enqueued_ms > options_.max_age_ms) {
      Status s = ch->queue->Remove(e->seq);
      if (!s.ok()) LogWarningRateLimited("notify queue_write", "notify: " + s.ToString());
      DeliveryRecord rec;
      rec.time_ms = now_ms;
      rec.notification_id = n.id;
      rec.result = "expired";
      rec.error = "not delivered within " + std::to_string(options_.max_age_ms / 1000) + " s";
      Record(ch, std::move(rec));
      continue;
    }

    ChannelConfig cfg;
    uint64_t generation;
    {
      std::lock_guard<std::mutex> l(ch->mu);
      cfg = ch->config;
      generation = ch->generation;
    }
    ++attempt;
    DeliveryRecord rec;
    rec.notification_id = n.id;
    rec.attempt = attempt;
    AttemptOutcome o = Attempt(cfg, n, options_.timeouts, &ch->stop, &rec);

    int64_t wait_ms = 0;
    switch (o.kind) {
      case AttemptOutcome::Kind::kDelivered:
        rec.result = "delivered";
        break;
      case AttemptOutcome::Kind::kFailed:
        rec.result = "failed";
        break;
      case AttemptOutcome::Kind::kRetry: {
        rec.result = "retry";
        if (o.retry_after_ms >= 0) {
          wait_ms = std::min(o.retry_after_ms, options_.max_retry_after_ms);
        } else {
          int64_t step = options_.initial_backoff_ms;
          for (int i = 1; i < attempt && step < options_.max_backoff_ms; ++i) step *= 2;
          step = std::min(step, options_.max_backoff_ms);
          // Equal jitter: channels that failed together do not retry in step.
          wait_ms = step / 2 + static_cast<int64_t>(rng() % static_cast<uint64_t>(step / 2 + 1));
        }
        rec.retry_in_ms = wait_ms;
        break;
      }
    }
    if (o.kind != AttemptOutcome::Kind::kDelivered) {
      LogWarningRateLimited("notify attempt", "notify channel " + cfg.id + ": " + rec.result +
                                                  " to " + rec.target + ": " + rec.error);
    }
    // Remove before Record counts it, so a reader that sees the count sees
    // the entry gone too.
    if (o.kind != AttemptOutcome::Kind::kRetry) {
      Status s = ch->queue->Remove(e->seq);
      if (!s.ok()) LogWarningRateLimited("notify queue_write", "notify: " + s.ToString());
    }
    Record(ch, std::move(rec));
    if (o.kind == AttemptOutcome::Kind::kRetry) {
      // Wait for the retry time, shutdown, or a changed channel (a fixed URL
      // is tried at once).
      std::unique_lock<std::mutex> l(ch->mu);
      ch->cv.wait_for(l, std::chrono::milliseconds(wait_ms),
                      [ch, generation] { return ch->stop || ch->generation != generation; });
    }
  }
}

}  // namespace loupe::notify
