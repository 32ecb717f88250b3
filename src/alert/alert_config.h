// AlertConfig: the alert rules, notification channels and silences of every
// project, kept across restarts (docs/api.md "Alerts").
//
// Persistence: DATA_DIR/alerts.json, rewritten atomically (temporary file,
// fsync, rename, directory fsync through common/env) on every change; a
// change whose write fails is undone and its error returned. With data_dir
// empty everything lives in memory (tests). Ids are unique per server and
// never reused.
//
// Channel secrets (a Slack or webhook URL, which carries its token) are
// write-only: ChannelToJson redacts them, and nothing here logs them. The
// file holds them in clear inside the data directory (mode 0700: the server's
// user only).
//
// Limits (InvalidArgument / ResourceExhausted naming them): kMaxRules rules,
// kMaxChannels channels and kMaxSilences silences per project.
//
// Thread-safety: all methods are thread-safe (one mutex; changes are rare).
#ifndef LOUPE_ALERT_ALERT_CONFIG_H_
#define LOUPE_ALERT_ALERT_CONFIG_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "alert/evaluator.h"
#include "alert/rule.h"
#include "common/env.h"
#include "common/status.h"

namespace loupe::alert {

enum class ChannelType : uint8_t { kEmail, kSlack, kWebhook };
std::string_view ChannelTypeName(ChannelType t) noexcept;  // "email", "slack", "webhook"

struct Channel {
  uint64_t id = 0;
  uint32_t project = 0;
  std::string name;                    // 1..200 bytes
  ChannelType type = ChannelType::kWebhook;
  std::vector<std::string> addresses;  // email: 1..50 addresses
  std::string url;                     // slack, webhook: http(s) URL (a secret)
  bool enabled = true;
  bool operator==(const Channel&) const = default;
};

// Parses `POST /api/v1/alert-channels`: {"name", "type", "addresses" | "url",
// "enabled"}. On update (`existing` set) an omitted url keeps the old one, so
// a client can rename a channel without knowing its secret.
Result<Channel> ParseChannel(std::string_view json, const Channel* existing = nullptr);
// The channel as the API shows it: the URL reduced to scheme and host
// ("https://hooks.slack.com/…"), `has_url` true when one is set.
std::string ChannelToJson(const Channel& c);

// Parses `POST /api/v1/silences`: {"rule_id"?, "service"?, "instance"?,
// "endpoint"?, "start_ms"?, "end_ms" | "duration_s", "comment"?}; start
// defaults to now_us.
Result<Silence> ParseSilence(std::string_view json, int64_t now_us);
std::string SilenceToJson(const Silence& s);

class AlertConfig {
 public:
  static constexpr size_t kMaxRules = 10'000;
  static constexpr size_t kMaxChannels = 100;
  static constexpr size_t kMaxSilences = 1'000;

  // Loads DATA_DIR/alerts.json if present (Corruption if unreadable).
  static Result<std::unique_ptr<AlertConfig>> Open(const std::string& data_dir,
                                                   Env* env = Env::Default());

  // Rules. Add assigns id and project; Update keeps them; channels named by a
  // rule must exist in its project (InvalidArgument "channels: …").
  Result<AlertRule> AddRule(uint32_t project, AlertRule rule);
  Result<AlertRule> UpdateRule(uint32_t project, uint64_t id, AlertRule rule);
  Status DeleteRule(uint32_t project, uint64_t id);
  Result<AlertRule> GetRule(uint32_t project, uint64_t id) const;
  std::vector<AlertRule> Rules(uint32_t project) const;
  // Every project's rules (the evaluator's input), and a number that changes
  // whenever any rule does (so the evaluator copies only after changes).
  std::vector<AlertRule> AllRules() const;
  uint64_t rules_version() const;

  Result<Channel> AddChannel(uint32_t project, Channel c);
  Result<Channel> UpdateChannel(uint32_t project, uint64_t id, Channel c);
  // FailedPrecondition-like InvalidArgument when a rule still uses it.
  Status DeleteChannel(uint32_t project, uint64_t id);
  Result<Channel> GetChannel(uint32_t project, uint64_t id) const;
  std::vector<Channel> Channels(uint32_t project) const;
  std::vector<Channel> AllChannels() const;  // every project's

  // Silences; those ended before now_us are dropped on the next change.
  Result<Silence> AddSilence(uint32_t project, Silence s, int64_t now_us);
  Status DeleteSilence(uint32_t project, uint64_t id);
  std::vector<Silence> Silences(uint32_t project) const;
  std::vector<Silence> AllSilences() const;

  // Additions refused because a project was at a cap (since start).
  uint64_t refused_over_cap() const { return refused_over_cap_.load(std::memory_order_relaxed); }

 private:
  struct Project {
    std::map<uint64_t, AlertRule> rules;
    std::map<uint64_t, Channel> channels;
    std::map<uint64_t, Silence> silences;
  };

  AlertConfig(std::string path, Env* env) : path_(std::move(path)), env_(env) {}
  Status Load(const std::string& text);
  Status Save() const;  // REQUIRES: mu_ held
  Status CheckChannels(const Project& p, const AlertRule& r) const;

  const std::string path_;  // empty: memory only
  Env* const env_;
  mutable std::mutex mu_;
  std::map<uint32_t, Project> projects_;  // guarded by mu_
  uint64_t next_id_ = 1;                  // guarded by mu_
  uint64_t version_ = 1;                  // guarded by mu_
  std::atomic<uint64_t> refused_over_cap_{0};
};

}  // namespace loupe::alert

#endif  // LOUPE_ALERT_ALERT_CONFIG_H_
