// Loupe extensions against a fake server: active snapshots, stack samples,
// the configuration channel, throttling and dynamic-profiling probes.

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "agent_internal.h"
#include "json.h"
#include "testing/agent_test_util.h"

// Spins inside a transaction until told to stop: a frame the native stack
// sampler must find. Outside any anonymous namespace and exported (the test
// binaries link with -rdynamic), so dladdr names it.
__attribute__((noinline)) void LoupeNativeStackTestSpin(const std::atomic<bool>* stop) {
  while (!stop->load(std::memory_order_relaxed)) {
    asm volatile("" ::: "memory");
  }
}

namespace loupe {
namespace {

using internal::JsonValue;
using testing::ExportedSpans;
using testing::FakeHttpServer;
using testing::FakeRequest;
using testing::FakeResponse;
using testing::FindSpan;
using testing::TestOptions;

// A fake Loupe: serves a settable configuration and answers snapshots with
// its version.
class FakeLoupe {
 public:
  FakeLoupe() {
    server.SetHandler([this](const FakeRequest& r) {
      FakeResponse resp;
      std::lock_guard<std::mutex> l(mu_);
      if (r.path() == "/v1/loupe/config") {
        resp.body = config_;
      } else if (r.path() == "/v1/loupe/active") {
        resp.body = "{\"config_version\": " + std::to_string(version_) + "}";
      }
      return resp;
    });
  }
  void SetConfig(uint64_t version, const std::string& rest) {
    std::lock_guard<std::mutex> l(mu_);
    version_ = version;
    config_ = "{\"version\": " + std::to_string(version) + (rest.empty() ? "" : ", ") + rest + "}";
  }
  AgentOptions Options() {
    AgentOptions o = TestOptions(server.url());
    o.loupe_extensions = true;
    o.config_poll_interval_ms = 600000;  // only the start and version bumps fetch
    return o;
  }
  // Snapshots received so far, parsed.
  std::vector<JsonValue> Snapshots() {
    std::vector<JsonValue> out;
    for (const auto& r : server.RequestsTo("/v1/loupe/active")) {
      JsonValue v;
      std::string err;
      EXPECT_TRUE(internal::ParseJson(r.body, &v, &err)) << err << r.body;
      out.push_back(std::move(v));
    }
    return out;
  }
  // Waits for a snapshot satisfying `pred`; returns it (or null JSON).
  JsonValue WaitSnapshot(const std::function<bool(const JsonValue&)>& pred) {
    JsonValue found;
    FakeHttpServer::WaitFor([&] {
      for (auto& s : Snapshots()) {
        if (pred(s)) {
          found = s;
          return true;
        }
      }
      return false;
    });
    return found;
  }

  FakeHttpServer server;

 private:
  std::mutex mu_;
  uint64_t version_ = 1;
  std::string config_ = "{\"version\": 1}";
};

size_t ArraySize(const JsonValue& v, const char* key) {
  const JsonValue* a = v.Find(key);
  return a == nullptr ? 0 : a->array.size();
}

TEST(Extensions, SnapshotListsActiveTransactionsWithCurrentStep) {
  FakeLoupe loupe;
  Agent agent(loupe.Options());
  JsonValue snap;
  std::string trace_hex;
  {
    Transaction tx(agent, "GET /orders/{id}");
    tx.SetUser("u-17");
    tx.SetClientIp("10.0.0.5");
    trace_hex = tx.Traceparent().substr(3, 32);
    const std::string tx_span = tx.Traceparent().substr(36, 16);
    Step m = Step::Method("orders::Load");
    Step sql = Step::Sql("postgresql", "SELECT * FROM orders WHERE id = ?");
    snap = loupe.WaitSnapshot([](const JsonValue& s) { return ArraySize(s, "active") == 1; });
    ASSERT_EQ(ArraySize(snap, "active"), 1u);
    const JsonValue& a = snap.Find("active")->array[0];
    EXPECT_EQ(a.Find("id")->str, tx_span);
    EXPECT_EQ(a.Find("trace_id")->str, trace_hex);
    EXPECT_EQ(a.Find("endpoint")->str, "GET /orders/{id}");
    EXPECT_EQ(a.Find("step")->str, "SELECT * FROM orders WHERE id = ?");
    EXPECT_EQ(a.Find("step_kind")->str, "sql");
    EXPECT_EQ(a.Find("user")->str, "u-17");
    EXPECT_EQ(a.Find("client_ip")->str, "10.0.0.5");
    EXPECT_GE(a.Find("elapsed_ms")->num, 0);
    EXPECT_LE(a.Find("start_ms")->num, snap.Find("time_ms")->num);
    EXPECT_FALSE(a.Find("thread")->str.empty());
  }
  EXPECT_EQ(snap.Find("service")->str, "orders");
  EXPECT_EQ(snap.Find("instance")->str, "orders-1");
  EXPECT_EQ(snap.Find("agent")->str, "loupe-cpp/0.1");
  EXPECT_GT(snap.Find("pid")->num, 0);
  ASSERT_NE(snap.Find("counters"), nullptr);
  EXPECT_NE(snap.Find("counters")->Find("transactions"), nullptr);

  // After the transaction ends, snapshots list nothing (and the step moved
  // back to the method when the SQL ended is covered by the stack test).
  const size_t before = loupe.Snapshots().size();
  ASSERT_TRUE(FakeHttpServer::WaitFor([&] {
    auto all = loupe.Snapshots();
    return all.size() > before + 1 && ArraySize(all.back(), "active") == 0;
  }));
  EXPECT_GT(agent.stats().snapshots_sent, 0u);
  const auto reqs = loupe.server.RequestsTo("/v1/loupe/active");
  EXPECT_EQ(reqs.at(0).headers.at("authorization"), "Bearer k3y");
  EXPECT_EQ(reqs.at(0).headers.at("content-type"), "application/json");
}

TEST(Extensions, StackSamplesOfTransactionsPastThreshold) {
  FakeLoupe loupe;
  loupe.SetConfig(1, R"("active_stack": {"threshold_ms": 0, "interval_ms": 10})");
  Agent agent(loupe.Options());
  ASSERT_TRUE(FakeHttpServer::WaitFor([&] { return agent.stats().config_version == 1; }));
  Transaction tx(agent, "GET /slow");
  Step m = Step::Method("orders::Load");
  Step sql = Step::Sql("mysql", "SELECT 1");
  const JsonValue snap =
      loupe.WaitSnapshot([](const JsonValue& s) { return ArraySize(s, "stacks") > 0; });
  ASSERT_GT(ArraySize(snap, "stacks"), 0u);
  const JsonValue& st = snap.Find("stacks")->array[0];
  EXPECT_EQ(st.Find("endpoint")->str, "GET /slow");
  ASSERT_EQ(ArraySize(snap, "active"), 1u);
  EXPECT_EQ(st.Find("tx_id")->str, snap.Find("active")->array[0].Find("id")->str);
  std::vector<std::string> frames;
  for (const auto& f : st.Find("frames")->array) frames.push_back(f.str);
  EXPECT_EQ(frames, (std::vector<std::string>{"GET /slow", "method orders::Load", "sql SELECT 1"}));
  EXPECT_GT(agent.stats().stack_samples, 0u);
}

TEST(Extensions, NativeFramesFollowTheStepsWhenEnabled) {
  FakeLoupe loupe;
  loupe.SetConfig(1, R"("active_stack": {"threshold_ms": 0, "interval_ms": 10})");
  AgentOptions o = loupe.Options();
  o.native_stacks = true;
  Agent agent(o);
  ASSERT_TRUE(FakeHttpServer::WaitFor([&] { return agent.stats().config_version == 1; }));
  std::atomic<bool> stop{false};
  std::thread worker([&] {
    Transaction tx(agent, "GET /spin");
    Step m = Step::Method("orders::Spin");
    LoupeNativeStackTestSpin(&stop);
  });
  auto frames_of = [](const JsonValue& st) {
    std::vector<std::string> frames;
    for (const auto& f : st.Find("frames")->array) frames.push_back(f.str);
    return frames;
  };
  const JsonValue snap = loupe.WaitSnapshot([&](const JsonValue& s) {
    const JsonValue* stacks = s.Find("stacks");
    if (stacks == nullptr) return false;
    for (const auto& st : stacks->array) {
      for (const auto& f : frames_of(st)) {
        if (f.find("LoupeNativeStackTestSpin") != std::string::npos) return true;
      }
    }
    return false;
  });
  stop = true;
  worker.join();
  ASSERT_GT(ArraySize(snap, "stacks"), 0u);
  std::vector<std::string> frames;
  for (const auto& st : snap.Find("stacks")->array) {
    frames = frames_of(st);
    if (frames.back().find("LoupeNativeStackTestSpin") != std::string::npos) break;
  }
  // Outermost first: the transaction, its open steps, then native frames
  // ending at the innermost one, the spinning function.
  ASSERT_GE(frames.size(), 3u);
  EXPECT_EQ(frames[0], "GET /spin");
  EXPECT_EQ(frames[1], "method orders::Spin");
  EXPECT_EQ(frames.back(), "native LoupeNativeStackTestSpin(std::atomic<bool> const*)");
  for (size_t i = 2; i < frames.size(); ++i) EXPECT_EQ(frames[i].rfind("native ", 0), 0u) << frames[i];
  EXPECT_LE(frames.size(), internal::kMaxFrames);
}

TEST(Extensions, NoStackSamplesBelowThreshold) {
  FakeLoupe loupe;
  loupe.SetConfig(1, R"("active_stack": {"threshold_ms": 600000, "interval_ms": 10})");
  Agent agent(loupe.Options());
  ASSERT_TRUE(FakeHttpServer::WaitFor([&] { return agent.stats().config_version == 1; }));
  Transaction tx(agent, "GET /fast");
  ASSERT_TRUE(FakeHttpServer::WaitFor([&] { return loupe.Snapshots().size() >= 3; }));
  for (const auto& s : loupe.Snapshots()) EXPECT_EQ(ArraySize(s, "stacks"), 0u);
  EXPECT_EQ(agent.stats().stack_samples, 0u);
}

TEST(Extensions, ConfigFetchedAtStartAndOnVersionBump) {
  FakeLoupe loupe;
  loupe.SetConfig(1, R"("bands_ms": [1000, 2000, 4000])");
  Agent agent(loupe.Options());
  ASSERT_TRUE(FakeHttpServer::WaitFor([&] { return agent.stats().config_version == 1; }));
  auto cfg = agent.impl()->config();
  EXPECT_EQ(cfg->bands_ms, (std::vector<double>{1000, 2000, 4000}));
  const auto reqs = loupe.server.RequestsTo("/v1/loupe/config");
  ASSERT_GE(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/v1/loupe/config?service=orders&instance=orders-1");
  EXPECT_EQ(reqs[0].method, "GET");

  static Agent::Probe probe("orders::Load");
  EXPECT_FALSE(probe.enabled(agent));
  // The server's snapshot answer names version 2: the agent refetches at once
  // (the poll interval is 10 minutes here).
  loupe.SetConfig(2, R"("profiling": {"methods": ["orders::*"]})");
  ASSERT_TRUE(FakeHttpServer::WaitFor([&] { return agent.stats().config_version == 2; }));
  EXPECT_TRUE(probe.enabled(agent));
  EXPECT_GE(loupe.server.CountTo("/v1/loupe/config"), 2u);
}

TEST(Extensions, ProbeSwitchesMethodProfilingOnAndOff) {
  FakeLoupe loupe;
  loupe.SetConfig(1, R"("profiling": {"methods": ["orders::Lo?d", "payment::*"]})");
  AgentOptions o = loupe.Options();
  Agent agent(o);
  ASSERT_TRUE(FakeHttpServer::WaitFor([&] { return agent.stats().config_version == 1; }));
  auto run = [&] {
    Transaction tx(agent, "GET /p");
    { LOUPE_METHOD(agent, "orders::Load"); }
    { LOUPE_METHOD(agent, "orders::Save"); }
  };
  run();
  loupe.SetConfig(2, R"("profiling": {"methods": []})");
  ASSERT_TRUE(FakeHttpServer::WaitFor([&] { return agent.stats().config_version == 2; }));
  run();
  agent.Shutdown();
  auto spans = ExportedSpans(loupe.server);
  int load = 0, save = 0;
  for (const auto& s : spans) {
    load += s.name == "orders::Load";
    save += s.name == "orders::Save";
  }
  EXPECT_EQ(load, 1);  // on in the first run only
  EXPECT_EQ(save, 0);
}

TEST(Extensions, ThrottlingRejectsPastMaxActiveAndReports) {
  FakeLoupe loupe;
  loupe.SetConfig(1, R"("throttle": {"enabled": true, "max_active": 2, "action": "reject"})");
  Agent agent(loupe.Options());
  ASSERT_TRUE(FakeHttpServer::WaitFor([&] { return agent.stats().config_version == 1; }));
  EXPECT_EQ(agent.Admit("POST /checkout").kind, Admission::kAdmit);
  {
    Transaction a(agent, "GET /a");
    EXPECT_EQ(agent.Admit("POST /checkout").kind, Admission::kAdmit);
    Transaction b(agent, "GET /b");
    EXPECT_EQ(agent.Admit("POST /checkout", "10.1.1.1").kind, Admission::kReject);
    EXPECT_EQ(agent.Admit("POST /checkout").kind, Admission::kReject);
    EXPECT_EQ(agent.Admit("GET /a").kind, Admission::kReject);
  }
  EXPECT_EQ(agent.Admit("POST /checkout").kind, Admission::kAdmit);
  EXPECT_EQ(agent.stats().throttled, 3u);

  const JsonValue snap =
      loupe.WaitSnapshot([](const JsonValue& s) { return ArraySize(s, "throttled") > 0; });
  ASSERT_EQ(ArraySize(snap, "throttled"), 2u);  // folded per endpoint and action
  for (const auto& t : snap.Find("throttled")->array) {
    EXPECT_EQ(t.Find("action")->str, "reject");
    EXPECT_EQ(t.Find("limit")->num, 2);
    EXPECT_EQ(t.Find("active")->num, 2);
    EXPECT_EQ(t.Find("count")->num, t.Find("endpoint")->str == "POST /checkout" ? 2 : 1);
  }
  agent.Shutdown();
  auto spans = ExportedSpans(loupe.server);
  int throttled = 0;
  for (const auto& s : spans) {
    if (s.attrs.count("loupe.throttled") == 0) continue;
    ++throttled;
    EXPECT_EQ(s.attrs.at("loupe.throttled").i, 1);
    EXPECT_EQ(s.attrs.at("http.response.status_code").i, 503);
    EXPECT_EQ(s.status_code, 2);
  }
  EXPECT_EQ(throttled, 3);
}

TEST(Extensions, ThrottlingRedirectsPerEndpointLimit) {
  FakeLoupe loupe;
  loupe.SetConfig(1, R"("throttle": {"enabled": true, "action": "redirect",
                         "redirect_url": "/busy.html", "endpoints": {"POST /checkout": 1}})");
  Agent agent(loupe.Options());
  ASSERT_TRUE(FakeHttpServer::WaitFor([&] { return agent.stats().config_version == 1; }));
  EXPECT_EQ(agent.Admit("POST /checkout").kind, Admission::kAdmit);
  {
    Transaction a(agent, "POST /checkout");
    const Admission r = agent.Admit("POST /checkout");
    EXPECT_EQ(r.kind, Admission::kRedirect);
    EXPECT_EQ(r.redirect_url, "/busy.html");
    EXPECT_EQ(agent.Admit("GET /other").kind, Admission::kAdmit);
  }
  EXPECT_EQ(agent.Admit("POST /checkout").kind, Admission::kAdmit);
  EXPECT_EQ(agent.stats().throttled, 1u);
  const JsonValue snap =
      loupe.WaitSnapshot([](const JsonValue& s) { return ArraySize(s, "throttled") > 0; });
  ASSERT_EQ(ArraySize(snap, "throttled"), 1u);
  EXPECT_EQ(snap.Find("throttled")->array[0].Find("action")->str, "redirect");
  EXPECT_EQ(snap.Find("throttled")->array[0].Find("limit")->num, 1);
}

TEST(Extensions, ThrottlingOffAdmitsEverything) {
  FakeLoupe loupe;
  Agent agent(loupe.Options());
  Transaction a(agent, "GET /a");
  Transaction b(agent, "GET /b");
  EXPECT_EQ(agent.Admit("GET /a").kind, Admission::kAdmit);
  EXPECT_EQ(agent.stats().throttled, 0u);
}

TEST(Extensions, ServerDownNeverBlocksAndKeepsRunning) {
  AgentOptions o = TestOptions("http://127.0.0.1:" + std::to_string(FakeHttpServer::ClosedPort()));
  o.loupe_extensions = true;
  Agent agent(o);
  for (int i = 0; i < 100; ++i) {
    Transaction tx(agent, "GET /x");
    EXPECT_EQ(agent.Admit("GET /x").kind, Admission::kAdmit);
  }
  agent.Shutdown(100);
  EXPECT_EQ(agent.stats().snapshots_sent, 0u);
  EXPECT_EQ(agent.stats().config_version, 0u);
}

}  // namespace
}  // namespace loupe
