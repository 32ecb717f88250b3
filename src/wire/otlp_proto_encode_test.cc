#include "wire/otlp_proto_encode.h"

#include <gtest/gtest.h>

#include <string>

#include "testing/otlp_builder.h"
#include "wire/otlp_proto.h"

namespace loupe::wire {
namespace {

using model::AttrValue;
using model::SpanBatch;
using testing::EncodeTraceRequest;
using testing::MakeEvent;
using testing::MakeResource;
using testing::MakeScope;
using testing::SpanIdBytes;
using testing::SpanSpec;
using testing::TraceIdBytes;
using testing::Value;

constexpr uint64_t kStart = 1'700'000'000'000'000'000;

std::string Request() {
  SpanSpec a;
  a.trace_id = TraceIdBytes(7, 9);
  a.span_id = SpanIdBytes(0x0102030405060708);
  a.name = "GET /a";
  a.kind = 2;
  a.start_time_unix_nano = kStart;
  a.end_time_unix_nano = kStart + 5'000'000;
  a.status_code = 2;
  a.status_message = "failed";
  a.flags = 0x301;
  a.dropped_attributes_count = 3;
  a.dropped_events_count = 4;
  a.attributes = {{"s", "x"}, {"i", int64_t{-5}}, {"d", 0.25}, {"b", true},
                  {"arr", Value::Array({"a", 1})}, {"raw", Value::Bytes("\x00\xff")}, {"e", Value()}};
  a.events = {MakeEvent(kStart + 1, "exception", {{"exception.message", "boom"}})};
  SpanSpec b;
  b.trace_id = a.trace_id;
  b.span_id = SpanIdBytes(2);
  b.parent_span_id = a.span_id;
  b.name = "SELECT";
  b.kind = 3;
  b.start_time_unix_nano = kStart + 10;
  b.end_time_unix_nano = kStart + 20;
  SpanSpec c = b;
  c.span_id = SpanIdBytes(3);
  return EncodeTraceRequest(
      {MakeResource({{"service.name", "shop"}, {"host.name", "h1"}},
                    {MakeScope("io.a", {a}), MakeScope("io.b", {b})}),
       MakeResource({{"service.name", "other"}}, {MakeScope("", {c})})});
}

void ExpectSame(const SpanBatch& x, const SpanBatch& y) {
  ASSERT_EQ(x.spans.size(), y.spans.size());
  ASSERT_EQ(x.resources.size(), y.resources.size());
  for (size_t r = 0; r < x.resources.size(); ++r) {
    ASSERT_EQ(x.resources[r].attrs.count, y.resources[r].attrs.count);
  }
  for (size_t i = 0; i < x.spans.size(); ++i) {
    const model::Span& a = x.spans[i];
    const model::Span& b = y.spans[i];
    EXPECT_EQ(a.trace_id, b.trace_id);
    EXPECT_EQ(a.span_id, b.span_id);
    EXPECT_EQ(a.parent_span_id, b.parent_span_id);
    EXPECT_EQ(a.flags, b.flags);
    EXPECT_EQ(a.kind, b.kind);
    EXPECT_EQ(a.status, b.status);
    EXPECT_EQ(a.name, b.name);
    EXPECT_EQ(a.status_message, b.status_message);
    EXPECT_EQ(a.start_unix_nano, b.start_unix_nano);
    EXPECT_EQ(a.end_unix_nano, b.end_unix_nano);
    EXPECT_EQ(a.resource, b.resource);
    EXPECT_EQ(a.scope_name, b.scope_name);
    EXPECT_EQ(a.dropped_attributes, b.dropped_attributes);
    EXPECT_EQ(a.dropped_events, b.dropped_events);
    ASSERT_EQ(a.attrs.count, b.attrs.count);
    for (uint32_t k = 0; k < a.attrs.count; ++k) {
      const model::KeyValue& p = x.attrs[a.attrs.begin + k];
      const model::KeyValue& q = y.attrs[b.attrs.begin + k];
      EXPECT_EQ(p.key, q.key);
      std::string pt, qt;
      p.value.AppendText(&pt);
      q.value.AppendText(&qt);
      EXPECT_EQ(pt, qt) << p.key;  // rendered values come back as their text
    }
    ASSERT_EQ(a.events_count, b.events_count);
    for (uint32_t k = 0; k < a.events_count; ++k) {
      EXPECT_EQ(x.events[a.events_begin + k].name, y.events[b.events_begin + k].name);
      EXPECT_EQ(x.events[a.events_begin + k].time_unix_nano,
                y.events[b.events_begin + k].time_unix_nano);
      EXPECT_EQ(x.events[a.events_begin + k].attrs.count, y.events[b.events_begin + k].attrs.count);
    }
  }
}

TEST(OtlpProtoEncode, DecodeOfEncodeKeepsEverySpanField) {
  std::string body = Request();
  SpanBatch first;
  ASSERT_TRUE(DecodeTracesProto(body, {}, &first).ok());
  std::string again;
  EncodeTracesProto(first, &again);
  SpanBatch second;
  Status s = DecodeTracesProto(again, {}, &second);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ExpectSame(first, second);
  // Typed scalars keep their types.
  const model::Span& a = second.spans[0];
  EXPECT_EQ(second.Find(a.attrs, "i")->value.type, AttrValue::Type::kInt);
  EXPECT_EQ(second.Find(a.attrs, "i")->value.i, -5);
  EXPECT_EQ(second.Find(a.attrs, "d")->value.d, 0.25);
  EXPECT_TRUE(second.Find(a.attrs, "b")->value.b);
  EXPECT_EQ(second.Find(a.attrs, "e")->value.type, AttrValue::Type::kEmpty);
  // Encoding is stable: a second round gives the same bytes.
  std::string third;
  EncodeTracesProto(second, &third);
  EXPECT_EQ(again, third);
}

TEST(OtlpProtoEncode, EmptyBatchIsAnEmptyRequest) {
  SpanBatch empty;
  std::string out;
  EncodeTracesProto(empty, &out);
  EXPECT_TRUE(out.empty());
  SpanBatch back;
  EXPECT_TRUE(DecodeTracesProto(out, {}, &back).ok());
  EXPECT_TRUE(back.spans.empty());
}

TEST(OtlpProtoEncode, SpansOutOfResourceOrderAreGroupedUnderTheirResource) {
  SpanBatch b;
  b.resources.resize(2);
  b.attrs.push_back({"service.name", {AttrValue::Type::kString, false, 0, 0, "r0"}});
  b.attrs.push_back({"service.name", {AttrValue::Type::kString, false, 0, 0, "r1"}});
  b.resources[0].attrs = {0, 1};
  b.resources[1].attrs = {1, 1};
  for (int i = 0; i < 4; ++i) {
    model::Span& s = b.spans.emplace_back();
    s.trace_id[0] = 1;
    s.span_id = static_cast<model::SpanId>(i + 1);
    s.resource = static_cast<uint32_t>(i % 2);
    s.end_unix_nano = kStart;
  }
  std::string out;
  EncodeTracesProto(b, &out);
  SpanBatch back;
  ASSERT_TRUE(DecodeTracesProto(out, {}, &back).ok());
  ASSERT_EQ(back.spans.size(), 4u);
  for (const model::Span& s : back.spans) {
    const auto* name = back.Find(back.resources[s.resource].attrs, "service.name");
    EXPECT_EQ(name->value.s, (s.span_id % 2 == 1) ? "r0" : "r1");
  }
}

}  // namespace
}  // namespace loupe::wire
