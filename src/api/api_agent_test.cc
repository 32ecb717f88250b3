// Handler tests of the agent-extension endpoints (api_agent.cc).
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "api/api.h"
#include "store/mem/mem_store.h"

namespace loupe::api {
namespace {

constexpr int64_t kSec = 1'000'000;
constexpr int64_t kNow = 1'700'000'000 * kSec;

class ApiAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auth::InitialCredentials creds;
    registry_ = std::move(auth::Registry::Open("", &creds)).value();
    token_ = creds.api_token;
    project_ = registry_->FindProject(auth::Principal{"x", true, {}}, "default")->id;
    store_ = store::NewMemStore();
    // As the server does: the store keeps every event the live ring gets.
    events_.SetSink([this](model::ProjectId p, const model::Event& e) {
      store_->AppendEvents(p, {&e, 1});
    });
    live_ = std::make_unique<live::LiveState>(&clock_, live::LiveOptions{}, &events_);
    configs_ = std::move(control::AgentConfigStore::Open("")).value();
    api_ = std::make_unique<Api>(ApiDeps{store_.get(), registry_.get(), live_.get(), &metrics_,
                                         &clock_, &active_, configs_.get()},
                                 ApiOptions{});
  }

  net::HttpResponse Call(std::string method, std::string path, std::string query,
                         std::string body = "") {
    net::HttpRequest req;
    req.method = std::move(method);
    req.path = std::move(path);
    req.query = std::move(query);
    req.body = std::move(body);
    req.headers.emplace_back("authorization", "Bearer " + token_);
    net::HttpResponse resp;
    api_->Handle(req, &resp);
    return resp;
  }
  rapidjson::Document Json(const net::HttpResponse& r) {
    rapidjson::Document d;
    d.Parse(r.body.c_str());
    EXPECT_FALSE(d.HasParseError()) << r.body;
    return d;
  }

  ManualClock clock_{kNow};
  MetricsRegistry metrics_;
  live::EventLog events_;
  live::ActiveRegistry active_{&clock_, &events_};
  std::unique_ptr<auth::Registry> registry_;
  std::string token_;
  model::ProjectId project_ = 0;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<live::LiveState> live_;
  std::unique_ptr<control::AgentConfigStore> configs_;
  std::unique_ptr<Api> api_;
};

TEST_F(ApiAgentTest, ActiveUsesTheServiceBands) {
  model::ActiveSnapshot s;
  s.service = "orders";
  s.instance = "o-1";
  s.time_us = kNow;
  s.active.resize(2);
  s.active[0].id = "a";
  s.active[0].elapsed_us = 1500 * 1000;
  s.active[1].id = "b";
  s.active[1].elapsed_us = 100 * 1000;
  ASSERT_TRUE(active_.Submit(project_, s).ok());
  auto r = Call("GET", "/api/v1/active", "service=orders");
  ASSERT_EQ(r.status, 200) << r.body;
  auto d = Json(r);
  EXPECT_EQ(d["bands_ms"].Size(), 2u);
  EXPECT_EQ(d["instances"][0]["bands"][0].GetInt(), 2);

  r = Call("PUT", "/api/v1/agent-config", "service=orders", R"({"bands_ms":[1000]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(Json(r)["overridden"].GetBool());
  d = Json(Call("GET", "/api/v1/active", ""));
  EXPECT_EQ(d["instances"][0]["bands_ms"].Size(), 1u);
  EXPECT_EQ(d["instances"][0]["bands"][0].GetInt(), 1);
  EXPECT_EQ(d["instances"][0]["bands"][1].GetInt(), 1);
  EXPECT_STREQ(d["instances"][0]["active"][0]["id"].GetString(), "a");
  EXPECT_EQ(d["instances"][0]["active"][0]["elapsed_ms"].GetDouble(), 1500);
}

// A plain OpenTelemetry SDK sends transactions but no active snapshots: its
// instance is "not reported", not "0 active".
TEST_F(ApiAgentTest, ActiveListsInstancesWithoutSnapshotsAsNotReported) {
  model::ActiveSnapshot s;
  s.service = "orders";
  s.instance = "o-1";
  s.time_us = kNow;
  ASSERT_TRUE(active_.Submit(project_, s).ok());  // reports, with nothing active
  for (const char* inst : {"o-1", "o-2"}) {
    ASSERT_TRUE(
        store_->PutInstance(project_, {"orders", inst, "h", "nodejs", "", kNow - kSec, kNow - kSec})
            .ok());
  }
  ASSERT_TRUE(store_
                  ->PutInstance(project_, {"orders", "gone", "h", "nodejs", "", kNow - 3600 * kSec,
                                           kNow - 3600 * kSec})
                  .ok());
  auto d = Json(Call("GET", "/api/v1/active", ""));
  ASSERT_EQ(d["instances"].Size(), 2u);  // "gone" is past the 10-minute horizon
  const auto& reported = d["instances"][0];
  EXPECT_STREQ(reported["instance"].GetString(), "o-1");
  EXPECT_TRUE(reported["reported"].GetBool());
  EXPECT_EQ(reported["active_total"].GetInt(), 0);
  const auto& silent = d["instances"][1];
  EXPECT_STREQ(silent["instance"].GetString(), "o-2");
  EXPECT_FALSE(silent["reported"].GetBool());
  EXPECT_EQ(silent["bands"].Size(), 0u);
  EXPECT_EQ(silent["active"].Size(), 0u);
  // Filters apply to both kinds.
  d = Json(Call("GET", "/api/v1/active", "instance=o-2"));
  ASSERT_EQ(d["instances"].Size(), 1u);
  EXPECT_FALSE(d["instances"][0]["reported"].GetBool());
}

TEST_F(ApiAgentTest, ActiveStackSharesArePercentages) {
  model::ActiveSnapshot s;
  s.service = "orders";
  s.instance = "o-1";
  s.time_us = kNow;
  s.stacks.resize(4);
  for (int i = 0; i < 4; ++i) {
    s.stacks[i].time_us = kNow - kSec;
    s.stacks[i].endpoint = "GET /x";
    s.stacks[i].frames = {"tx", i == 0 ? "sql" : "method"};
  }
  ASSERT_TRUE(active_.Submit(project_, s).ok());
  auto r = Call("GET", "/api/v1/active-stack", "");
  ASSERT_EQ(r.status, 200) << r.body;
  auto d = Json(r);
  EXPECT_EQ(d["samples"].GetInt(), 4);
  EXPECT_STREQ(d["frames"][0]["frame"].GetString(), "tx");
  EXPECT_EQ(d["frames"][0]["share"].GetDouble(), 100.0);
  EXPECT_EQ(d["frames"][0]["self_share"].GetDouble(), 0.0);
  EXPECT_STREQ(d["frames"][1]["frame"].GetString(), "method");
  EXPECT_EQ(d["frames"][1]["self_share"].GetDouble(), 75.0);
  EXPECT_EQ(d["endpoints"][0]["samples"].GetInt(), 4);
  EXPECT_EQ(Call("GET", "/api/v1/active-stack", "limit=0").status, 400);
}

TEST_F(ApiAgentTest, EventsIncludeTransactionErrorsAndAgentEvents) {
  model::Transaction tx;
  tx.id = 0xabc;
  tx.service = "orders";
  tx.endpoint = "GET /x";
  tx.start_us = kNow - 2 * kSec;
  tx.end_us = kNow - kSec;
  tx.error = true;
  tx.error_type = "Timeout";
  live_->Record(project_, tx);
  model::ActiveSnapshot s;
  s.service = "orders";
  s.instance = "o-1";
  s.time_us = kNow;
  ASSERT_TRUE(active_.Submit(project_, s).ok());
  clock_.Advance(kSec);  // the default range is [now - 1 h, now)
  auto d = Json(Call("GET", "/api/v1/events", ""));
  ASSERT_EQ(d["events"].Size(), 2u);
  EXPECT_STREQ(d["events"][0]["type"].GetString(), "AGENT_START");
  EXPECT_STREQ(d["events"][0]["tx_id"].GetString(), "");
  EXPECT_STREQ(d["events"][1]["type"].GetString(), "SERVICE_EXCEPTION");
  EXPECT_STREQ(d["events"][1]["tx_id"].GetString(), "0000000000000abc");
  EXPECT_STREQ(d["events"][1]["message"].GetString(), "Timeout");
  EXPECT_FALSE(d["truncated"].GetBool());
  d = Json(Call("GET", "/api/v1/events", "type=SERVICE_EXCEPTION"));
  EXPECT_EQ(d["events"].Size(), 1u);
  EXPECT_EQ(Call("GET", "/api/v1/events", "type=error").status, 400) << "types are upper case";
  EXPECT_EQ(Call("GET", "/api/v1/events", "type=nope").status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/events", "project=other").status, 404);
}

TEST_F(ApiAgentTest, AgentConfigMethodsAndErrors) {
  auto r = Call("GET", "/api/v1/agent-config", "");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Json(r)["version"].GetInt(), 1);
  EXPECT_EQ(Call("PUT", "/api/v1/agent-config", "", "{bad").status, 400);
  EXPECT_EQ(Call("PUT", "/api/v1/agent-config", "", R"({"bands_ms":[5,1]})").status, 400);
  EXPECT_EQ(Call("DELETE", "/api/v1/agent-config", "").status, 400);
  EXPECT_EQ(Call("DELETE", "/api/v1/agent-config", "service=x").status, 404);
  EXPECT_EQ(Call("POST", "/api/v1/agent-config", "").status, 405);
  EXPECT_EQ(Call("PUT", "/api/v1/active", "").status, 405);
  r = Call("PUT", "/api/v1/agent-config", "", R"({"profiling":{"methods":["a*"]}})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json(r)["version"].GetInt(), 2);
  EXPECT_FALSE(Json(r)["overridden"].GetBool());
}

}  // namespace
}  // namespace loupe::api
