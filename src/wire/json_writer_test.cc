#include "wire/json_writer.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <cmath>
#include <cstdint>
#include <string>

namespace loupe::wire {
namespace {

TEST(JsonWriter, NumbersAndIds) {
  std::string out;
  {
    JsonWriter w(&out);
    w.StartArray();
    for (int64_t us : {int64_t{0}, int64_t{1}, int64_t{10}, int64_t{120}, int64_t{1000},
                       int64_t{150'377}, int64_t{-3'250}, int64_t{1'700'000'000'150'500}}) {
      w.Millis(us);
    }
    w.Double(std::nan(""));
    w.Double(INFINITY);
    w.Double(35.2);
    w.Double(1.0 / 3);
    w.Hex64(0x9f2c000000000001ULL);
    const uint8_t b[2] = {0x0a, 0xff};
    w.Hex(b, 2);
    w.EndArray();
  }
  EXPECT_EQ(out,
            "[0,0.001,0.01,0.12,1,150.377,-3.25,1700000000150.5,null,null,35.2,0.3333333333333333,"
            "\"9f2c000000000001\",\"0aff\"]");
}

TEST(JsonWriter, AppendsToExistingText) {
  std::string out = "prefix:";
  {
    JsonWriter w(&out);
    w.StartObject();
    w.Field("a", "b");
    w.EndObject();
  }
  EXPECT_EQ(out, "prefix:{\"a\":\"b\"}");
}

TEST(JsonWriter, LargeOutputGrows) {
  std::string out;
  JsonWriter w(&out);
  w.StartArray();
  for (int i = 0; i < 100'000; ++i) w.String("value\n");
  w.EndArray();
  w.Finish();
  EXPECT_EQ(out.size(), 2 + 100'000 * 10 - 1);
  EXPECT_EQ(out.substr(0, 11), "[\"value\\n\",");
}

TEST(Utf8, SanitizeReplacesMaximalIllFormedSubsequences) {
  std::string out;
  struct Case {
    std::string in, want;
  } cases[] = {
      {"plain", "plain"},
      {"caf\xc3\xa9", "caf\xc3\xa9"},
      {"\xe2\x82\xac \xf0\x9f\x98\x80", "\xe2\x82\xac \xf0\x9f\x98\x80"},
      {"a\xff"
       "b",
       "a\xef\xbf\xbd"
       "b"},
      {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},                  // overlong
      {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},  // surrogate
      {"\xe2\x82", "\xef\xbf\xbd"},                              // truncated: one replacement
      {"\xe2\x82x", "\xef\xbf\xbdx"},
      {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},  // > U+10FFFF
      {"\xf0\x9f\x98", "\xef\xbf\xbd"},
  };
  for (const auto& c : cases) {
    SanitizeUtf8(c.in, &out);
    EXPECT_EQ(out, c.want) << c.in;
    EXPECT_EQ(ValidUtf8Prefix(c.in) == c.in.size(), c.in == c.want) << c.in;
  }
}

TEST(JsonWriter, AnyBytesGiveValidJsonWithTheSanitizedText) {
  // Every string of one or two bytes around a fixed context, as key and as
  // value: control characters, quotes, backslashes, lone continuation bytes,
  // truncated and overlong sequences.
  std::string in, out, want;
  for (int a = 0; a < 256; ++a) {
    for (int b = -1; b < 256; ++b) {
      in = "x";
      in.push_back(static_cast<char>(a));
      if (b >= 0) in.push_back(static_cast<char>(b));
      in += "</y>";
      out.clear();
      {
        JsonWriter w(&out);
        w.StartObject();
        w.Field(in, in);
        w.EndObject();
      }
      rapidjson::Document d;
      d.Parse<rapidjson::kParseValidateEncodingFlag>(out.data(), out.size());
      ASSERT_FALSE(d.HasParseError()) << out;
      ASSERT_TRUE(d.IsObject() && d.MemberCount() == 1) << out;
      SanitizeUtf8(in, &want);
      const auto& m = *d.MemberBegin();
      ASSERT_EQ(std::string(m.name.GetString(), m.name.GetStringLength()), want) << out;
      ASSERT_EQ(std::string(m.value.GetString(), m.value.GetStringLength()), want) << out;
    }
  }
}

}  // namespace
}  // namespace loupe::wire
