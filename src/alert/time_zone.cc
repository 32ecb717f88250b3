#include "alert/time_zone.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <mutex>

#include "common/env.h"

namespace loupe::alert {
namespace {

constexpr int64_t kDayS = 86'400;

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
// days_from_civil).
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int64_t YearOfDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  return yoe + era * 400 + (mp >= 10);  // January and February belong to the next year
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int64_t y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

int64_t FloorDiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Days since the epoch of a rule date in year y.
int64_t RuleDay(const PosixTz::Date& d, int64_t y) {
  const int64_t jan1 = DaysFromCivil(y, 1, 1);
  switch (d.kind) {
    case PosixTz::Date::Kind::kJulian1:
      return jan1 + d.day - 1 + (IsLeap(y) && d.day >= 60 ? 1 : 0);
    case PosixTz::Date::Kind::kJulian0:
      return jan1 + d.day;
    case PosixTz::Date::Kind::kMonthWeekDay: {
      const int64_t first = DaysFromCivil(y, d.month, 1);
      const int first_wd = static_cast<int>(((first + 4) % 7 + 7) % 7);  // 1970-01-01: Thursday
      int day = (d.weekday - first_wd + 7) % 7 + (d.week - 1) * 7;
      while (day >= DaysInMonth(y, d.month)) day -= 7;  // week 5: the last one
      return first + day;
    }
  }
  return jan1;
}

// A small cursor over a TZ string.
class TzParser {
 public:
  explicit TzParser(std::string_view s) : s_(s) {}
  bool done() const { return i_ == s_.size(); }
  bool Peek(char c) const { return i_ < s_.size() && s_[i_] == c; }
  bool Eat(char c) {
    if (!Peek(c)) return false;
    ++i_;
    return true;
  }

  bool Name() {
    if (Eat('<')) {
      size_t start = i_;
      while (i_ < s_.size() && s_[i_] != '>') {
        char c = s_[i_];
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-') return false;
        ++i_;
      }
      return i_ - start >= 3 && Eat('>');
    }
    size_t start = i_;
    while (i_ < s_.size() && std::isalpha(static_cast<unsigned char>(s_[i_]))) ++i_;
    return i_ - start >= 3;
  }

  bool Number(int max_digits, int* out) {
    size_t start = i_;
    int v = 0;
    while (i_ < s_.size() && i_ - start < static_cast<size_t>(max_digits) &&
           std::isdigit(static_cast<unsigned char>(s_[i_]))) {
      v = v * 10 + (s_[i_++] - '0');
    }
    *out = v;
    return i_ > start;
  }

  // [+-]hh[:mm[:ss]] with hours up to max_hours → seconds.
  bool Time(int max_hours, int32_t* out) {
    int sign = 1;
    if (Eat('-')) {
      sign = -1;
    } else {
      Eat('+');
    }
    int h = 0, m = 0, sec = 0;
    if (!Number(3, &h) || h > max_hours) return false;
    if (Eat(':')) {
      if (!Number(2, &m) || m > 59) return false;
      if (Eat(':') && (!Number(2, &sec) || sec > 59)) return false;
    }
    *out = sign * (h * 3600 + m * 60 + sec);
    return true;
  }

  bool Date(PosixTz::Date* d) {
    if (Eat('M')) {
      d->kind = PosixTz::Date::Kind::kMonthWeekDay;
      if (!Number(2, &d->month) || d->month < 1 || d->month > 12 || !Eat('.') ||
          !Number(1, &d->week) || d->week < 1 || d->week > 5 || !Eat('.') ||
          !Number(1, &d->weekday) || d->weekday > 6) {
        return false;
      }
    } else if (Eat('J')) {
      d->kind = PosixTz::Date::Kind::kJulian1;
      if (!Number(3, &d->day) || d->day < 1 || d->day > 365) return false;
    } else {
      d->kind = PosixTz::Date::Kind::kJulian0;
      if (!Number(3, &d->day) || d->day > 365) return false;
    }
    d->time_s = 7200;
    return !Eat('/') || Time(167, &d->time_s);
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

bool ValidZoneName(std::string_view name) {
  if (name.empty() || name.size() > 255 || name.front() == '/' || name.back() == '/') return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '/' && c != '_' && c != '+' &&
        c != '-') {
      return false;
    }
  }
  // No "." at all, so no ".." part either; no empty parts.
  return name.find("//") == std::string_view::npos;
}

uint32_t Be32(const char* p) {
  return static_cast<uint32_t>(static_cast<uint8_t>(p[0])) << 24 |
         static_cast<uint32_t>(static_cast<uint8_t>(p[1])) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(p[2])) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(p[3]));
}

int64_t Be64(const char* p) {
  return static_cast<int64_t>(static_cast<uint64_t>(Be32(p)) << 32 | Be32(p + 4));
}

struct TzifHeader {
  char version = 0;
  uint32_t isutcnt = 0, isstdcnt = 0, leapcnt = 0, timecnt = 0, typecnt = 0, charcnt = 0;
  // Bytes of the data block after the 44-byte header, with `time_size`-byte times.
  uint64_t DataSize(int time_size) const {
    return uint64_t{timecnt} * time_size + timecnt + uint64_t{typecnt} * 6 + charcnt +
           uint64_t{leapcnt} * (time_size + 4) + isstdcnt + isutcnt;
  }
};

bool ReadHeader(std::string_view b, TzifHeader* h) {
  if (b.size() < 44 || b.substr(0, 4) != "TZif") return false;
  h->version = b[4];
  if (h->version != 0 && (h->version < '2' || h->version > '9')) return false;
  h->isutcnt = Be32(b.data() + 20);
  h->isstdcnt = Be32(b.data() + 24);
  h->leapcnt = Be32(b.data() + 28);
  h->timecnt = Be32(b.data() + 32);
  h->typecnt = Be32(b.data() + 36);
  h->charcnt = Be32(b.data() + 40);
  return h->typecnt >= 1 && h->typecnt <= 256 && (h->isutcnt == 0 || h->isutcnt == h->typecnt) &&
         (h->isstdcnt == 0 || h->isstdcnt == h->typecnt);
}

}  // namespace

Result<PosixTz> ParsePosixTz(std::string_view s) {
  TzParser p(s);
  PosixTz tz;
  int32_t west = 0;
  if (!p.Name() || !p.Time(24, &west)) return Status::InvalidArgument("TZ: standard time");
  tz.std_offset_s = -west;
  if (p.done()) return tz;
  if (!p.Name()) return Status::InvalidArgument("TZ: daylight time name");
  tz.has_dst = true;
  tz.dst_offset_s = tz.std_offset_s + 3600;
  if (!p.Peek(',') && !p.done()) {
    if (!p.Time(24, &west)) return Status::InvalidArgument("TZ: daylight offset");
    tz.dst_offset_s = -west;
  }
  if (p.done()) {
    // No rule: POSIX leaves it to the implementation; this is the US rule,
    // as glibc uses. Zone file footers always carry one.
    tz.start = {PosixTz::Date::Kind::kMonthWeekDay, 0, 3, 2, 0, 7200};
    tz.end = {PosixTz::Date::Kind::kMonthWeekDay, 0, 11, 1, 0, 7200};
    return tz;
  }
  if (!p.Eat(',') || !p.Date(&tz.start) || !p.Eat(',') || !p.Date(&tz.end) || !p.done()) {
    return Status::InvalidArgument("TZ: daylight time rule");
  }
  return tz;
}

int32_t PosixOffsetAt(const PosixTz& tz, int64_t t) noexcept {
  if (!tz.has_dst) return tz.std_offset_s;
  const int64_t year = YearOfDays(FloorDiv(t + tz.std_offset_s, kDayS));
  const int64_t start = RuleDay(tz.start, year) * kDayS + tz.start.time_s - tz.std_offset_s;
  const int64_t end = RuleDay(tz.end, year) * kDayS + tz.end.time_s - tz.dst_offset_s;
  const bool dst = start < end ? (t >= start && t < end) : !(t >= end && t < start);
  return dst ? tz.dst_offset_s : tz.std_offset_s;
}

Result<std::shared_ptr<const TimeZone>> TimeZone::FromTzif(std::string name, std::string_view b) {
  auto bad = [&](const char* what) {
    return Status::Corruption("time zone " + name + ": " + what);
  };
  TzifHeader h;
  if (!ReadHeader(b, &h)) return bad("not a TZif file");
  int time_size = 4;
  std::string_view data = b.substr(44);
  if (h.version >= '2') {
    // Skip the 32-bit block; the 64-bit one follows with a header of its own.
    uint64_t skip = h.DataSize(4);
    if (data.size() < skip) return bad("truncated");
    std::string_view second = data.substr(skip);
    if (!ReadHeader(second, &h)) return bad("bad second header");
    data = second.substr(44);
    time_size = 8;
  }
  if (data.size() < h.DataSize(time_size)) return bad("truncated");

  std::shared_ptr<TimeZone> z(new TimeZone());
  z->name_ = std::move(name);
  const char* p = data.data();
  z->transitions_.resize(h.timecnt);
  for (uint32_t i = 0; i < h.timecnt; ++i, p += time_size) {
    z->transitions_[i] = time_size == 8 ? Be64(p) : static_cast<int32_t>(Be32(p));
    if (i > 0 && z->transitions_[i] <= z->transitions_[i - 1]) return bad("unordered transitions");
  }
  z->transition_type_.assign(p, p + h.timecnt);
  p += h.timecnt;
  for (uint8_t type : z->transition_type_) {
    if (type >= h.typecnt) return bad("bad transition type");
  }
  for (uint32_t i = 0; i < h.typecnt; ++i, p += 6) {
    auto offset = static_cast<int32_t>(Be32(p));
    if (offset <= -26 * 3600 || offset >= 26 * 3600) return bad("bad offset");
    z->offsets_.push_back(offset);
  }
  if (time_size == 8) {
    // The footer: "\n" POSIX TZ string "\n" (empty: none).
    std::string_view rest = data.substr(h.DataSize(8));
    if (rest.size() < 2 || rest[0] != '\n') return bad("no footer");
    size_t nl = rest.find('\n', 1);
    if (nl == std::string_view::npos) return bad("unterminated footer");
    std::string_view tz = rest.substr(1, nl - 1);
    if (!tz.empty()) {
      Result<PosixTz> rule = ParsePosixTz(tz);
      if (!rule.ok()) return bad("bad footer");
      z->footer_ = *rule;
    }
  }
  return std::shared_ptr<const TimeZone>(std::move(z));
}

Result<std::shared_ptr<const TimeZone>> TimeZone::Named(std::string_view name) {
  if (!ValidZoneName(name)) return Status::InvalidArgument("not a time zone name");
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const TimeZone>, std::less<>> cache;
  std::lock_guard<std::mutex> l(mu);
  if (auto it = cache.find(name); it != cache.end()) return it->second;
  const char* dir = std::getenv("TZDIR");
  std::string path =
      std::string(dir != nullptr && *dir ? dir : "/usr/share/zoneinfo") + "/" + std::string(name);
  Env* env = Env::Default();
  if (!env->FileExists(path)) return Status::NotFound("unknown time zone");
  Result<uint64_t> size = env->GetFileSize(path);
  // Zone files are a few KiB; a directory or a huge file is not one.
  if (!size.ok() || *size > (1u << 20)) return Status::NotFound("unknown time zone");
  Result<std::string> bytes = ReadFileToString(env, path);
  if (!bytes.ok()) return Status::NotFound("unknown time zone");
  Result<std::shared_ptr<const TimeZone>> zone = FromTzif(std::string(name), *bytes);
  if (!zone.ok()) return zone.status();
  cache.emplace(std::string(name), *zone);
  return *zone;
}

int32_t TimeZone::OffsetAt(int64_t t) const noexcept {
  if (transitions_.empty() || t >= transitions_.back()) {
    if (footer_) return PosixOffsetAt(*footer_, t);
    return transitions_.empty() ? offsets_[0] : offsets_[transition_type_.back()];
  }
  if (t < transitions_.front()) return offsets_[0];
  size_t i = std::upper_bound(transitions_.begin(), transitions_.end(), t) - transitions_.begin();
  return offsets_[transition_type_[i - 1]];
}

}  // namespace loupe::alert
