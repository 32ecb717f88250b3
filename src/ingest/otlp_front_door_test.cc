#include "ingest/otlp_front_door.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <memory>
#include <string>

#include "common/clock.h"
#include "live/live_state.h"
#include "store/mem/mem_store.h"
#include "store/store.h"
#include "wire/otlp_response.h"

namespace loupe::ingest {
namespace {

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

std::string Header(const net::HttpResponse& resp, std::string_view name) {
  for (const auto& [k, v] : resp.headers) {
    if (k == name) return v;
  }
  return "";
}

class FrontDoorTest : public ::testing::Test {
 protected:
  FrontDoorTest() {
    auto reg = auth::Registry::Open("", &creds_);
    EXPECT_TRUE(reg.ok());
    registry_ = std::move(*reg);
    project_ = *registry_->AuthenticateIngestKey(creds_.ingest_key);
    PipelineOptions po;
    po.max_inflight_bytes = 1 << 20;
    pipeline_ = std::make_unique<Pipeline>(store_.get(), &live_, &clock_, &metrics_, po);
    door_ = std::make_unique<OtlpFrontDoor>(registry_.get(), pipeline_.get(), &metrics_);

    HttpRoute otlp;
    otlp.path = "/v1/test";
    otlp.method = "POST";
    otlp.media_types = {"application/x-protobuf", "application/json"};
    otlp.media_hint = "use protobuf";
    otlp.max_body_bytes = 4096;
    otlp.handler = [this](IngestCall& call) { return Record(call); };
    door_->AddHttpRoute(otlp);
    HttpRoute agent = otlp;
    agent.path = "/v1/loupe/thing";
    agent.family = RouteFamily::kAgent;
    door_->AddHttpRoute(agent);
  }

  IngestReply Record(IngestCall& call) {
    ++calls_;
    seen_project_ = call.project;
    seen_body_ = *call.body;
    if (!next_refusal_.refused()) {
      IngestReply r;
      r.content_type = "text/plain";
      r.body = "done";
      return r;
    }
    IngestReply r;
    r.refusal = next_refusal_;
    return r;
  }

  net::HttpRequest Request(std::string path, std::string body = "abc",
                           std::string content_type = "application/x-protobuf") {
    net::HttpRequest req;
    req.method = "POST";
    req.path = std::move(path);
    req.headers = {{"content-type", std::move(content_type)},
                   {"authorization", "Bearer " + creds_.ingest_key}};
    req.body = std::move(body);
    return req;
  }

  net::HttpResponse Send(net::HttpRequest req) {
    net::HttpResponse resp;
    door_->Handle(req, &resp);
    return resp;
  }

  uint64_t Count(const char* name, const Labels& labels) {
    return metrics_.GetCounter(name, "", labels)->value();
  }

  auth::InitialCredentials creds_;
  std::unique_ptr<auth::Registry> registry_;
  auth::ProjectId project_ = 0;
  ManualClock clock_{1'763'700'000'000'000};
  MetricsRegistry metrics_;
  std::unique_ptr<store::Store> store_ = store::NewMemStore(1000);
  live::LiveState live_{&clock_};
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<OtlpFrontDoor> door_;
  int calls_ = 0;
  auth::ProjectId seen_project_ = 0;
  std::string seen_body_;
  Refusal next_refusal_;
};

TEST_F(FrontDoorTest, HandlerGetsTheProjectAndTheInflatedBody) {
  net::HttpRequest req = Request("/v1/test", Gzip("hello spans"));
  req.headers.emplace_back("content-encoding", "gzip");
  net::HttpResponse resp = Send(std::move(req));
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.body, "done");
  EXPECT_EQ(seen_project_, project_);
  EXPECT_EQ(seen_body_, "hello spans");
  EXPECT_EQ(Count("loupe_ingest_requests_total", {{"transport", "http"}, {"result", "ok"}}), 1u);
}

TEST_F(FrontDoorTest, UnknownPathIs404InTheRequestsEncoding) {
  net::HttpResponse resp = Send(Request("/v2/nothing", "{}", "application/json"));
  EXPECT_EQ(resp.status, 404);
  EXPECT_EQ(resp.content_type, "application/json");
  EXPECT_EQ(resp.body, wire::EncodeRpcStatusJson(
                           kRpcNotFound, "unknown path /v2/nothing; OTLP traces go to /v1/traces"));
  EXPECT_EQ(calls_, 0);
}

TEST_F(FrontDoorTest, UnknownAgentPathIsAnAgentErrorListingTheAgentRoutes) {
  net::HttpResponse resp = Send(Request("/v1/loupe/nope"));
  EXPECT_EQ(resp.status, 404);
  EXPECT_EQ(resp.body,
            R"({"error":{"code":"not_found","message":"unknown path /v1/loupe/nope; Loupe agents )"
            R"(use /v1/loupe/thing"}})");
  EXPECT_EQ(Count("loupe_agent_requests_total", {{"result", "not_found"}}), 1u);
}

TEST_F(FrontDoorTest, MetricsAndLogsAreUnsupportedUntilARouteTakesThem) {
  net::HttpResponse resp = Send(Request("/v1/metrics"));
  EXPECT_EQ(resp.status, 404);
  EXPECT_EQ(resp.body, wire::EncodeRpcStatusProto(
                           kRpcUnimplemented,
                           "this Loupe server accepts OTLP on /v1/test only; /v1/metrics is not "
                           "supported yet"));
  EXPECT_EQ(Send(Request("/v1/logs")).status, 404);
  HttpRoute metrics;
  metrics.path = "/v1/metrics";
  metrics.method = "POST";
  metrics.media_types = {"application/x-protobuf"};
  metrics.handler = [this](IngestCall& call) { return Record(call); };
  door_->AddHttpRoute(metrics);
  EXPECT_EQ(Send(Request("/v1/metrics")).status, 200);
  EXPECT_EQ(calls_, 1);
  EXPECT_EQ(Send(Request("/v1/logs")).body,
            wire::EncodeRpcStatusProto(kRpcUnimplemented,
                                       "this Loupe server accepts OTLP on /v1/metrics and /v1/test "
                                       "only; /v1/logs is not supported yet"));
}

TEST_F(FrontDoorTest, WrongMethodIs405WithAllow) {
  net::HttpRequest req = Request("/v1/test");
  req.method = "PUT";
  net::HttpResponse resp = Send(std::move(req));
  EXPECT_EQ(resp.status, 405);
  EXPECT_EQ(Header(resp, "Allow"), "POST");
}

TEST_F(FrontDoorTest, HeaderChecksRefuseBeforeTheBody) {
  auto check = [&](net::HttpRequest req) {
    req.body.clear();
    net::HttpResponse resp;
    EXPECT_FALSE(door_->CheckHeaders(req, &resp));
    return resp.status;
  };
  net::HttpRequest no_key = Request("/v1/test");
  no_key.headers.pop_back();
  EXPECT_EQ(check(no_key), 401);
  net::HttpRequest bad_key = Request("/v1/test");
  bad_key.headers.back().second = "Bearer wrong";
  EXPECT_EQ(check(bad_key), 401);
  EXPECT_EQ(check(Request("/v1/test", "", "text/plain")), 415);
  net::HttpRequest br = Request("/v1/test");
  br.headers.emplace_back("content-encoding", "br");
  EXPECT_EQ(check(br), 415);
  net::HttpRequest big = Request("/v1/test");
  big.headers.emplace_back("content-length", "4097");
  EXPECT_EQ(check(big), 413);
  net::HttpResponse ok;
  EXPECT_TRUE(door_->CheckHeaders(Request("/v1/test", ""), &ok));
}

TEST_F(FrontDoorTest, AKeyInXLoupeKeyAuthenticates) {
  net::HttpRequest req = Request("/v1/test");
  req.headers.back() = {"x-loupe-key", creds_.ingest_key};
  EXPECT_EQ(Send(std::move(req)).status, 200);
}

TEST_F(FrontDoorTest, BodiesOverTheRouteLimitAre413BeforeAndAfterInflating) {
  EXPECT_EQ(Send(Request("/v1/test", std::string(4097, 'x'))).status, 413);
  net::HttpRequest bomb = Request("/v1/test", Gzip(std::string(1 << 20, 'x')));
  bomb.headers.emplace_back("content-encoding", "gzip");
  EXPECT_EQ(Send(std::move(bomb)).status, 413);
  EXPECT_EQ(calls_, 0);
  EXPECT_EQ(Count("loupe_ingest_requests_total", {{"transport", "http"}, {"result", "too_large"}}),
            2u);
}

TEST_F(FrontDoorTest, CorruptGzipIs400) {
  net::HttpRequest req = Request("/v1/test", "not gzip at all");
  req.headers.emplace_back("content-encoding", "gzip");
  EXPECT_EQ(Send(std::move(req)).status, 400);
}

TEST_F(FrontDoorTest, FullInflightBudgetIs503WithRetryAfterAndIsReleasedAfterward) {
  ASSERT_TRUE(pipeline_->ReserveBytes(1 << 20));
  net::HttpResponse busy = Send(Request("/v1/test"));
  EXPECT_EQ(busy.status, 503);
  EXPECT_EQ(Header(busy, "Retry-After"), "1");
  pipeline_->ReleaseBytes(1 << 20);
  EXPECT_EQ(Send(Request("/v1/test")).status, 200);
  // The door released what it reserved: the whole budget can be taken again.
  ASSERT_TRUE(pipeline_->ReserveBytes(1 << 20));
  EXPECT_FALSE(pipeline_->ReserveBytes(1));
  pipeline_->ReleaseBytes(1 << 20);
}

TEST_F(FrontDoorTest, HandlerRefusalsAreSpelledByTheTable) {
  next_refusal_ = {Reason::kDiskFull, "disk full"};
  net::HttpResponse full = Send(Request("/v1/test"));
  EXPECT_EQ(full.status, 503);
  EXPECT_EQ(Header(full, "Retry-After"), "5");
  EXPECT_EQ(full.body, wire::EncodeRpcStatusProto(kRpcResourceExhausted, "disk full"));
  next_refusal_ = {Reason::kTooManyInstances, "cap"};
  net::HttpResponse cap = Send(Request("/v1/loupe/thing"));
  EXPECT_EQ(cap.status, 429);
  EXPECT_EQ(cap.body, R"({"error":{"code":"resource_exhausted","message":"cap"}})");
  EXPECT_EQ(Count("loupe_agent_requests_total", {{"result", "too_many_instances"}}), 1u);
}

TEST_F(FrontDoorTest, ServerErrorsGetRpcStatusBodiesOnOtlpPathsOnly) {
  net::HttpRequest head = Request("/v1/test", "", "application/json");
  net::HttpResponse resp;
  resp.status = 408;
  resp.body = "server's own";
  door_->RewriteServerError(head, &resp);
  EXPECT_EQ(resp.body,
            wire::EncodeRpcStatusJson(kRpcDeadlineExceeded, "request not received in time"));
  net::HttpResponse agent;
  agent.status = 408;
  agent.body = "server's own";
  door_->RewriteServerError(Request("/v1/loupe/thing"), &agent);
  EXPECT_EQ(agent.body, "server's own");
}

TEST_F(FrontDoorTest, GrpcMethodsAreLookedUpByName) {
  door_->AddGrpcMethod("/a.B/C", [this](IngestCall& call) { return Record(call); });
  EXPECT_NE(door_->GrpcMethod("/a.B/C"), nullptr);
  EXPECT_EQ(door_->GrpcMethod("/a.B/D"), nullptr);
  std::string raw = Gzip("payload");
  size_t held = 0;
  IngestReply r = door_->Admit(project_, &raw, Coding::kGzip, BodyFormat::kProto, 100, nullptr,
                               *door_->GrpcMethod("/a.B/C"), /*grpc=*/true, &held);
  EXPECT_FALSE(r.refusal.refused());
  EXPECT_EQ(seen_body_, "payload");
  EXPECT_GE(held, 7u);
}

TEST(StatusMapping, SubmitErrorsMapToRetryableRefusals) {
  EXPECT_EQ(RefusalForSubmitError(Status::Unavailable("x")).reason, Reason::kUnavailable);
  EXPECT_EQ(RefusalForSubmitError(Status::ResourceExhausted("x")).reason, Reason::kDiskFull);
  EXPECT_EQ(RefusalForSubmitError(Status::IoError("secret path")).reason, Reason::kInternal);
  EXPECT_EQ(RefusalForSubmitError(Status::IoError("secret path")).message.find("secret"),
            std::string::npos);
}

TEST(StatusMapping, EveryHttpReasonHasAStatusAndEveryReasonALabel) {
  for (int i = static_cast<int>(Reason::kNotFound); i <= static_cast<int>(Reason::kInternal); ++i) {
    const ReasonInfo& info = Describe(static_cast<Reason>(i));
    EXPECT_NE(std::string(info.label), "") << i;
    EXPECT_NE(RpcCodeName(info.body_code), "unknown") << i;
    if (info.http_status != 0) {
      EXPECT_GE(info.http_status, 400) << i;
      EXPECT_EQ(info.retry_after_seconds > 0, info.http_status == 429 || info.http_status == 503)
          << i;
    }
  }
}

}  // namespace
}  // namespace loupe::ingest
