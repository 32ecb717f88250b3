#include "wire/otlp_proto.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "testing/otlp_builder.h"
#include "wire/json_writer.h"

namespace loupe::wire {
namespace {

using model::AttrValue;
using model::SpanBatch;
using testing::Attr;
using testing::EncodeTraceRequest;
using testing::MakeEvent;
using testing::MakeResource;
using testing::MakeScope;
using testing::ProtoWriter;
using testing::ResourceSpec;
using testing::ScopeSpec;
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

std::string OneSpanRequest(const SpanSpec& span) {
  return EncodeTraceRequest(
      {MakeResource({{"service.name", "svc"}}, {MakeScope("scope", {span})})});
}

std::string Text(const AttrValue& v) {
  std::string s;
  v.AppendText(&s);
  return s;
}

bool IsValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    size_t n = internal::Utf8SequenceLength(p, end);
    if (n == 0) return false;
    p += n;
  }
  return true;
}

bool IsValidJson(std::string_view s) {
  rapidjson::Document d;
  d.Parse(s.data(), s.size());
  return !d.HasParseError();
}

// A request that uses every feature the decoder reads, for truncation and
// mutation loops.
std::string RichRequest() {
  SpanSpec a = MakeSpan(1);
  a.attributes = {{"http.method", "GET"},
                  {"http.status_code", 200},
                  {"ratio", 0.25},
                  {"ok", true},
                  {"tags", Value::Array({"a", 1, Value::Array({2.5, false})})},
                  {"map", Value::KvList({{"k", "v"}, {"n", Value::KvList({{"x", 1}})}})},
                  {"raw", Value::Bytes(std::string("\x00\xff", 2))},
                  {"empty", Value()}};
  a.events = {MakeEvent(kStart + 1, "exception",
                        {{"exception.type", "IOError"}, {"exception.message", "boom"}})};
  testing::LinkSpec link;
  link.trace_id = TraceIdBytes(9, 9);
  link.span_id = SpanIdBytes(9);
  a.links = {link};
  a.status_code = 2;
  a.status_message = "failed";
  a.flags = 0x301;
  a.trace_state = "k=v";
  SpanSpec b = MakeSpan(2, 1);
  b.kind = 3;
  b.attributes = {{"db.statement", "SELECT 1"}};
  ResourceSpec r0 = MakeResource({{"service.name", "shop"}, {"host.name", "h1"}},
                                 {MakeScope("io.a", {a}), MakeScope("io.b", {b})});
  r0.scopes[0].version = "1.0";
  r0.schema_url = "https://opentelemetry.io/schemas/1.21.0";
  return EncodeTraceRequest(
      {r0, MakeResource({{"service.name", "other"}}, {MakeScope("", {MakeSpan(3)})})});
}

// Decodes `body` and keeps it alive until the program ends, since the batch
// views into it.
Status DecodeKept(std::string body, const DecodeLimits& limits, SpanBatch* batch) {
  static std::vector<std::unique_ptr<std::string>> bodies;
  bodies.push_back(std::make_unique<std::string>(std::move(body)));
  return DecodeTracesProto(*bodies.back(), limits, batch);
}

TEST(OtlpProto, EmptyBodyIsAnEmptyRequest) {
  SpanBatch batch;
  ASSERT_TRUE(DecodeTracesProto("", {}, &batch).ok());
  EXPECT_TRUE(batch.spans.empty());
  EXPECT_TRUE(batch.resources.empty());
}

TEST(OtlpProto, RoundTripsEverySpanField) {
  std::string body = RichRequest();
  SpanBatch batch;
  Status st = DecodeTracesProto(body, {}, &batch);
  ASSERT_TRUE(st.ok()) << st.ToString();

  ASSERT_EQ(batch.resources.size(), 2u);
  ASSERT_EQ(batch.spans.size(), 3u);
  EXPECT_EQ(batch.invalid_spans, 0u);
  EXPECT_EQ(batch.truncated_values, 0u);

  const model::Resource& r0 = batch.resources[0];
  ASSERT_EQ(r0.attrs.count, 2u);
  EXPECT_EQ(batch.Find(r0.attrs, "service.name")->value.s, "shop");
  EXPECT_EQ(batch.Find(r0.attrs, "host.name")->value.s, "h1");
  EXPECT_EQ(batch.Find(batch.resources[1].attrs, "service.name")->value.s, "other");

  const model::Span& a = batch.spans[0];
  model::TraceId trace{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  EXPECT_EQ(a.trace_id, trace);
  EXPECT_EQ(a.span_id, 1u);
  EXPECT_EQ(a.parent_span_id, 0u);
  EXPECT_EQ(a.name, "span-1");
  EXPECT_EQ(a.kind, model::SpanKind::kServer);
  EXPECT_EQ(a.start_unix_nano, kStart);
  EXPECT_EQ(a.end_unix_nano, kStart + 5'000'000);
  EXPECT_EQ(a.status, model::SpanStatus::kError);
  EXPECT_EQ(a.status_message, "failed");
  EXPECT_EQ(a.flags, 0x301u);
  EXPECT_EQ(a.resource, 0u);
  EXPECT_EQ(a.scope_name, "io.a");
  EXPECT_EQ(a.dropped_attributes, 0u);
  EXPECT_EQ(a.dropped_events, 0u);

  ASSERT_EQ(a.attrs.count, 8u);
  const auto* method = batch.Find(a.attrs, "http.method");
  ASSERT_NE(method, nullptr);
  EXPECT_EQ(method->value.type, AttrValue::Type::kString);
  EXPECT_EQ(method->value.s, "GET");
  const auto* status = batch.Find(a.attrs, "http.status_code");
  EXPECT_EQ(status->value.type, AttrValue::Type::kInt);
  EXPECT_EQ(status->value.i, 200);
  const auto* ratio = batch.Find(a.attrs, "ratio");
  EXPECT_EQ(ratio->value.type, AttrValue::Type::kDouble);
  EXPECT_EQ(ratio->value.d, 0.25);
  const auto* ok = batch.Find(a.attrs, "ok");
  EXPECT_EQ(ok->value.type, AttrValue::Type::kBool);
  EXPECT_TRUE(ok->value.b);
  const auto* tags = batch.Find(a.attrs, "tags");
  EXPECT_EQ(tags->value.type, AttrValue::Type::kArray);
  EXPECT_EQ(tags->value.s, R"(["a",1,[2.5,false]])");
  const auto* map = batch.Find(a.attrs, "map");
  EXPECT_EQ(map->value.type, AttrValue::Type::kKvList);
  EXPECT_EQ(map->value.s, R"({"k":"v","n":{"x":1}})");
  const auto* raw = batch.Find(a.attrs, "raw");
  EXPECT_EQ(raw->value.type, AttrValue::Type::kBytes);
  EXPECT_EQ(raw->value.s, "00ff");
  EXPECT_EQ(batch.Find(a.attrs, "empty")->value.type, AttrValue::Type::kEmpty);

  ASSERT_EQ(a.events_count, 1u);
  const model::SpanEvent& e = batch.events[a.events_begin];
  EXPECT_EQ(e.time_unix_nano, kStart + 1);
  EXPECT_EQ(e.name, "exception");
  ASSERT_EQ(e.attrs.count, 2u);
  EXPECT_EQ(batch.Find(e.attrs, "exception.message")->value.s, "boom");

  const model::Span& b = batch.spans[1];
  EXPECT_EQ(b.span_id, 2u);
  EXPECT_EQ(b.parent_span_id, 1u);
  EXPECT_EQ(b.kind, model::SpanKind::kClient);
  EXPECT_EQ(b.scope_name, "io.b");
  EXPECT_EQ(b.resource, 0u);
  EXPECT_EQ(batch.Find(b.attrs, "db.statement")->value.s, "SELECT 1");
  EXPECT_EQ(b.events_count, 0u);

  EXPECT_EQ(batch.spans[2].resource, 1u);
  EXPECT_EQ(batch.spans[2].scope_name, "");
}

TEST(OtlpProto, StringsAreViewsIntoTheBody) {
  std::string body = RichRequest();
  SpanBatch batch;
  ASSERT_TRUE(DecodeTracesProto(body, {}, &batch).ok());
  auto inside = [&](std::string_view s) {
    return s.data() >= body.data() && s.data() + s.size() <= body.data() + body.size();
  };
  EXPECT_TRUE(inside(batch.spans[0].name));
  EXPECT_TRUE(inside(batch.spans[0].scope_name));
  EXPECT_TRUE(inside(batch.attrs[0].key));
  EXPECT_TRUE(inside(batch.attrs[0].value.s));
}

TEST(OtlpProto, SpanIdsAreReadBigEndian) {
  SpanSpec s = MakeSpan(0x0102030405060708, 0xf0e0d0c0b0a09080);
  SpanBatch batch;
  ASSERT_TRUE(DecodeKept(OneSpanRequest(s), {}, &batch).ok());
  ASSERT_EQ(batch.spans.size(), 1u);
  EXPECT_EQ(batch.spans[0].span_id, 0x0102030405060708u);
  EXPECT_EQ(batch.spans[0].parent_span_id, 0xf0e0d0c0b0a09080u);
}

TEST(OtlpProto, ValueTextRendering) {
  SpanSpec s = MakeSpan(1);
  s.attributes = {{"i", int64_t{-42}},
                  {"d", 1.5},
                  {"nan", std::nan("")},
                  {"inf", Value::Array({-HUGE_VAL, HUGE_VAL})},
                  {"min", Value::Array({std::numeric_limits<int64_t>::min()})},
                  {"esc", Value::Array({std::string("q\"\\\n\x01\xff", 6)})}};
  std::string body = OneSpanRequest(s);
  SpanBatch batch;
  ASSERT_TRUE(DecodeTracesProto(body, {}, &batch).ok());
  const auto& span = batch.spans[0];
  EXPECT_EQ(Text(batch.Find(span.attrs, "i")->value), "-42");
  EXPECT_EQ(Text(batch.Find(span.attrs, "d")->value), "1.5");
  EXPECT_TRUE(std::isnan(batch.Find(span.attrs, "nan")->value.d));
  EXPECT_EQ(batch.Find(span.attrs, "inf")->value.s, R"(["-Infinity","Infinity"])");
  EXPECT_EQ(batch.Find(span.attrs, "min")->value.s, "[-9223372036854775808]");
  EXPECT_EQ(batch.Find(span.attrs, "esc")->value.s, R"(["q\"\\\n\u0001\ufffd"])");
}

TEST(OtlpProto, AcceptsFieldsInAnyOrderAndKeepsRangesContiguous) {
  // Resource after the scope spans; span attributes interleaved with events.
  ProtoWriter kv1, kv2, ev_kv, event, span, scope_spans, resource, rs, request;
  kv1.Bytes(1, "a").Message(2, ProtoWriter().Bytes(1, "1"));
  kv2.Bytes(1, "b").Message(2, ProtoWriter().Bytes(1, "2"));
  ev_kv.Bytes(1, "e").Message(2, ProtoWriter().Bytes(1, "x"));
  event.Bytes(2, "ev").Message(3, ev_kv);
  span.Message(9, kv1)
      .Message(11, event)
      .Message(9, kv2)
      .Bytes(2, SpanIdBytes(7))
      .Bytes(1, TraceIdBytes(1, 1));
  scope_spans.Message(2, span).Message(1, ProtoWriter().Bytes(1, "late-scope"));
  resource.Message(1,
                   ProtoWriter().Bytes(1, "service.name").Message(2, ProtoWriter().Bytes(1, "s")));
  rs.Message(2, scope_spans).Message(1, resource);
  request.Message(1, rs);

  SpanBatch batch;
  Status st = DecodeTracesProto(request.data(), {}, &batch);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(batch.spans.size(), 1u);
  const auto& s = batch.spans[0];
  EXPECT_EQ(s.scope_name, "late-scope");
  ASSERT_EQ(s.attrs.count, 2u);
  EXPECT_EQ(batch.Find(s.attrs, "a")->value.s, "1");
  EXPECT_EQ(batch.Find(s.attrs, "b")->value.s, "2");
  EXPECT_EQ(batch.Find(s.attrs, "e"), nullptr);
  ASSERT_EQ(s.events_count, 1u);
  EXPECT_EQ(batch.Find(batch.events[s.events_begin].attrs, "e")->value.s, "x");
  EXPECT_EQ(batch.Find(batch.resources[0].attrs, "service.name")->value.s, "s");
}

TEST(OtlpProto, AcceptsDeprecatedInstrumentationLibrarySpans) {
  ProtoWriter span, ils, rs, request;
  span.Bytes(1, TraceIdBytes(1, 2)).Bytes(2, SpanIdBytes(3)).Bytes(5, "old");
  ils.Message(1, ProtoWriter().Bytes(1, "lib")).Message(2, span);
  rs.Message(1000, ils);
  request.Message(1, rs);
  SpanBatch batch;
  ASSERT_TRUE(DecodeTracesProto(request.data(), {}, &batch).ok());
  ASSERT_EQ(batch.spans.size(), 1u);
  EXPECT_EQ(batch.spans[0].name, "old");
  EXPECT_EQ(batch.spans[0].scope_name, "lib");
}

TEST(OtlpProto, SkipsUnknownFieldsOfEveryWireType) {
  auto unknown = [](ProtoWriter w) {
    return w.Varint(99, 123456789)
        .Fixed64(100, 1)
        .Fixed32(101, 2)
        .Bytes(102, "whatever")
        .Varint(536870911, 1);  // the largest field number
  };
  ProtoWriter value = unknown(ProtoWriter()).Bytes(1, "v");
  ProtoWriter kv = unknown(ProtoWriter()).Bytes(1, "k").Message(2, value);
  ProtoWriter span = unknown(ProtoWriter())
                         .Bytes(1, TraceIdBytes(1, 2))
                         .Bytes(2, SpanIdBytes(3))
                         .Message(9, kv)
                         .Message(15, unknown(ProtoWriter()).Varint(3, 1));
  ProtoWriter ss = unknown(ProtoWriter()).Message(2, span);
  ProtoWriter rs = unknown(ProtoWriter()).Message(2, ss);
  ProtoWriter request = unknown(ProtoWriter()).Message(1, rs);
  SpanBatch batch;
  Status st = DecodeTracesProto(request.data(), {}, &batch);
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(batch.spans.size(), 1u);
  EXPECT_EQ(batch.Find(batch.spans[0].attrs, "k")->value.s, "v");
  EXPECT_EQ(batch.spans[0].status, model::SpanStatus::kOk);
}

struct MalformedCase {
  const char* name;
  std::string body;
  const char* message;  // expected in the error message
};

TEST(OtlpProto, RejectsMalformedProtobufWithOffset) {
  std::string valid_span = ProtoWriter().Bytes(1, TraceIdBytes(1, 2)).data();
  std::vector<MalformedCase> cases = {
      {"truncated tag", "\x8a", "truncated field tag"},
      {"truncated varint", std::string("\x08\x80", 2), "truncated varint"},
      {"overlong varint", std::string("\x08") + std::string(10, '\x80') + "\x01", "overlong"},
      {"length past end", "\x0a\x05\x01", "runs past the end"},
      {"huge length", "\x0a\xff\xff\xff\xff\xff\xff\xff\xff\x7f", "runs past the end"},
      {"truncated fixed64", "\x09\x01\x02", "fixed64"},
      {"truncated fixed32", "\x0d\x01", "fixed32"},
      {"field number 0", std::string("\x00\x01", 2), "invalid field number 0"},
      {"start group", "\x0b", "group"},
      {"end group", "\x0c", "group"},
      {"wire type 6", "\x0e", "invalid wire type 6"},
      {"wire type 7", "\x0f", "invalid wire type 7"},
      {"wrong wire type", "\x08\x01", "resource_spans (field 1) has wire type 0, expected 2"},
  };
  for (const auto& c : cases) {
    SpanBatch batch;
    Status st = DecodeTracesProto(c.body, {}, &batch);
    EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << c.name;
    EXPECT_NE(st.message().find(c.message), std::string::npos) << c.name << ": " << st.message();
    EXPECT_NE(st.message().find("at byte"), std::string::npos) << c.name;
  }
}

TEST(OtlpProto, ErrorOffsetPointsIntoNestedMessages) {
  // A span whose kind has the wrong wire type, deep inside the request.
  ProtoWriter span;
  span.Bytes(1, TraceIdBytes(1, 2)).Bytes(2, SpanIdBytes(3)).Bytes(6, "x");
  std::string body =
      ProtoWriter().Message(1, ProtoWriter().Message(2, ProtoWriter().Message(2, span))).data();
  SpanBatch batch;
  Status st = DecodeTracesProto(body, {}, &batch);
  ASSERT_EQ(st.code(), Status::Code::kInvalidArgument);
  size_t offset = body.size() - 3;  // tag of field 6, its length, "x"
  EXPECT_NE(st.message().find("at byte " + std::to_string(offset) + ":"), std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("Span.kind"), std::string::npos) << st.message();
}

TEST(OtlpProto, EveryPrefixDecodesOrFailsCleanly) {
  std::string body = RichRequest();
  int ok = 0;
  for (size_t n = 0; n <= body.size(); ++n) {
    SpanBatch batch;
    std::string prefix = body.substr(0, n);  // own allocation so ASan sees overreads
    Status st = DecodeTracesProto(prefix, {}, &batch);
    if (st.ok()) {
      ++ok;
    } else {
      EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << n;
    }
  }
  // The empty prefix and the whole message decode; cuts inside a message don't.
  EXPECT_GE(ok, 2);
  EXPECT_LT(ok, static_cast<int>(body.size()) / 10);
}

TEST(OtlpProto, EveryByteMutationDecodesOrFailsCleanly) {
  const std::string body = RichRequest();
  for (size_t i = 0; i < body.size(); ++i) {
    for (uint8_t b : {0x00, 0x01, 0x7f, 0x80, 0xff, 0x0b, 0x0e}) {
      std::string mutated = body;
      mutated[i] = static_cast<char>(b);
      SpanBatch batch;
      Status st = DecodeTracesProto(mutated, {}, &batch);
      if (!st.ok()) {
        EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
        continue;
      }
      for (const auto& kv : batch.attrs) {
        if (kv.value.type == AttrValue::Type::kArray || kv.value.type == AttrValue::Type::kKvList) {
          EXPECT_TRUE(IsValidJson(kv.value.s)) << kv.value.s;
        }
      }
    }
  }
}

TEST(OtlpProto, SkipsAndCountsSpansWithInvalidIds) {
  std::vector<SpanSpec> spans;
  auto add = [&](auto mutate) {
    SpanSpec s = MakeSpan(100 + spans.size());
    s.attributes = {{"bad", "x"}, {"long", std::string(20, 'y')}};
    mutate(s);
    spans.push_back(s);
  };
  add([](SpanSpec& s) { s.trace_id.resize(15); });
  add([](SpanSpec& s) { s.trace_id += 'x'; });
  add([](SpanSpec& s) { s.trace_id = std::string(16, '\0'); });
  add([](SpanSpec& s) { s.trace_id.clear(); });
  add([](SpanSpec& s) { s.span_id.resize(7); });
  add([](SpanSpec& s) { s.span_id = std::string(8, '\0'); });
  add([](SpanSpec& s) { s.span_id.clear(); });
  add([](SpanSpec& s) { s.parent_span_id = "1234"; });
  add([](SpanSpec& s) { s.attributes = {{"good", "x"}}; });  // the one valid span

  DecodeLimits limits;
  limits.max_value_bytes = 10;  // truncations of invalid spans are not counted
  SpanBatch batch;
  std::string body = EncodeTraceRequest({MakeResource({}, {MakeScope("", spans)})});
  ASSERT_TRUE(DecodeTracesProto(body, limits, &batch).ok());
  EXPECT_EQ(batch.invalid_spans, 8u);
  ASSERT_EQ(batch.spans.size(), 1u);
  EXPECT_EQ(batch.spans[0].span_id, 108u);
  ASSERT_EQ(batch.attrs.size(), 1u);
  EXPECT_EQ(batch.attrs[0].key, "good");
  EXPECT_EQ(batch.spans[0].attrs.begin, 0u);
  EXPECT_EQ(batch.truncated_values, 0u);
}

TEST(OtlpProto, ZeroParentIdIsNoParent) {
  SpanSpec s = MakeSpan(1);
  s.parent_span_id = std::string(8, '\0');
  SpanBatch batch;
  ASSERT_TRUE(DecodeKept(OneSpanRequest(s), {}, &batch).ok());
  ASSERT_EQ(batch.spans.size(), 1u);
  EXPECT_EQ(batch.spans[0].parent_span_id, 0u);
}

TEST(OtlpProto, UnknownEnumValuesBecomeDefaults) {
  SpanSpec s = MakeSpan(1);
  s.kind = 9;
  s.status_code = -1;
  SpanBatch batch;
  ASSERT_TRUE(DecodeKept(OneSpanRequest(s), {}, &batch).ok());
  EXPECT_EQ(batch.spans[0].kind, model::SpanKind::kUnspecified);
  EXPECT_EQ(batch.spans[0].status, model::SpanStatus::kUnset);
}

TEST(OtlpProto, CapsAttributesAndEventsAndCountsTheRest) {
  SpanSpec s = MakeSpan(1);
  for (int i = 0; i < 10; ++i) s.attributes.push_back({"a" + std::to_string(i), i});
  s.dropped_attributes_count = 5;  // dropped by the sender
  for (int i = 0; i < 6; ++i) {
    testing::EventSpec e = MakeEvent(kStart + i, "e" + std::to_string(i));
    for (int j = 0; j < 4; ++j) e.attributes.push_back({"k" + std::to_string(j), j});
    s.events.push_back(e);
  }
  s.dropped_events_count = 1;
  ResourceSpec r = MakeResource({}, {MakeScope("", {s})});
  for (int i = 0; i < 5; ++i) r.attributes.push_back({"r" + std::to_string(i), i});

  DecodeLimits limits;
  limits.max_attributes_per_span = 3;
  limits.max_attributes_per_resource = 2;
  limits.max_events_per_span = 4;
  limits.max_attributes_per_event = 1;
  SpanBatch batch;
  ASSERT_TRUE(DecodeKept(EncodeTraceRequest({r}), limits, &batch).ok());
  const auto& span = batch.spans[0];
  ASSERT_EQ(span.attrs.count, 3u);
  EXPECT_EQ(batch.attrs[span.attrs.begin].key, "a0");  // the first ones are kept
  EXPECT_EQ(batch.attrs[span.attrs.begin + 2].key, "a2");
  EXPECT_EQ(span.dropped_attributes, 5u + 7u);
  ASSERT_EQ(span.events_count, 4u);
  EXPECT_EQ(batch.events[span.events_begin + 3].name, "e3");
  EXPECT_EQ(batch.events[span.events_begin].attrs.count, 1u);
  EXPECT_EQ(span.dropped_events, 1u + 2u);
  EXPECT_EQ(batch.resources[0].attrs.count, 2u);
  // 7 span + 4 * 3 event + 3 resource attributes dropped by our limits.
  EXPECT_EQ(batch.dropped_attributes, 7u + 12u + 3u);
  EXPECT_EQ(batch.dropped_events, 2u);
}

TEST(OtlpProto, DropsAttributesWithEmptyOrOverlongKeys) {
  SpanSpec s = MakeSpan(1);
  s.attributes = {{"", "empty"}, {std::string(13, 'k'), "long"}, {std::string(12, 'k'), "fits"}};
  DecodeLimits limits;
  limits.max_key_bytes = 12;  // as long as "service.name"
  SpanBatch batch;
  ASSERT_TRUE(DecodeKept(OneSpanRequest(s), limits, &batch).ok());
  const auto& span = batch.spans[0];
  ASSERT_EQ(span.attrs.count, 1u);
  EXPECT_EQ(batch.attrs[span.attrs.begin].value.s, "fits");
  EXPECT_EQ(span.dropped_attributes, 2u);
  EXPECT_EQ(batch.dropped_attributes, 2u);
}

TEST(OtlpProto, TruncatesLongStringsAtUtf8Boundaries) {
  // 1-, 2-, 3- and 4-byte characters, cut at every possible limit.
  const std::string text = "aé日😀bé日😀";
  for (size_t limit = 0; limit <= text.size() + 1; ++limit) {
    SpanSpec s = MakeSpan(1);
    s.name = text;
    s.attributes = {{"v", text}};
    s.status_message = text;
    DecodeLimits limits;
    limits.max_value_bytes = limit;
    SpanBatch batch;
    ASSERT_TRUE(DecodeKept(OneSpanRequest(s), limits, &batch).ok());
    const auto& span = batch.spans[0];
    for (std::string_view v : {span.name, span.status_message, batch.attrs.back().value.s}) {
      EXPECT_LE(v.size(), limit);
      EXPECT_GE(v.size() + 3, std::min(limit, text.size())) << limit;
      EXPECT_TRUE(IsValidUtf8(v)) << limit;
      EXPECT_EQ(text.substr(0, v.size()), v);
    }
    // "svc" and "scope" are 3 and 5 bytes long.
    uint64_t expected = (limit < text.size() ? 3 : 0) + (limit < 3) + (limit < 5);
    EXPECT_EQ(batch.truncated_values, expected) << limit;
  }
}

TEST(OtlpProto, TruncatesBytesSoTheirHexFits) {
  SpanSpec s = MakeSpan(1);
  s.attributes = {{"b", Value::Bytes("\x01\x02\x03\x04\x05")}};
  DecodeLimits limits;
  limits.max_value_bytes = 7;
  SpanBatch batch;
  ASSERT_TRUE(DecodeKept(OneSpanRequest(s), limits, &batch).ok());
  EXPECT_EQ(batch.attrs.back().value.s, "010203");
  EXPECT_EQ(batch.truncated_values, 1u);
}

TEST(OtlpProto, TruncatedArraysStayValidJsonWithinTheLimit) {
  SpanSpec s = MakeSpan(1);
  s.attributes = {{"arr", Value::Array({"日本語のテキスト", 12345, Value::Array({"x", 1.5, true}),
                                        Value::KvList({{"key", "value"}, {"k2", Value::Array({})}}),
                                        Value::Bytes("\xde\xad"), Value()})}};
  SpanBatch full;
  ASSERT_TRUE(DecodeKept(OneSpanRequest(s), {}, &full).ok());
  const std::string whole(full.attrs.back().value.s);
  EXPECT_EQ(whole,
            R"(["日本語のテキスト",12345,["x",1.5,true],{"key":"value","k2":[]},"dead",null])");
  for (size_t limit = 0; limit <= whole.size(); ++limit) {
    DecodeLimits limits;
    limits.max_value_bytes = limit;
    SpanBatch batch;
    std::string body = OneSpanRequest(s);
    ASSERT_TRUE(DecodeTracesProto(body, limits, &batch).ok());
    std::string_view v = batch.Find(batch.spans[0].attrs, "arr")->value.s;
    EXPECT_LE(v.size(), std::max<size_t>(limit, 2)) << limit;
    EXPECT_TRUE(IsValidJson(v)) << limit << ": " << v;
    EXPECT_TRUE(IsValidUtf8(v)) << limit << ": " << v;
    EXPECT_EQ(batch.truncated_values > 0, limit < whole.size() || limit < 5) << limit;
  }
}

Value Nested(int levels) {
  Value v = "leaf";
  for (int i = 1; i < levels; ++i) v = Value::Array({v});
  return v;
}

TEST(OtlpProto, EnforcesAnyValueDepth) {
  for (int levels = 1; levels <= 12; ++levels) {
    SpanSpec s = MakeSpan(1);
    s.attributes = {{"deep", Nested(levels)}};
    SpanBatch batch;
    Status st = DecodeKept(OneSpanRequest(s), {}, &batch);  // max_depth 8
    if (levels <= 8) {
      EXPECT_TRUE(st.ok()) << levels << st.ToString();
    } else {
      EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << levels;
      EXPECT_NE(st.message().find("nested deeper than 8"), std::string::npos) << st.message();
    }
  }
}

TEST(OtlpProto, DeepNestingInUnknownFieldsIsSkippedWithoutRecursion) {
  // 100000 levels of field 1 messages around "x", built inside out.
  std::vector<std::string> headers;
  size_t len = 1;
  for (int i = 0; i < 100000; ++i) {
    std::string h = std::string(1, '\x0a') + ProtoWriter().RawVarint(len).data();
    len += h.size();
    headers.push_back(std::move(h));
  }
  std::string deep;
  for (auto it = headers.rbegin(); it != headers.rend(); ++it) deep += *it;
  deep += 'x';
  ProtoWriter span;
  span.Bytes(1, TraceIdBytes(1, 2)).Bytes(2, SpanIdBytes(3)).Bytes(77, deep);
  std::string body =
      ProtoWriter().Message(1, ProtoWriter().Message(2, ProtoWriter().Message(2, span))).data();
  SpanBatch batch;
  ASSERT_TRUE(DecodeTracesProto(body, {}, &batch).ok());
  EXPECT_EQ(batch.spans.size(), 1u);
}

TEST(OtlpProto, RejectsMoreThanMaxSpans) {
  std::vector<SpanSpec> spans = {MakeSpan(1), MakeSpan(2), MakeSpan(3)};
  std::string body = EncodeTraceRequest({MakeResource({}, {MakeScope("", spans)})});
  DecodeLimits limits;
  limits.max_spans = 3;
  SpanBatch batch;
  EXPECT_TRUE(DecodeTracesProto(body, limits, &batch).ok());
  limits.max_spans = 2;
  Status st = DecodeTracesProto(body, limits, &batch);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("more than 2 spans"), std::string::npos) << st.message();
}

TEST(OtlpProto, RepeatedScalarFieldsLastOneWins) {
  ProtoWriter span;
  span.Bytes(1, "short")
      .Bytes(1, TraceIdBytes(1, 2))
      .Bytes(2, SpanIdBytes(3))
      .Bytes(5, "first")
      .Bytes(5, "second")
      .Varint(6, 1)
      .Varint(6, 3);
  std::string body =
      ProtoWriter().Message(1, ProtoWriter().Message(2, ProtoWriter().Message(2, span))).data();
  SpanBatch batch;
  ASSERT_TRUE(DecodeTracesProto(body, {}, &batch).ok());
  ASSERT_EQ(batch.spans.size(), 1u);
  EXPECT_EQ(batch.spans[0].name, "second");
  EXPECT_EQ(batch.spans[0].kind, model::SpanKind::kClient);
}

TEST(OtlpProto, ClearsTheBatchBeforeDecoding) {
  SpanBatch batch;
  ASSERT_TRUE(DecodeKept(RichRequest(), {}, &batch).ok());
  ASSERT_TRUE(DecodeKept(OneSpanRequest(MakeSpan(5)), {}, &batch).ok());
  EXPECT_EQ(batch.spans.size(), 1u);
  EXPECT_EQ(batch.resources.size(), 1u);
  EXPECT_EQ(batch.attrs.size(), 1u);
  EXPECT_TRUE(batch.events.empty());
  EXPECT_TRUE(batch.arena.empty());
}

}  // namespace
}  // namespace loupe::wire
