// Time zones for quiet hours (docs/api.md "Alert rules": quiet_hours.tz).
//
// GCC 12's libstdc++ has no chrono time zone database, so Loupe reads the
// system's compiled zone files itself: TZif (RFC 8536), versions 1 to 4, of
// which it uses the 64-bit data of version 2 and later (version 1 files: the
// 32-bit data), and the POSIX TZ string of the footer (RFC 8536 §3.3, POSIX
// TZ with the RFC's extensions: hours -167..167 in rule times) for times
// after the last transition, so "slim" files — which stop listing
// transitions once a rule describes them — answer for any year.
// Leap-second records are skipped (Unix time ignores them).
//
// Thread-safety: a TimeZone is immutable once built; Named is thread-safe.
#ifndef LOUPE_ALERT_TIME_ZONE_H_
#define LOUPE_ALERT_TIME_ZONE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace loupe::alert {

// A POSIX TZ rule such as "CET-1CEST,M3.5.0,M10.5.0/3": standard and
// daylight offsets, and when daylight time starts and ends each year.
struct PosixTz {
  // A yearly date: Jn (day 1..365, February 29 never counted), n (day
  // 0..365 counting February 29) or Mm.w.d (weekday d of week w — 5 = the
  // last — of month m), at `time_s` seconds of local time.
  struct Date {
    enum class Kind : uint8_t { kJulian1, kJulian0, kMonthWeekDay } kind = Kind::kMonthWeekDay;
    int day = 0;      // Jn / n
    int month = 0;    // M: 1..12
    int week = 0;     // M: 1..5
    int weekday = 0;  // M: 0 = Sunday
    int32_t time_s = 7200;
  };
  int32_t std_offset_s = 0;  // east of UTC (POSIX writes west: "CET-1" is +3600)
  bool has_dst = false;
  int32_t dst_offset_s = 0;
  Date start;  // daylight time begins (in standard local time)
  Date end;    // daylight time ends (in daylight local time)
};

// InvalidArgument when `s` is not a POSIX TZ string.
Result<PosixTz> ParsePosixTz(std::string_view s);
// Seconds east of UTC under `tz` at Unix time t.
int32_t PosixOffsetAt(const PosixTz& tz, int64_t unix_s) noexcept;

class TimeZone {
 public:
  // Builds a zone from the bytes of a TZif file. Corruption when malformed.
  static Result<std::shared_ptr<const TimeZone>> FromTzif(std::string name, std::string_view bytes);

  // The zone `name` ("Europe/Berlin") read from $TZDIR or /usr/share/zoneinfo,
  // cached for the process (one object per name). InvalidArgument for a name
  // that is not a zone name (".." parts, a leading "/", other than letters,
  // digits and "/_+-"), NotFound when no such file, Corruption when the file
  // is not TZif.
  static Result<std::shared_ptr<const TimeZone>> Named(std::string_view name);

  // Seconds east of UTC at Unix time t.
  int32_t OffsetAt(int64_t unix_s) const noexcept;

  const std::string& name() const { return name_; }

 private:
  TimeZone() = default;

  std::string name_;
  std::vector<int64_t> transitions_;      // Unix seconds, ascending
  std::vector<uint8_t> transition_type_;  // index into offsets_, per transition
  std::vector<int32_t> offsets_;          // per local time type, seconds east
  std::optional<PosixTz> footer_;         // for times after the last transition
};

}  // namespace loupe::alert

#endif  // LOUPE_ALERT_TIME_ZONE_H_
