#include "notify/render.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <string>

#include "notify/notification.h"

namespace loupe::notify {
namespace {

Notification Sample() {
  Notification n;
  n.project = "default";
  n.rule_id = "r1";
  n.rule_name = "identity errors";
  n.alert_id = "a7";
  n.state = AlertState::kFiring;
  n.level = "CRITICAL";
  n.title = "Error rate of identity is 12.5 %";
  n.signal = "error_rate";
  n.value = 12.5;
  n.threshold = 10;
  n.unit = "%";
  n.scope = "service identity";
  n.since_ms = 1'765'141'200'000;  // 2025-12-07T21:00:00Z
  n.link = "https://loupe.example.com/#/xview?service=identity&from=1&to=2";
  n.labels = {{"service", "identity"}};
  n.annotations = {{"runbook_url", "https://wiki/identity"}};
  n.id = MakeNotificationId(n.alert_id, n.state, n.since_ms);
  return n;
}

// A notification of `n` alerts of one rule: endpoint i, the last one resolved.
Notification Grouped(int n) {
  Notification g = Sample();
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) {
    NotificationAlert a;
    a.alert_id = "a" + std::to_string(100 + i);
    a.state = i == n - 1 ? AlertState::kResolved : AlertState::kFiring;
    a.level = i == 0 ? "CRITICAL" : "WARNING";
    a.title = "endpoint " + std::to_string(i);
    a.value = 10 + i;
    a.threshold = 5;
    a.scope = "endpoint GET /e" + std::to_string(i) + " of identity";
    a.since_ms = g.since_ms + i * 1000;
    a.ends_ms = a.state == AlertState::kResolved ? g.since_ms + 60'000 : 0;
    a.link = "https://loupe.example.com/#/xview?endpoint=e" + std::to_string(i);
    a.labels = {{"service", "identity"}, {"endpoint", "GET /e" + std::to_string(i)}};
    g.alerts.push_back(a);
    ids.push_back(MakeNotificationId(a.alert_id, a.state, a.since_ms));
  }
  g.title = "identity errors: " + std::to_string(n) + " alerts";
  g.id = MakeGroupNotificationId(ids);
  return g;
}

// Decodes the base64 body of the MIME part whose Content-Type starts with `type`.
std::string MimePart(const std::string& m, const std::string& type) {
  size_t p = m.find("Content-Type: " + type);
  p = m.find("\r\n\r\n", p) + 4;
  size_t end = m.find("--", p);
  std::string out;
  uint32_t bits = 0;
  int n = 0;
  for (size_t i = p; i < end; ++i) {
    char c = m[i];
    int v = c >= 'A' && c <= 'Z'   ? c - 'A'
            : c >= 'a' && c <= 'z' ? c - 'a' + 26
            : c >= '0' && c <= '9' ? c - '0' + 52
            : c == '+'             ? 62
            : c == '/'             ? 63
                                   : -1;
    if (v < 0) continue;
    bits = bits << 6 | v;
    if ((n += 6) >= 8) {
      n -= 8;
      out.push_back(static_cast<char>((bits >> n) & 0xff));
    }
  }
  return out;
}

rapidjson::Document Parse(const std::string& s) {
  rapidjson::Document d;
  d.Parse(s.c_str(), s.size());
  EXPECT_FALSE(d.HasParseError()) << s;
  return d;
}

TEST(NotificationId, StablePerTransitionAndDistinctAcrossThem) {
  EXPECT_EQ(MakeNotificationId("a7", AlertState::kFiring, 100),
            MakeNotificationId("a7", AlertState::kFiring, 100));
  EXPECT_NE(MakeNotificationId("a7", AlertState::kFiring, 100),
            MakeNotificationId("a7", AlertState::kResolved, 100));
  EXPECT_NE(MakeNotificationId("a7", AlertState::kFiring, 100),
            MakeNotificationId("a7", AlertState::kFiring, 101));
  EXPECT_NE(MakeNotificationId("a7", AlertState::kFiring, 100),
            MakeNotificationId("a8", AlertState::kFiring, 100));
  EXPECT_EQ(MakeNotificationId("a7", AlertState::kFiring, 100).size(), 32u);
}

TEST(NotificationEncoding, RoundTripsEveryField) {
  Notification n = Sample();
  n.state = AlertState::kResolved;
  n.ends_ms = n.since_ms + 60'000;
  std::string enc;
  EncodeNotification(n, &enc);
  Result<Notification> d = DecodeNotification(enc);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->id, n.id);
  EXPECT_EQ(d->rule_name, n.rule_name);
  EXPECT_EQ(d->state, AlertState::kResolved);
  EXPECT_EQ(d->value, 12.5);
  EXPECT_EQ(d->threshold, 10);
  EXPECT_EQ(d->ends_ms, n.ends_ms);
  EXPECT_EQ(d->labels, n.labels);
  EXPECT_EQ(d->annotations, n.annotations);
  EXPECT_EQ(d->link, n.link);
}

TEST(NotificationEncoding, EveryTruncationIsCorruptionNotACrash) {
  std::string enc;
  EncodeNotification(Sample(), &enc);
  for (size_t i = 0; i < enc.size(); ++i) {
    EXPECT_FALSE(DecodeNotification(std::string_view(enc).substr(0, i)).ok()) << i;
  }
  EXPECT_FALSE(DecodeNotification(enc + "x").ok());
}

TEST(NotificationEncoding, RoundTripsTheMembersOfAGroup) {
  Notification g = Grouped(3);
  std::string enc;
  EncodeNotification(g, &enc);
  Result<Notification> d = DecodeNotification(enc);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ASSERT_EQ(d->alerts.size(), 3u);
  EXPECT_EQ(d->alerts[2].alert_id, "a102");
  EXPECT_EQ(d->alerts[2].state, AlertState::kResolved);
  EXPECT_EQ(d->alerts[2].ends_ms, g.alerts[2].ends_ms);
  EXPECT_EQ(d->alerts[1].value, 11);
  EXPECT_EQ(d->alerts[1].labels, g.alerts[1].labels);
  EXPECT_EQ(d->alerts[0].link, g.alerts[0].link);
  for (size_t i = 0; i < enc.size(); ++i) {
    EXPECT_FALSE(DecodeNotification(std::string_view(enc).substr(0, i)).ok()) << i;
  }
}

TEST(NotificationEncoding, ARecordOfTheOneAlertVersionStillDecodes) {
  // Version 1, as servers before grouping queued it: version 2's bytes for a
  // notification without members, less the member count, under version 1.
  Notification n = Sample();
  std::string enc;
  EncodeNotification(n, &enc);
  ASSERT_EQ(enc[0], 2);
  ASSERT_EQ(enc.back(), 0);
  std::string v1 = enc.substr(0, enc.size() - 1);
  v1[0] = 1;
  Result<Notification> d = DecodeNotification(v1);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->id, n.id);
  EXPECT_EQ(d->title, n.title);
  EXPECT_EQ(d->annotations, n.annotations);
  EXPECT_TRUE(d->alerts.empty());
  ASSERT_EQ(MembersOf(*d).size(), 1u);
  EXPECT_EQ(MembersOf(*d)[0].alert_id, "a7");
  EXPECT_FALSE(DecodeNotification(v1 + std::string(1, '\0')).ok()) << "no members in version 1";
  v1[0] = 3;
  EXPECT_FALSE(DecodeNotification(v1).ok()) << "an unknown version";
}

TEST(NotificationId, AGroupIdIsStableAndDependsOnEveryMember) {
  EXPECT_EQ(MakeGroupNotificationId({"x"}), "x");
  EXPECT_EQ(MakeGroupNotificationId({"x", "y"}), MakeGroupNotificationId({"x", "y"}));
  EXPECT_NE(MakeGroupNotificationId({"x", "y"}), MakeGroupNotificationId({"x", "z"}));
  EXPECT_NE(MakeGroupNotificationId({"x", "y"}), MakeGroupNotificationId({"x", "y", "z"}));
  EXPECT_EQ(MakeGroupNotificationId({"x", "y"}).size(), 32u);
}

TEST(FormatValue, TrimsZerosAndAddsUnit) {
  EXPECT_EQ(FormatValue(12.5, "%"), "12.5 %");
  EXPECT_EQ(FormatValue(3, ""), "3");
  EXPECT_EQ(FormatValue(830.1234, "ms"), "830.123 ms");
  EXPECT_EQ(FormatValue(0.0, "tps"), "0 tps");
}

TEST(Slack, HasTextFallbackAndBlocks) {
  rapidjson::Document d = Parse(RenderSlack(Sample()));
  ASSERT_TRUE(d["text"].IsString());
  std::string text = d["text"].GetString();
  EXPECT_NE(text.find("[FIRING CRITICAL]"), std::string::npos);
  EXPECT_NE(text.find("12.5 % (threshold 10 %)"), std::string::npos);
  EXPECT_NE(text.find("service identity"), std::string::npos);
  const auto& blocks = d["blocks"];
  ASSERT_TRUE(blocks.IsArray());
  ASSERT_EQ(blocks.Size(), 4u);
  EXPECT_STREQ(blocks[0]["type"].GetString(), "header");
  EXPECT_STREQ(blocks[0]["text"]["type"].GetString(), "plain_text");
  EXPECT_STREQ(blocks[1]["type"].GetString(), "section");
  ASSERT_EQ(blocks[1]["fields"].Size(), 4u);
  EXPECT_STREQ(blocks[1]["fields"][0]["type"].GetString(), "mrkdwn");
  EXPECT_STREQ(blocks[1]["fields"][0]["text"].GetString(), "*Value*\n12.5 % (threshold 10 %)");
  EXPECT_STREQ(blocks[1]["fields"][2]["text"].GetString(), "*Since*\n2025-12-07T21:00:00.000Z");
  EXPECT_STREQ(blocks[2]["type"].GetString(), "context");
  EXPECT_STREQ(blocks[3]["type"].GetString(), "actions");
  EXPECT_STREQ(blocks[3]["elements"][0]["type"].GetString(), "button");
  EXPECT_EQ(std::string(blocks[3]["elements"][0]["url"].GetString()), Sample().link);
}

TEST(Slack, EscapesControlSequencesAndCutsLongHeaders) {
  Notification n = Sample();
  n.scope = "endpoint <!channel> & co";
  n.title = std::string(400, 'x');
  n.link.clear();
  rapidjson::Document d = Parse(RenderSlack(n));
  std::string scope = d["blocks"][1]["fields"][1]["text"].GetString();
  EXPECT_EQ(scope, "*Scope*\nendpoint &lt;!channel&gt; &amp; co");
  EXPECT_EQ(std::string(d["text"].GetString()).find("<!channel>"), std::string::npos);
  EXPECT_LE(std::string(d["blocks"][0]["text"]["text"].GetString()).size(), 150u);
  EXPECT_EQ(d["blocks"].Size(), 3u);  // no link: no button
}

TEST(Alertmanager, BodyHasVersion4Fields) {
  Notification n = Sample();
  rapidjson::Document d = Parse(RenderAlertmanager(n, "hook", "https://loupe.example.com"));
  EXPECT_STREQ(d["version"].GetString(), "4");
  EXPECT_STREQ(d["status"].GetString(), "firing");
  EXPECT_STREQ(d["receiver"].GetString(), "hook");
  EXPECT_STREQ(d["groupKey"].GetString(), "{}:{alertname=\"identity errors\"}");
  EXPECT_STREQ(d["externalURL"].GetString(), "https://loupe.example.com");
  EXPECT_EQ(d["truncatedAlerts"].GetInt(), 0);
  EXPECT_STREQ(d["groupLabels"]["alertname"].GetString(), "identity errors");
  EXPECT_STREQ(d["commonLabels"]["severity"].GetString(), "critical");
  EXPECT_STREQ(d["commonLabels"]["service"].GetString(), "identity");
  EXPECT_STREQ(d["commonAnnotations"]["summary"].GetString(), n.title.c_str());
  EXPECT_STREQ(d["notificationId"].GetString(), n.id.c_str());
  ASSERT_EQ(d["alerts"].Size(), 1u);
  const auto& a = d["alerts"][0];
  EXPECT_STREQ(a["status"].GetString(), "firing");
  EXPECT_STREQ(a["labels"]["alertname"].GetString(), "identity errors");
  EXPECT_STREQ(a["labels"]["project"].GetString(), "default");
  EXPECT_STREQ(a["annotations"]["runbook_url"].GetString(), "https://wiki/identity");
  EXPECT_STREQ(a["annotations"]["value"].GetString(), "12.5");
  EXPECT_STREQ(a["annotations"]["threshold"].GetString(), "10");
  EXPECT_STREQ(a["startsAt"].GetString(), "2025-12-07T21:00:00.000Z");
  EXPECT_STREQ(a["endsAt"].GetString(), "0001-01-01T00:00:00Z");
  EXPECT_STREQ(a["generatorURL"].GetString(), n.link.c_str());
  EXPECT_EQ(std::string(a["fingerprint"].GetString()).size(), 16u);
}

TEST(Alertmanager, ResolvedHasEndsAtAndSameFingerprint) {
  Notification n = Sample();
  rapidjson::Document firing = Parse(RenderAlertmanager(n, "hook", ""));
  n.state = AlertState::kResolved;
  n.ends_ms = n.since_ms + 90'000;
  rapidjson::Document resolved = Parse(RenderAlertmanager(n, "hook", ""));
  EXPECT_STREQ(resolved["status"].GetString(), "resolved");
  EXPECT_STREQ(resolved["alerts"][0]["endsAt"].GetString(), "2025-12-07T21:01:30.000Z");
  EXPECT_STREQ(resolved["alerts"][0]["fingerprint"].GetString(),
               firing["alerts"][0]["fingerprint"].GetString());
}

TEST(Alertmanager, AGroupListsEveryAlertWithItsOwnStatus) {
  Notification g = Grouped(3);
  rapidjson::Document d = Parse(RenderAlertmanager(g, "hook", ""));
  EXPECT_STREQ(d["status"].GetString(), "firing") << "firing while any member fires";
  EXPECT_STREQ(d["notificationId"].GetString(), g.id.c_str());
  ASSERT_EQ(d["alerts"].Size(), 3u);
  EXPECT_STREQ(d["alerts"][0]["status"].GetString(), "firing");
  EXPECT_STREQ(d["alerts"][0]["labels"]["severity"].GetString(), "critical");
  EXPECT_STREQ(d["alerts"][1]["labels"]["severity"].GetString(), "warning");
  EXPECT_STREQ(d["alerts"][2]["status"].GetString(), "resolved");
  EXPECT_STRNE(d["alerts"][2]["endsAt"].GetString(), "0001-01-01T00:00:00Z");
  EXPECT_STREQ(d["alerts"][1]["labels"]["endpoint"].GetString(), "GET /e1");
  EXPECT_STRNE(d["alerts"][0]["fingerprint"].GetString(),
               d["alerts"][1]["fingerprint"].GetString());
  // Common labels: what all share, not what one has.
  EXPECT_STREQ(d["commonLabels"]["alertname"].GetString(), "identity errors");
  EXPECT_STREQ(d["commonLabels"]["service"].GetString(), "identity");
  EXPECT_FALSE(d["commonLabels"].HasMember("endpoint"));
  EXPECT_FALSE(d["commonLabels"].HasMember("severity"));
  EXPECT_FALSE(d["commonAnnotations"].HasMember("summary"));

  for (NotificationAlert& a : g.alerts) a.state = AlertState::kResolved;
  g.state = AlertState::kResolved;
  EXPECT_STREQ(Parse(RenderAlertmanager(g, "hook", ""))["status"].GetString(), "resolved");
}

TEST(Slack, AGroupIsOneMessageListingTenAndCountingTheRest) {
  Notification g = Grouped(13);
  rapidjson::Document d = Parse(RenderSlack(g));
  const auto& blocks = d["blocks"];
  ASSERT_EQ(blocks.Size(), 4u);
  EXPECT_STREQ(blocks[1]["type"].GetString(), "section");
  std::string list = blocks[1]["text"]["text"].GetString();
  EXPECT_NE(list.find("GET /e0"), std::string::npos);
  EXPECT_NE(list.find("GET /e9"), std::string::npos);
  EXPECT_EQ(list.find("GET /e10"), std::string::npos);
  EXPECT_NE(list.find("and 3 more"), std::string::npos) << list;
  EXPECT_NE(list.find("<https://loupe.example.com/#/xview?endpoint=e0|"), std::string::npos);
  EXPECT_NE(std::string(d["text"].GetString()).find("13 alerts"), std::string::npos);
  Notification three = Grouped(3);
  std::string short_list = Parse(RenderSlack(three))["blocks"][1]["text"]["text"].GetString();
  EXPECT_EQ(short_list.find("more"), std::string::npos);
  EXPECT_NE(short_list.find("[RESOLVED] endpoint GET /e2"), std::string::npos) << short_list;
}

TEST(Email, AddressValidationRefusesHeaderInjection) {
  EXPECT_TRUE(ValidateEmailAddress("ops@example.com").ok());
  EXPECT_TRUE(ValidateEmailAddress("a.b+c@sub.example.com").ok());
  EXPECT_FALSE(ValidateEmailAddress("").ok());
  EXPECT_FALSE(ValidateEmailAddress("ops").ok());
  EXPECT_FALSE(ValidateEmailAddress("@example.com").ok());
  EXPECT_FALSE(ValidateEmailAddress("ops@").ok());
  EXPECT_FALSE(ValidateEmailAddress("a@b@c").ok());
  EXPECT_FALSE(ValidateEmailAddress("ops@example.com\r\nBcc: x@evil.com").ok());
  EXPECT_FALSE(ValidateEmailAddress("Ops <ops@example.com>").ok());
  EXPECT_FALSE(ValidateEmailAddress("a@b.com,c@d.com").ok());
  EXPECT_FALSE(ValidateEmailAddress(std::string(250, 'a') + "@b.com").ok());
}

std::string Header(const std::string& msg, const std::string& name) {
  size_t end = msg.find("\r\n\r\n");
  std::string head = "\r\n" + msg.substr(0, end);
  size_t p = head.find("\r\n" + name + ": ");
  if (p == std::string::npos) return "";
  p += name.size() + 4;
  std::string v;
  // Unfold continuation lines.
  while (true) {
    size_t e = head.find("\r\n", p);
    v += head.substr(p, e - p);
    if (e == std::string::npos || e + 2 >= head.size() || head[e + 2] != ' ') break;
    p = e + 2;
  }
  return v;
}

TEST(Email, HeadersAndMimeStructure) {
  Notification n = Sample();
  std::string m = RenderEmail(n, "loupe@example.com", {"ops@example.com", "dev@example.com"},
                              1'765'141'260'000);
  EXPECT_EQ(Header(m, "From"), "Loupe <loupe@example.com>");
  EXPECT_EQ(Header(m, "To"), "ops@example.com, dev@example.com");
  EXPECT_EQ(Header(m, "Subject"), "[FIRING CRITICAL] Error rate of identity is 12.5 %");
  EXPECT_EQ(Header(m, "Date"), "Sun, 07 Dec 2025 21:01:00 +0000");
  EXPECT_EQ(Header(m, "Message-ID"), "<" + n.id + "@example.com>");
  EXPECT_EQ(Header(m, "MIME-Version"), "1.0");
  EXPECT_EQ(Header(m, "Content-Type"), "multipart/alternative; boundary=\"loupe-" + n.id + "\"");
  EXPECT_NE(m.find("Content-Type: text/plain; charset=UTF-8"), std::string::npos);
  EXPECT_NE(m.find("Content-Type: text/html; charset=UTF-8"), std::string::npos);
  EXPECT_NE(m.find("--loupe-" + n.id + "--\r\n"), std::string::npos);
  // Every line is CRLF-terminated and within RFC 5322's 998 characters.
  size_t start = 0;
  while (start < m.size()) {
    size_t e = m.find("\r\n", start);
    ASSERT_NE(e, std::string::npos);
    EXPECT_LE(e - start, 998u);
    EXPECT_EQ(m.substr(start, e - start).find('\n'), std::string::npos);
    start = e + 2;
  }
}

TEST(Email, NonAsciiOrHostileSubjectIsEncodedOnOneLogicalLine) {
  Notification n = Sample();
  n.title = "Fehlerquote für Zahlung \xE2\x80\x94 sehr hoch\r\nBcc: evil@example.com";
  std::string m = RenderEmail(n, "loupe@example.com", {"ops@example.com"}, 0);
  std::string subject = Header(m, "Subject");
  EXPECT_EQ(subject.rfind("=?UTF-8?B?", 0), 0u) << subject;
  EXPECT_EQ(m.find("\r\nBcc:"), std::string::npos);
}

TEST(Email, ResolvedSubject) {
  Notification n = Sample();
  n.state = AlertState::kResolved;
  EXPECT_EQ(EmailSubject(n), "[RESOLVED] Error rate of identity is 12.5 %");
}

TEST(Email, AGroupIsOneMailListingEveryAlert) {
  Notification g = Grouped(13);
  std::string m = RenderEmail(g, "loupe@example.com", {"ops@example.com"}, 0);
  EXPECT_EQ(Header(m, "Subject"), "[FIRING CRITICAL] identity errors: 13 alerts");
  EXPECT_EQ(Header(m, "Message-ID"), "<" + g.id + "@example.com>");
  std::string text = MimePart(m, "text/plain");
  std::string html = MimePart(m, "text/html");
  for (int i = 0; i < 13; ++i) {
    std::string e = "GET /e" + std::to_string(i) + " of identity";
    EXPECT_NE(text.find(e), std::string::npos) << e << "\n" << text;
    EXPECT_NE(html.find(e), std::string::npos) << e;
  }
  EXPECT_NE(text.find("[RESOLVED] endpoint GET /e12"), std::string::npos);
  EXPECT_NE(html.find("href=\"https://loupe.example.com/#/xview?endpoint=e3\""), std::string::npos);
}

}  // namespace
}  // namespace loupe::notify
