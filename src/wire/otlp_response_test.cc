#include "wire/otlp_response.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <string>

namespace loupe::wire {
namespace {

using namespace std::string_literals;

TEST(OtlpResponse, FullSuccessIsEmpty) {
  EXPECT_EQ(EncodeExportResponseProto(0, ""), "");
  EXPECT_EQ(EncodeExportResponseJson(0, ""), "{}");
}

TEST(OtlpResponse, PartialSuccessProto) {
  // partial_success { rejected_spans: 3 error_message: "bad" }
  EXPECT_EQ(EncodeExportResponseProto(3, "bad"),
            "\x0a\x07\x08\x03\x12\x03"
            "bad"s);
  EXPECT_EQ(EncodeExportResponseProto(300, ""), "\x0a\x03\x08\xac\x02"s);
  EXPECT_EQ(EncodeExportResponseProto(0, "warn"), "\x0a\x06\x12\x04warn"s);
  // Negative int64: ten-byte two's complement varint.
  EXPECT_EQ(EncodeExportResponseProto(-1, ""),
            "\x0a\x0b\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"s);
}

TEST(OtlpResponse, PartialSuccessJson) {
  EXPECT_EQ(EncodeExportResponseJson(3, "bad"),
            R"({"partialSuccess":{"rejectedSpans":"3","errorMessage":"bad"}})");
  EXPECT_EQ(EncodeExportResponseJson(3, ""), R"({"partialSuccess":{"rejectedSpans":"3"}})");
  EXPECT_EQ(EncodeExportResponseJson(0, "w"), R"({"partialSuccess":{"errorMessage":"w"}})");
}

TEST(OtlpResponse, MetricsPartialSuccessJsonCountsDataPoints) {
  EXPECT_EQ(EncodeMetricsExportResponseJson(0, ""), "{}");
  EXPECT_EQ(EncodeMetricsExportResponseJson(2, "skipped"),
            R"({"partialSuccess":{"rejectedDataPoints":"2","errorMessage":"skipped"}})");
}

TEST(OtlpResponse, JsonEscapesAnyMessage) {
  std::string message = "q\"b\\n\n\t\x01 é \xff end"s;
  std::string json = EncodeExportResponseJson(1, message);
  rapidjson::Document d;
  d.Parse(json.c_str());
  ASSERT_FALSE(d.HasParseError()) << json;
  EXPECT_EQ(std::string(d["partialSuccess"]["errorMessage"].GetString()),
            "q\"b\\n\n\t\x01 é \xef\xbf\xbd end");

  json = EncodeRpcStatusJson(3, message);
  d.Parse(json.c_str());
  ASSERT_FALSE(d.HasParseError()) << json;
  EXPECT_EQ(d["code"].GetInt(), 3);
}

TEST(OtlpResponse, RpcStatus) {
  EXPECT_EQ(EncodeRpcStatusProto(3, "bad span"),
            "\x08\x03\x12\x08"
            "bad span"s);
  EXPECT_EQ(EncodeRpcStatusProto(0, ""), "");
  EXPECT_EQ(EncodeRpcStatusProto(-2, ""), "\x08\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x01"s);
  EXPECT_EQ(EncodeRpcStatusJson(8, "slow down"), R"({"code":8,"message":"slow down"})");
  EXPECT_EQ(EncodeRpcStatusJson(0, ""), R"({"code":0,"message":""})");
}

}  // namespace
}  // namespace loupe::wire
