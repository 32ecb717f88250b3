#include "server/config.h"

#include "gtest/gtest.h"

namespace loupe::server {
namespace {

TEST(ServerConfig, DefaultsWithoutFlagsOrEnv) {
  bool help;
  auto c = ParseServerConfig({}, {}, &help);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(help);
  EXPECT_EQ(c->http_port, 7070);
  EXPECT_EQ(c->otlp_http_port, 4318);
  EXPECT_EQ(c->otlp_grpc_port, 4317);
  EXPECT_EQ(c->retention_interval_seconds, 60);
  EXPECT_EQ(c->compaction_grace_seconds, 600);
}

TEST(ServerConfig, LifecycleFlagsFromFlagsAndEnvironment) {
  bool help;
  auto c = ParseServerConfig({"--retention-interval-seconds", "2"},
                             {{"LOUPE_COMPACTION_GRACE_SECONDS", "0"}}, &help);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->retention_interval_seconds, 2);
  EXPECT_EQ(c->compaction_grace_seconds, 0);
  EXPECT_FALSE(ParseServerConfig({"--retention-interval-seconds", "0"}, {}, &help).ok());
}

TEST(ServerConfig, HttpRequestLimitsFromFlagsAndEnvironment) {
  bool help;
  auto d = ParseServerConfig({}, {}, &help);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->request_timeout_seconds, 60);
  EXPECT_EQ(d->max_connections_per_client, 128);
  auto c = ParseServerConfig({"--request-timeout-seconds", "5"},
                             {{"LOUPE_MAX_CONNECTIONS_PER_CLIENT", "0"}}, &help);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->request_timeout_seconds, 5);
  EXPECT_EQ(c->max_connections_per_client, 0);
  EXPECT_FALSE(ParseServerConfig({"--request-timeout-seconds", "0"}, {}, &help).ok());
}

TEST(ServerConfig, FlagsBeatEnvironmentWhichBeatsDefaults) {
  bool help;
  auto c =
      ParseServerConfig({"--http-port", "8080", "--data-dir=/tmp/x"},
                        {{"LOUPE_HTTP_PORT", "9090"}, {"LOUPE_OTLP_GRPC_PORT", "5317"}}, &help);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->http_port, 8080);
  EXPECT_EQ(c->otlp_grpc_port, 5317);
  EXPECT_EQ(c->data_dir, "/tmp/x");
}

TEST(ServerConfig, EveryFlagHasAnEnvironmentName) {
  for (const auto& f : ServerFlags()) {
    std::string env = EnvName(f.name);
    EXPECT_EQ(env.rfind("LOUPE_", 0), 0u);
    EXPECT_NE(ServerHelp().find(env), std::string::npos) << env;
  }
  EXPECT_EQ(EnvName("otlp-http-port"), "LOUPE_OTLP_HTTP_PORT");
}

TEST(ServerConfig, BadValuesNameTheFlag) {
  bool help;
  auto c = ParseServerConfig({"--http-port", "70000"}, {}, &help);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("--http-port"), std::string::npos);
  EXPECT_FALSE(ParseServerConfig({"--nope", "1"}, {}, &help).ok());
  EXPECT_FALSE(ParseServerConfig({"--http-port"}, {}, &help).ok());
  EXPECT_FALSE(ParseServerConfig({}, {{"LOUPE_HTTP_PORT", "abc"}}, &help).ok());
  EXPECT_FALSE(ParseServerConfig({"--store", "oracle"}, {}, &help).ok());
}

TEST(ServerConfig, HelpFlag) {
  bool help;
  ASSERT_TRUE(ParseServerConfig({"--help"}, {}, &help).ok());
  EXPECT_TRUE(help);
}

TEST(ServerConfig, BindDefaultsToLoopbackAndLoopbackIsRecognized) {
  bool help;
  auto c = ParseServerConfig({}, {}, &help);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->bind, "127.0.0.1");  // secure by default: loopback unless asked
  EXPECT_EQ(ParseServerConfig({}, {{"LOUPE_BIND", "0.0.0.0"}}, &help)->bind, "0.0.0.0");
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackAddress("127.1.2.3"));
  EXPECT_TRUE(IsLoopbackAddress("::1"));
  EXPECT_TRUE(IsLoopbackAddress("localhost"));
  EXPECT_FALSE(IsLoopbackAddress("0.0.0.0"));
  EXPECT_FALSE(IsLoopbackAddress("::"));
  EXPECT_FALSE(IsLoopbackAddress("10.0.0.7"));
}

TEST(ServerConfig, InstanceCapAndIdleTimeFromFlagsAndEnvironment) {
  bool help;
  auto c = ParseServerConfig({}, {}, &help);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->max_instances_per_project, 20'000);
  EXPECT_EQ(c->instance_idle_seconds, 86'400);
  c = ParseServerConfig({"--max-instances-per-project", "30000"},
                        {{"LOUPE_INSTANCE_IDLE_SECONDS", "3600"}}, &help);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->max_instances_per_project, 30'000);
  EXPECT_EQ(c->instance_idle_seconds, 3600);
  EXPECT_FALSE(ParseServerConfig({"--max-instances-per-project", "0"}, {}, &help).ok());
  EXPECT_FALSE(ParseServerConfig({"--instance-idle-seconds", "10"}, {}, &help).ok());
}

}  // namespace
}  // namespace loupe::server
