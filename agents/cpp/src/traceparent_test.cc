#include <gtest/gtest.h>

#include "loupe/agent.h"

namespace loupe {
namespace {

constexpr char kValid[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST(Traceparent, ParsesValidHeader) {
  TraceContext c;
  ASSERT_TRUE(ParseTraceparent(kValid, &c));
  EXPECT_EQ(c.trace_id[0], 0x4b);
  EXPECT_EQ(c.trace_id[15], 0x36);
  EXPECT_EQ(c.span_id[0], 0x00);
  EXPECT_EQ(c.span_id[7], 0xb7);
  EXPECT_TRUE(c.sampled);
  EXPECT_TRUE(c.valid());
}

TEST(Traceparent, FormatRoundTrips) {
  TraceContext c;
  ASSERT_TRUE(ParseTraceparent(kValid, &c));
  EXPECT_EQ(FormatTraceparent(c), kValid);
  c.sampled = false;
  EXPECT_EQ(FormatTraceparent(c), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  EXPECT_EQ(FormatTraceparent(c).size(), 55u);
}

TEST(Traceparent, NotSampledFlag) {
  TraceContext c;
  ASSERT_TRUE(ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", &c));
  EXPECT_FALSE(c.sampled);
  ASSERT_TRUE(ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03", &c));
  EXPECT_TRUE(c.sampled);
}

TEST(Traceparent, RejectsMalformed) {
  const char* bad[] = {
      "",
      "00",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",    // short flags
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",  // v00 with extra
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",  // v00 longer
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   // upper-case trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",   // upper-case span id
      "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // upper-case version
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0G",   // non-hex flags
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // forbidden version
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   // zero trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   // zero parent id
      "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // bad separator
      "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",   // misplaced dash
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",  // trailing space
      " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",  // future, no dash
  };
  for (const char* h : bad) {
    TraceContext c;
    c.sampled = false;
    EXPECT_FALSE(ParseTraceparent(h, &c)) << h;
    EXPECT_FALSE(c.valid()) << "output untouched on failure: " << h;
  }
}

TEST(Traceparent, AcceptsFutureVersionWithExtraFields) {
  TraceContext c;
  EXPECT_TRUE(ParseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", &c));
  EXPECT_TRUE(ParseTraceparent(
      "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future", &c));
}

TEST(Traceparent, DefaultContextIsInvalid) {
  TraceContext c;
  EXPECT_FALSE(c.valid());
}

}  // namespace
}  // namespace loupe
