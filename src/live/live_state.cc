#include "live/live_state.h"

#include <time.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string_view>
#include <unordered_map>

#include "common/hll.h"

namespace loupe::live {
namespace {

// The event type of a failed transaction (model/event.h): the failed step
// that most likely caused it, else an exception (on the root or any step),
// else its HTTP status. *exception: the first exception step's type, if any.
const char* ErrorEventType(const model::Transaction& tx, std::string_view* exception) {
  bool sql = false, external = false;
  for (const model::Step& st : tx.steps) {
    if (st.kind == model::StepKind::kError && exception->empty()) *exception = st.name;
    if (!st.error) continue;
    sql |= st.kind == model::StepKind::kSql;
    external |= st.kind == model::StepKind::kExternal;
  }
  if (sql) return model::kEventSqlException;
  if (external) return model::kEventExternalCallException;
  const bool http_only = tx.error_type.empty() || tx.error_type.rfind("HTTP ", 0) == 0;
  if (http_only && exception->empty() && tx.status >= 500) return model::kEventHttpError;
  return model::kEventServiceException;
}


constexpr int64_t kMicrosPerSecond = 1'000'000;
constexpr int64_t kNoSecond = std::numeric_limits<int64_t>::min();

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t FloorMod(int64_t a, int64_t b) { return a - FloorDiv(a, b) * b; }

}  // namespace

int64_t LocalMidnightMicros(int64_t t_us) {
  time_t s = static_cast<time_t>(FloorDiv(t_us, kMicrosPerSecond));
  struct tm tm;
  if (localtime_r(&s, &tm) == nullptr) {
    return FloorDiv(t_us, 86400 * kMicrosPerSecond) * 86400 * kMicrosPerSecond;
  }
  tm.tm_hour = 0;
  tm.tm_min = 0;
  tm.tm_sec = 0;
  tm.tm_isdst = -1;
  time_t midnight = mktime(&tm);
  return static_cast<int64_t>(midnight) * kMicrosPerSecond;
}

struct LiveState::ProjectLive {
  struct Second {
    int64_t sec = kNoSecond;
    uint32_t count = 0;
    uint32_t errors = 0;
    int64_t sum_elapsed_us = 0;
  };
  struct Minute {
    int64_t minute = kNoSecond;
    HyperLogLog users;
  };

  ProjectLive(const LiveOptions& o) : ring(static_cast<size_t>(o.window_seconds)) {
    minutes.reserve(static_cast<size_t>(o.users_window_minutes) + 1);
    for (int i = 0; i <= o.users_window_minutes; ++i) {
      minutes.push_back(Minute{kNoSecond, HyperLogLog(o.hll_precision)});
    }
  }

  mutable std::mutex mu;
  // Guarded by mu:
  std::vector<Second> ring;     // index: second mod window
  std::vector<Minute> minutes;  // index: minute mod (users_window_minutes + 1)
  int64_t day_start_us = kNoSecond;
  uint64_t today = 0;
  std::vector<LivePoint> points;
  uint64_t points_dropped = 0;
  uint64_t errors_since_frame = 0;   // error events recorded since the last frame
  uint64_t events_seq_at_frame = 0;  // EventLog sequence at the last frame
  uint64_t events_dropped = 0;       // since the last frame
  // BAD_RESPONSE_TIME thresholds by service, asked of the options' function
  // at most once a second per service (not per transaction).
  std::unordered_map<std::string, int64_t> bad_response_us;
  int64_t bad_response_sec = kNoSecond;
};

LiveState::LiveState(Clock* clock, LiveOptions options, EventLog* events)
    : clock_(clock),
      options_([&] {
        options.window_seconds = std::max(120, options.window_seconds);
        options.users_window_minutes = std::max(1, options.users_window_minutes);
        options.recent_events = std::max<size_t>(1, options.recent_events);
        options.max_events_per_frame =
            std::min(options.max_events_per_frame, options.recent_events);
        return options;
      }()),
      own_events_(events == nullptr ? std::make_unique<EventLog>(options_.recent_events) : nullptr),
      events_(events == nullptr ? own_events_.get() : events) {}

LiveState::~LiveState() = default;

void LiveState::DayBounds(int64_t now_us, int64_t* start, int64_t* end) const {
  // Lock-free fast path; the writer stores start before end, so a reader
  // seeing the same start twice has a consistent pair or an empty range.
  int64_t s1 = day_start_us_.load();
  int64_t e = day_end_us_.load();
  int64_t s2 = day_start_us_.load();
  if (s1 == s2 && s1 <= now_us && now_us < e) {
    *start = s1;
    *end = e;
    return;
  }
  std::lock_guard<std::mutex> l(day_mu_);
  int64_t s = day_start_us_.load();
  e = day_end_us_.load();
  if (!(s <= now_us && now_us < e)) {
    s = LocalMidnightMicros(now_us);
    // A local day lasts 23 to 25 hours: s + 26 h lies in the next one.
    e = LocalMidnightMicros(s + 26 * 3600 * kMicrosPerSecond);
    if (e <= now_us) e = now_us + 1;  // broken time zone data: never loop
    day_start_us_.store(s);
    day_end_us_.store(e);
  }
  *start = s;
  *end = e;
}

LiveState::ProjectLive* LiveState::Find(model::ProjectId project) const {
  std::shared_lock<std::shared_mutex> l(projects_mu_);
  auto it = projects_.find(project);
  return it == projects_.end() ? nullptr : it->second.get();
}

LiveState::ProjectLive* LiveState::FindOrCreate(model::ProjectId project) {
  if (ProjectLive* p = Find(project)) return p;
  std::unique_lock<std::shared_mutex> l(projects_mu_);
  auto& slot = projects_[project];
  if (!slot) slot = std::make_unique<ProjectLive>(options_);
  return slot.get();
}

int64_t LiveState::BadResponseLocked(ProjectLive* p, model::ProjectId project,
                                     const std::string& service, int64_t now_sec) noexcept {
  if (p->bad_response_sec != now_sec) {
    p->bad_response_us.clear();
    p->bad_response_sec = now_sec;
  }
  try {
    auto it = p->bad_response_us.find(service);
    if (it == p->bad_response_us.end()) {
      it = p->bad_response_us.emplace(service, options_.bad_response_us(project, service)).first;
    }
    return it->second;
  } catch (...) {  // out of memory: no event, as for the others
    return 0;
  }
}

int64_t LiveState::BadResponseUs(model::ProjectId project, const std::string& service) noexcept {
  if (!options_.bad_response_us) return 0;
  ProjectLive* p;
  try {
    p = FindOrCreate(project);
  } catch (...) {
    return 0;
  }
  std::lock_guard<std::mutex> l(p->mu);
  return BadResponseLocked(p, project, service, FloorDiv(clock_->NowMicros(), kMicrosPerSecond));
}

void LiveState::Record(model::ProjectId project, const model::Transaction& tx) noexcept {
  ProjectLive* p;
  try {
    p = FindOrCreate(project);
  } catch (...) {  // out of memory: live figures are best effort
    return;
  }
  const int64_t now_us = clock_->NowMicros();
  int64_t day_start, day_end;
  DayBounds(now_us, &day_start, &day_end);

  const int64_t now_sec = FloorDiv(now_us, kMicrosPerSecond);
  const int64_t sec = std::min(FloorDiv(tx.end_us, kMicrosPerSecond), now_sec);
  const int64_t window = static_cast<int64_t>(p->ring.size());
  const int64_t elapsed_us = std::max<int64_t>(0, tx.elapsed_us());

  std::lock_guard<std::mutex> l(p->mu);
  if (p->day_start_us != day_start) {
    p->day_start_us = day_start;
    p->today = 0;
  }
  if (tx.end_us >= day_start) ++p->today;
  if (sec <= now_sec - window) return;  // older than the ring: not live any more

  auto& s = p->ring[static_cast<size_t>(FloorMod(sec, window))];
  if (s.sec != sec) {
    if (s.sec > sec) return;  // cannot happen within the window; be safe
    s = {sec, 0, 0, 0};
  }
  ++s.count;
  s.errors += tx.error ? 1 : 0;
  s.sum_elapsed_us += elapsed_us;

  const std::string& user = !tx.user.empty() ? tx.user : tx.client_ip;
  if (!user.empty()) {
    const int64_t minute = FloorDiv(sec, 60);
    const int64_t nm = static_cast<int64_t>(p->minutes.size());
    auto& m = p->minutes[static_cast<size_t>(FloorMod(minute, nm))];
    if (m.minute != minute && m.minute < minute) {
      m.minute = minute;
      m.users.Clear();
    }
    if (m.minute == minute) m.users.Add(user);
  }

  if (p->points.size() < options_.max_points_per_frame) {
    try {
      p->points.push_back(LivePoint{tx.id, tx.end_us, elapsed_us, tx.error});
    } catch (...) {
      ++p->points_dropped;
    }
  } else {
    ++p->points_dropped;
  }

  const char* type = nullptr;
  std::string_view exception;
  if (tx.error) {
    type = ErrorEventType(tx, &exception);
  } else if (options_.bad_response_us) {
    const int64_t limit = BadResponseLocked(p, project, tx.service, now_sec);
    if (limit > 0 && elapsed_us > limit) type = model::kEventBadResponseTime;
  }
  if (type == nullptr) return;
  if (p->errors_since_frame >= options_.max_events_per_frame) {
    ++p->events_dropped;
    return;
  }
  try {
    model::Event e;
    e.time_us = tx.end_us;
    e.level = model::kLevelWarning;
    e.type = type;
    if (type == model::kEventBadResponseTime) {
      e.message.assign(std::to_string(elapsed_us / 1000));
      e.message.append(" ms");
    } else if (!tx.error_type.empty() && (tx.error_type.rfind("HTTP ", 0) != 0 || exception.empty())) {
      e.message.assign(tx.error_type);
    } else if (!exception.empty()) {
      e.message.assign(exception);
    } else if (tx.status >= 400) {
      e.message.assign("HTTP ");
      e.message.append(std::to_string(tx.status));
    } else {
      e.message.assign("error");
    }
    e.tx_id = tx.id;
    e.service.assign(tx.service);
    e.instance.assign(tx.instance);
    e.endpoint.assign(tx.endpoint);
    if (events_->Append(project, e) != 0) {
      ++p->errors_since_frame;
    } else {
      ++p->events_dropped;
    }
  } catch (...) {
    ++p->events_dropped;
  }
}

void LiveState::Restore(model::ProjectId project, int64_t now_us, const LiveSeed& seed) {
  ProjectLive* p = FindOrCreate(project);
  int64_t day_start, day_end;
  DayBounds(now_us, &day_start, &day_end);
  const int64_t now_sec = FloorDiv(now_us, kMicrosPerSecond);
  const int64_t now_min = FloorDiv(now_sec, 60);
  std::lock_guard<std::mutex> l(p->mu);
  p->day_start_us = day_start;
  p->today = seed.today_calls;
  const int64_t window = static_cast<int64_t>(p->ring.size());
  for (auto& s : p->ring) s = ProjectLive::Second{};
  for (const LiveSeed::Second& in : seed.seconds) {
    if (in.sec <= now_sec - window || in.sec > now_sec) continue;
    auto& s = p->ring[static_cast<size_t>(FloorMod(in.sec, window))];
    s = {in.sec, in.count, in.errors, in.sum_elapsed_us};
  }
  const int64_t nm = static_cast<int64_t>(p->minutes.size());
  for (auto& m : p->minutes) {
    m.minute = kNoSecond;
    m.users.Clear();
  }
  for (const auto& [end_us, user] : seed.users) {
    if (user.empty()) continue;
    const int64_t minute = FloorDiv(std::min(FloorDiv(end_us, kMicrosPerSecond), now_sec), 60);
    if (minute < now_min - (nm - 1)) continue;
    auto& m = p->minutes[static_cast<size_t>(FloorMod(minute, nm))];
    if (m.minute != minute) {
      if (m.minute > minute) continue;
      m.minute = minute;
      m.users.Clear();
    }
    m.users.Add(user);
  }
}

void LiveState::TakeFrame(model::ProjectId project, int64_t now_us, LiveFrame* frame) {
  const int64_t now_sec = FloorDiv(now_us, kMicrosPerSecond);
  frame->t_us = now_sec * kMicrosPerSecond;
  frame->second_us = (now_sec - 1) * kMicrosPerSecond;
  frame->tps = 0;
  frame->avg_ms = std::nan("");
  frame->errors = 0;
  frame->today_calls = 0;
  frame->concurrent_users = 0;
  frame->points.clear();
  frame->points_dropped = 0;
  frame->events.clear();
  frame->events_dropped = 0;

  ProjectLive* p = Find(project);
  if (p == nullptr) return;
  int64_t day_start, day_end;
  DayBounds(now_us, &day_start, &day_end);
  HyperLogLog users(options_.hll_precision);

  std::lock_guard<std::mutex> l(p->mu);
  const int64_t window = static_cast<int64_t>(p->ring.size());
  const auto& s = p->ring[static_cast<size_t>(FloorMod(now_sec - 1, window))];
  if (s.sec == now_sec - 1 && s.count > 0) {
    frame->tps = s.count;
    frame->errors = s.errors;
    frame->avg_ms = static_cast<double>(s.sum_elapsed_us) / s.count / 1000.0;
  }
  frame->today_calls = p->day_start_us == day_start ? p->today : 0;

  const int64_t now_min = FloorDiv(now_sec, 60);
  for (const auto& m : p->minutes) {
    if (m.minute >= now_min - options_.users_window_minutes && m.minute <= now_min) {
      users.Merge(m.users);
    }
  }
  frame->concurrent_users = static_cast<uint64_t>(std::llround(users.Estimate()));

  frame->points.assign(p->points.begin(), p->points.end());  // keeps p->points' capacity
  p->points.clear();
  frame->points_dropped = std::exchange(p->points_dropped, 0);

  uint64_t skipped = 0;
  p->events_seq_at_frame = events_->Since(project, p->events_seq_at_frame,
                                          options_.max_events_per_frame, &frame->events, &skipped);
  p->errors_since_frame = 0;
  frame->events_dropped = std::exchange(p->events_dropped, 0) + skipped;
}

bool LiveState::TakePoints(model::ProjectId project, LiveFrame* frame) {
  frame->points.clear();
  frame->points_dropped = 0;
  ProjectLive* p = Find(project);
  if (p == nullptr) return false;
  std::lock_guard<std::mutex> l(p->mu);
  if (p->points.empty() && p->points_dropped == 0) return false;
  frame->points.assign(p->points.begin(), p->points.end());
  p->points.clear();
  frame->points_dropped = std::exchange(p->points_dropped, 0);
  return true;
}

LiveSummary LiveState::Summary(model::ProjectId project, int64_t now_us) const {
  LiveSummary out;
  out.avg_ms = std::nan("");
  out.error_rate = std::nan("");
  ProjectLive* p = Find(project);
  if (p == nullptr) return out;
  int64_t day_start, day_end;
  DayBounds(now_us, &day_start, &day_end);
  const int64_t now_sec = FloorDiv(now_us, kMicrosPerSecond);
  HyperLogLog users(options_.hll_precision);

  std::lock_guard<std::mutex> l(p->mu);
  const int64_t window = static_cast<int64_t>(p->ring.size());
  uint64_t count = 0, errors = 0;
  int64_t sum_us = 0;
  for (int64_t sec = now_sec - 60; sec < now_sec; ++sec) {
    const auto& s = p->ring[static_cast<size_t>(FloorMod(sec, window))];
    if (s.sec != sec) continue;
    count += s.count;
    errors += s.errors;
    sum_us += s.sum_elapsed_us;
  }
  out.today_calls = p->day_start_us == day_start ? p->today : 0;
  out.tps = static_cast<double>(count) / 60.0;
  if (count > 0) {
    out.avg_ms = static_cast<double>(sum_us) / count / 1000.0;
    out.error_rate = 100.0 * static_cast<double>(errors) / count;
  }
  const int64_t now_min = FloorDiv(now_sec, 60);
  for (const auto& m : p->minutes) {
    if (m.minute >= now_min - options_.users_window_minutes && m.minute <= now_min) {
      users.Merge(m.users);
    }
  }
  out.concurrent_users = static_cast<uint64_t>(std::llround(users.Estimate()));
  return out;
}

std::vector<LiveEvent> LiveState::RecentEvents(model::ProjectId project, size_t limit) const {
  EventQuery q;
  q.from_us = INT64_MIN;
  q.limit = limit;
  return std::move(events_->Query(project, q).events);
}

std::vector<model::ProjectId> LiveState::Projects() const {
  std::vector<model::ProjectId> out;
  std::shared_lock<std::shared_mutex> l(projects_mu_);
  out.reserve(projects_.size());
  for (const auto& [id, p] : projects_) out.push_back(id);
  return out;
}

}  // namespace loupe::live
