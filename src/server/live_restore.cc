#include "server/live_restore.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <span>
#include <string>
#include <unordered_set>
#include <utility>

#include "query/query.h"

namespace loupe::server {
namespace {

constexpr int64_t kSec = 1'000'000;

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

double Value(const query::Series& s, size_t i) {
  if (s.lines.empty() || i >= s.lines[0].values.size()) return 0;
  const double v = s.lines[0].values[i];
  return std::isnan(v) ? 0 : v;
}

}  // namespace

Result<live::LiveSeed> LiveSeedFromStore(const store::Store& store, model::ProjectId project,
                                         const live::LiveOptions& options, int64_t now_us) {
  live::LiveSeed seed;
  const int64_t now_sec = FloorDiv(now_us, kSec);

  // Today's calls: every transaction ending today, as LiveState::Record
  // counts them (ends a little in the future, from skewed agent clocks,
  // included). Minute buckets: a local midnight is a whole minute in every
  // time zone, and the minute rollups answer them.
  const int64_t midnight = live::LocalMidnightMicros(now_us);
  const int64_t next_midnight = live::LocalMidnightMicros(midnight + 26 * 3600 * kSec);
  store::TxFilter day;
  day.from_us = midnight;
  day.to_us = std::max(next_midnight, now_us + 1);
  Result<query::Series> today_r = query::ComputeSeries(store, project, day, query::Metric::kCount,
                                                       60 * kSec, query::GroupBy::kNone);
  if (!today_r.ok()) return today_r.status();
  const query::Series& today = *today_r;
  double calls = 0;
  for (size_t i = 0; i < today.buckets; ++i) calls += Value(today, i);
  seed.today_calls = static_cast<uint64_t>(std::llround(calls));

  // The per-second ring.
  const int64_t window = std::max(120, options.window_seconds);
  store::TxFilter recent;
  recent.from_us = (now_sec - window + 1) * kSec;
  recent.to_us = (now_sec + 1) * kSec;
  Result<query::Series> count_r = query::ComputeSeries(
      store, project, recent, query::Metric::kCount, kSec, query::GroupBy::kNone);
  if (!count_r.ok()) return count_r.status();
  const query::Series& count = *count_r;
  Result<query::Series> errors_r = query::ComputeSeries(
      store, project, recent, query::Metric::kErrors, kSec, query::GroupBy::kNone);
  if (!errors_r.ok()) return errors_r.status();
  const query::Series& errors = *errors_r;
  Result<query::Series> rt_r = query::ComputeSeries(
      store, project, recent, query::Metric::kResponseTime, kSec, query::GroupBy::kNone);
  if (!rt_r.ok()) return rt_r.status();
  const query::Series& rt = *rt_r;
  for (size_t i = 0; i < count.buckets; ++i) {
    const double n = Value(count, i);
    if (n <= 0) continue;
    live::LiveSeed::Second s;
    s.sec = FloorDiv(count.from_us, kSec) + static_cast<int64_t>(i);
    s.count = static_cast<uint32_t>(std::llround(n));
    s.errors = static_cast<uint32_t>(std::llround(Value(errors, i)));
    s.sum_elapsed_us = std::llround(Value(rt, i) * 1000.0 * n);
    seed.seconds.push_back(s);
  }

  // Concurrent users: distinct users per minute, from the rows themselves
  // (the store keeps user sketches per hour only).
  const int64_t users_minutes = std::max(1, options.users_window_minutes);
  store::TxFilter users;
  users.from_us = (FloorDiv(now_sec, 60) - users_minutes) * 60 * kSec;
  users.to_us = (now_sec + 1) * kSec;
  users.fields = store::kFieldClient;
  // Scan order is not promised: dedupe per (minute, user) through a set.
  std::vector<std::pair<int64_t, std::string>> found;
  std::unordered_set<std::string> keys;
  LOUPE_RETURN_IF_ERROR(
      store.Scan(project, users, store::ScanOrder::kAny, [&](std::span<const store::TxRow> rows) {
        for (const store::TxRow& r : rows) {
          std::string_view user = !r.user.empty() ? r.user : r.client_ip;
          if (user.empty()) continue;
          const int64_t m = FloorDiv(r.end_us, 60 * kSec);
          std::string key = std::to_string(m);
          key.push_back('\0');
          key.append(user);
          if (!keys.insert(std::move(key)).second) continue;
          found.emplace_back(r.end_us, std::string(user));
        }
        return true;
      }));
  seed.users = std::move(found);
  return seed;
}

Status RestoreLive(const store::Store& store, const std::vector<model::ProjectId>& projects,
                   live::LiveState* live, int64_t now_us) {
  Status first;
  for (model::ProjectId p : projects) {
    Result<live::LiveSeed> seed = LiveSeedFromStore(store, p, live->options(), now_us);
    if (!seed.ok()) {
      if (first.ok()) first = seed.status().Annotate("project " + std::to_string(p));
      continue;
    }
    if (seed->today_calls == 0 && seed->seconds.empty() && seed->users.empty()) continue;
    live->Restore(p, now_us, *seed);
  }
  return first;
}

}  // namespace loupe::server
