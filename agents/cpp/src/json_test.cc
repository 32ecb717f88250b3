#include "json.h"

#include <gtest/gtest.h>

namespace loupe::internal {
namespace {

TEST(Json, EscapesStrings) {
  std::string out;
  AppendJsonString(&out, "a\"b\\c\nd\x01");
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\nd\\u0001\"");
}

TEST(Json, CutsWithoutSplittingUtf8) {
  std::string out;
  AppendJsonString(&out, "ab\xc3\xa9", 3);  // "abé": the cut falls inside é
  EXPECT_EQ(out, "\"ab\"");
}

TEST(Json, ParsesDocument) {
  JsonValue v;
  std::string err;
  ASSERT_TRUE(ParseJson(R"({"a": [1, 2.5, -3e2], "b": {"c": "x\u00e9\n"}, "t": true, "n": null})",
                        &v, &err))
      << err;
  ASSERT_NE(v.Find("a"), nullptr);
  EXPECT_EQ(v.Find("a")->array.size(), 3u);
  EXPECT_DOUBLE_EQ(v.Find("a")->array[2].num, -300);
  EXPECT_EQ(v.Find("b")->Find("c")->str, "x\xc3\xa9\n");
  EXPECT_TRUE(v.Find("t")->b);
  EXPECT_EQ(v.Find("n")->type, JsonValue::kNull);
  EXPECT_EQ(v.Find("missing"), nullptr);
}

TEST(Json, RejectsMalformed) {
  for (const char* bad :
       {"", "{", "{\"a\" 1}", "[1,]", "{\"a\":1}x", "\"abc", "tru", "[1 2]", "{\"a\":\"\x01\"}"}) {
    JsonValue v;
    std::string err;
    EXPECT_FALSE(ParseJson(bad, &v, &err)) << bad;
  }
}

}  // namespace
}  // namespace loupe::internal
