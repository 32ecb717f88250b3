#include "api/api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

#include "api/api_internal.h"
#include "store/embedded/embedded_store.h"
#include "store/mem/mem_store.h"

namespace loupe::api {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr int64_t kSec = 1'000'000;
constexpr int64_t kMs = 1000;
// 2023-11-14 22:13:20 UTC.
constexpr int64_t kNow = 1'700'000'000 * kSec;

// Records what the Api sends to a live subscriber.
class FakeConn : public net::WebSocketConnection {
 public:
  void Send(std::shared_ptr<const std::string> text) override {
    std::lock_guard<std::mutex> l(mu_);
    if (!closed_) sent_.push_back(*text);
  }
  void Close() override {
    std::lock_guard<std::mutex> l(mu_);
    closed_ = true;
  }
  bool closed() const override {
    std::lock_guard<std::mutex> l(mu_);
    return closed_;
  }
  std::vector<std::string> sent() const {
    std::lock_guard<std::mutex> l(mu_);
    return sent_;
  }

 private:
  mutable std::mutex mu_;
  bool closed_ = false;
  std::vector<std::string> sent_;
};

model::TraceId Trace(uint8_t b) {
  model::TraceId t{};
  t.fill(b);
  return t;
}

model::Transaction Tx(model::TxId id, std::string service, std::string endpoint, int64_t end_us,
                      int64_t elapsed_us, bool error = false) {
  model::Transaction t;
  t.id = id;
  t.trace_id = Trace(static_cast<uint8_t>(id));
  t.span_id = 0x1000 + id;
  t.service = std::move(service);
  t.instance = t.service + "-1";
  t.host = "host-a";
  t.endpoint = std::move(endpoint);
  t.http_method = "GET";
  t.url = "/x?y=1";
  t.start_us = end_us - elapsed_us;
  t.end_us = end_us;
  t.status = error ? 500 : 200;
  t.error = error;
  if (error) t.error_type = "TimeoutError";
  t.client_ip = "10.0.0.7";
  t.user = "u42";
  return t;
}

rapidjson::Document Parse(const std::string& body) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseValidateEncodingFlag>(body.c_str(), body.size());
  EXPECT_FALSE(d.HasParseError()) << rapidjson::GetParseError_En(d.GetParseError()) << " at "
                                  << d.GetErrorOffset() << " in " << body.substr(0, 300);
  return d;
}

std::string Header(const net::HttpResponse& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (strcasecmp(k.c_str(), std::string(name).c_str()) == 0) return v;
  }
  return "<absent>";
}

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("TZ", "UTC", 1);
    tzset();
    auth::InitialCredentials creds;
    auto reg = auth::Registry::Open("", &creds);
    ASSERT_TRUE(reg.ok()) << reg.status().ToString();
    registry_ = std::move(reg).value();
    admin_token_ = creds.api_token;
    default_id_ = registry_->FindProject(auth::Principal{"x", true, {}}, "default")->id;
    ASSERT_TRUE(registry_->CreateProject("other", &other_id_).ok());
    auto t = registry_->CreateToken("viewer", false, {default_id_});
    ASSERT_TRUE(t.ok());
    viewer_token_ = *t;

    store_ = store::NewMemStore();
    live_ = std::make_unique<live::LiveState>(&clock_);

    web_dir_ = std::filesystem::temp_directory_path() /
               ("loupe_api_test_" + std::to_string(::getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(web_dir_ / "assets");
    Write(web_dir_ / "index.html", "<!doctype html><title>Loupe</title>");
    Write(web_dir_ / "assets" / "app-1234.js", "console.log(1)");
    Write(web_dir_ / "assets" / "app-1234.css", "body{}");
    Write(web_dir_ / "favicon.svg", "<svg/>");
    Write(web_dir_ / ".env", "SECRET=1");
    secret_dir_ = web_dir_.string() + "_secret";
    std::filesystem::create_directories(secret_dir_);
    Write(secret_dir_ / "passwd.txt", "root:x:0:0");
    std::filesystem::create_symlink(secret_dir_ / "passwd.txt", web_dir_ / "leak.txt");

    ApiOptions o;
    o.web_dir = web_dir_.string();
    api_ = std::make_unique<Api>(
        ApiDeps{store_.get(), registry_.get(), live_.get(), &metrics_, &clock_}, o);
  }

  void TearDown() override {
    api_.reset();
    std::filesystem::remove_all(web_dir_);
    std::filesystem::remove_all(secret_dir_);
  }

  static void Write(const std::filesystem::path& p, const std::string& s) { std::ofstream(p) << s; }

  void Append(model::ProjectId p, std::vector<model::Transaction> txs) {
    store::WriteBatch b;
    b.transactions = std::move(txs);
    ASSERT_TRUE(store_->Append(p, std::move(b)).ok());
  }

  net::HttpResponse Get(const std::string& target, const std::string& token = "<admin>",
                        const std::string& method = "GET") {
    net::HttpRequest req;
    req.method = method;
    size_t q = target.find('?');
    req.path = target.substr(0, q);
    if (q != std::string::npos) req.query = target.substr(q + 1);
    const std::string tok = token == "<admin>" ? admin_token_ : token;
    if (!tok.empty()) req.headers.emplace_back("authorization", "Bearer " + tok);
    req.remote_address = "127.0.0.1";
    net::HttpResponse resp;
    api_->Handle(req, &resp);
    return resp;
  }

  // GET that must succeed with JSON.
  rapidjson::Document GetJson(const std::string& target, const std::string& token = "<admin>") {
    net::HttpResponse r = Get(target, token);
    EXPECT_EQ(r.status, 200) << target << ": " << r.body;
    EXPECT_EQ(r.content_type, "application/json; charset=utf-8");
    return Parse(r.body);
  }

  // Expects an error response with that status and code.
  void ExpectError(const std::string& target, int status, const std::string& code,
                   const std::string& token = "<admin>") {
    net::HttpResponse r = Get(target, token);
    EXPECT_EQ(r.status, status) << target << ": " << r.body;
    rapidjson::Document d = Parse(r.body);
    ASSERT_TRUE(d.IsObject() && d.HasMember("error")) << r.body;
    EXPECT_EQ(std::string(d["error"]["code"].GetString()), code) << target;
    EXPECT_GT(d["error"]["message"].GetStringLength(), 0u);
  }

  // A small data set in project "default": 5 transactions ending in the last
  // minute, one an error, plus one in project "other".
  void Fill() {
    std::vector<model::Transaction> txs;
    txs.push_back(Tx(1, "shop", "GET /a", kNow - 50 * kSec, 10'500));
    txs.push_back(Tx(2, "shop", "GET /a", kNow - 40 * kSec, 150'377, /*error=*/true));
    txs.push_back(Tx(3, "shop", "GET /b", kNow - 30 * kSec, 2'000));
    txs.push_back(Tx(4, "auth", "POST /login", kNow - 20 * kSec, 80'000));
    txs.push_back(Tx(5, "auth", "POST /login", kNow - 10 * kSec, 1'000));
    txs[3].summary.sql_count = 3;
    txs[3].summary.sql_us = 40'200;
    txs[3].summary.external_count = 1;
    txs[3].summary.external_us = 20'000;
    txs[3].summary.cpu_us = 5'000;
    for (const auto& t : txs) live_->Record(default_id_, t);
    Append(default_id_, std::move(txs));
    Append(other_id_, {Tx(99, "secret", "GET /hidden", kNow - 5 * kSec, 1'000)});
  }

  ManualClock clock_{kNow};
  MetricsRegistry metrics_;
  std::unique_ptr<auth::Registry> registry_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<live::LiveState> live_;
  std::unique_ptr<Api> api_;
  std::string admin_token_, viewer_token_;
  model::ProjectId default_id_ = 0, other_id_ = 0;
  std::filesystem::path web_dir_, secret_dir_;
};

TEST_F(ApiTest, HealthzAndMetricsNeedNoAuth) {
  net::HttpResponse h = Get("/healthz", "");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body, "ok\n");
  Get("/api/v1/projects");
  net::HttpResponse m = Get("/metrics", "");
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_THAT(m.body, HasSubstr("loupe_api_requests_total{route=\"projects\",code=\"2xx\"} 1"));
  EXPECT_THAT(m.body, HasSubstr("loupe_api_request_seconds_bucket{route=\"healthz\""));
}

TEST_F(ApiTest, SecurityHeadersOnEveryResponse) {
  Fill();
  for (const std::string& target :
       std::vector<std::string>{"/api/v1/projects", "/api/v1/nope", "/api/v1/transactions?from=x",
                                "/", "/missing.png", "/healthz", "/metrics"}) {
    net::HttpResponse r = Get(target);
    EXPECT_EQ(Header(r, "Content-Security-Policy"),
              "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
              "connect-src 'self' ws: wss:; object-src 'none'; frame-ancestors 'none'; "
              "base-uri 'none'; form-action 'self'")
        << target;
    EXPECT_EQ(Header(r, "X-Content-Type-Options"), "nosniff") << target;
    EXPECT_EQ(Header(r, "Referrer-Policy"), "no-referrer") << target;
    EXPECT_EQ(Header(r, "X-Frame-Options"), "DENY") << target;
  }
  EXPECT_EQ(Header(Get("/api/v1/projects"), "Cache-Control"), "no-store");
  EXPECT_EQ(Header(Get("/api/v1/nope"), "Cache-Control"), "no-store");
  EXPECT_EQ(Header(Get("/api/v1/projects", ""), "Cache-Control"), "no-store");
}

TEST_F(ApiTest, AuthFailuresAre401) {
  ExpectError("/api/v1/projects", 401, "unauthenticated", "");
  ExpectError("/api/v1/transactions", 401, "unauthenticated", "lt_wrong");
  net::HttpResponse r = Get("/api/v1/projects", "");
  EXPECT_EQ(Header(r, "WWW-Authenticate"), "Bearer");
  // Lowercase scheme works too.
  net::HttpRequest req;
  req.method = "GET";
  req.path = "/api/v1/projects";
  req.headers.emplace_back("authorization", "bearer " + admin_token_);
  net::HttpResponse resp;
  api_->Handle(req, &resp);
  EXPECT_EQ(resp.status, 200);
}

TEST_F(ApiTest, ProjectsVisibleToTheCaller) {
  rapidjson::Document d = GetJson("/api/v1/projects");
  ASSERT_EQ(d["projects"].Size(), 2u);
  EXPECT_STREQ(d["projects"][0]["name"].GetString(), "default");
  EXPECT_STREQ(d["projects"][1]["name"].GetString(), "other");
  d = GetJson("/api/v1/projects", viewer_token_);
  ASSERT_EQ(d["projects"].Size(), 1u);
  EXPECT_STREQ(d["projects"][0]["name"].GetString(), "default");
}

TEST_F(ApiTest, AdminCreatesProjectWithScopedKeyAndToken) {
  auto post = [&](const std::string& body, const std::string& token) {
    net::HttpRequest req;
    req.method = "POST";
    req.path = "/api/v1/projects";
    req.body = body;
    req.headers.emplace_back("authorization", "Bearer " + token);
    net::HttpResponse resp;
    api_->Handle(req, &resp);
    return resp;
  };
  net::HttpResponse r = post(R"({"name":"shop"})", admin_token_);
  ASSERT_EQ(r.status, 201) << r.body;
  rapidjson::Document d;
  d.Parse(r.body.c_str());
  ASSERT_TRUE(d.IsObject());
  std::string token = d["api_token"].GetString();
  EXPECT_EQ(std::string(d["ingest_key"].GetString()).rfind("lk_", 0), 0u);
  // The new token sees only the new project.
  rapidjson::Document p = GetJson("/api/v1/projects", token);
  ASSERT_EQ(p["projects"].Size(), 1u);
  EXPECT_STREQ(p["projects"][0]["name"].GetString(), "shop");
  ExpectError("/api/v1/transactions?project=default", 404, "not_found", token);

  EXPECT_EQ(post(R"({"name":"shop"})", admin_token_).status, 409);
  EXPECT_EQ(post(R"({"name":"Bad Name"})", admin_token_).status, 400);
  EXPECT_EQ(post("not json", admin_token_).status, 400);
  EXPECT_EQ(post(R"({"name":"x2"})", viewer_token_).status, 404);  // not admin
  EXPECT_EQ(post(R"({"name":"x3"})", "").status, 401);
}

net::HttpResponse Send(Api& api, const std::string& method, const std::string& target,
                       const std::string& body, const std::string& token) {
  net::HttpRequest req;
  req.method = method;
  size_t q = target.find('?');
  req.path = target.substr(0, q);
  if (q != std::string::npos) req.query = target.substr(q + 1);
  req.body = body;
  if (!token.empty()) req.headers.emplace_back("authorization", "Bearer " + token);
  net::HttpResponse resp;
  api.Handle(req, &resp);
  return resp;
}

TEST_F(ApiTest, ProjectsShowRetentionAndAdminsChangeIt) {
  rapidjson::Document d = GetJson("/api/v1/projects");
  EXPECT_EQ(d["projects"][0]["retention_days"].GetInt(), 31);
  EXPECT_EQ(d["projects"][0]["rollup_retention_days"].GetInt(), 400);

  auto patch = [&](const std::string& project, const std::string& body,
                   const std::string& token = "<admin>") {
    return Send(*api_, "PATCH", "/api/v1/projects/" + project, body,
                token == "<admin>" ? admin_token_ : token);
  };
  net::HttpResponse r = patch("default", R"({"retention_days": 7})");
  ASSERT_EQ(r.status, 200) << r.body;
  d = Parse(r.body);
  EXPECT_STREQ(d["name"].GetString(), "default");
  EXPECT_EQ(d["retention_days"].GetInt(), 7);
  EXPECT_EQ(d["rollup_retention_days"].GetInt(), 400);
  r = patch("other", R"({"retention_days": 2, "rollup_retention_days": 30})");
  ASSERT_EQ(r.status, 200) << r.body;
  d = GetJson("/api/v1/projects");
  EXPECT_EQ(d["projects"][0]["retention_days"].GetInt(), 7);
  EXPECT_EQ(d["projects"][1]["retention_days"].GetInt(), 2);
  EXPECT_EQ(d["projects"][1]["rollup_retention_days"].GetInt(), 30);

  // Validation, permissions, routing.
  EXPECT_EQ(patch("default", R"({"retention_days": 0})").status, 400);
  EXPECT_EQ(patch("default", R"({"retention_days": 3651})").status, 400);
  EXPECT_EQ(patch("default", R"({"rollup_retention_days": 6})").status, 400);  // < 7
  EXPECT_EQ(patch("default", R"({"retention_days": 500})").status, 400);       // > 400
  EXPECT_EQ(patch("default", R"({"retention_days": "7"})").status, 400);
  EXPECT_EQ(patch("default", R"({"retention_days": 7.5})").status, 400);
  EXPECT_EQ(patch("default", R"({"retention": 7})").status, 400);
  EXPECT_EQ(patch("default", "[]").status, 400);
  EXPECT_EQ(patch("default", R"({"retention_days": 3})", viewer_token_).status, 404);
  EXPECT_EQ(patch("default", R"({"retention_days": 3})", "").status, 401);
  EXPECT_EQ(patch("nope", R"({"retention_days": 3})").status, 404);
  r = Get("/api/v1/projects/default");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(Header(r, "Allow"), "PATCH");
  EXPECT_EQ(patch("default/x", R"({"retention_days": 3})").status, 404);
  // Nothing of the refused requests stuck.
  d = GetJson("/api/v1/projects", viewer_token_);
  ASSERT_EQ(d["projects"].Size(), 1u);
  EXPECT_EQ(d["projects"][0]["retention_days"].GetInt(), 7);
}

// The storage endpoint and retention over the embedded engine.
class ApiStorageTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    store_dir_ = web_dir_.string() + "_store";
    store::EmbeddedOptions o;
    o.dir = store_dir_;
    o.clock = &clock_;
    o.background_flush = false;
    o.background_maintenance = false;
    auto s = store::EmbeddedStore::Open(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    embedded_ = s->get();
    api_.reset();
    store_ = std::move(*s);
    api_ = std::make_unique<Api>(
        ApiDeps{store_.get(), registry_.get(), live_.get(), &metrics_, &clock_}, ApiOptions{});
  }
  void TearDown() override {
    api_.reset();
    store_.reset();
    std::filesystem::remove_all(store_dir_);
    ApiTest::TearDown();
  }
  uint64_t FileBytes(const std::string& prefix) {
    uint64_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(store_dir_)) {
      const std::string ext = e.path().extension().string();
      if (e.path().filename().string().rfind(prefix, 0) == 0 &&
          (ext == ".seg" || ext == ".r1s" || ext == ".r1m" || ext == ".rollup")) {
        n += e.file_size();
      }
    }
    return n;
  }
  std::string store_dir_;
  store::EmbeddedStore* embedded_ = nullptr;
};

TEST_F(ApiStorageTest, DiskUsePerVisibleProject) {
  Fill();
  // Three days old, in "default".
  Append(default_id_, {Tx(7, "shop", "GET /old", kNow - 72 * 3600 * kSec, 1'000)});
  ASSERT_TRUE(embedded_->Flush().ok());
  rapidjson::Document d = GetJson("/api/v1/storage");
  ASSERT_EQ(d["projects"].Size(), 2u);
  const auto& p0 = d["projects"][0];
  EXPECT_STREQ(p0["project"].GetString(), "default");
  const uint64_t default_bytes = FileBytes(std::to_string(default_id_) + "_");
  const uint64_t other_bytes = FileBytes(std::to_string(other_id_) + "_");
  ASSERT_GT(default_bytes, 0u);
  EXPECT_EQ(p0["disk_bytes"].GetUint64(), default_bytes);
  EXPECT_GT(p0["rollup_bytes"].GetUint64(), 0u);  // one .r1s and one .rollup per segment
  EXPECT_LT(p0["rollup_bytes"].GetUint64(), default_bytes);
  EXPECT_EQ(p0["segments"].GetUint64(), 2u);
  EXPECT_EQ(p0["partitions"].GetUint64(), 2u);
  EXPECT_EQ(p0["oldest_ms"].GetInt64(), (kNow - 72 * 3600 * kSec) / kMs);
  EXPECT_EQ(p0["newest_ms"].GetInt64(), (kNow - 10 * kSec) / kMs);
  EXPECT_EQ(p0["retention_days"].GetInt(), 31);
  EXPECT_EQ(p0["rollup_retention_days"].GetInt(), 400);
  EXPECT_EQ(d["projects"][1]["disk_bytes"].GetUint64(), other_bytes);
  EXPECT_EQ(d["total_disk_bytes"].GetUint64(), default_bytes + other_bytes);
  EXPECT_GT(d["free_disk_bytes"].GetUint64(), 0u);

  // A viewer sees its project only.
  d = GetJson("/api/v1/storage", viewer_token_);
  ASSERT_EQ(d["projects"].Size(), 1u);
  EXPECT_STREQ(d["projects"][0]["project"].GetString(), "default");
  EXPECT_EQ(d["total_disk_bytes"].GetUint64(), default_bytes);
  ExpectError("/api/v1/storage?project=other", 404, "not_found", viewer_token_);
  d = GetJson("/api/v1/storage?project=other");
  ASSERT_EQ(d["projects"].Size(), 1u);
  EXPECT_EQ(d["projects"][0]["disk_bytes"].GetUint64(), other_bytes);

  // Retention set through the API reaches the store: a one-day retention
  // drops the three-day-old partition at the next pass.
  net::HttpResponse r =
      Send(*api_, "PATCH", "/api/v1/projects/default", R"({"retention_days": 1})", admin_token_);
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(embedded_->ApplyRetention().ok());
  d = GetJson("/api/v1/storage?project=default");
  EXPECT_EQ(d["projects"][0]["partitions"].GetUint64(), 1u);
  EXPECT_EQ(d["projects"][0]["disk_bytes"].GetUint64(),
            FileBytes(std::to_string(default_id_) + "_"));
  EXPECT_LT(d["projects"][0]["disk_bytes"].GetUint64(), default_bytes);
  EXPECT_EQ(d["projects"][0]["oldest_ms"].GetInt64(), (kNow - 50 * kSec) / kMs);
  EXPECT_EQ(d["projects"][0]["retention_days"].GetInt(), 1);
  ExpectError("/api/v1/transactions/0000000000000007", 404, "not_found");
  // A project without data shows zeros.
  ASSERT_TRUE(registry_->CreateProject("empty").ok());
  d = GetJson("/api/v1/storage?project=empty");
  EXPECT_EQ(d["projects"][0]["disk_bytes"].GetUint64(), 0u);
  EXPECT_TRUE(d["projects"][0]["oldest_ms"].IsNull());
}

TEST_F(ApiTest, ProjectIsolation) {
  Fill();
  // The viewer may not see "other": 404, exactly as for a project that does not exist.
  ExpectError("/api/v1/transactions?project=other", 404, "not_found", viewer_token_);
  ExpectError("/api/v1/transactions?project=nonexistent", 404, "not_found", viewer_token_);
  ExpectError("/api/v1/summary?project=other", 404, "not_found", viewer_token_);
  ExpectError("/api/v1/transactions/" + model::TxIdToHex(99) + "?project=other", 404, "not_found",
              viewer_token_);
  // Default project data never includes the other project's transactions.
  rapidjson::Document d = GetJson("/api/v1/transactions", viewer_token_);
  EXPECT_EQ(d["transactions"].Size(), 5u);
  ExpectError("/api/v1/transactions/" + model::TxIdToHex(99), 404, "not_found");
  d = GetJson("/api/v1/transactions?project=other");
  ASSERT_EQ(d["transactions"].Size(), 1u);
  EXPECT_STREQ(d["transactions"][0]["service"].GetString(), "secret");
}

TEST_F(ApiTest, TransactionsList) {
  Fill();
  rapidjson::Document d = GetJson("/api/v1/transactions");
  ASSERT_EQ(d["transactions"].Size(), 5u);
  EXPECT_FALSE(d["truncated"].GetBool());
  const auto& newest = d["transactions"][0];
  EXPECT_STREQ(newest["id"].GetString(), model::TxIdToHex(5).c_str());
  const auto& t4 = d["transactions"][1];
  EXPECT_STREQ(t4["id"].GetString(), "0000000000000004");
  EXPECT_STREQ(t4["trace_id"].GetString(), "04040404040404040404040404040404");
  EXPECT_STREQ(t4["service"].GetString(), "auth");
  EXPECT_STREQ(t4["instance"].GetString(), "auth-1");
  EXPECT_STREQ(t4["endpoint"].GetString(), "POST /login");
  EXPECT_STREQ(t4["method"].GetString(), "GET");
  EXPECT_EQ(t4["end_ms"].GetDouble(), static_cast<double>((kNow - 20 * kSec) / kMs));
  EXPECT_EQ(t4["elapsed_ms"].GetDouble(), 80.0);
  EXPECT_FALSE(t4["error"].GetBool());
  EXPECT_STREQ(t4["error_type"].GetString(), "");
  EXPECT_EQ(t4["status"].GetInt(), 200);
  EXPECT_STREQ(t4["client_ip"].GetString(), "10.0.0.7");
  EXPECT_STREQ(t4["user"].GetString(), "u42");
  EXPECT_EQ(t4["sql_count"].GetInt(), 3);
  EXPECT_DOUBLE_EQ(t4["sql_ms"].GetDouble(), 40.2);
  EXPECT_EQ(t4["external_count"].GetInt(), 1);
  EXPECT_DOUBLE_EQ(t4["external_ms"].GetDouble(), 20.0);
  EXPECT_DOUBLE_EQ(t4["cpu_ms"].GetDouble(), 5.0);
  EXPECT_TRUE(d["transactions"][0]["cpu_ms"].IsNull());

  // Elapsed with microsecond fractions, exactly.
  net::HttpResponse raw = Get("/api/v1/transactions?error=1");
  EXPECT_THAT(raw.body, HasSubstr("\"elapsed_ms\":150.377"));
  d = Parse(raw.body);
  ASSERT_EQ(d["transactions"].Size(), 1u);
  EXPECT_STREQ(d["transactions"][0]["error_type"].GetString(), "TimeoutError");

  d = GetJson("/api/v1/transactions?sort=slowest&limit=2");
  ASSERT_EQ(d["transactions"].Size(), 2u);
  EXPECT_TRUE(d["truncated"].GetBool());
  EXPECT_STREQ(d["transactions"][0]["id"].GetString(), model::TxIdToHex(2).c_str());
  EXPECT_STREQ(d["transactions"][1]["id"].GetString(), model::TxIdToHex(4).c_str());

  d = GetJson("/api/v1/transactions?sort=sql&limit=1");
  EXPECT_STREQ(d["transactions"][0]["id"].GetString(), model::TxIdToHex(4).c_str());

  d = GetJson("/api/v1/transactions?service=shop&min_ms=5&max_ms=100.5");
  ASSERT_EQ(d["transactions"].Size(), 1u);
  EXPECT_STREQ(d["transactions"][0]["id"].GetString(), model::TxIdToHex(1).c_str());

  d = GetJson("/api/v1/transactions?endpoint=POST+%2Flogin");
  EXPECT_EQ(d["transactions"].Size(), 2u);

  // Range: [from, to) on the end time.
  const int64_t end3_ms = (kNow - 30 * kSec) / kMs;
  d = GetJson("/api/v1/transactions?from=" + std::to_string(end3_ms) +
              "&to=" + std::to_string(end3_ms + 1));
  ASSERT_EQ(d["transactions"].Size(), 1u);
  EXPECT_STREQ(d["transactions"][0]["id"].GetString(), model::TxIdToHex(3).c_str());
  d = GetJson("/api/v1/transactions?to=" + std::to_string(end3_ms));
  EXPECT_EQ(d["transactions"].Size(), 2u);
  // Default range: the last hour.
  clock_.Advance(3600 * kSec);
  d = GetJson("/api/v1/transactions");
  EXPECT_EQ(d["transactions"].Size(), 0u);
}

TEST_F(ApiTest, ParameterErrorsAre400) {
  Fill();
  const std::string now_ms = std::to_string(kNow / kMs);
  for (const std::string& target : std::vector<std::string>{
           "/api/v1/transactions?from=abc",
           "/api/v1/transactions?to=-5",
           "/api/v1/transactions?to=1e9",
           "/api/v1/transactions?from=" + now_ms + "&to=" + now_ms,
           "/api/v1/transactions?from=2000&to=1000",
           "/api/v1/transactions?from=0&to=" + now_ms,  // over 31 days
           "/api/v1/transactions?limit=0",
           "/api/v1/transactions?limit=10001",
           "/api/v1/transactions?limit=ten",
           "/api/v1/transactions?limit=5x",
           "/api/v1/transactions?sort=fastest",
           "/api/v1/transactions?min_ms=-1",
           "/api/v1/transactions?min_ms=10&max_ms=5",
           "/api/v1/transactions?error=yes",
           "/api/v1/transactions/xyz",
           "/api/v1/transactions/",
           "/api/v1/transactions/00000000000000000",
           "/api/v1/traces/1234",
           "/api/v1/traces/00000000000000000000000000000000",
           "/api/v1/xview?max_points=0",
           "/api/v1/xview?max_points=1000001",
           "/api/v1/xview?x_bins=4000&y_bins=1000",
           "/api/v1/xview?ids=2",
           "/api/v1/series?metric=cpu",
           "/api/v1/series?group_by=host",
           "/api/v1/series?step=0",
           "/api/v1/series?step=86401",
           "/api/v1/series?metric=users&step=60",
           "/api/v1/series?metric=users&group_by=endpoint",
           "/api/v1/live",
       }) {
    ExpectError(target, 400, "invalid_argument");
  }
  net::HttpResponse r = Get("/api/v1/transactions?from=2000&to=1000");
  EXPECT_THAT(r.body, HasSubstr("from must be < to"));
}

TEST_F(ApiTest, UnknownRoutesAndMethods) {
  ExpectError("/api/v1/nope", 404, "not_found");
  ExpectError("/api/v2/projects", 404, "not_found");
  ExpectError("/api/v1/transactions/0000000000000001/extra", 404, "not_found");
  ExpectError("/api", 404, "not_found", "");
  net::HttpResponse r = Get("/api/v1/endpoints", "<admin>", "POST");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(Header(r, "Allow"), "GET");
  r = Get("/api/v1/projects", "<admin>", "DELETE");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(Header(r, "Allow"), "GET, POST");
  EXPECT_EQ(Get("/", "", "DELETE").status, 405);
}

TEST_F(ApiTest, TransactionWithSteps) {
  model::Transaction t = Tx(7, "shop", "GET /posts/{id}", kNow - kSec, 50'000);
  t.parent_span_id = 0xabc;
  t.dropped_steps = 2;
  model::Step a;  // method under the root
  a.span_id = 0x21;
  a.parent_span_id = t.span_id;
  a.kind = model::StepKind::kMethod;
  a.name = "PostService.load";
  a.start_us = t.start_us + 1'200;
  a.elapsed_us = 30'000;
  model::Step sql;  // under a
  sql.span_id = 0x22;
  sql.parent_span_id = 0x21;
  sql.kind = model::StepKind::kSql;
  sql.name = "SELECT posts";
  sql.sql = "SELECT * FROM posts WHERE id = ?";
  sql.db_system = "postgresql";
  sql.binds = {"42"};
  sql.rows = 1;
  sql.start_us = t.start_us + 2'000;
  sql.elapsed_us = 12'500;
  sql.attributes = {{"db.name", "blog"}};
  model::Step err;  // exception event on the sql span
  err.parent_span_id = 0x22;
  err.kind = model::StepKind::kError;
  err.error = true;
  err.name = "PSQLException";
  err.message = "boom";
  err.stack = "at x\nat y";
  err.start_us = t.start_us + 14'000;
  model::Step ext;  // parent unknown (lost span): under the root
  ext.span_id = 0x23;
  ext.parent_span_id = 0x999;
  ext.kind = model::StepKind::kExternal;
  ext.name = "GET api";
  ext.url = "http://api/x";
  ext.host = "api";
  ext.http_status = 503;
  ext.start_us = t.start_us + 20'000;
  ext.elapsed_us = 1'000;
  t.steps = {a, sql, err, ext};
  Append(default_id_, {t});

  rapidjson::Document d = GetJson("/api/v1/transactions/" + model::TxIdToHex(7));
  EXPECT_STREQ(d["id"].GetString(), "0000000000000007");
  EXPECT_STREQ(d["url"].GetString(), "/x?y=1");
  EXPECT_STREQ(d["host"].GetString(), "host-a");
  EXPECT_STREQ(d["span_id"].GetString(), "0000000000001007");
  EXPECT_STREQ(d["parent_span_id"].GetString(), "0000000000000abc");
  EXPECT_EQ(d["dropped_steps"].GetInt(), 2);
  const auto& steps = d["steps"];
  ASSERT_EQ(steps.Size(), 4u);
  EXPECT_EQ(steps[0]["depth"].GetInt(), 1);
  EXPECT_STREQ(steps[0]["kind"].GetString(), "method");
  EXPECT_DOUBLE_EQ(steps[0]["offset_ms"].GetDouble(), 1.2);
  EXPECT_TRUE(steps[0]["rows"].IsNull());
  EXPECT_EQ(steps[1]["depth"].GetInt(), 2);
  EXPECT_STREQ(steps[1]["kind"].GetString(), "sql");
  EXPECT_STREQ(steps[1]["sql"].GetString(), "SELECT * FROM posts WHERE id = ?");
  EXPECT_STREQ(steps[1]["db_system"].GetString(), "postgresql");
  ASSERT_EQ(steps[1]["binds"].Size(), 1u);
  EXPECT_STREQ(steps[1]["binds"][0].GetString(), "42");
  EXPECT_EQ(steps[1]["rows"].GetInt(), 1);
  EXPECT_DOUBLE_EQ(steps[1]["elapsed_ms"].GetDouble(), 12.5);
  EXPECT_STREQ(steps[1]["attributes"]["db.name"].GetString(), "blog");
  EXPECT_STREQ(steps[1]["parent_span_id"].GetString(), "0000000000000021");
  EXPECT_EQ(steps[2]["depth"].GetInt(), 3);
  EXPECT_STREQ(steps[2]["kind"].GetString(), "error");
  EXPECT_STREQ(steps[2]["span_id"].GetString(), "");
  EXPECT_TRUE(steps[2]["error"].GetBool());
  EXPECT_STREQ(steps[2]["stack"].GetString(), "at x\nat y");
  EXPECT_EQ(steps[3]["depth"].GetInt(), 1);
  EXPECT_EQ(steps[3]["http_status"].GetInt(), 503);
  EXPECT_STREQ(steps[3]["url"].GetString(), "http://api/x");

  ExpectError("/api/v1/transactions/00000000000000ff", 404, "not_found");
}

TEST_F(ApiTest, TraceLinksTransactions) {
  model::Transaction front = Tx(10, "web", "GET /", kNow - 2 * kSec, 100'000);
  front.trace_id = Trace(0x77);
  model::Step call;
  call.span_id = 0x500;
  call.parent_span_id = front.span_id;
  call.kind = model::StepKind::kExternal;
  call.start_us = front.start_us + 10;
  call.elapsed_us = 50'000;
  front.steps = {call};
  model::Transaction back = Tx(11, "api", "GET /x", kNow - 2 * kSec - 20'000, 40'000);
  back.trace_id = Trace(0x77);
  back.parent_span_id = 0x500;
  Append(default_id_, {front, back});

  rapidjson::Document d = GetJson("/api/v1/traces/" + model::TraceIdToHex(Trace(0x77)));
  EXPECT_STREQ(d["trace_id"].GetString(), "77777777777777777777777777777777");
  ASSERT_EQ(d["transactions"].Size(), 2u);
  EXPECT_STREQ(d["transactions"][0]["id"].GetString(), model::TxIdToHex(10).c_str());
  EXPECT_TRUE(d["transactions"][0]["parent_id"].IsNull());
  EXPECT_STREQ(d["transactions"][1]["id"].GetString(), model::TxIdToHex(11).c_str());
  EXPECT_STREQ(d["transactions"][1]["parent_id"].GetString(), model::TxIdToHex(10).c_str());
  ExpectError("/api/v1/traces/" + model::TraceIdToHex(Trace(0x78)), 404, "not_found");
}

TEST_F(ApiTest, XViewPointsAndBins) {
  Fill();
  rapidjson::Document d = GetJson("/api/v1/xview");
  EXPECT_EQ(d["total"].GetInt(), 5);
  EXPECT_FALSE(d["binned"].GetBool());
  const auto& p = d["points"];
  ASSERT_EQ(p["id"].Size(), 5u);
  ASSERT_EQ(p["end_ms"].Size(), 5u);
  ASSERT_EQ(p["elapsed_ms"].Size(), 5u);
  ASSERT_EQ(p["error"].Size(), 5u);
  EXPECT_STREQ(p["id"][0].GetString(), model::TxIdToHex(1).c_str());  // by end time
  EXPECT_EQ(p["end_ms"][0].GetDouble(), static_cast<double>((kNow - 50 * kSec) / kMs));
  EXPECT_DOUBLE_EQ(p["elapsed_ms"][0].GetDouble(), 10.5);
  EXPECT_EQ(p["error"][1].GetInt(), 1);
  EXPECT_EQ(p["error"][0].GetInt(), 0);
  EXPECT_FALSE(d.HasMember("bins"));

  // ids=0: the same columns without the ids.
  rapidjson::Document n = GetJson("/api/v1/xview?ids=0");
  EXPECT_EQ(n["total"].GetInt(), 5);
  EXPECT_FALSE(n["points"].HasMember("id"));
  ASSERT_EQ(n["points"]["end_ms"].Size(), 5u);
  ASSERT_EQ(n["points"]["elapsed_ms"].Size(), 5u);
  ASSERT_EQ(n["points"]["error"].Size(), 5u);
  EXPECT_EQ(n["points"]["end_ms"][0].GetDouble(), p["end_ms"][0].GetDouble());
  EXPECT_EQ(n["points"]["error"][1].GetInt(), 1);
  EXPECT_EQ(GetJson("/api/v1/xview?ids=1")["points"]["id"].Size(), 5u);

  d = GetJson("/api/v1/xview?max_points=2&x_bins=10&y_bins=4");
  EXPECT_EQ(d["total"].GetInt(), 5);
  EXPECT_TRUE(d["binned"].GetBool());
  EXPECT_FALSE(d.HasMember("points"));
  const auto& b = d["bins"];
  EXPECT_EQ(b["x_bins"].GetInt(), 10);
  EXPECT_EQ(b["y_bins"].GetInt(), 4);
  ASSERT_EQ(b["count"].Size(), 40u);
  ASSERT_EQ(b["errors"].Size(), 40u);
  uint64_t total = 0, errors = 0;
  for (const auto& c : b["count"].GetArray()) total += c.GetUint();
  for (const auto& c : b["errors"].GetArray()) errors += c.GetUint();
  EXPECT_EQ(total, 5u);
  EXPECT_EQ(errors, 1u);
  EXPECT_LT(b["y_min_ms"].GetDouble(), b["y_max_ms"].GetDouble());
  EXPECT_EQ(b["to_ms"].GetDouble() - b["from_ms"].GetDouble(), 3600.0 * 1000);
}

TEST_F(ApiTest, Series) {
  Fill();
  const int64_t to_ms = kNow / kMs;
  const std::string range =
      "&from=" + std::to_string(to_ms - 60'000) + "&to=" + std::to_string(to_ms);
  rapidjson::Document d = GetJson("/api/v1/series?metric=count&step=60" + range);
  EXPECT_STREQ(d["metric"].GetString(), "count");
  EXPECT_EQ(d["step_ms"].GetInt(), 60'000);
  EXPECT_STREQ(d["source"].GetString(), "rollups");  // whole seconds: no raw edge
  ASSERT_EQ(d["series"].Size(), 1u);
  double sum = 0;
  for (const auto& v : d["series"][0]["values"].GetArray()) sum += v.IsNull() ? 0 : v.GetDouble();
  EXPECT_EQ(sum, 5.0);

  d = GetJson("/api/v1/series?metric=response_time&step=10&group_by=service" + range);
  ASSERT_EQ(d["series"].Size(), 2u);
  std::map<std::string, int> nulls;
  for (const auto& line : d["series"].GetArray()) {
    for (const auto& v : line["values"].GetArray()) nulls[line["key"].GetString()] += v.IsNull();
  }
  EXPECT_GT(nulls["shop"], 0);  // empty buckets are null, not 0
  EXPECT_EQ(nulls.size(), 2u);

  // Default step: at most 600 buckets.
  d = GetJson("/api/v1/series?metric=tps");
  EXPECT_EQ(d["step_ms"].GetInt(), 10'000);  // 1 h / 600 = 6 s -> 10 s
  d = GetJson("/api/v1/series?metric=tps&from=" + std::to_string(to_ms - 30LL * 86400 * 1000) +
              "&to=" + std::to_string(to_ms));
  EXPECT_EQ(d["step_ms"].GetInt(), 7'200'000);

  // Distinct users per hour (user id, else client IP).
  d = GetJson("/api/v1/series?metric=users&from=" + std::to_string(to_ms - 3'600'000) +
              "&to=" + std::to_string(to_ms));
  EXPECT_STREQ(d["metric"].GetString(), "users");
  EXPECT_EQ(d["step_ms"].GetInt(), 3'600'000);
  EXPECT_STREQ(d["source"].GetString(), "rollups");
  ASSERT_EQ(d["series"].Size(), 1u);
  double users = 0;
  for (const auto& v : d["series"][0]["values"].GetArray()) users += v.GetDouble();
  EXPECT_GT(users, 0);
  // Filters rollups cannot answer read raw rows.
  d = GetJson("/api/v1/series?metric=count&step=60&min_ms=100" + range);
  EXPECT_STREQ(d["source"].GetString(), "raw");
}

TEST_F(ApiTest, Hitmap) {
  Fill();
  const int64_t to_ms = kNow / kMs;
  rapidjson::Document d = GetJson("/api/v1/hitmap?step=10&from=" + std::to_string(to_ms - 60'000) +
                                  "&to=" + std::to_string(to_ms));
  EXPECT_EQ(d["step_ms"].GetInt(), 10'000);
  const size_t x = d["x_bins"].GetUint(), y = d["y_bins"].GetUint();
  EXPECT_EQ(x, 6u);
  ASSERT_GT(y, 0u);
  ASSERT_EQ(d["y_lower_ms"].Size(), y + 1);
  EXPECT_LT(d["y_lower_ms"][0].GetDouble(), d["y_lower_ms"][static_cast<unsigned>(y)].GetDouble());
  ASSERT_EQ(d["count"].Size(), x * y);
  ASSERT_EQ(d["errors"].Size(), x * y);
  uint64_t n = 0, e = 0;
  for (const auto& v : d["count"].GetArray()) n += v.GetUint();
  for (const auto& v : d["errors"].GetArray()) e += v.GetUint();
  EXPECT_EQ(n, 5u);
  EXPECT_EQ(e, 1u);
  EXPECT_TRUE(d["source"].IsString());
  ExpectError("/api/v1/hitmap?step=0", 400, "invalid_argument");
}

TEST_F(ApiTest, Endpoints) {
  Fill();
  rapidjson::Document d = GetJson("/api/v1/endpoints");
  ASSERT_EQ(d["endpoints"].Size(), 3u);
  EXPECT_TRUE(d["source"].IsString());
  const auto& top = d["endpoints"][0];  // by count, descending
  EXPECT_EQ(top["count"].GetInt(), 2);
  bool saw_a = false;
  for (const auto& e : d["endpoints"].GetArray()) {
    if (std::string(e["endpoint"].GetString()) != "GET /a") continue;
    saw_a = true;
    EXPECT_STREQ(e["service"].GetString(), "shop");
    EXPECT_EQ(e["errors"].GetInt(), 1);
    EXPECT_DOUBLE_EQ(e["error_rate"].GetDouble(), 50.0);
    EXPECT_NEAR(e["avg_ms"].GetDouble(), (10.5 + 150.377) / 2, 1e-3);
    EXPECT_NEAR(e["max_ms"].GetDouble(), 150.377, 1e-3);
    for (const char* k :
         {"p50_ms", "p95_ms", "p99_ms", "avg_sql_count", "avg_sql_ms", "avg_external_ms"}) {
      EXPECT_TRUE(e[k].IsNumber()) << k;
    }
  }
  EXPECT_TRUE(saw_a);
}

TEST_F(ApiTest, SummaryFromLiveState) {
  Fill();
  rapidjson::Document d = GetJson("/api/v1/summary");
  EXPECT_EQ(d["today_calls"].GetInt(), 5);
  EXPECT_NEAR(d["tps"].GetDouble(), 5.0 / 60, 1e-3);
  EXPECT_NEAR(d["avg_ms"].GetDouble(), (10.5 + 150.377 + 2 + 80 + 1) / 5, 1e-3);
  EXPECT_DOUBLE_EQ(d["error_rate"].GetDouble(), 20.0);
  EXPECT_EQ(d["concurrent_users"].GetInt(), 1);
  // No traffic: NaN figures are null.
  d = GetJson("/api/v1/summary?project=other");
  EXPECT_EQ(d["today_calls"].GetInt(), 0);
  EXPECT_TRUE(d["avg_ms"].IsNull());
  EXPECT_TRUE(d["error_rate"].IsNull());
}

TEST_F(ApiTest, Instances) {
  store::InstanceInfo a{
      "shop",          "shop-1", "host-a", "nodejs", "opentelemetry 1.26.0", kNow - 3600 * kSec,
      kNow - 10 * kSec};
  store::InstanceInfo b{"shop", "shop-2",           "host-b",         "java",
                        "",     kNow - 7200 * kSec, kNow - 120 * kSec};
  ASSERT_TRUE(store_->PutInstance(default_id_, a).ok());
  ASSERT_TRUE(store_->PutInstance(default_id_, b).ok());
  rapidjson::Document d = GetJson("/api/v1/instances");
  ASSERT_EQ(d["instances"].Size(), 2u);
  const auto& i0 = d["instances"][0];
  EXPECT_STREQ(i0["instance"].GetString(), "shop-1");
  EXPECT_STREQ(i0["host"].GetString(), "host-a");
  EXPECT_STREQ(i0["kind"].GetString(), "nodejs");
  EXPECT_STREQ(i0["sdk"].GetString(), "opentelemetry 1.26.0");
  EXPECT_EQ(i0["first_seen_ms"].GetDouble(), static_cast<double>((kNow - 3600 * kSec) / kMs));
  EXPECT_TRUE(i0["up"].GetBool());
  EXPECT_FALSE(d["instances"][1]["up"].GetBool());
}

TEST_F(ApiTest, InstancesShowTheCapAndLeaveOutInstancesIdlePastInstanceIdle) {
  ApiOptions o;
  o.instance_idle_us = 86'400 * kSec;
  ApiDeps deps{store_.get(), registry_.get(), live_.get(), &metrics_, &clock_};
  deps.instance_cap = [](model::ProjectId) { return InstanceCap{20'000, 1, 3}; };
  api_ = std::make_unique<Api>(deps, o);
  store::InstanceInfo recent{"shop", "shop-1", "h", "", "", kNow - 7 * 86'400 * kSec, kNow - kSec};
  store::InstanceInfo idle = recent;
  idle.instance = "shop-0";
  idle.last_seen_us = kNow - 86'401 * kSec;
  ASSERT_TRUE(store_->PutInstance(default_id_, recent).ok());
  ASSERT_TRUE(store_->PutInstance(default_id_, idle).ok());
  rapidjson::Document d = GetJson("/api/v1/instances");
  ASSERT_EQ(d["instances"].Size(), 1u);
  EXPECT_STREQ(d["instances"][0]["instance"].GetString(), "shop-1");
  EXPECT_EQ(d["cap"]["max_instances"].GetInt(), 20'000);
  EXPECT_EQ(d["cap"]["instances"].GetInt(), 1);
  EXPECT_EQ(d["cap"]["overflowed"].GetInt(), 3);
}

TEST_F(ApiTest, InvalidUtf8IsSanitized) {
  model::Transaction t = Tx(1, "sh\xffop", "GET /caf\xc3\xa9/\xc3", kNow - kSec, 1000, true);
  t.user = std::string("a\0b\xed\xa0\x80", 6);  // NUL and a UTF-16 surrogate
  t.error_type = "\xf4\x90\x80\x80";            // beyond U+10FFFF
  model::Step s;
  s.span_id = 5;
  s.parent_span_id = t.span_id;
  s.attributes = {{"k\xfe", "v\"\\\x01"}};
  t.steps = {s};
  Append(default_id_, {t});
  for (const std::string& target : std::vector<std::string>{
           "/api/v1/transactions", "/api/v1/transactions/" + model::TxIdToHex(1),
           "/api/v1/endpoints", "/api/v1/series?group_by=service"}) {
    net::HttpResponse r = Get(target);
    ASSERT_EQ(r.status, 200) << target;
    rapidjson::Document d = Parse(r.body);  // validates UTF-8
    EXPECT_THAT(r.body, HasSubstr("\xef\xbf\xbd")) << target;
  }
  rapidjson::Document d = GetJson("/api/v1/transactions/" + model::TxIdToHex(1));
  EXPECT_EQ(std::string(d["service"].GetString()), "sh\xef\xbf\xbdop");
  EXPECT_EQ(std::string(d["endpoint"].GetString()), "GET /caf\xc3\xa9/\xef\xbf\xbd");
  EXPECT_EQ(std::string(d["user"].GetString(), d["user"].GetStringLength()),
            std::string("a\0b\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 12));
  EXPECT_EQ(std::string(d["steps"][0]["attributes"]["k\xef\xbf\xbd"].GetString()), "v\"\\\x01");
}

TEST_F(ApiTest, StaticFiles) {
  net::HttpResponse r = Get("/", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_THAT(r.body, HasSubstr("<title>Loupe</title>"));
  EXPECT_EQ(Header(r, "Cache-Control"), "no-cache");
  // Single-page app routes get index.html.
  r = Get("/transactions/0000000000000001", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("<title>Loupe</title>"));
  r = Get("/assets/app-1234.js", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(r.body, "console.log(1)");
  EXPECT_EQ(Header(r, "Cache-Control"), "public, max-age=31536000, immutable");
  EXPECT_EQ(Get("/assets/app-1234.css", "").content_type, "text/css; charset=utf-8");
  EXPECT_EQ(Get("/favicon.svg", "").content_type, "image/svg+xml");
  EXPECT_EQ(Get("/favicon.svg", "", "HEAD").status, 200);
  EXPECT_EQ(Get("/missing.js", "").status, 404);
}

TEST_F(ApiTest, StaticFilesRefuseTraversal) {
  for (const std::string& path : std::vector<std::string>{
           "/../" + secret_dir_.filename().string() + "/passwd.txt", "/assets/../../etc/passwd",
           "/..", "/./index.html", "/.env", "/leak.txt", "/assets/..\\..\\x.txt",
           std::string("/index.html\0.js", 15)}) {
    net::HttpRequest req;
    req.method = "GET";
    req.path = path;
    net::HttpResponse resp;
    api_->Handle(req, &resp);
    EXPECT_EQ(resp.status, 404) << path;
    EXPECT_THAT(resp.body, Not(HasSubstr("root:x"))) << path;
    EXPECT_THAT(resp.body, Not(HasSubstr("SECRET"))) << path;
  }
  // A path without an extension is a dashboard route: index.html, never the host's file.
  net::HttpResponse r = Get("/etc/passwd", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("<title>Loupe</title>"));
}

TEST_F(ApiTest, NoWebDirMeansNoStaticFiles) {
  ApiOptions o;  // no web_dir
  Api api(ApiDeps{store_.get(), registry_.get(), live_.get(), &metrics_, &clock_}, o);
  net::HttpRequest req;
  req.method = "GET";
  req.path = "/";
  net::HttpResponse resp;
  api.Handle(req, &resp);
  EXPECT_EQ(resp.status, 404);
  Parse(resp.body);
}

TEST_F(ApiTest, LiveWebSocket) {
  auto upgrade = [&](const std::string& target, const std::string& auth_header,
                     std::shared_ptr<FakeConn> conn, net::HttpResponse* reject) {
    net::HttpRequest req;
    req.method = "GET";
    size_t q = target.find('?');
    req.path = target.substr(0, q);
    if (q != std::string::npos) req.query = target.substr(q + 1);
    if (!auth_header.empty()) req.headers.emplace_back("authorization", auth_header);
    return api_->HandleWebSocket(req, reject, std::move(conn));
  };
  net::HttpResponse reject;
  auto c1 = std::make_shared<FakeConn>();
  auto c2 = std::make_shared<FakeConn>();
  auto c3 = std::make_shared<FakeConn>();
  EXPECT_TRUE(upgrade("/api/v1/live?token=" + admin_token_, "", c1, &reject));
  EXPECT_TRUE(upgrade("/api/v1/live", "Bearer " + viewer_token_, c2, &reject));
  EXPECT_TRUE(upgrade("/api/v1/live?project=other&token=" + admin_token_, "", c3, &reject));
  EXPECT_FALSE(upgrade("/api/v1/live?token=nope", "", std::make_shared<FakeConn>(), &reject));
  EXPECT_EQ(reject.status, 401);
  Parse(reject.body);
  EXPECT_FALSE(upgrade("/api/v1/live?project=other&token=" + viewer_token_, "",
                       std::make_shared<FakeConn>(), &reject));
  EXPECT_EQ(reject.status, 404);
  EXPECT_EQ(Header(reject, "X-Frame-Options"), "DENY");
  EXPECT_FALSE(
      upgrade("/elsewhere?token=" + admin_token_, "", std::make_shared<FakeConn>(), &reject));
  EXPECT_EQ(reject.status, 404);
  EXPECT_EQ(api_->live_subscribers(), 3u);

  clock_.Set(kNow + 2 * kSec + 10'000);
  model::Transaction t1 = Tx(1, "shop", "GET /a", kNow + kSec + 100, 20'000);
  model::Transaction t2 = Tx(2, "shop", "GET /a", kNow + kSec + 200'000, 40'500, true);
  live_->Record(default_id_, t1);
  live_->Record(default_id_, t2);
  api_->BroadcastTick();

  ASSERT_EQ(c1->sent().size(), 1u);
  ASSERT_EQ(c2->sent().size(), 1u);
  EXPECT_EQ(c1->sent()[0], c2->sent()[0]);  // one frame per project, shared
  rapidjson::Document d = Parse(c1->sent()[0]);
  EXPECT_STREQ(d["type"].GetString(), "tick");
  EXPECT_EQ(d["t_ms"].GetInt64(), (kNow + 2 * kSec) / kMs);
  EXPECT_EQ(d["tps"].GetInt(), 2);
  EXPECT_DOUBLE_EQ(d["avg_ms"].GetDouble(), 30.25);
  EXPECT_EQ(d["errors"].GetInt(), 1);
  EXPECT_EQ(d["today_calls"].GetInt(), 2);
  EXPECT_EQ(d["concurrent_users"].GetInt(), 1);
  ASSERT_EQ(d["points"]["id"].Size(), 2u);
  EXPECT_STREQ(d["points"]["id"][1].GetString(), model::TxIdToHex(2).c_str());
  EXPECT_DOUBLE_EQ(d["points"]["elapsed_ms"][1].GetDouble(), 40.5);
  EXPECT_EQ(d["points"]["error"][1].GetInt(), 1);
  EXPECT_EQ(d["points"]["end_ms"].Size(), 2u);
  EXPECT_EQ(d["points_dropped"].GetInt(), 0);
  ASSERT_EQ(d["events"].Size(), 1u);
  const auto& e = d["events"][0];
  EXPECT_STREQ(e["level"].GetString(), "WARNING");
  EXPECT_STREQ(e["type"].GetString(), "SERVICE_EXCEPTION");
  EXPECT_STREQ(e["message"].GetString(), "TimeoutError");
  EXPECT_STREQ(e["tx_id"].GetString(), model::TxIdToHex(2).c_str());
  EXPECT_STREQ(e["service"].GetString(), "shop");
  EXPECT_STREQ(e["endpoint"].GetString(), "GET /a");
  EXPECT_DOUBLE_EQ(e["time_ms"].GetDouble(), (kNow + kSec + 200'000) / 1000.0);

  // The other project's subscriber gets its own (empty) frame.
  ASSERT_EQ(c3->sent().size(), 1u);
  d = Parse(c3->sent()[0]);
  EXPECT_EQ(d["tps"].GetInt(), 0);
  EXPECT_TRUE(d["avg_ms"].IsNull());
  EXPECT_EQ(d["points"]["id"].Size(), 0u);

  // Closed connections are dropped at the next tick; Stop() closes the rest.
  c2->Close();
  clock_.Advance(kSec);
  api_->BroadcastTick();
  EXPECT_EQ(api_->live_subscribers(), 2u);
  d = Parse(c1->sent().back());
  EXPECT_EQ(d["points"]["id"].Size(), 0u);  // nothing new since the last frame
  api_->Stop();
  EXPECT_TRUE(c1->closed());
  EXPECT_TRUE(c3->closed());
  EXPECT_EQ(api_->live_subscribers(), 0u);
  EXPECT_FALSE(
      upgrade("/api/v1/live?token=" + admin_token_, "", std::make_shared<FakeConn>(), &reject));
  EXPECT_EQ(reject.status, 503);
}

TEST_F(ApiTest, BroadcastThreadSendsFrames) {
  auto c = std::make_shared<FakeConn>();
  net::HttpRequest req;
  req.method = "GET";
  req.path = "/api/v1/live";
  req.query = "token=" + admin_token_;
  net::HttpResponse reject;
  ASSERT_TRUE(api_->HandleWebSocket(req, &reject, c));
  api_->Start();
  for (int i = 0; i < 300 && c->sent().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  api_->Stop();
  EXPECT_FALSE(c->sent().empty());
  EXPECT_TRUE(c->closed());
}

TEST(ApiParams, ParseMillis) {
  int64_t us = 0;
  EXPECT_TRUE(internal::ParseMillis("1700000000150", &us));
  EXPECT_EQ(us, 1'700'000'000'150'000);
  EXPECT_TRUE(internal::ParseMillis("12.5", &us));
  EXPECT_EQ(us, 12'500);
  EXPECT_TRUE(internal::ParseMillis("0.0015", &us));
  EXPECT_EQ(us, 1);
  for (const char* bad :
       {"", ".5", "5.", "-1", "1e3", "0x10", " 1", "1 ", "nan", "1000000000000000000"}) {
    EXPECT_FALSE(internal::ParseMillis(bad, &us)) << bad;
  }
}

}  // namespace
}  // namespace loupe::api
