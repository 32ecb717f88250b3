#include "wire/otlp_json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "testing/otlp_builder.h"
#include "wire/otlp_proto.h"

namespace loupe::wire {
namespace {

using model::AttrValue;
using model::SpanBatch;
using testing::Attr;
using testing::MakeEvent;
using testing::MakeResource;
using testing::MakeScope;
using testing::ResourceSpec;
using testing::SpanIdBytes;
using testing::SpanSpec;
using testing::TraceIdBytes;
using testing::Value;

constexpr uint64_t kStart = 1'700'000'000'123'456'789;

SpanSpec MakeSpan(uint64_t id, uint64_t parent = 0) {
  SpanSpec s;
  s.trace_id = TraceIdBytes(0x0102030405060708, 0x090a0b0c0d0e0f10);
  s.span_id = SpanIdBytes(id);
  if (parent != 0) s.parent_span_id = SpanIdBytes(parent);
  s.name = "span-" + std::to_string(id);
  s.kind = 2;
  s.start_time_unix_nano = kStart;
  s.end_time_unix_nano = kStart + 5'000'000;
  return s;
}

std::vector<ResourceSpec> RichSpec() {
  SpanSpec a = MakeSpan(1);
  a.attributes = {{"http.method", "GET"},
                  {"http.status_code", 200},
                  {"big", std::numeric_limits<int64_t>::min()},
                  {"ratio", 0.1},
                  {"nan", std::nan("")},
                  {"ok", true},
                  {"tags", Value::Array({"a", 1, Value::Array({2.5, false})})},
                  {"map", Value::KvList({{"k", "v\n\"q\""}, {"n", Value::KvList({{"x", 1}})}})},
                  {"raw", Value::Bytes(std::string("\x00\xff\x10", 3))},
                  {"empty", Value()},
                  {"utf8", "日本語 😀"}};
  a.events = {MakeEvent(kStart + 1, "exception",
                        {{"exception.type", "IOError"}, {"exception.message", "boom"}}),
              MakeEvent(kStart + 2, "second")};
  a.status_code = 2;
  a.status_message = "failed";
  a.flags = 0x301;
  a.dropped_attributes_count = 3;
  a.dropped_events_count = 4;
  SpanSpec b = MakeSpan(2, 1);
  b.kind = 3;
  b.attributes = {{"db.statement", "SELECT 1"}};
  ResourceSpec r0 = MakeResource({{"service.name", "shop"}, {"host.name", "h1"}},
                                 {MakeScope("io.a", {a}), MakeScope("io.b", {b})});
  return {r0, MakeResource({{"service.name", "other"}}, {MakeScope("", {MakeSpan(3)})})};
}

void ExpectSameValue(const AttrValue& a, const AttrValue& b, std::string_view key) {
  ASSERT_EQ(a.type, b.type) << key;
  switch (a.type) {
    case AttrValue::Type::kBool:
      EXPECT_EQ(a.b, b.b) << key;
      break;
    case AttrValue::Type::kInt:
      EXPECT_EQ(a.i, b.i) << key;
      break;
    case AttrValue::Type::kDouble:
      if (std::isnan(a.d)) {
        EXPECT_TRUE(std::isnan(b.d)) << key;
      } else {
        EXPECT_EQ(a.d, b.d) << key;
      }
      break;
    case AttrValue::Type::kEmpty:
      break;
    default:
      EXPECT_EQ(a.s, b.s) << key;
  }
}

void ExpectSameAttrs(const SpanBatch& a, model::AttrRange ra, const SpanBatch& b,
                     model::AttrRange rb) {
  ASSERT_EQ(ra.count, rb.count);
  for (uint32_t i = 0; i < ra.count; ++i) {
    const auto& x = a.attrs[ra.begin + i];
    const auto& y = b.attrs[rb.begin + i];
    EXPECT_EQ(x.key, y.key);
    ExpectSameValue(x.value, y.value, x.key);
  }
}

void ExpectSameBatch(const SpanBatch& a, const SpanBatch& b) {
  ASSERT_EQ(a.resources.size(), b.resources.size());
  for (size_t i = 0; i < a.resources.size(); ++i) {
    ExpectSameAttrs(a, a.resources[i].attrs, b, b.resources[i].attrs);
  }
  ASSERT_EQ(a.spans.size(), b.spans.size());
  for (size_t i = 0; i < a.spans.size(); ++i) {
    const model::Span& x = a.spans[i];
    const model::Span& y = b.spans[i];
    EXPECT_EQ(x.trace_id, y.trace_id);
    EXPECT_EQ(x.span_id, y.span_id);
    EXPECT_EQ(x.parent_span_id, y.parent_span_id);
    EXPECT_EQ(x.flags, y.flags);
    EXPECT_EQ(x.kind, y.kind);
    EXPECT_EQ(x.status, y.status);
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.status_message, y.status_message);
    EXPECT_EQ(x.start_unix_nano, y.start_unix_nano);
    EXPECT_EQ(x.end_unix_nano, y.end_unix_nano);
    EXPECT_EQ(x.resource, y.resource);
    EXPECT_EQ(x.scope_name, y.scope_name);
    EXPECT_EQ(x.dropped_attributes, y.dropped_attributes);
    EXPECT_EQ(x.dropped_events, y.dropped_events);
    ExpectSameAttrs(a, x.attrs, b, y.attrs);
    ASSERT_EQ(x.events_count, y.events_count);
    for (uint32_t e = 0; e < x.events_count; ++e) {
      const auto& ex = a.events[x.events_begin + e];
      const auto& ey = b.events[y.events_begin + e];
      EXPECT_EQ(ex.time_unix_nano, ey.time_unix_nano);
      EXPECT_EQ(ex.name, ey.name);
      ExpectSameAttrs(a, ex.attrs, b, ey.attrs);
    }
  }
  EXPECT_EQ(a.truncated_values, b.truncated_values);
  EXPECT_EQ(a.dropped_attributes, b.dropped_attributes);
  EXPECT_EQ(a.dropped_events, b.dropped_events);
  EXPECT_EQ(a.invalid_spans, b.invalid_spans);
}

Status Decode(std::string json, SpanBatch* batch, const DecodeLimits& limits = {}) {
  // The batch views into the body; keep bodies alive for the test's duration.
  static std::vector<std::unique_ptr<std::string>> bodies;
  bodies.push_back(std::make_unique<std::string>(std::move(json)));
  return DecodeTracesJson(bodies.back().get(), limits, batch);
}

// A request with one span whose members are `span_members` (JSON text).
std::string SpanJson(std::string_view span_members) {
  return R"({"resourceSpans":[{"scopeSpans":[{"spans":[{)" + std::string(span_members) + "}]}]}]}";
}

constexpr std::string_view kIds =
    R"("traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0000000000000001")";

TEST(OtlpJson, DecodesLikeProtobuf) {
  std::string proto = testing::EncodeTraceRequest(RichSpec());
  SpanBatch from_proto;
  ASSERT_TRUE(DecodeTracesProto(proto, {}, &from_proto).ok());
  SpanBatch from_json;
  Status st = Decode(testing::EncodeTraceRequestJson(RichSpec()), &from_json);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(from_json.spans.size(), 3u);
  ExpectSameBatch(from_proto, from_json);
  EXPECT_EQ(from_json.Find(from_json.spans[0].attrs, "map")->value.s,
            R"({"k":"v\n\"q\"","n":{"x":1}})");
  EXPECT_EQ(from_json.Find(from_json.spans[0].attrs, "raw")->value.s, "00ff10");
}

TEST(OtlpJson, LimitsApplyAsForProtobuf) {
  DecodeLimits limits;
  limits.max_attributes_per_span = 8;
  limits.max_attributes_per_resource = 1;
  limits.max_events_per_span = 1;
  limits.max_attributes_per_event = 1;
  limits.max_value_bytes = 11;  // cuts inside 😀 and inside the renderings
  limits.max_key_bytes = 10;
  SpanBatch from_proto, from_json;
  std::string proto = testing::EncodeTraceRequest(RichSpec());
  ASSERT_TRUE(DecodeTracesProto(proto, limits, &from_proto).ok());
  ASSERT_TRUE(Decode(testing::EncodeTraceRequestJson(RichSpec()), &from_json, limits).ok());
  ExpectSameBatch(from_proto, from_json);
  EXPECT_GT(from_json.truncated_values, 0u);
  EXPECT_GT(from_json.dropped_attributes, 0u);
  EXPECT_EQ(from_json.dropped_events, 1u);
}

// docs/design/ingest.md §2.4 keeps SQL texts and stack traces up to 16 KiB;
// every other value is cut at 8 KiB. Both decoders, at the boundary.
TEST(OtlpJson, SqlAndStackTextsAreKeptUpTo16KiBOtherValuesUpTo8KiB) {
  const std::string k16(16384, 'q'), k16_plus(16385, 's'), k8_plus(8193, 'o');
  SpanSpec span = MakeSpan(1);
  span.attributes = {{"db.statement", k16},
                     {"db.query.text", k16_plus},
                     {"other", k8_plus},
                     {"other.exact", std::string(8192, 'e')}};
  span.events = {MakeEvent(kStart + 1, "exception", {{"exception.stacktrace", k16_plus}})};
  std::vector<ResourceSpec> spec = {
      MakeResource({{"service.name", "shop"}}, {MakeScope("", {span})})};
  SpanBatch from_proto, from_json;
  const std::string proto = testing::EncodeTraceRequest(spec);  // the batches point into it
  ASSERT_TRUE(DecodeTracesProto(proto, {}, &from_proto).ok());
  ASSERT_TRUE(Decode(testing::EncodeTraceRequestJson(spec), &from_json).ok());
  for (const SpanBatch* b : {&from_proto, &from_json}) {
    const model::Span& s = b->spans[0];
    EXPECT_EQ(b->Find(s.attrs, "db.statement")->value.s, k16);
    EXPECT_EQ(b->Find(s.attrs, "db.query.text")->value.s, k16_plus.substr(0, 16384));
    EXPECT_EQ(b->Find(s.attrs, "other")->value.s, k8_plus.substr(0, 8192));
    EXPECT_EQ(b->Find(s.attrs, "other.exact")->value.s.size(), 8192u);
    ASSERT_EQ(s.events_count, 1u);
    EXPECT_EQ(b->Find(b->events[s.events_begin].attrs, "exception.stacktrace")->value.s.size(),
              16384u);
    EXPECT_EQ(b->truncated_values, 3u);
  }
}

TEST(OtlpJson, AcceptsHexIdsInAnyCase) {
  SpanBatch batch;
  ASSERT_TRUE(Decode(SpanJson(R"("traceId":"0102030405060708090A0B0C0D0E0F10",)"
                              R"("spanId":"ABCDEF0123456789","parentSpanId":"fEdCbA9876543210")"),
                     &batch)
                  .ok());
  ASSERT_EQ(batch.spans.size(), 1u);
  model::TraceId trace{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  EXPECT_EQ(batch.spans[0].trace_id, trace);
  EXPECT_EQ(batch.spans[0].span_id, 0xabcdef0123456789u);
  EXPECT_EQ(batch.spans[0].parent_span_id, 0xfedcba9876543210u);
}

TEST(OtlpJson, SkipsAndCountsSpansWithInvalidIds) {
  const char* bad[] = {
      R"("traceId":"0102030405060708090a0b0c0d0e0f1","spanId":"0000000000000001")",
      R"("traceId":"0102030405060708090a0b0c0d0e0f1g","spanId":"0000000000000001")",
      R"("traceId":"AQIDBAUGBwgJCgsMDQ4PEA==","spanId":"0000000000000001")",  // base64
      R"("traceId":"00000000000000000000000000000000","spanId":"0000000000000001")",
      R"("traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0000000000000000")",
      R"("traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"00000000000001")",
      R"("traceId":"0102030405060708090a0b0c0d0e0f10")",
      R"("spanId":"0000000000000001")",
      R"("traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0000000000000001",)"
      R"("parentSpanId":"01")",
  };
  std::string spans;
  for (const char* members : bad) {
    spans += std::string("{") + members + R"(,"attributes":[{"key":"k","value":{}}]},)";
  }
  spans += "{" + std::string(kIds) + R"(,"parentSpanId":""})";
  SpanBatch batch;
  Status st = Decode(R"({"resourceSpans":[{"scopeSpans":[{"spans":[)" + spans + "]}]}]}", &batch);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(batch.invalid_spans, std::size(bad));
  ASSERT_EQ(batch.spans.size(), 1u);
  EXPECT_EQ(batch.spans[0].parent_span_id, 0u);
  EXPECT_TRUE(batch.attrs.empty());
}

TEST(OtlpJson, AcceptsEnumNamesAndNumbers) {
  struct Case {
    std::string members;
    model::SpanKind kind;
    model::SpanStatus status;
  };
  std::vector<Case> cases = {
      {R"("kind":"SPAN_KIND_SERVER","status":{"code":"STATUS_CODE_ERROR"})",
       model::SpanKind::kServer, model::SpanStatus::kError},
      {R"("kind":"SPAN_KIND_CONSUMER","status":{"code":"STATUS_CODE_OK"})",
       model::SpanKind::kConsumer, model::SpanStatus::kOk},
      {R"("kind":3,"status":{"code":2})", model::SpanKind::kClient, model::SpanStatus::kError},
      {R"("kind":"SPAN_KIND_BOGUS","status":{"code":7})", model::SpanKind::kUnspecified,
       model::SpanStatus::kUnset},
      {R"("kind":-1,"status":{"code":"STATUS_CODE_UNSET"})", model::SpanKind::kUnspecified,
       model::SpanStatus::kUnset},
  };
  for (const auto& c : cases) {
    SpanBatch batch;
    Status st = Decode(SpanJson(std::string(kIds) + "," + c.members), &batch);
    ASSERT_TRUE(st.ok()) << c.members << st.ToString();
    EXPECT_EQ(batch.spans[0].kind, c.kind) << c.members;
    EXPECT_EQ(batch.spans[0].status, c.status) << c.members;
  }
}

TEST(OtlpJson, AcceptsInt64AsStringsOrNumbers) {
  SpanBatch batch;
  Status st = Decode(
      SpanJson(
          std::string(kIds) +
          R"(,"startTimeUnixNano":1700000000123456789,"endTimeUnixNano":"18446744073709551615",)"
          R"("droppedAttributesCount":"2","flags":"769","attributes":[)"
          R"({"key":"a","value":{"intValue":"-9223372036854775808"}},)"
          R"({"key":"b","value":{"intValue":42}},)"
          R"({"key":"c","value":{"intValue":1e3}},)"
          R"({"key":"d","value":{"doubleValue":"NaN"}},)"
          R"({"key":"e","value":{"doubleValue":"-Infinity"}},)"
          R"({"key":"f","value":{"doubleValue":"2.5"}},)"
          R"({"key":"g","value":{"doubleValue":3}}])"
          R"(,"events":[{"timeUnixNano":"5","name":"e"}])"),
      &batch);
  ASSERT_TRUE(st.ok()) << st.ToString();
  const auto& s = batch.spans[0];
  EXPECT_EQ(s.start_unix_nano, 1700000000123456789u);
  EXPECT_EQ(s.end_unix_nano, UINT64_MAX);
  EXPECT_EQ(s.dropped_attributes, 2u);
  EXPECT_EQ(s.flags, 769u);
  EXPECT_EQ(batch.Find(s.attrs, "a")->value.i, std::numeric_limits<int64_t>::min());
  EXPECT_EQ(batch.Find(s.attrs, "b")->value.i, 42);
  EXPECT_EQ(batch.Find(s.attrs, "c")->value.i, 1000);
  EXPECT_TRUE(std::isnan(batch.Find(s.attrs, "d")->value.d));
  EXPECT_EQ(batch.Find(s.attrs, "e")->value.d, -HUGE_VAL);
  EXPECT_EQ(batch.Find(s.attrs, "f")->value.d, 2.5);
  EXPECT_EQ(batch.Find(s.attrs, "g")->value.d, 3.0);
  EXPECT_EQ(batch.events[s.events_begin].time_unix_nano, 5u);
}

// Regression (fuzz finding): with kParseFullPrecisionFlag a zero significand
// with a large exponent took RapidJSON's slow strtod path, which calls clz(0)
// and produced -1.55e231 for 0e42. The decoder no longer uses that path.
TEST(OtlpJson, ZeroWithHugeExponentDecodesAsZero) {
  SpanBatch batch;
  Status st =
      Decode(SpanJson(std::string(kIds) + R"(,"attributes":[)"
                                          R"({"key":"a","value":{"doubleValue":0e42}},)"
                                          R"({"key":"b","value":{"doubleValue":0.0e-400}}])"),
             &batch);
  ASSERT_TRUE(st.ok()) << st.ToString();
  const auto& s = batch.spans[0];
  EXPECT_EQ(batch.Find(s.attrs, "a")->value.d, 0.0);
  EXPECT_EQ(batch.Find(s.attrs, "b")->value.d, 0.0);
}

TEST(OtlpJson, AcceptsSnakeCaseProtoFieldNames) {
  std::string json = R"({"resource_spans":[{"resource":{"attributes":[
      {"key":"service.name","value":{"string_value":"svc"}}]},
    "scope_spans":[{"scope":{"name":"sc"},"spans":[{
      "trace_id":"0102030405060708090a0b0c0d0e0f10","span_id":"0000000000000002",
      "parent_span_id":"0000000000000001","name":"n","kind":2,
      "start_time_unix_nano":"10","end_time_unix_nano":"20",
      "dropped_attributes_count":1,"dropped_events_count":2,
      "attributes":[{"key":"b","value":{"bool_value":true}},
                    {"key":"i","value":{"int_value":"7"}},
                    {"key":"d","value":{"double_value":0.5}},
                    {"key":"x","value":{"bytes_value":"AQI="}},
                    {"key":"a","value":{"array_value":{"values":[{"int_value":1}]}}},
                    {"key":"k","value":{"kvlist_value":{"values":[{"key":"z","value":null}]}}}],
      "events":[{"time_unix_nano":"15","name":"ev"}]}]}]}]})";
  SpanBatch batch;
  Status st = Decode(json, &batch);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(batch.spans.size(), 1u);
  const auto& s = batch.spans[0];
  EXPECT_EQ(batch.Find(batch.resources[0].attrs, "service.name")->value.s, "svc");
  EXPECT_EQ(s.scope_name, "sc");
  EXPECT_EQ(s.parent_span_id, 1u);
  EXPECT_EQ(s.start_unix_nano, 10u);
  EXPECT_EQ(s.end_unix_nano, 20u);
  EXPECT_EQ(s.dropped_attributes, 1u);
  EXPECT_EQ(s.dropped_events, 2u);
  EXPECT_TRUE(batch.Find(s.attrs, "b")->value.b);
  EXPECT_EQ(batch.Find(s.attrs, "i")->value.i, 7);
  EXPECT_EQ(batch.Find(s.attrs, "d")->value.d, 0.5);
  EXPECT_EQ(batch.Find(s.attrs, "x")->value.s, "0102");
  EXPECT_EQ(batch.Find(s.attrs, "a")->value.s, "[1]");
  EXPECT_EQ(batch.Find(s.attrs, "k")->value.s, R"({"z":null})");
  EXPECT_EQ(batch.events[s.events_begin].time_unix_nano, 15u);
}

TEST(OtlpJson, AcceptsDeprecatedInstrumentationLibrarySpans) {
  SpanBatch batch;
  Status st = Decode(R"({"resourceSpans":[{"instrumentationLibrarySpans":[{
      "instrumentationLibrary":{"name":"lib"},"spans":[{)" +
                         std::string(kIds) + "}]}]}]}",
                     &batch);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(batch.spans.size(), 1u);
  EXPECT_EQ(batch.spans[0].scope_name, "lib");
}

TEST(OtlpJson, IgnoresUnknownFieldsAndTreatsNullAsAbsent) {
  SpanBatch batch;
  Status st = Decode(R"({"unknown":{"deep":[1,2,{"x":null}]},"resourceSpans":[{
      "resource":null,"schemaUrl":"u","scopeSpans":[{"scope":null,"spans":[{)" +
                         std::string(kIds) + R"(,"name":null,"kind":null,"status":null,
      "attributes":null,"events":null,"links":[{"traceId":"zz"}],"traceState":"a=b",
      "someFutureField":{"a":[true]}}]}]}]})",
                     &batch);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(batch.spans.size(), 1u);
  EXPECT_EQ(batch.spans[0].name, "");
  EXPECT_EQ(batch.spans[0].attrs.count, 0u);
}

TEST(OtlpJson, RejectsWrongTypesNamingTheField) {
  struct Case {
    std::string json;
    std::string message;
  };
  const std::string ids(kIds);
  std::vector<Case> cases = {
      {R"({"resourceSpans":{}})", "resourceSpans: expected an array"},
      {R"({"resourceSpans":[5]})", "resourceSpans[0]: expected an object"},
      {R"({"resourceSpans":[{"scopeSpans":[{"spans":"x"}]}]})",
       "resourceSpans[0].scopeSpans[0].spans: expected an array"},
      {SpanJson(ids + R"(,"kind":true)"), "spans[0].kind: expected an enum number or name"},
      {SpanJson(R"("traceId":5)"), "traceId: expected a hex string"},
      {SpanJson(ids + R"(,"startTimeUnixNano":"12a")"), "startTimeUnixNano: expected an unsigned"},
      {SpanJson(ids + R"(,"startTimeUnixNano":-1)"), "startTimeUnixNano: expected an unsigned"},
      {SpanJson(ids + R"(,"startTimeUnixNano":1.5)"), "startTimeUnixNano: expected an unsigned"},
      {SpanJson(ids + R"(,"droppedAttributesCount":"4294967296")"), "exceeds 32 bits"},
      {SpanJson(ids + R"(,"name":1)"), "spans[0].name: expected a string"},
      {SpanJson(ids + R"(,"attributes":{})"), "attributes: expected an array"},
      {SpanJson(ids + R"(,"attributes":[{"key":"k","value":{"stringValue":5}}])"),
       "attributes[0].value.stringValue: expected a string"},
      {SpanJson(ids + R"(,"attributes":[{"key":"k","value":{"boolValue":"true"}}])"),
       "boolValue: expected true or false"},
      {SpanJson(ids + R"(,"attributes":[{"key":"k","value":{"intValue":"9223372036854775808"}}])"),
       "intValue: expected a signed 64-bit integer"},
      {SpanJson(ids + R"(,"attributes":[{"key":"k","value":{"doubleValue":"x"}}])"),
       "doubleValue: expected a number"},
      {SpanJson(ids + R"(,"attributes":[{"key":"k","value":{"bytesValue":"@@"}}])"),
       "bytesValue: invalid base64"},
      {SpanJson(ids + R"(,"attributes":[{"key":"k","value":"v"}])"),
       "attributes[0].value: expected an object"},
      {SpanJson(ids + R"(,"attributes":[{"key":5}])"), "attributes[0].key: expected a string"},
      {SpanJson(
           ids +
           R"(,"attributes":[{"key":"k","value":{"arrayValue":{"values":[{"intValue":[]}]}}}])"),
       "arrayValue.values[0].intValue: expected a signed"},
      {SpanJson(ids + R"(,"events":[{"timeUnixNano":{}}])"), "events[0].timeUnixNano"},
      {SpanJson(ids + R"(,"status":{"message":false})"), "status.message: expected a string"},
  };
  for (const auto& c : cases) {
    SpanBatch batch;
    Status st = Decode(c.json, &batch);
    EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << c.json;
    EXPECT_NE(st.message().find(c.message), std::string::npos)
        << c.json << "\n  got: " << st.message();
  }
}

TEST(OtlpJson, RejectsMalformedJsonWithOffset) {
  struct Case {
    std::string json;
    std::string message;
  };
  std::vector<Case> cases = {
      {"", "at byte 0: The document is empty."},
      {"{", "at byte 1"},
      {R"({"a":})", "at byte 5: Invalid value."},
      {"{} x", "at byte 3: The document root must not be followed by other values."},
      {"[]", "(root): expected an object"},
      {"\"s\"", "(root): expected an object"},
      {std::string("{\"a\":\"\xff\"}"), "at byte 6: invalid UTF-8"},
      {std::string("{\"a\":\"\xed\xa0\x80\"}"), "at byte 6: invalid UTF-8"},  // surrogate
      {std::string("{\"a\":\"\xe7"), "at byte 6: invalid UTF-8"},  // cut sequence at the end
      {std::string("{\"a\":\"\xc3\xa9\"}\n\xc0\xaf"), "at byte 11: invalid UTF-8"},  // overlong
      {std::string("{}\0{}", 5), "at byte 2: NUL byte"},
      {R"({"a":"\uD800"})", "The surrogate pair in string is invalid."},
  };
  for (const auto& c : cases) {
    SpanBatch batch;
    Status st = Decode(c.json, &batch);
    EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << c.json;
    EXPECT_NE(st.message().find(c.message), std::string::npos)
        << c.json << "\n  got: " << st.message();
  }
}

TEST(OtlpJson, DeeplyNestedJsonDoesNotOverflowTheStack) {
  const size_t depth = 1'000'000;
  std::string ignored = R"({"x":)" + std::string(depth, '[') + std::string(depth, ']') + "}";
  SpanBatch batch;
  EXPECT_TRUE(Decode(ignored, &batch).ok());
  std::string unbalanced = std::string(depth, '[');
  EXPECT_EQ(Decode(unbalanced, &batch).code(), Status::Code::kInvalidArgument);
}

std::string NestedArrayValue(int levels) {
  std::string v = R"({"stringValue":"leaf"})";
  for (int i = 1; i < levels; ++i) v = R"({"arrayValue":{"values":[)" + v + "]}}";
  return v;
}

TEST(OtlpJson, EnforcesAnyValueDepth) {
  for (int levels = 1; levels <= 12; ++levels) {
    SpanBatch batch;
    Status st = Decode(SpanJson(std::string(kIds) + R"(,"attributes":[{"key":"k","value":)" +
                                NestedArrayValue(levels) + "}]"),
                       &batch);
    if (levels <= 8) {
      EXPECT_TRUE(st.ok()) << levels << st.ToString();
    } else {
      EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << levels;
      EXPECT_NE(st.message().find("nested deeper than 8"), std::string::npos) << st.message();
    }
  }
}

TEST(OtlpJson, DecodesBase64Variants) {
  struct Case {
    const char* base64;
    const char* hex;
  };
  Case cases[] = {{"", ""},        {"AA==", "00"},  {"AA", "00"},     {"AP8=", "00ff"},
                  {"AP8", "00ff"}, {"_-8", "ffef"}, {"/+8=", "ffef"}, {"AQIDBA==", "01020304"}};
  for (const auto& c : cases) {
    SpanBatch batch;
    Status st =
        Decode(SpanJson(std::string(kIds) + R"(,"attributes":[{"key":"k","value":{"bytesValue":")" +
                        c.base64 + "\"}}]"),
               &batch);
    ASSERT_TRUE(st.ok()) << c.base64 << st.ToString();
    EXPECT_EQ(batch.attrs[0].value.s, c.hex) << c.base64;
  }
  for (const char* bad : {"A", "AAA==", "A===", "AA=A", "AA AA", "AA\\nAA"}) {
    SpanBatch batch;
    Status st =
        Decode(SpanJson(std::string(kIds) + R"(,"attributes":[{"key":"k","value":{"bytesValue":")" +
                        bad + "\"}}]"),
               &batch);
    EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << bad;
  }
}

TEST(OtlpJson, EveryPrefixDecodesOrFailsCleanly) {
  const std::string json = testing::EncodeTraceRequestJson(RichSpec());
  for (size_t n = 0; n < json.size(); ++n) {
    SpanBatch batch;
    Status st = Decode(json.substr(0, n), &batch);
    EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << n;  // no prefix is a whole object
  }
}

TEST(OtlpJson, StringsAreViewsIntoTheBody) {
  std::string body = testing::EncodeTraceRequestJson(RichSpec());
  SpanBatch batch;
  ASSERT_TRUE(DecodeTracesJson(&body, {}, &batch).ok());
  auto inside = [&](std::string_view s) {
    return s.data() >= body.data() && s.data() + s.size() <= body.data() + body.size();
  };
  EXPECT_TRUE(inside(batch.spans[0].name));
  EXPECT_TRUE(inside(batch.attrs[0].key));
  EXPECT_TRUE(inside(batch.attrs[0].value.s));
}

TEST(OtlpJson, RejectsMoreThanMaxSpans) {
  std::string spans;
  for (int i = 0; i < 3; ++i) spans += (i ? ",{" : "{") + std::string(kIds) + "}";
  std::string json = R"({"resourceSpans":[{"scopeSpans":[{"spans":[)" + spans + "]}]}]}";
  DecodeLimits limits;
  limits.max_spans = 2;
  SpanBatch batch;
  Status st = Decode(json, &batch, limits);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("more than 2 spans"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace loupe::wire
