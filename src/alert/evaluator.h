// The alert evaluator (issue 12 §2): turns rules and signal samples into alert
// state changes, every tick (5 s in the server), without I/O of its own.
//
// Per rule and scope an alert walks Normal → Pending → Firing → Normal:
//  - a sample past the warning or critical threshold makes it Pending; held
//    for the rule's `for_s` it becomes Firing (at once when for_s is 0);
//    back under both thresholds before that, it returns to Normal silently;
//  - while Firing its level follows the sample (warning ↔ critical);
//  - under both thresholds again it is Resolved, and the scope is Normal.
// Each Firing episode has an `alert_id`, stable across its level changes,
// repeats and resolve, so receivers can de-duplicate deliveries.
//
// Notifications are a separate decision from state: a change is `notify`
// unless the rule is in its quiet hours or silenced. What was held back is
// sent when the mute ends if it still matters (the alert still fires, or its
// resolve follows a notified firing). While firing, a rule with
// repeat_minutes > 0 sends a repeat that often.
//
// Scopes without data follow the rule's NoData: kKeep leaves the alert as it
// is, kOk counts as under the thresholds, kAlerting as critical. A "*" scope
// (each endpoint / instance) that stops appearing in the samples counts as
// without data.
//
// Thread-safety: not thread-safe; one evaluation thread owns it.
#ifndef LOUPE_ALERT_EVALUATOR_H_
#define LOUPE_ALERT_EVALUATOR_H_

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "alert/rule.h"

namespace loupe::alert {

// One scope of a rule: the service, instance and endpoint a sample is about
// (empty = not narrowed).
struct ScopeKey {
  std::string service;
  std::string instance;
  std::string endpoint;
  bool operator==(const ScopeKey&) const = default;
};

struct ScopeSample {
  ScopeKey scope;
  double value = 0;    // the rule's signal (see Signal)
  int64_t volume = 0;  // calls in the window (min_volume, baselines)
};

// Where samples come from (live state, rollups, events; a fake in tests).
class SignalSource {
 public:
  virtual ~SignalSource() = default;
  // Appends a sample for every scope of `rule` that has data in the window
  // [end_us - rule.window_s, end_us): one for a fixed scope, one per
  // endpoint / instance for a "*" scope. A fixed scope without data appends
  // nothing. Signals over "now" (active, instance_down) read the state at
  // end_us.
  virtual void Read(const AlertRule& rule, int64_t end_us, std::vector<ScopeSample>* out) = 0;
  // Called by Evaluator::Evaluate with the tick's rules before its reads: a
  // source may plan one read for many rules and keep it until the next tick.
  virtual void BeginTick(int64_t now_us, const std::vector<AlertRule>& rules) {}
};

enum class AlertState : uint8_t { kNormal, kPending, kFiring };
enum class Level : uint8_t { kNone, kWarning, kCritical };

std::string_view AlertStateName(AlertState s) noexcept;  // "normal", "pending", "firing"
std::string_view LevelName(Level l) noexcept;            // "none", "warning", "critical"

// A silence mutes notifications of matching alerts from start to end. Empty
// matchers match everything; rule_id 0 matches every rule of the project.
struct Silence {
  uint64_t id = 0;
  uint32_t project = 0;
  uint64_t rule_id = 0;
  std::string service;
  std::string instance;
  std::string endpoint;
  int64_t start_us = 0;
  int64_t end_us = 0;
  std::string comment;
};

// A current alert (Pending or Firing).
struct Alert {
  uint64_t alert_id = 0;
  uint64_t rule_id = 0;
  uint32_t project = 0;
  ScopeKey scope;
  AlertState state = AlertState::kNormal;
  Level level = Level::kNone;
  double value = 0;
  double threshold = 0;   // of the current level
  int64_t since_us = 0;   // pending since, or firing since
  int64_t last_notified_us = 0;
  bool muted = false;     // quiet hours or a silence right now
};

// What an evaluation tick changed.
struct AlertChange {
  enum class Kind : uint8_t {
    kFiring,    // Pending → Firing (or a held firing now sent)
    kLevel,     // warning ↔ critical while firing
    kRepeat,    // still firing, repeat interval passed
    kResolved,  // Firing → Normal
  };
  Kind kind = Kind::kFiring;
  Alert alert;  // state after the change (for kResolved: as it was, level kept)
  int64_t at_us = 0;
  bool state_changed = true;  // false: a repeat, or a notification held by a mute now sent
  bool notify = false;        // send to the rule's channels now
};

std::string_view ChangeKindName(AlertChange::Kind k) noexcept;  // "firing", "level", "repeat", "resolved"

// An alert as the evaluator holds it between ticks: what durable state
// (alert_state.h) keeps so that a restart continues every alert where it was.
struct HeldAlert {
  Alert alert;
  Level notified_level = Level::kNone;  // last level sent in this episode
  bool resolve_held = false;            // resolved while muted; send when unmuted
  Alert held_resolve;                   // the alert as it resolved (when resolve_held)
};

class Evaluator {
 public:
  Evaluator() = default;
  Evaluator(const Evaluator&) = delete;
  Evaluator& operator=(const Evaluator&) = delete;

  // One tick at now_us over `rules` (disabled rules are skipped and their
  // alerts dropped without a resolve). Appends what changed to *changes.
  // `silences` are those of all projects. alert ids continue from
  // next_alert_id() (restore it from durable state on start).
  void Evaluate(const std::vector<AlertRule>& rules, const std::vector<Silence>& silences,
                SignalSource* source, int64_t now_us, std::vector<AlertChange>* changes);

  // Current Pending and Firing alerts, ordered by rule then scope.
  std::vector<Alert> Current() const;

  // Forgets a rule's alerts (the rule was deleted or changed).
  void Forget(uint64_t rule_id);

  uint64_t next_alert_id() const { return next_alert_id_; }
  void set_next_alert_id(uint64_t id) { next_alert_id_ = id; }

  // Alerts held (Pending, Firing, or a resolve held by a mute).
  size_t size() const;

  // Everything held, ordered by rule then scope, and its inverse: Restore
  // replaces what is held (alerts of rules no longer enabled are dropped by
  // the next Evaluate, as for any rule that goes away).
  std::vector<HeldAlert> Held() const;
  void Restore(const std::vector<HeldAlert>& held);

  // Changes whenever what Held() returns changes in anything but the alerts'
  // `value` and `muted` (which every tick refreshes): a new alert, a state,
  // level, timer or notification change, a dropped alert. The durable state
  // is rewritten only when it moved.
  uint64_t state_version() const { return state_version_; }

 private:
  struct Entry : HeldAlert {
    bool seen = false;  // had a sample this tick
  };
  struct ScopeHash {
    size_t operator()(const ScopeKey& k) const noexcept;
  };
  using RuleAlerts = std::unordered_map<ScopeKey, Entry, ScopeHash>;

  // Advances one alert by one tick. has_data false: the rule's NoData decides.
  void Step(const AlertRule& rule, Entry* e, Level level, double value, double threshold,
            bool has_data, bool muted, int64_t now_us, std::vector<AlertChange>* changes);

  // Advances e by Step and bumps state_version_ if a durable field moved.
  void StepTracked(const AlertRule& rule, Entry* e, Level level, double value, double threshold,
                   bool has_data, bool muted, int64_t now_us, std::vector<AlertChange>* changes);

  std::unordered_map<uint64_t, RuleAlerts> alerts_;  // by rule id
  uint64_t next_alert_id_ = 1;
  uint64_t state_version_ = 0;
  std::vector<ScopeSample> samples_;  // scratch, reused across rules
  std::vector<ScopeSample> base_;     // scratch: the baseline window's samples
};

// The level a value reaches under a rule's thresholds, and that threshold.
Level LevelOf(const AlertRule& rule, double value, double* threshold) noexcept;

// True when `now_us` falls in the rule's quiet hours (in its time zone,
// daylight saving time included).
bool InQuietHours(const QuietHours& q, int64_t now_us) noexcept;

// True when a silence mutes this rule's scope at now_us.
bool Silenced(const std::vector<Silence>& silences, const AlertRule& rule, const ScopeKey& scope,
              int64_t now_us) noexcept;

// Replays a rule at from_us, every step_us after it, and at to_us, against `source` (which
// must answer for past windows, e.g. from rollups) and returns what would
// have happened: POST /api/v1/alert-rules/{id}/test.
std::vector<AlertChange> Backtest(const AlertRule& rule, SignalSource* source, int64_t from_us,
                                  int64_t to_us, int64_t step_us);

}  // namespace loupe::alert

#endif  // LOUPE_ALERT_EVALUATOR_H_
