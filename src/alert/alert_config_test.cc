#include "alert/alert_config.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace loupe::alert {
namespace {

constexpr int64_t kNow = 1796601600LL * 1'000'000;

std::string TempDir() {
  std::string tmpl = std::filesystem::temp_directory_path() / "alert_config_XXXXXX";
  return mkdtemp(tmpl.data());
}

AlertRule Rule(std::vector<uint64_t> channels = {}) {
  auto r = ParseRule(R"({"name": "identity errors", "service": "identity", "signal": "error_rate",
                         "window_s": 60, "warning": 5, "critical": 10})");
  EXPECT_TRUE(r.ok());
  r->channels = std::move(channels);
  return *r;
}

TEST(ChannelParse, MinimalContractChannels) {
  auto mail = ParseChannel(R"({"name": "ops-mail", "type": "email", "addresses": ["ops@example.com"]})");
  ASSERT_TRUE(mail.ok()) << mail.status().message();
  EXPECT_EQ(mail->type, ChannelType::kEmail);
  EXPECT_EQ(mail->addresses, std::vector<std::string>{"ops@example.com"});
  auto slack = ParseChannel(
      R"({"name": "ops-slack", "type": "slack", "url": "https://hooks.slack.com/services/T0/B0/secret"})");
  ASSERT_TRUE(slack.ok()) << slack.status().message();
  auto hook = ParseChannel(R"({"name": "hook", "type": "webhook", "url": "http://receiver:9000/alerts"})");
  ASSERT_TRUE(hook.ok()) << hook.status().message();
}

TEST(ChannelParse, ErrorsNameTheField) {
  auto err = [](std::string_view json) {
    auto c = ParseChannel(json);
    EXPECT_FALSE(c.ok()) << json;
    return c.ok() ? std::string() : c.status().message();
  };
  EXPECT_EQ(err(R"({"type": "email", "addresses": ["a@b.c"]})").rfind("name:", 0), 0u);
  EXPECT_EQ(err(R"({"name": "x", "type": "pager"})").rfind("type:", 0), 0u);
  EXPECT_EQ(err(R"({"name": "x", "type": "email"})").rfind("addresses:", 0), 0u);
  EXPECT_EQ(err(R"({"name": "x", "type": "email", "addresses": ["ops"]})").rfind("addresses:", 0), 0u);
  // A CR/LF in an address would inject mail headers.
  EXPECT_EQ(err(R"({"name": "x", "type": "email", "addresses": ["a@b.c\r\nBcc: x@y.z"]})")
                .rfind("addresses:", 0), 0u);
  EXPECT_EQ(err(R"({"name": "x", "type": "email", "addresses": ["a@b.c, d@e.f"]})")
                .rfind("addresses:", 0), 0u);
  EXPECT_EQ(err(R"({"name": "x", "type": "slack"})").rfind("url:", 0), 0u);
  EXPECT_EQ(err(R"({"name": "x", "type": "webhook", "url": "file:///etc/passwd"})").rfind("url:", 0), 0u);
  EXPECT_EQ(err(R"({"name": "x", "type": "webhook", "url": "http://a b/"})").rfind("url:", 0), 0u);
  EXPECT_EQ(err(R"({"name": "x", "type": "webhook", "url": "http://h/", "token": 1})")
                .rfind("token: unknown member", 0), 0u);
}

TEST(ChannelJson, SecretsAreWriteOnly) {
  auto c = ParseChannel(
      R"({"name": "ops-slack", "type": "slack", "url": "https://user:pw@hooks.slack.com/services/T0/B0/secret"})");
  ASSERT_TRUE(c.ok());
  std::string json = ChannelToJson(*c);
  EXPECT_EQ(json.find("secret"), std::string::npos) << json;
  EXPECT_EQ(json.find("pw"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("url":"https://hooks.slack.com/…")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("has_url":true)"), std::string::npos) << json;
  // An update without url keeps the secret; a GET answer sent back does too.
  auto renamed = ParseChannel(R"({"name": "renamed"})", &*c);
  ASSERT_TRUE(renamed.ok()) << renamed.status().message();
  EXPECT_EQ(renamed->url, c->url);
  auto echoed = ParseChannel(json, &*c);
  ASSERT_TRUE(echoed.ok()) << echoed.status().message();
  EXPECT_EQ(echoed->url, c->url);
  EXPECT_FALSE(ParseChannel(json).ok()) << "a redacted URL is no URL to deliver to";
}

TEST(SilenceParse, DurationOrEnd) {
  auto s = ParseSilence(R"({"service": "identity", "duration_s": 3600, "comment": "deploy"})", kNow);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->start_us, kNow);
  EXPECT_EQ(s->end_us, kNow + 3600LL * 1'000'000);
  EXPECT_FALSE(ParseSilence(R"({"service": "identity"})", kNow).ok());
  EXPECT_FALSE(ParseSilence(R"({"end_ms": 1000})", kNow).ok()) << "in the past";
  EXPECT_FALSE(ParseSilence(R"({"duration_s": 60, "end_ms": 1})", kNow).ok());
}

TEST(AlertConfig, RulesChannelsAndSilencesSurviveAReopen) {
  std::string dir = TempDir();
  uint64_t rule_id, channel_id, silence_id;
  {
    auto c = AlertConfig::Open(dir);
    ASSERT_TRUE(c.ok());
    auto ch = (*c)->AddChannel(1, *ParseChannel(
        R"({"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/x?token=abc"})"));
    ASSERT_TRUE(ch.ok());
    channel_id = ch->id;
    auto r = (*c)->AddRule(1, Rule({channel_id}));
    ASSERT_TRUE(r.ok()) << r.status().message();
    rule_id = r->id;
    auto s = (*c)->AddSilence(1, *ParseSilence(R"({"rule_id": 0, "duration_s": 600})", kNow), kNow);
    ASSERT_TRUE(s.ok()) << s.status().message();
    silence_id = s->id;
  }
  auto c = AlertConfig::Open(dir);
  ASSERT_TRUE(c.ok()) << c.status().message();
  auto rules = (*c)->Rules(1);
  ASSERT_EQ(rules.size(), 1u);
  AlertRule expected = Rule({channel_id});
  expected.id = rule_id;
  expected.project = 1;
  EXPECT_EQ(rules[0], expected);
  auto ch = (*c)->GetChannel(1, channel_id);
  ASSERT_TRUE(ch.ok());
  EXPECT_EQ(ch->url, "http://127.0.0.1:9/x?token=abc") << "the secret is kept for delivery";
  ASSERT_EQ((*c)->Silences(1).size(), 1u);
  EXPECT_EQ((*c)->Silences(1)[0].id, silence_id);
  EXPECT_TRUE((*c)->Rules(2).empty()) << "projects are apart";
  // Ids are never reused.
  auto r2 = (*c)->AddRule(1, Rule());
  ASSERT_TRUE(r2.ok());
  EXPECT_GT(r2->id, silence_id);
  std::filesystem::remove_all(dir);
}

TEST(AlertConfig, RulesNameChannelsOfTheirOwnProject) {
  auto c = AlertConfig::Open("");
  ASSERT_TRUE(c.ok());
  auto ch = (*c)->AddChannel(2, *ParseChannel(R"({"name": "m", "type": "email", "addresses": ["a@b.c"]})"));
  ASSERT_TRUE(ch.ok());
  auto r = (*c)->AddRule(1, Rule({ch->id}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().rfind("channels:", 0), 0u);
  auto ok = (*c)->AddRule(2, Rule({ch->id}));
  ASSERT_TRUE(ok.ok());
  Status del = (*c)->DeleteChannel(2, ch->id);
  EXPECT_FALSE(del.ok()) << "a rule still sends to it";
  ASSERT_TRUE((*c)->DeleteRule(2, ok->id).ok());
  EXPECT_TRUE((*c)->DeleteChannel(2, ch->id).ok());
  EXPECT_EQ((*c)->DeleteRule(2, ok->id).code(), Status::Code::kNotFound);
}

TEST(AlertConfig, RuleCountIsCappedPerProject) {
  auto c = AlertConfig::Open("");
  ASSERT_TRUE(c.ok());
  for (size_t i = 0; i < AlertConfig::kMaxRules; ++i) ASSERT_TRUE((*c)->AddRule(1, Rule()).ok());
  auto over = (*c)->AddRule(1, Rule());
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), Status::Code::kResourceExhausted);
  EXPECT_EQ((*c)->refused_over_cap(), 1u) << "counted for /metrics";
  EXPECT_TRUE((*c)->AddRule(2, Rule()).ok()) << "another project has its own cap";
}

TEST(AlertConfig, AnUnwritableFileUndoesTheChange) {
  std::string dir = TempDir();
  auto c = AlertConfig::Open(dir);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->AddRule(1, Rule()).ok());
  std::filesystem::remove_all(dir);  // the directory is gone: the save fails
  auto r = (*c)->AddRule(1, Rule());
  EXPECT_FALSE(r.ok());
  EXPECT_EQ((*c)->Rules(1).size(), 1u);
}

}  // namespace
}  // namespace loupe::alert
