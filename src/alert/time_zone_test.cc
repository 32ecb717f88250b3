#include "alert/time_zone.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

#include <string>

namespace loupe::alert {
namespace {

constexpr int32_t kHour = 3600;

std::shared_ptr<const TimeZone> Zone(const char* name) {
  auto z = TimeZone::Named(name);
  EXPECT_TRUE(z.ok()) << name << ": " << z.status().ToString();
  return z.ok() ? *z : nullptr;
}

TEST(TimeZone, BerlinSwitchesAtOneUtcOnTheLastSundaysOfMarchAndOctober) {
  auto z = Zone("Europe/Berlin");
  ASSERT_NE(z, nullptr);
  EXPECT_EQ(z->OffsetAt(1774745999), 1 * kHour) << "2026-03-29 00:59:59 UTC";
  EXPECT_EQ(z->OffsetAt(1774746000), 2 * kHour) << "2026-03-29 01:00:00 UTC";
  EXPECT_EQ(z->OffsetAt(1792889999), 2 * kHour) << "2026-10-25 00:59:59 UTC";
  EXPECT_EQ(z->OffsetAt(1792890000), 1 * kHour) << "2026-10-25 01:00:00 UTC";
}

TEST(TimeZone, BerlinAfterTheLastListedTransitionFollowsTheFooterRule) {
  auto z = Zone("Europe/Berlin");
  ASSERT_NE(z, nullptr);
  EXPECT_EQ(z->OffsetAt(2531955599), 1 * kHour) << "2050-03-27 00:59:59 UTC";
  EXPECT_EQ(z->OffsetAt(2531955600), 2 * kHour) << "2050-03-27 01:00:00 UTC";
  EXPECT_EQ(z->OffsetAt(2550704399), 2 * kHour) << "2050-10-30 00:59:59 UTC";
  EXPECT_EQ(z->OffsetAt(2550704400), 1 * kHour) << "2050-10-30 01:00:00 UTC";
}

TEST(TimeZone, NewYorkSwitchesOnTheSecondSundayOfMarchAndTheFirstOfNovember) {
  auto z = Zone("America/New_York");
  ASSERT_NE(z, nullptr);
  EXPECT_EQ(z->OffsetAt(1772953199), -5 * kHour) << "2026-03-08 06:59:59 UTC";
  EXPECT_EQ(z->OffsetAt(1772953200), -4 * kHour) << "2026-03-08 07:00:00 UTC";
  EXPECT_EQ(z->OffsetAt(1793512799), -4 * kHour) << "2026-11-01 05:59:59 UTC";
  EXPECT_EQ(z->OffsetAt(1793512800), -5 * kHour) << "2026-11-01 06:00:00 UTC";
  EXPECT_EQ(z->OffsetAt(-618105600), -4 * kHour) << "1950-06-01: history, not today's rule";
}

// glibc reads the same files with its own code: every hour from 1970 to 2080
// must agree (the footer's years included).
TEST(TimeZone, AgreesWithTheCLibraryEveryHourFrom1970To2080) {
  const char* old = getenv("TZ");
  std::string saved = old != nullptr ? old : "";
  for (const char* name : {"Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata",
                           "America/Nuuk", "Pacific/Chatham"}) {
    auto z = Zone(name);
    ASSERT_NE(z, nullptr);
    setenv("TZ", name, 1);
    tzset();
    int mismatches = 0;
    for (int64_t t = 0; t < 3'471'292'800 && mismatches < 5; t += kHour) {  // to 2080
      time_t tt = static_cast<time_t>(t);
      struct tm tm;
      localtime_r(&tt, &tm);
      if (tm.tm_gmtoff != z->OffsetAt(t)) {
        ++mismatches;
        ADD_FAILURE() << name << " at " << t << ": " << z->OffsetAt(t) << " vs libc "
                      << tm.tm_gmtoff;
      }
    }
  }
  if (old != nullptr) {
    setenv("TZ", saved.c_str(), 1);
  } else {
    unsetenv("TZ");
  }
  tzset();
}

TEST(TimeZone, NamesThatAreNotZonesAreRefused) {
  EXPECT_EQ(TimeZone::Named("../../etc/passwd").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(TimeZone::Named("/etc/passwd").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(TimeZone::Named("").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(TimeZone::Named("Mars/Olympus").status().code(), Status::Code::kNotFound);
  EXPECT_FALSE(TimeZone::Named("Europe").ok()) << "a directory";
  EXPECT_EQ(*TimeZone::Named("Europe/Berlin"), *TimeZone::Named("Europe/Berlin")) << "cached";
}

TEST(TimeZone, DamagedFilesAreCorruption) {
  EXPECT_FALSE(TimeZone::FromTzif("x", "").ok());
  EXPECT_FALSE(TimeZone::FromTzif("x", "TZif2").ok());
  EXPECT_FALSE(TimeZone::FromTzif("x", std::string(60, 'x')).ok());
}

TEST(PosixTz, ParsesOffsetsNamesAndRules) {
  auto cet = ParsePosixTz("CET-1CEST,M3.5.0,M10.5.0/3");
  ASSERT_TRUE(cet.ok());
  EXPECT_EQ(cet->std_offset_s, kHour);
  EXPECT_EQ(cet->dst_offset_s, 2 * kHour);
  EXPECT_EQ(cet->start.month, 3);
  EXPECT_EQ(cet->start.week, 5);
  EXPECT_EQ(cet->start.time_s, 2 * kHour);
  EXPECT_EQ(cet->end.time_s, 3 * kHour);
  auto india = ParsePosixTz("IST-5:30");
  ASSERT_TRUE(india.ok());
  EXPECT_FALSE(india->has_dst);
  EXPECT_EQ(india->std_offset_s, 5 * kHour + 30 * 60);
  auto quoted = ParsePosixTz("<-03>3<-02>,M3.5.0/-2,M10.5.0/-1");
  ASSERT_TRUE(quoted.ok());
  EXPECT_EQ(quoted->std_offset_s, -3 * kHour);
  EXPECT_EQ(quoted->dst_offset_s, -2 * kHour);
  EXPECT_EQ(quoted->start.time_s, -2 * kHour);
  auto julian = ParsePosixTz("EST5EDT,J60/0,300/25");
  ASSERT_TRUE(julian.ok());
  EXPECT_EQ(julian->start.kind, PosixTz::Date::Kind::kJulian1);
  EXPECT_EQ(julian->end.kind, PosixTz::Date::Kind::kJulian0);
  EXPECT_EQ(julian->end.time_s, 25 * kHour);
  for (const char* bad : {"", "C-1", "CET", "CET-1CEST,M13.1.0,M10.5.0", "CET-1CEST,M3.5.0",
                          "CET-1CEST,J0,J10", "CET-1CEST,M3.5.7,M10.5.0", "<+03-3", "CET-1x"}) {
    EXPECT_FALSE(ParsePosixTz(bad).ok()) << bad;
  }
}

TEST(PosixTz, SouthernHemisphereDaylightTimeSpansNewYear) {
  auto sydney = ParsePosixTz("AEST-10AEDT,M10.1.0,M4.1.0/3");
  ASSERT_TRUE(sydney.ok());
  EXPECT_EQ(PosixOffsetAt(*sydney, 1798761600), 11 * kHour) << "2027-01-01: summer";
  EXPECT_EQ(PosixOffsetAt(*sydney, 1784073600), 10 * kHour) << "2026-07-15: winter";
}

TEST(PosixTz, JulianDaysCountOrSkipFebruary29) {
  // Daylight time from day J60 (March 1, also in leap years) / day 59
  // (counting February 29: March 1 in common years, February 29 in leap years).
  auto j1 = ParsePosixTz("AAA0BBB,J60/0,J300/0");
  auto j0 = ParsePosixTz("AAA0BBB,59/0,J300/0");
  ASSERT_TRUE(j1.ok() && j0.ok());
  const int64_t feb29_2028 = 1835395200;  // 2028-02-29 00:00 UTC
  EXPECT_EQ(PosixOffsetAt(*j1, feb29_2028 + 12 * kHour), 0);
  EXPECT_EQ(PosixOffsetAt(*j1, feb29_2028 + 24 * kHour), kHour);
  EXPECT_EQ(PosixOffsetAt(*j0, feb29_2028 + 12 * kHour), kHour);
}

}  // namespace
}  // namespace loupe::alert
