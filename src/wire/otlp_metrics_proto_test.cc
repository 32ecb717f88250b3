#include "wire/otlp_metrics_proto.h"

#include <gtest/gtest.h>

#include <cmath>
#include <deque>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "testing/otlp_builder.h"

namespace loupe::wire {
namespace {

using model::MetricBatch;
using model::MetricType;
using model::Temporality;
using testing::ProtoWriter;

constexpr uint64_t kT0 = 1'700'000'000'000'000'000;

ProtoWriter Kv(std::string_view key, std::string_view value) {
  ProtoWriter v, kv;
  v.Bytes(1, value);
  kv.Bytes(1, key).Message(2, v);
  return kv;
}

// ExportMetricsServiceRequest{resource_metrics{resource{host.name=h1},
// scope_metrics{scope{name, version}, metrics}}}.
std::string Request(const std::vector<ProtoWriter>& metrics) {
  ProtoWriter resource, scope, sm, rm, req;
  resource.Message(1, Kv("host.name", "h1"));
  scope.Bytes(1, "loupe.agent").Bytes(2, "1.2");
  sm.Message(1, scope);
  for (const ProtoWriter& m : metrics) sm.Message(2, m);
  rm.Message(1, resource).Message(2, sm);
  req.Message(1, rm);
  return req.data();
}

ProtoWriter Metric(std::string_view name, uint32_t data_field, const ProtoWriter& data) {
  ProtoWriter m;
  m.Bytes(1, name).Bytes(2, "desc").Bytes(3, "By").Message(data_field, data);
  return m;
}

// Decodes a copy of body that lives until the test program ends, since the
// batch's strings are views into it.
Status Decode(std::string body, MetricBatch* out, DecodeLimits limits = {}) {
  static std::deque<std::string> bodies;
  return DecodeMetricsProto(bodies.emplace_back(std::move(body)), limits, out);
}

TEST(OtlpMetricsProto, DecodesGaugeWithIntAndDoublePoints) {
  ProtoWriter p1, p2, gauge;
  p1.Fixed64(2, kT0 - 5).Fixed64(3, kT0).Double(4, 0.25).Message(7, Kv("cpu", "0")).Varint(8, 1);
  p2.Fixed64(3, kT0 + 1).Fixed64(6, static_cast<uint64_t>(int64_t{-42}));
  gauge.Message(1, p1).Message(1, p2);
  MetricBatch b;
  ASSERT_TRUE(Decode(Request({Metric("system.cpu.utilization", 5, gauge)}), &b).ok());
  ASSERT_EQ(b.resources.size(), 1u);
  ASSERT_NE(b.Find(b.resources[0].attrs, "host.name"), nullptr);
  EXPECT_EQ(b.Find(b.resources[0].attrs, "host.name")->value.s, "h1");
  ASSERT_EQ(b.metrics.size(), 1u);
  const model::Metric& m = b.metrics[0];
  EXPECT_EQ(m.name, "system.cpu.utilization");
  EXPECT_EQ(m.description, "desc");
  EXPECT_EQ(m.unit, "By");
  EXPECT_EQ(m.scope_name, "loupe.agent");
  EXPECT_EQ(m.scope_version, "1.2");
  EXPECT_EQ(m.type, MetricType::kGauge);
  ASSERT_EQ(m.points_count, 2u);
  const model::MetricPoint& a = b.points[m.points_begin];
  EXPECT_EQ(a.start_unix_nano, kT0 - 5);
  EXPECT_EQ(a.time_unix_nano, kT0);
  EXPECT_FALSE(a.value.is_int);
  EXPECT_EQ(a.value.d, 0.25);
  EXPECT_EQ(a.flags, model::kPointFlagNoRecordedValue);
  ASSERT_EQ(a.attrs.count, 1u);
  EXPECT_EQ(b.Find(a.attrs, "cpu")->value.s, "0");
  const model::MetricPoint& c = b.points[m.points_begin + 1];
  EXPECT_TRUE(c.value.is_int);
  EXPECT_EQ(c.value.i, -42);
  EXPECT_EQ(c.attrs.count, 0u);
}

TEST(OtlpMetricsProto, DecodesSumTemporalityAndMonotonic) {
  ProtoWriter p, sum;
  p.Fixed64(3, kT0).Fixed64(6, 7);
  sum.Message(1, p).Varint(2, 2).Varint(3, 1);
  MetricBatch b;
  ASSERT_TRUE(Decode(Request({Metric("system.network.io", 7, sum)}), &b).ok());
  ASSERT_EQ(b.metrics.size(), 1u);
  EXPECT_EQ(b.metrics[0].type, MetricType::kSum);
  EXPECT_EQ(b.metrics[0].temporality, Temporality::kCumulative);
  EXPECT_TRUE(b.metrics[0].monotonic);
}

TEST(OtlpMetricsProto, UnknownTemporalityIsUnspecified) {
  ProtoWriter p, sum;
  p.Fixed64(3, kT0);
  sum.Message(1, p).Varint(2, 9);
  MetricBatch b;
  ASSERT_TRUE(Decode(Request({Metric("x", 7, sum)}), &b).ok());
  EXPECT_EQ(b.metrics[0].temporality, Temporality::kUnspecified);
}

std::string PackedDoubles(std::vector<double> v) {
  ProtoWriter w;
  for (double d : v) w.Raw(std::string_view(reinterpret_cast<const char*>(&d), 8));
  return w.data();
}
std::string PackedFixed(std::vector<uint64_t> v) {
  ProtoWriter w;
  for (uint64_t x : v) w.Raw(std::string_view(reinterpret_cast<const char*>(&x), 8));
  return w.data();
}

TEST(OtlpMetricsProto, DecodesHistogramPackedAndUnpacked) {
  ProtoWriter packed, unpacked, h;
  packed.Fixed64(3, kT0)
      .Fixed64(4, 6)
      .Double(5, 12.5)
      .Bytes(6, PackedFixed({1, 2, 3}))
      .Bytes(7, PackedDoubles({1.0, 5.0}))
      .Double(11, 0.5)
      .Double(12, 9.0)
      .Message(9, Kv("route", "/a"));
  unpacked.Fixed64(3, kT0).Fixed64(4, 3).Fixed64(6, 1).Double(7, 10.0).Fixed64(6, 2);
  h.Message(1, packed).Message(1, unpacked).Varint(2, 1);
  MetricBatch b;
  ASSERT_TRUE(Decode(Request({Metric("http.server.duration", 9, h)}), &b).ok());
  ASSERT_EQ(b.metrics.size(), 1u);
  EXPECT_EQ(b.metrics[0].type, MetricType::kHistogram);
  EXPECT_EQ(b.metrics[0].temporality, Temporality::kDelta);
  ASSERT_EQ(b.metrics[0].points_count, 2u);
  const model::MetricPoint& p = b.points[0];
  EXPECT_EQ(p.count, 6u);
  EXPECT_TRUE(p.has_sum && p.has_min && p.has_max);
  EXPECT_EQ(p.sum, 12.5);
  EXPECT_EQ(p.min, 0.5);
  EXPECT_EQ(p.max, 9.0);
  ASSERT_EQ(p.bounds.count, 2u);
  ASSERT_EQ(p.bucket_counts.count, 3u);
  EXPECT_EQ(b.Bound(p, 0), 1.0);
  EXPECT_EQ(b.Bound(p, 1), 5.0);
  EXPECT_EQ(b.Count(p.bucket_counts, 2), 3u);
  EXPECT_EQ(b.Find(p.attrs, "route")->value.s, "/a");
  const model::MetricPoint& q = b.points[1];
  EXPECT_FALSE(q.has_sum || q.has_min || q.has_max);
  ASSERT_EQ(q.bounds.count, 1u);
  ASSERT_EQ(q.bucket_counts.count, 2u);
  EXPECT_EQ(b.Count(q.bucket_counts, 0), 1u);
  EXPECT_EQ(b.Count(q.bucket_counts, 1), 2u);
}

TEST(OtlpMetricsProto, InvalidHistogramPointsAreSkippedCountedAndLeaveNothingBehind) {
  ProtoWriter mismatch, unordered, nan_bound, good, h;
  mismatch.Fixed64(3, kT0)
      .Bytes(6, PackedFixed({1, 2}))
      .Bytes(7, PackedDoubles({1, 2}))
      .Message(9, Kv("a", "b"));
  unordered.Fixed64(3, kT0).Bytes(6, PackedFixed({1, 2, 3})).Bytes(7, PackedDoubles({2, 1}));
  nan_bound.Fixed64(3, kT0).Bytes(6, PackedFixed({1, 2})).Bytes(7, PackedDoubles({NAN}));
  good.Fixed64(3, kT0).Fixed64(4, 4).Bytes(6, PackedFixed({4}));
  h.Message(1, mismatch).Message(1, unordered).Message(1, nan_bound).Message(1, good);
  MetricBatch b;
  ASSERT_TRUE(Decode(Request({Metric("h", 9, h)}), &b).ok());
  EXPECT_EQ(b.invalid_points, 3u);
  ASSERT_EQ(b.points.size(), 1u);
  EXPECT_EQ(b.points[0].count, 4u);
  EXPECT_EQ(b.attrs.size(), 1u);  // the resource's host.name only
  EXPECT_EQ(b.bounds.size(), 0u);
  EXPECT_EQ(b.counts.size(), 1u);
}

TEST(OtlpMetricsProto, HistogramWithMoreBucketsThanTheLimitIsInvalid) {
  ProtoWriter p, h;
  p.Fixed64(3, kT0).Bytes(6, PackedFixed({1, 2, 3, 4})).Bytes(7, PackedDoubles({1, 2, 3}));
  h.Message(1, p);
  DecodeLimits limits;
  limits.max_buckets_per_point = 3;
  MetricBatch b;
  ASSERT_TRUE(Decode(Request({Metric("h", 9, h)}), &b, limits).ok());
  EXPECT_EQ(b.invalid_points, 1u);
  EXPECT_EQ(b.points.size(), 0u);
  limits.max_buckets_per_point = 4;
  ASSERT_TRUE(Decode(Request({Metric("h", 9, h)}), &b, limits).ok());
  EXPECT_EQ(b.invalid_points, 0u);
  EXPECT_EQ(b.points.size(), 1u);
}

uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}

TEST(OtlpMetricsProto, DecodesExponentialHistogram) {
  ProtoWriter pos, neg, packed, p, eh;
  packed.RawVarint(3).RawVarint(0).RawVarint(300);
  pos.Varint(1, ZigZag(-2)).Bytes(2, packed.data());
  neg.Varint(1, ZigZag(5)).Varint(2, 7).Varint(2, 8);  // unpacked
  p.Message(1, Kv("k", "v"))
      .Fixed64(3, kT0)
      .Fixed64(4, 318)
      .Double(5, 1.5)
      .Varint(6, ZigZag(-3))
      .Fixed64(7, 0)
      .Message(8, pos)
      .Message(9, neg)
      .Double(12, -4.0)
      .Double(13, 100.0)
      .Double(14, 1e-9);
  eh.Message(1, p).Varint(2, 2);
  MetricBatch b;
  ASSERT_TRUE(Decode(Request({Metric("latency", 10, eh)}), &b).ok());
  ASSERT_EQ(b.points.size(), 1u);
  EXPECT_EQ(b.metrics[0].type, MetricType::kExponentialHistogram);
  const model::MetricPoint& q = b.points[0];
  EXPECT_EQ(q.scale, -3);
  EXPECT_EQ(q.count, 318u);
  EXPECT_EQ(q.zero_threshold, 1e-9);
  EXPECT_EQ(q.positive.offset, -2);
  ASSERT_EQ(q.positive.counts.count, 3u);
  EXPECT_EQ(b.Count(q.positive.counts, 2), 300u);
  EXPECT_EQ(q.negative.offset, 5);
  ASSERT_EQ(q.negative.counts.count, 2u);
  EXPECT_EQ(b.Count(q.negative.counts, 1), 8u);
  EXPECT_EQ(q.min, -4.0);
  EXPECT_EQ(q.max, 100.0);
  EXPECT_EQ(b.Find(q.attrs, "k")->value.s, "v");
}

TEST(OtlpMetricsProto, ExponentialScaleOutsideTheSpecIsInvalid) {
  for (int64_t scale : {-11, -10, 20, 21}) {
    ProtoWriter p, eh;
    p.Fixed64(3, kT0).Varint(6, ZigZag(scale));
    eh.Message(1, p);
    MetricBatch b;
    ASSERT_TRUE(Decode(Request({Metric("e", 10, eh)}), &b).ok());
    EXPECT_EQ(b.invalid_points, scale == -11 || scale == 21 ? 1u : 0u) << scale;
  }
}

TEST(OtlpMetricsProto, DecodesExemplarsWithTraceAndSpanIds) {
  std::string trace(16, '\0'), span(8, '\0');
  for (int i = 0; i < 16; ++i) trace[i] = static_cast<char>(i + 1);
  span[7] = 9;
  ProtoWriter ex, bad_ex, p, g;
  ex.Fixed64(2, kT0).Double(3, 2.5).Bytes(4, span).Bytes(5, trace).Message(7, Kv("user", "u1"));
  bad_ex.Fixed64(6, 3).Bytes(4, "short").Bytes(5, "short");
  p.Fixed64(3, kT0).Double(4, 1).Message(7, Kv("a", "1")).Message(5, ex).Message(5, bad_ex);
  g.Message(1, p);
  MetricBatch b;
  ASSERT_TRUE(Decode(Request({Metric("g", 5, g)}), &b).ok());
  ASSERT_EQ(b.points.size(), 1u);
  const model::MetricPoint& q = b.points[0];
  ASSERT_EQ(q.exemplars_count, 2u);
  EXPECT_EQ(q.attrs.count, 1u);
  const model::Exemplar& e = b.exemplars[q.exemplars_begin];
  EXPECT_EQ(e.time_unix_nano, kT0);
  EXPECT_EQ(e.value.d, 2.5);
  EXPECT_EQ(e.span_id, 9u);
  EXPECT_EQ(e.trace_id[0], 1);
  EXPECT_EQ(e.trace_id[15], 16);
  EXPECT_EQ(b.Find(e.attrs, "user")->value.s, "u1");
  const model::Exemplar& f = b.exemplars[q.exemplars_begin + 1];
  EXPECT_TRUE(f.value.is_int);
  EXPECT_EQ(f.value.i, 3);
  EXPECT_EQ(f.span_id, 0u);
  EXPECT_EQ(f.trace_id, model::TraceId{});
}

TEST(OtlpMetricsProto, ExemplarsAndAttributesOverTheirCapsAreCounted) {
  ProtoWriter ex, p, g;
  ex.Fixed64(2, kT0).Double(3, 1);
  p.Fixed64(3, kT0).Message(7, Kv("a", "1")).Message(7, Kv("b", "2")).Message(7, Kv("c", "3"));
  for (int i = 0; i < 5; ++i) p.Message(5, ex);
  g.Message(1, p);
  DecodeLimits limits;
  limits.max_attributes_per_point = 2;
  limits.max_exemplars_per_point = 3;
  MetricBatch b;
  ASSERT_TRUE(Decode(Request({Metric("g", 5, g)}), &b, limits).ok());
  EXPECT_EQ(b.points[0].attrs.count, 2u);
  EXPECT_EQ(b.dropped_attributes, 1u);
  EXPECT_EQ(b.points[0].exemplars_count, 3u);
  EXPECT_EQ(b.dropped_exemplars, 2u);
}

TEST(OtlpMetricsProto, SummaryAndNamelessMetricsAreSkippedAndCounted) {
  ProtoWriter p, summary, g;
  p.Fixed64(3, kT0).Fixed64(4, 1);
  summary.Message(1, p);
  g.Message(1, p);
  ProtoWriter nameless, nodata;
  nameless.Message(5, g);
  nodata.Bytes(1, "nodata");
  MetricBatch b;
  ASSERT_TRUE(
      Decode(Request({Metric("s", 11, summary), nameless, nodata, Metric("g", 5, g)}), &b).ok());
  EXPECT_EQ(b.skipped_metrics, 3u);
  ASSERT_EQ(b.metrics.size(), 1u);
  EXPECT_EQ(b.metrics[0].name, "g");
}

TEST(OtlpMetricsProto, MoreDataPointsThanTheLimitRejectTheRequest) {
  ProtoWriter p, g;
  p.Fixed64(3, kT0);
  for (int i = 0; i < 4; ++i) g.Message(1, p);
  DecodeLimits limits;
  limits.max_points = 3;
  MetricBatch b;
  Status st = Decode(Request({Metric("g", 5, g)}), &b, limits);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("more than 3 data points"), std::string::npos) << st.ToString();
  limits.max_points = 4;
  EXPECT_TRUE(Decode(Request({Metric("g", 5, g)}), &b, limits).ok());
}

TEST(OtlpMetricsProto, MalformedInputIsInvalidArgumentWithItsOffset) {
  ProtoWriter p, h;
  p.Fixed64(3, kT0).Bytes(6, std::string(7, '\1'));
  h.Message(1, p);
  MetricBatch b;
  Status st = Decode(Request({Metric("h", 9, h)}), &b);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("not a multiple of 8"), std::string::npos) << st.ToString();

  ProtoWriter wrong, g;
  wrong.Varint(3, 5);  // time_unix_nano must be fixed64
  g.Message(1, wrong);
  st = Decode(Request({Metric("g", 5, g)}), &b);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("at byte"), std::string::npos) << st.ToString();
}

// A request with every kind of metric, exemplars and attributes, built with
// the encoder from a batch made in memory.
MetricBatch FullBatch() {
  MetricBatch b;
  auto attr = [&](std::string key, std::string value) {
    model::KeyValue kv;
    kv.key = b.Own(std::move(key));
    kv.value.type = model::AttrValue::Type::kString;
    kv.value.s = b.Own(std::move(value));
    b.attrs.push_back(kv);
  };
  attr("host.name", "h1");
  b.resources.push_back({{0, 1}});
  attr("service.name", "other");
  b.resources.push_back({{1, 1}});
  auto metric = [&](std::string name, MetricType t, uint32_t resource) -> model::Metric& {
    model::Metric& m = b.metrics.emplace_back();
    m.name = b.Own(std::move(name));
    m.type = t;
    m.resource = resource;
    m.scope_name = "loupe";
    m.points_begin = static_cast<uint32_t>(b.points.size());
    return m;
  };
  model::Metric& g = metric("g", MetricType::kGauge, 0);
  model::MetricPoint p;
  p.time_unix_nano = kT0;
  p.value = {true, -5, 0};
  p.attrs = {static_cast<uint32_t>(b.attrs.size()), 1};
  attr("state", "idle");
  p.exemplars_begin = 0;
  p.exemplars_count = 1;
  model::Exemplar ex;
  ex.time_unix_nano = kT0 - 1;
  ex.value = {false, 0, 0.5};
  ex.span_id = 0x0102030405060708;
  ex.trace_id[3] = 4;
  b.exemplars.push_back(ex);
  b.points.push_back(p);
  g.points_count = 1;
  model::Metric& s = metric("s", MetricType::kSum, 1);
  s.temporality = Temporality::kCumulative;
  s.monotonic = true;
  s.description = "d";
  s.unit = "s";
  model::MetricPoint sp;
  sp.start_unix_nano = kT0 - 100;
  sp.time_unix_nano = kT0;
  sp.value = {false, 0, 3.25};
  sp.flags = 1;
  b.points.push_back(sp);
  b.metrics.back().points_count = 1;
  model::Metric& h = metric("h", MetricType::kHistogram, 0);
  h.temporality = Temporality::kDelta;
  model::MetricPoint hp;
  hp.time_unix_nano = kT0;
  hp.count = 3;
  hp.has_sum = true;
  hp.sum = 4;
  hp.has_max = true;
  hp.max = 3;
  hp.bounds = {0, 2};
  b.bounds = {1, 2};
  hp.bucket_counts = {0, 3};
  b.counts = {1, 1, 1};
  b.points.push_back(hp);
  b.metrics.back().points_count = 1;
  model::Metric& e = metric("e", MetricType::kExponentialHistogram, 0);
  e.temporality = Temporality::kCumulative;
  model::MetricPoint ep;
  ep.time_unix_nano = kT0;
  ep.count = 5;
  ep.scale = -2;
  ep.zero_count = 1;
  ep.zero_threshold = 0.001;
  ep.positive = {-1, {3, 2}};
  ep.negative = {4, {5, 1}};
  b.counts.insert(b.counts.end(), {2, 1, 1});
  ep.has_min = true;
  ep.min = -20;
  b.points.push_back(ep);
  b.metrics.back().points_count = 1;
  return b;
}

TEST(OtlpMetricsProto, EncodeThenDecodeKeepsEverything) {
  const MetricBatch in = FullBatch();
  std::string body;
  EncodeMetricsProto(in, &body);
  MetricBatch out;
  ASSERT_TRUE(Decode(body, &out).ok());
  ASSERT_EQ(out.resources.size(), 2u);
  ASSERT_EQ(out.metrics.size(), in.metrics.size());
  ASSERT_EQ(out.points.size(), in.points.size());
  for (size_t i = 0; i < in.metrics.size(); ++i) {
    const model::Metric& a = in.metrics[i];
    // The encoder groups by resource: the sum of resource 1 comes last.
    const model::Metric* b = nullptr;
    for (const model::Metric& m : out.metrics) {
      if (m.name == a.name) b = &m;
    }
    ASSERT_NE(b, nullptr) << a.name;
    EXPECT_EQ(b->type, a.type);
    EXPECT_EQ(b->temporality, a.temporality);
    EXPECT_EQ(b->monotonic, a.monotonic);
    EXPECT_EQ(b->description, a.description);
    EXPECT_EQ(b->unit, a.unit);
    EXPECT_EQ(b->scope_name, "loupe");
    EXPECT_EQ(out.Find(out.resources[b->resource].attrs, "host.name") != nullptr, a.resource == 0);
    ASSERT_EQ(b->points_count, 1u);
    const model::MetricPoint& x = in.points[a.points_begin];
    const model::MetricPoint& y = out.points[b->points_begin];
    EXPECT_EQ(y.start_unix_nano, x.start_unix_nano);
    EXPECT_EQ(y.time_unix_nano, x.time_unix_nano);
    EXPECT_EQ(y.flags, x.flags);
    EXPECT_EQ(y.value.is_int, x.value.is_int);
    EXPECT_EQ(y.value.AsDouble(), x.value.AsDouble());
    EXPECT_EQ(y.count, x.count);
    EXPECT_EQ(y.has_sum, x.has_sum);
    EXPECT_EQ(y.sum, x.sum);
    EXPECT_EQ(y.has_min, x.has_min);
    EXPECT_EQ(y.min, x.min);
    EXPECT_EQ(y.has_max, x.has_max);
    EXPECT_EQ(y.max, x.max);
    EXPECT_EQ(y.scale, x.scale);
    EXPECT_EQ(y.zero_count, x.zero_count);
    EXPECT_EQ(y.zero_threshold, x.zero_threshold);
    ASSERT_EQ(y.bounds.count, x.bounds.count);
    for (uint32_t k = 0; k < x.bounds.count; ++k) EXPECT_EQ(out.Bound(y, k), in.Bound(x, k));
    ASSERT_EQ(y.bucket_counts.count, x.bucket_counts.count);
    for (uint32_t k = 0; k < x.bucket_counts.count; ++k) {
      EXPECT_EQ(out.Count(y.bucket_counts, k), in.Count(x.bucket_counts, k));
    }
    for (auto side : {&model::MetricPoint::positive, &model::MetricPoint::negative}) {
      EXPECT_EQ((y.*side).offset, (x.*side).offset);
      ASSERT_EQ((y.*side).counts.count, (x.*side).counts.count);
      for (uint32_t k = 0; k < (x.*side).counts.count; ++k) {
        EXPECT_EQ(out.Count((y.*side).counts, k), in.Count((x.*side).counts, k));
      }
    }
    ASSERT_EQ(y.attrs.count, x.attrs.count);
    ASSERT_EQ(y.exemplars_count, x.exemplars_count);
    for (uint32_t k = 0; k < x.exemplars_count; ++k) {
      const model::Exemplar& ex = in.exemplars[x.exemplars_begin + k];
      const model::Exemplar& ey = out.exemplars[y.exemplars_begin + k];
      EXPECT_EQ(ey.time_unix_nano, ex.time_unix_nano);
      EXPECT_EQ(ey.value.d, ex.value.d);
      EXPECT_EQ(ey.span_id, ex.span_id);
      EXPECT_EQ(ey.trace_id, ex.trace_id);
    }
  }
  EXPECT_EQ(out.Find(out.points[0].attrs, "state")->value.s, "idle");
}

TEST(OtlpMetricsProto, EveryPrefixOfARequestDecodesOrFailsCleanly) {
  std::string body;
  EncodeMetricsProto(FullBatch(), &body);
  for (size_t n = 0; n < body.size(); ++n) {
    MetricBatch b;
    Status st = Decode(body.substr(0, n), &b);
    EXPECT_TRUE(st.ok() || st.code() == Status::Code::kInvalidArgument) << n;
  }
  // Every single-byte corruption, too.
  for (size_t n = 0; n < body.size(); ++n) {
    for (int x : {0x00, 0x80, 0xff}) {
      std::string bad = body;
      bad[n] = static_cast<char>(x);
      MetricBatch b;
      Status st = Decode(bad, &b);
      EXPECT_TRUE(st.ok() || st.code() == Status::Code::kInvalidArgument) << n;
    }
  }
}

// What @opentelemetry/sdk-metrics 2.12.1 with exporter-metrics-otlp-proto
// 0.223.0 sent (tests/integration/capture_metrics_golden.mjs).
TEST(OtlpMetricsProto, DecodesWhatTheOpenTelemetryJsSdkSends) {
  std::ifstream in(LOUPE_SOURCE_DIR "/tests/fixtures/otlp/js_sdk_metrics.pb", std::ios::binary);
  ASSERT_TRUE(in) << "missing golden file";
  std::stringstream ss;
  ss << in.rdbuf();
  MetricBatch b;
  ASSERT_TRUE(Decode(ss.str(), &b).ok());
  EXPECT_EQ(b.skipped_metrics + b.invalid_points + b.dropped_attributes, 0u);
  ASSERT_EQ(b.resources.size(), 1u);
  EXPECT_EQ(b.Find(b.resources[0].attrs, "service.name")->value.s, "golden");
  ASSERT_EQ(b.metrics.size(), 5u);
  for (const model::Metric& m : b.metrics) {
    EXPECT_EQ(m.scope_name, "golden-meter");
    EXPECT_EQ(m.scope_version, "1.0.0");
    ASSERT_GE(m.points_count, 1u);
    EXPECT_GT(b.points[m.points_begin].time_unix_nano, kT0);
    if (m.type != MetricType::kGauge) {
      EXPECT_EQ(m.temporality, Temporality::kCumulative);
    }
  }

  const model::Metric& exp = b.metrics[0];
  EXPECT_EQ(exp.name, "exp.latency");
  EXPECT_EQ(exp.unit, "s");
  ASSERT_EQ(exp.type, MetricType::kExponentialHistogram);
  const model::MetricPoint& e = b.points[exp.points_begin];
  EXPECT_EQ(e.count, 5u);
  EXPECT_EQ(e.sum, 7.5);
  EXPECT_EQ(e.min, 0);
  EXPECT_EQ(e.max, 4);
  EXPECT_EQ(e.scale, 5);
  EXPECT_EQ(e.zero_count, 1u);
  EXPECT_EQ(e.positive.offset, -33);
  ASSERT_EQ(e.positive.counts.count, 97u);
  uint64_t positive = 0;
  for (uint32_t k = 0; k < 97; ++k) positive += b.Count(e.positive.counts, k);
  EXPECT_EQ(positive, 4u);
  EXPECT_EQ(b.Count(e.positive.counts, 0), 1u);
  EXPECT_EQ(b.Count(e.positive.counts, 96), 1u);
  EXPECT_EQ(e.negative.counts.count, 0u);

  const model::Metric& requests = b.metrics[1];
  EXPECT_EQ(requests.name, "http.requests");
  EXPECT_EQ(requests.description, "requests");
  EXPECT_EQ(requests.unit, "{request}");
  ASSERT_EQ(requests.type, MetricType::kSum);
  EXPECT_TRUE(requests.monotonic);
  ASSERT_EQ(requests.points_count, 2u);
  const model::MetricPoint& a = b.points[requests.points_begin];
  EXPECT_EQ(b.Find(a.attrs, "route")->value.s, "/a");
  EXPECT_FALSE(a.value.is_int);
  EXPECT_EQ(a.value.d, 3);
  EXPECT_EQ(b.points[requests.points_begin + 1].value.d, 4);

  const model::Metric& inflight = b.metrics[2];
  EXPECT_EQ(inflight.name, "http.inflight");
  ASSERT_EQ(inflight.type, MetricType::kSum);
  EXPECT_FALSE(inflight.monotonic);
  EXPECT_TRUE(b.points[inflight.points_begin].value.is_int);
  EXPECT_EQ(b.points[inflight.points_begin].value.i, 3);

  const model::Metric& latency = b.metrics[3];
  EXPECT_EQ(latency.name, "http.latency");
  ASSERT_EQ(latency.type, MetricType::kHistogram);
  const model::MetricPoint& h = b.points[latency.points_begin];
  EXPECT_EQ(h.count, 4u);
  EXPECT_EQ(h.sum, 562);
  EXPECT_EQ(h.min, 5);
  EXPECT_EQ(h.max, 500);
  ASSERT_EQ(h.bounds.count, 2u);
  EXPECT_EQ(b.Bound(h, 0), 10);
  EXPECT_EQ(b.Bound(h, 1), 100);
  ASSERT_EQ(h.bucket_counts.count, 3u);
  EXPECT_EQ(b.Count(h.bucket_counts, 0), 2u);
  EXPECT_EQ(b.Count(h.bucket_counts, 1), 1u);
  EXPECT_EQ(b.Count(h.bucket_counts, 2), 1u);

  const model::Metric& temperature = b.metrics[4];
  EXPECT_EQ(temperature.name, "temperature");
  EXPECT_EQ(temperature.unit, "Cel");
  ASSERT_EQ(temperature.type, MetricType::kGauge);
  EXPECT_EQ(b.points[temperature.points_begin].value.d, 21.5);
  EXPECT_EQ(b.Find(b.points[temperature.points_begin].attrs, "room")->value.s, "lab");
}

}  // namespace
}  // namespace loupe::wire
