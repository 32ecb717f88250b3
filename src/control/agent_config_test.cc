#include "control/agent_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace loupe::control {
namespace {

TEST(AgentConfig, DefaultsAreValidAndAsDocumented) {
  AgentConfig c;
  EXPECT_TRUE(ValidateAgentConfig(c).ok());
  EXPECT_EQ(c.bands_ms, (std::vector<int64_t>{3000, 8000}));
  EXPECT_EQ(c.stack_threshold_ms, 2000);
  EXPECT_EQ(c.stack_interval_ms, 1000);
  EXPECT_FALSE(c.throttle.enabled);
  EXPECT_TRUE(c.profiling_methods.empty());
  EXPECT_EQ(EffectiveConfigJson({c, 1, false}, false),
            R"({"version":1,"bands_ms":[3000,8000],"active_stack":{"threshold_ms":2000,)"
            R"("interval_ms":1000},"throttle":{"enabled":false,"max_active":0,"action":"reject",)"
            R"("redirect_url":"","endpoints":{}},"profiling":{"methods":[]}})");
}

TEST(AgentConfig, ValidationRejectsEachBadField) {
  auto bad = [](const char* json) {
    auto r = ParseAgentConfigJson(json);
    return !r.ok() && r.status().code() == Status::Code::kInvalidArgument;
  };
  EXPECT_TRUE(bad(R"({"bands_ms":[8000,3000]})"));
  EXPECT_TRUE(bad(R"({"bands_ms":[0,3000]})"));
  EXPECT_TRUE(bad(R"({"bands_ms":[]})"));
  EXPECT_TRUE(bad(R"({"bands_ms":[1,2,3,4]})"));
  EXPECT_TRUE(bad(R"({"throttle":{"enabled":true,"max_active":0}})"));
  EXPECT_TRUE(bad(R"({"throttle":{"enabled":true,"max_active":1000001}})"));
  EXPECT_TRUE(bad(R"({"throttle":{"action":"drop"}})"));
  EXPECT_TRUE(bad(R"({"throttle":{"action":"redirect"}})"));
  EXPECT_TRUE(bad(R"({"throttle":{"action":"redirect","redirect_url":"//evil.example/"}})"));
  EXPECT_TRUE(bad(R"({"throttle":{"action":"redirect","redirect_url":"javascript:x"}})"));
  EXPECT_TRUE(bad(R"({"throttle":{"endpoints":{"a":0}}})"));
  EXPECT_TRUE(bad(R"({"profiling":{"methods":[""]}})"));
  EXPECT_TRUE(bad(R"({"profiling":{"methods":"x"}})"));
  EXPECT_TRUE(bad(R"({"unknown":1})"));
  EXPECT_TRUE(bad(R"({"throttle":{"maxActive":3}})"));
  EXPECT_TRUE(bad("not json"));
  std::string many = R"({"throttle":{"endpoints":{)";
  for (int i = 0; i < 101; ++i) many += (i ? "," : "") + ("\"e" + std::to_string(i) + "\":1");
  EXPECT_TRUE(bad((many + "}}}").c_str()));
  std::string long_pattern = R"({"profiling":{"methods":[")" + std::string(257, 'x') + "\"]}}";
  EXPECT_TRUE(bad(long_pattern.c_str()));
  std::string long_url =
      R"({"throttle":{"action":"redirect","redirect_url":"/)" + std::string(1024, 'x') + "\"}}";
  EXPECT_TRUE(bad(long_url.c_str()));

  auto ok = ParseAgentConfigJson(
      R"({"version":9,"overridden":true,"bands_ms":[1000,2000,5000],
          "throttle":{"enabled":true,"max_active":50,"action":"redirect",
                      "redirect_url":"https://example.com/busy","endpoints":{"POST /c":10}},
          "profiling":{"methods":["orders::*"]}})");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->bands_ms.size(), 3u);
  EXPECT_EQ(ok->throttle.endpoints.at("POST /c"), 10);
  EXPECT_EQ(ok->stack_interval_ms, 1000);  // omitted: default
}

TEST(AgentConfigStore, OverridesAndVersions) {
  auto store = AgentConfigStore::Open("");
  ASSERT_TRUE(store.ok());
  AgentConfigStore& s = **store;
  EXPECT_EQ(s.Version(1), 1u);
  AgentConfig c;
  c.bands_ms = {1000, 2000};
  auto r = s.Put(1, "orders", c);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->overridden);
  EXPECT_EQ(r->version, 2u);
  EXPECT_EQ(s.Get(1, "orders").config.bands_ms, c.bands_ms);
  EXPECT_FALSE(s.Get(1, "billing").overridden);
  EXPECT_EQ(s.Get(1, "billing").config.bands_ms, (std::vector<int64_t>{3000, 8000}));
  EXPECT_EQ(s.Get(1, "billing").version, 2u);  // one version per project
  EXPECT_EQ(s.Version(2), 1u);
  c.bands_ms = {100};
  ASSERT_TRUE(s.Put(1, "", c).ok());
  EXPECT_EQ(s.Get(1, "billing").config.bands_ms, (std::vector<int64_t>{100}));
  EXPECT_EQ(s.Version(1), 3u);
  EXPECT_EQ(s.Remove(1, "billing").status().code(), Status::Code::kNotFound);
  auto removed = s.Remove(1, "orders");
  ASSERT_TRUE(removed.ok());
  EXPECT_FALSE(removed->overridden);
  EXPECT_EQ(removed->version, 4u);
  c.bands_ms = {2, 1};
  EXPECT_EQ(s.Put(1, "", c).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(s.Version(1), 4u);
}

TEST(AgentConfigStore, PersistsAcrossReopen) {
  const std::string dir = std::filesystem::temp_directory_path() /
                          ("loupe_agent_config_test_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  AgentConfig c;
  c.throttle.enabled = true;
  c.throttle.max_active = 7;
  c.profiling_methods = {"a::*"};
  {
    auto s = AgentConfigStore::Open(dir);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->Put(3, "svc \"quoted\"", c).ok());
    ASSERT_TRUE((*s)->Put(3, "", AgentConfig{}).ok());
  }
  EXPECT_TRUE(std::filesystem::exists(dir + "/agent-config.json"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/agent-config.json.tmp"));
  {
    auto s = AgentConfigStore::Open(dir);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EffectiveConfig e = (*s)->Get(3, "svc \"quoted\"");
    EXPECT_TRUE(e.overridden);
    EXPECT_EQ(e.version, 3u);
    EXPECT_EQ(e.config, c);
  }
  {
    FILE* f = std::fopen((dir + "/agent-config.json").c_str(), "w");
    std::fputs("{garbage", f);
    std::fclose(f);
    EXPECT_EQ(AgentConfigStore::Open(dir).status().code(), Status::Code::kCorruption);
  }
  std::filesystem::remove_all(dir);
}

TEST(AgentConfigStore, AFailedWriteChangesNothing) {
  FaultInjectionEnv env(Env::Default());
  const std::string dir = std::filesystem::temp_directory_path() /
                          ("loupe_agent_config_fault_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto s = AgentConfigStore::Open(dir, &env);
  ASSERT_TRUE(s.ok());
  env.SetSyncError(true);
  AgentConfig c;
  c.bands_ms = {10};
  EXPECT_FALSE((*s)->Put(1, "x", c).ok());
  EXPECT_EQ((*s)->Version(1), 1u);
  EXPECT_FALSE((*s)->Get(1, "x").overridden);
  env.SetSyncError(false);
  EXPECT_TRUE((*s)->Put(1, "x", c).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace loupe::control
