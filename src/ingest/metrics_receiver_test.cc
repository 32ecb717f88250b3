// /v1/metrics through the front door into a time-series store (no log): what
// each encoding answers and what lands in the store.
#include "ingest/metrics_receiver.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "auth/registry.h"
#include "common/clock.h"
#include "live/live_state.h"
#include "store/mem/mem_store.h"
#include "store/tsdb/time_series_store.h"
#include "wire/otlp_metrics_json.h"
#include "wire/otlp_metrics_proto.h"
#include "wire/otlp_response.h"

namespace loupe::ingest {
namespace {

constexpr int64_t kT0Ms = 1'763'700'000'000;

// Requests `requests_total` (cumulative monotonic sum) of service shop, one
// point without a value when `with_empty_point`.
std::string SumJson(double value, bool with_empty_point = false) {
  std::string points = R"({"timeUnixNano":")" + std::to_string(kT0Ms * 1'000'000) +
                       R"(","asDouble":)" + std::to_string(value) + "}";
  if (with_empty_point) {
    points +=
        R"(,{"timeUnixNano":")" + std::to_string((kT0Ms + 1000) * 1'000'000) + R"(","flags":1})";
  }
  return R"({"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":)"
         R"({"stringValue":"shop"}}]},"scopeMetrics":[{"metrics":[{"name":"requests_total",)"
         R"("sum":{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[)" +
         points + "]}}]}]}]}";
}

std::string Gzip(std::string_view data) {
  z_stream z{};
  deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, data.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

class MetricsReceiverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loupe_metrics_receiver_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto reg = auth::Registry::Open("", &creds_);
    ASSERT_TRUE(reg.ok());
    registry_ = std::move(*reg);
    project_ = *registry_->AuthenticateIngestKey(creds_.ingest_key);
    tsdb::TsdbOptions to;
    to.dir = dir_;
    auto ts = tsdb::TimeSeriesStore::Open(to);
    ASSERT_TRUE(ts.ok());
    tsdb_ = std::move(*ts);
    pipeline_ =
        std::make_unique<Pipeline>(store_.get(), &live_, &clock_, &metrics_, PipelineOptions{});
    pipeline_->AttachMetricsStore(tsdb_.get());
    door_ = std::make_unique<OtlpFrontDoor>(registry_.get(), pipeline_.get(), &metrics_);
    receiver_ = std::make_unique<MetricsReceiver>(pipeline_.get());
    receiver_->AddRoutes(door_.get());
  }
  void TearDown() override {
    door_.reset();
    pipeline_.reset();
    tsdb_.reset();
    std::filesystem::remove_all(dir_);
  }

  net::HttpResponse Send(std::string body, std::string content_type, bool gzip = false) {
    net::HttpRequest req;
    req.method = "POST";
    req.path = "/v1/metrics";
    req.headers = {{"content-type", std::move(content_type)},
                   {"authorization", "Bearer " + creds_.ingest_key}};
    if (gzip) req.headers.emplace_back("content-encoding", "gzip");
    req.body = gzip ? Gzip(body) : std::move(body);
    net::HttpResponse resp;
    door_->Handle(req, &resp);
    return resp;
  }

  // The last value of requests_total{service.name=shop} at kT0Ms; NaN if none.
  double Stored() {
    tsdb::MetricQuery q;
    q.metric = "requests_total";
    q.from_ms = kT0Ms;
    q.to_ms = kT0Ms + 1000;
    q.step_ms = 1000;
    q.agg = tsdb::TimeAgg::kLast;
    auto r = tsdb_->Query(project_, q);
    if (!r.ok() || r->series.size() != 1) return std::nan("");
    EXPECT_EQ(r->series[0].labels, (tsdb::Labels{{"service.name", "shop"}}));
    return r->series[0].values[0];
  }

  std::string dir_;
  auth::InitialCredentials creds_;
  std::unique_ptr<auth::Registry> registry_;
  auth::ProjectId project_ = 0;
  ManualClock clock_{kT0Ms * 1000};
  MetricsRegistry metrics_;
  std::unique_ptr<store::Store> store_ = store::NewMemStore(1000);
  live::LiveState live_{&clock_};
  std::unique_ptr<tsdb::TimeSeriesStore> tsdb_;
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<OtlpFrontDoor> door_;
  std::unique_ptr<MetricsReceiver> receiver_;
};

TEST_F(MetricsReceiverTest, GzippedProtobufIsStoredAndAnsweredWithAnEmptyResponse) {
  std::string json = SumJson(42);
  model::MetricBatch batch;
  ASSERT_TRUE(wire::DecodeMetricsJson(&json, {}, &batch).ok());
  std::string proto;
  wire::EncodeMetricsProto(batch, &proto);
  net::HttpResponse resp = Send(proto, "application/x-protobuf", true);
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.content_type, "application/x-protobuf");
  EXPECT_EQ(resp.body, "");
  EXPECT_EQ(Stored(), 42.0);
}

TEST_F(MetricsReceiverTest, JsonWithAnEmptyPointIsAPartialSuccessCountingDataPoints) {
  net::HttpResponse resp = Send(SumJson(7, true), "application/json");
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.content_type, "application/json");
  EXPECT_EQ(resp.body, wire::EncodeMetricsExportResponseJson(
                           1,
                           "0 histogram points with invalid buckets, 1 points without a value "
                           "or time, 0 metrics without a name or of an unsupported type "
                           "(Summary) were skipped"));
  EXPECT_EQ(Stored(), 7.0);
}

// A histogram point whose bucket counts do not fit its bounds is refused by
// the decoder: reported back and counted as skipped, like the mapping's skips.
TEST_F(MetricsReceiverTest, AnInvalidHistogramPointIsReportedAndCountedAsSkipped) {
  const std::string t = std::to_string(kT0Ms * 1'000'000);
  std::string json =
      R"({"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":)"
      R"({"stringValue":"shop"}}]},"scopeMetrics":[{"metrics":[{"name":"latency",)"
      R"("histogram":{"aggregationTemporality":2,"dataPoints":[{"timeUnixNano":")" +
      t + R"(","count":"3","sum":6,"bucketCounts":["1","2"],"explicitBounds":[1,2]}]}}]}]}]})";
  net::HttpResponse resp = Send(json, "application/json");
  EXPECT_EQ(resp.status, 200);
  EXPECT_NE(resp.body.find("1 histogram points with invalid buckets"), std::string::npos)
      << resp.body;
  EXPECT_EQ(metrics_.GetCounter("loupe_ingest_metric_points_total", "", {{"result", "skipped"}})
                ->value(),
            1u);
}

TEST_F(MetricsReceiverTest, UndecodableBodyIs400AndTheNextRequestIsServed) {
  net::HttpResponse resp = Send("\xff\xff\xff", "application/x-protobuf");
  EXPECT_EQ(resp.status, 400);
  EXPECT_EQ(Send(SumJson(3), "application/json").status, 200);
  EXPECT_EQ(Stored(), 3.0);
}

TEST_F(MetricsReceiverTest, TheGrpcMethodIsRegistered) {
  EXPECT_NE(door_->GrpcMethod(kMetricsExportMethod), nullptr);
}

}  // namespace
}  // namespace loupe::ingest
