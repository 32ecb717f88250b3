// Handler tests of the metrics and hosts endpoints (api_metrics.cc,
// api_hosts.cc) over a real TimeSeriesStore in a temporary directory.
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>

#include "api/api.h"
#include "store/mem/mem_store.h"
#include "store/tsdb/time_series_store.h"

namespace loupe::api {
namespace {

constexpr int64_t kSec = 1'000'000;
// A multiple of an hour in ms, so steps of 10 s, 60 s and 1 h align on it.
constexpr int64_t kT = 1'699'999'200'000;

class ApiMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auth::InitialCredentials creds;
    registry_ = std::move(auth::Registry::Open("", &creds)).value();
    token_ = creds.api_token;
    project_ = registry_->FindProject(auth::Principal{"x", true, {}}, "default")->id;
    store_ = store::NewMemStore();
    live_ = std::make_unique<live::LiveState>(&clock_);
    char tmpl[] = "/tmp/loupe_api_metrics_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    tsdb::TsdbOptions o;
    o.dir = dir_;
    tsdb_ = std::move(tsdb::TimeSeriesStore::Open(o)).value();
    MakeApi(tsdb_.get());
  }
  void TearDown() override {
    api_.reset();
    tsdb_.reset();
    std::filesystem::remove_all(dir_);
  }

  void MakeApi(tsdb::TimeSeriesStore* db) {
    ApiDeps deps{store_.get(), registry_.get(), live_.get(), &metrics_, &clock_};
    deps.tsdb = db;
    api_ = std::make_unique<Api>(deps, ApiOptions{});
  }

  void Add(std::string metric, tsdb::Labels labels, std::vector<tsdb::Sample> samples) {
    tsdb::SeriesSamples s{std::move(metric), std::move(labels), tsdb::SeriesKind::kGauge,
                          std::move(samples)};
    ASSERT_TRUE(tsdb_->Append(project_, {&s, 1}).ok());
  }

  net::HttpResponse Get(const std::string& path, const std::string& query) {
    net::HttpRequest req;
    req.method = "GET";
    req.path = path;
    req.query = query;
    req.headers.emplace_back("authorization", "Bearer " + token_);
    net::HttpResponse resp;
    api_->Handle(req, &resp);
    return resp;
  }
  rapidjson::Document Json(const std::string& path, const std::string& query) {
    net::HttpResponse r = Get(path, query);
    EXPECT_EQ(r.status, 200) << path << "?" << query << ": " << r.body;
    rapidjson::Document d;
    d.Parse(r.body.c_str());
    EXPECT_FALSE(d.HasParseError()) << r.body;
    return d;
  }
  // Expects a 400 whose message names `param`.
  void ExpectBad(const std::string& query, const std::string& param) {
    net::HttpResponse r = Get("/api/v1/metrics/query", query);
    EXPECT_EQ(r.status, 400) << query << ": " << r.body;
    EXPECT_NE(r.body.find(param), std::string::npos) << query << ": " << r.body;
  }

  // Two hosts' idle CPU share: a at T+10 s and T+20 s, b at T+70 s.
  void FillCpu() {
    Add("system.cpu.utilization", {{"cpu.mode", "idle"}, {"host.name", "a"}},
        {{kT + 10'000, 0.5}, {kT + 20'000, 0.7}});
    Add("system.cpu.utilization", {{"cpu.mode", "idle"}, {"host.name", "b"}}, {{kT + 70'000, 0.9}});
    Add("system.cpu.utilization", {{"cpu.mode", "user"}, {"host.name", "a"}},
        {{kT + 10'000, 0.25}});
  }

  ManualClock clock_{kT * 1000 + 120 * kSec};
  MetricsRegistry metrics_;
  std::unique_ptr<auth::Registry> registry_;
  std::string token_;
  model::ProjectId project_ = 0;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<live::LiveState> live_;
  std::string dir_;
  std::unique_ptr<tsdb::TimeSeriesStore> tsdb_;
  std::unique_ptr<Api> api_;
};

std::string Range(int64_t from_ms, int64_t to_ms, int step_s) {
  return "from=" + std::to_string(from_ms) + "&to=" + std::to_string(to_ms) +
         "&step=" + std::to_string(step_s);
}

TEST_F(ApiMetricsTest, NamesListStoredAndApmNamesSortedAndFilterByPrefix) {
  FillCpu();
  Add("system.memory.usage", {{"host.name", "a"}}, {{kT, 1}});
  auto d = Json("/api/v1/metrics/names", "");
  ASSERT_EQ(d["names"].Size(), 7u);
  EXPECT_STREQ(d["names"][0].GetString(), "apm.count");
  EXPECT_STREQ(d["names"][4].GetString(), "apm.tps");
  EXPECT_STREQ(d["names"][5].GetString(), "system.cpu.utilization");
  EXPECT_STREQ(d["names"][6].GetString(), "system.memory.usage");
  d = Json("/api/v1/metrics/names", "prefix=system.m");
  ASSERT_EQ(d["names"].Size(), 1u);
  EXPECT_STREQ(d["names"][0].GetString(), "system.memory.usage");
}

TEST_F(ApiMetricsTest, LabelsGiveTheDistinctValuesOfOneMetric) {
  FillCpu();
  auto d = Json("/api/v1/metrics/labels", "name=system.cpu.utilization&label=cpu.mode");
  ASSERT_EQ(d["values"].Size(), 2u);
  EXPECT_STREQ(d["values"][0].GetString(), "idle");
  EXPECT_STREQ(d["values"][1].GetString(), "user");
  EXPECT_EQ(Get("/api/v1/metrics/labels", "name=system.cpu.utilization").status, 400);
}

TEST_F(ApiMetricsTest, QueryGivesOneColumnPerSeriesWithNullWhereNoData) {
  FillCpu();
  auto d = Json("/api/v1/metrics/query",
                "name=system.cpu.utilization&cpu.mode=idle&" + Range(kT, kT + 120'000, 60));
  EXPECT_EQ(d["from_ms"].GetInt64(), kT);
  EXPECT_EQ(d["step_ms"].GetInt64(), 60'000);
  EXPECT_FALSE(d["truncated"].GetBool());
  ASSERT_EQ(d["series"].Size(), 2u);
  const auto& a = d["series"][0];
  EXPECT_STREQ(a["labels"]["host.name"].GetString(), "a");
  EXPECT_STREQ(a["labels"]["cpu.mode"].GetString(), "idle");
  ASSERT_EQ(a["values"].Size(), 2u);
  EXPECT_DOUBLE_EQ(a["values"][0].GetDouble(), 0.6);
  EXPECT_TRUE(a["values"][1].IsNull());
  const auto& b = d["series"][1];
  EXPECT_TRUE(b["values"][0].IsNull());
  EXPECT_DOUBLE_EQ(b["values"][1].GetDouble(), 0.9);
}

TEST_F(ApiMetricsTest, QueryGroupsAndAggregates) {
  FillCpu();
  auto d = Json("/api/v1/metrics/query",
                "name=system.cpu.utilization&group_by=host.name&agg=max&"
                "group_agg=sum&" +
                    Range(kT, kT + 120'000, 60));
  ASSERT_EQ(d["series"].Size(), 2u);
  EXPECT_EQ(d["series"][0]["labels"].MemberCount(), 1u);
  EXPECT_DOUBLE_EQ(d["series"][0]["values"][0].GetDouble(), 0.95);  // 0.7 idle + 0.25 user
  d = Json("/api/v1/metrics/query",
           "name=system.cpu.utilization&group_agg=count&agg=count&" + Range(kT, kT + 120'000, 60));
  ASSERT_EQ(d["series"].Size(), 1u);
  EXPECT_EQ(d["series"][0]["labels"].MemberCount(), 0u);
  EXPECT_DOUBLE_EQ(d["series"][0]["values"][0].GetDouble(), 2);  // series with data in step 0
}

TEST_F(ApiMetricsTest, MatchSelectorsFilterByInequalityAndRegex) {
  FillCpu();
  auto d = Json("/api/v1/metrics/query", "name=system.cpu.utilization&match[]=cpu.mode!%3Didle&" +
                                             Range(kT, kT + 120'000, 60));
  ASSERT_EQ(d["series"].Size(), 1u);
  EXPECT_STREQ(d["series"][0]["labels"]["cpu.mode"].GetString(), "user");
  d = Json("/api/v1/metrics/query",
           "name=system.cpu.utilization&match[]=host.name%3D~b%7Cc&" + Range(kT, kT + 120'000, 60));
  ASSERT_EQ(d["series"].Size(), 1u);
  EXPECT_STREQ(d["series"][0]["labels"]["host.name"].GetString(), "b");
  d = Json("/api/v1/metrics/query",
           "name=system.cpu.utilization&match[]=host.name!~a&"
           "match[]=cpu.mode%3Didle&" +
               Range(kT, kT + 120'000, 60));
  ASSERT_EQ(d["series"].Size(), 1u);
}

TEST_F(ApiMetricsTest, LimitTruncatesTheSeries) {
  FillCpu();
  auto d = Json("/api/v1/metrics/query",
                "name=system.cpu.utilization&limit=1&" + Range(kT, kT + 120'000, 60));
  EXPECT_EQ(d["series"].Size(), 1u);
  EXPECT_TRUE(d["truncated"].GetBool());
}

TEST_F(ApiMetricsTest, StepsAlignDownAndTheDefaultStepGivesAtMost600Points) {
  FillCpu();
  auto d = Json("/api/v1/metrics/query",
                "name=system.cpu.utilization&from=" + std::to_string(kT + 5'000) +
                    "&to=" + std::to_string(kT + 3'600'000));
  EXPECT_EQ(d["from_ms"].GetInt64(), kT);
  EXPECT_EQ(d["step_ms"].GetInt64(), 10'000);
  EXPECT_EQ(d["series"][0]["values"].Size(), 360u);
}

TEST_F(ApiMetricsTest, BadParametersAreNamed) {
  ExpectBad("", "name");
  ExpectBad("name=x&agg=median", "agg");
  ExpectBad("name=x&group_agg=p50", "group_agg");
  ExpectBad("name=x&step=0", "step");
  ExpectBad("name=x&step=abc", "step");
  ExpectBad("name=x&" + Range(kT, kT + 86'400'000, 1), "step");
  ExpectBad("name=x&from=" + std::to_string(kT) + "&to=" + std::to_string(kT - 1), "from");
  ExpectBad("name=x&match[]=host.name%3D~(", "match[]");
  ExpectBad("name=x&match[]=nolabel", "match[]");
  ExpectBad("name=x&limit=0", "limit");
  ExpectBad("name=apm.tps&agg=max", "agg");
  ExpectBad("name=apm.tps&host.name=a", "host.name");
  ExpectBad("name=apm.tps&group_by=host", "group_by");
}

TEST_F(ApiMetricsTest, WithoutATsdbTheEndpointsAnswer404) {
  MakeApi(nullptr);
  for (const char* path :
       {"/api/v1/metrics/names", "/api/v1/metrics/query", "/api/v1/hosts", "/api/v1/hosts/a"}) {
    net::HttpResponse r = Get(path, "name=x");
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_NE(r.body.find("metrics are not kept by this server"), std::string::npos) << r.body;
  }
}

TEST_F(ApiMetricsTest, ApmSeriesComeFromTheTransactionStore) {
  store::WriteBatch b;
  for (int i = 0; i < 3; ++i) {
    model::Transaction t;
    t.id = 1 + i;
    t.service = i < 2 ? "shop" : "auth";
    t.instance = t.service + "-1";
    t.endpoint = "GET /";
    t.end_us = (kT + 10'000 + i * 1000) * 1000;
    t.start_us = t.end_us - 5000;
    b.transactions.push_back(t);
  }
  ASSERT_TRUE(store_->Append(project_, std::move(b)).ok());
  auto d =
      Json("/api/v1/metrics/query", "name=apm.tps&group_by=service&" + Range(kT, kT + 120'000, 60));
  EXPECT_EQ(d["from_ms"].GetInt64(), kT);
  EXPECT_EQ(d["step_ms"].GetInt64(), 60'000);
  ASSERT_EQ(d["series"].Size(), 2u);
  std::map<std::string, double> first;
  for (const auto& s : d["series"].GetArray()) {
    first[s["labels"]["service"].GetString()] = s["values"][0].GetDouble();
  }
  EXPECT_DOUBLE_EQ(first["shop"], 2.0 / 60);
  EXPECT_DOUBLE_EQ(first["auth"], 1.0 / 60);
  d = Json("/api/v1/metrics/query", "name=apm.count&service=auth&" + Range(kT, kT + 120'000, 60));
  ASSERT_EQ(d["series"].Size(), 1u);
  EXPECT_DOUBLE_EQ(d["series"][0]["values"][0].GetDouble(), 1);
  d = Json("/api/v1/metrics/labels", "name=apm.tps&label=service");
  ASSERT_EQ(d["values"].Size(), 0u);  // no instances recorded
}

// Host "web-1" (id m1) reports now; "db-1" (id m2) last reported 400 s ago.
class ApiHostsTest : public ApiMetricsTest {
 protected:
  void FillHosts() {
    const int64_t now = clock_.NowMicros() / 1000;
    const tsdb::Labels web = {{"host.id", "m1"}, {"host.name", "web-1"}};
    const tsdb::Labels db = {{"host.id", "m2"}, {"host.name", "db-1"}};
    auto with = [](tsdb::Labels l, std::string k, std::string v) {
      l.emplace_back(std::move(k), std::move(v));
      return l;
    };
    Add("system.memory.usage", with(web, "system.memory.state", "used"),
        {{now - 15'000, 4e9}, {now - 5'000, 4e9}});
    Add("system.memory.utilization", with(web, "system.memory.state", "used"),
        {{now - 15'000, 0.4}, {now - 5'000, 0.5}});
    Add("system.cpu.utilization", with(web, "cpu.mode", "idle"), {{now - 5'000, 0.75}});
    Add("system.filesystem.utilization", with(web, "system.filesystem.mountpoint", "/"),
        {{now - 5'000, 0.2}});
    Add("system.filesystem.utilization", with(web, "system.filesystem.mountpoint", "/data"),
        {{now - 5'000, 0.6}});
    tsdb::Labels eth0 =
        with(with(web, "network.interface.name", "eth0"), "network.io.direction", "receive");
    tsdb::Labels eth1 =
        with(with(web, "network.interface.name", "eth1"), "network.io.direction", "receive");
    Add("system.network.io.rate", eth0, {{now - 5'000, 100}});
    Add("system.network.io.rate", eth1, {{now - 5'000, 50}});
    Add("system.memory.usage", with(db, "system.memory.state", "used"), {{now - 400'000, 1e9}});
    Add("system.memory.utilization", with(db, "system.memory.state", "used"),
        {{now - 400'000, 0.1}});
    tsdb::Labels p1 = with(with(with(web, "process.pid", "42"), "process.executable.name", "nginx"),
                           "process.owner", "www");
    tsdb::Labels p2 = with(with(web, "process.pid", "7"), "process.executable.name", "sshd");
    Add("process.cpu.utilization", p1, {{now - 5'000, 0.125}});
    Add("process.memory.usage", p1, {{now - 5'000, 1000}});
    Add("process.cpu.utilization", p2, {{now - 5'000, 0.25}});
    store::InstanceInfo i;
    i.service = "shop";
    i.instance = "shop-1";
    i.host = "web-1";
    i.kind = "cpp";
    i.first_seen_us = i.last_seen_us = clock_.NowMicros() - kSec;
    ASSERT_TRUE(store_->PutInstance(project_, i).ok());
  }
};

TEST_F(ApiHostsTest, HostsListTheLatestFiguresUpOrDownAndTheirInstances) {
  FillHosts();
  const int64_t now = clock_.NowMicros() / 1000;
  auto d = Json("/api/v1/hosts", "");
  EXPECT_FALSE(d["partial"].GetBool());
  ASSERT_EQ(d["hosts"].Size(), 2u);
  const auto& web = d["hosts"][0];
  EXPECT_STREQ(web["id"].GetString(), "m1");
  EXPECT_STREQ(web["name"].GetString(), "web-1");
  EXPECT_TRUE(web["up"].GetBool());
  EXPECT_EQ(web["last_seen_ms"].GetInt64(), now);  // end of the newest 10 s step
  EXPECT_DOUBLE_EQ(web["cpu_pct"].GetDouble(), 25);
  EXPECT_DOUBLE_EQ(web["mem_pct"].GetDouble(), 50);
  EXPECT_DOUBLE_EQ(web["disk_pct"].GetDouble(), 60);
  EXPECT_DOUBLE_EQ(web["net_rx_bps"].GetDouble(), 150);
  EXPECT_TRUE(web["net_tx_bps"].IsNull());
  ASSERT_EQ(web["instances"].Size(), 1u);
  EXPECT_STREQ(web["instances"][0]["instance"].GetString(), "shop-1");
  EXPECT_TRUE(web["instances"][0]["up"].GetBool());
  const auto& db = d["hosts"][1];
  EXPECT_STREQ(db["id"].GetString(), "m2");
  EXPECT_FALSE(db["up"].GetBool());
  EXPECT_TRUE(db["mem_pct"].IsNull());           // nothing in the last five minutes
  EXPECT_EQ(db["last_seen_ms"].GetInt64(), kT);  // the end of its hour
  EXPECT_EQ(db["instances"].Size(), 0u);
}

TEST_F(ApiHostsTest, HostDetailHasChartsAndTheProcessesByCpu) {
  FillHosts();
  const int64_t now = clock_.NowMicros() / 1000;
  auto d = Json("/api/v1/hosts/m1", Range(now - 60'000, now, 30));
  EXPECT_STREQ(d["host"]["name"].GetString(), "web-1");
  EXPECT_EQ(d["step_ms"].GetInt64(), 30'000);
  EXPECT_EQ(d["from_ms"].GetInt64(), now - 60'000);
  ASSERT_EQ(d["series"]["mem_pct"].Size(), 2u);
  EXPECT_TRUE(d["series"]["mem_pct"][0].IsNull());
  EXPECT_DOUBLE_EQ(d["series"]["mem_pct"][1].GetDouble(), 45);  // avg of 0.4, 0.5
  EXPECT_DOUBLE_EQ(d["series"]["cpu_pct"][1].GetDouble(), 25);
  ASSERT_EQ(d["processes"].Size(), 2u);
  EXPECT_STREQ(d["processes"][0]["pid"].GetString(), "7");
  EXPECT_DOUBLE_EQ(d["processes"][0]["cpu_pct"].GetDouble(), 25);
  EXPECT_TRUE(d["processes"][0]["memory_bytes"].IsNull());
  EXPECT_STREQ(d["processes"][1]["name"].GetString(), "nginx");
  EXPECT_STREQ(d["processes"][1]["owner"].GetString(), "www");
  EXPECT_DOUBLE_EQ(d["processes"][1]["memory_bytes"].GetDouble(), 1000);
  // Before the processes were sampled there are none.
  d = Json("/api/v1/hosts/m1", "time=" + std::to_string(now - 120'000));
  EXPECT_EQ(d["processes"].Size(), 0u);
  // By name too (sources without host.id); unknown hosts are 404.
  d = Json("/api/v1/hosts/web-1", "");
  EXPECT_STREQ(d["host"]["id"].GetString(), "m1");
  EXPECT_EQ(Get("/api/v1/hosts/nope", "").status, 404);
}

}  // namespace
}  // namespace loupe::api
