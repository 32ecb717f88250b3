#include "notify/target_guard.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include "notify/transport.h"

namespace loupe::notify {
namespace {

TargetGuard Guard(std::vector<std::string> allow = {}) {
  Result<TargetGuard> g = TargetGuard::Create(allow);
  EXPECT_TRUE(g.ok()) << g.status().ToString();
  return g.ok() ? *g : TargetGuard();
}

Status::Code Code(const TargetGuard& g, const std::string& url) {
  return g.Resolve(url).status().code();
}

TEST(TargetGuard, RefusesLoopbackLinkLocalAndMetadataAddresses) {
  TargetGuard g = Guard();
  for (const char* url :
       {"http://127.0.0.1/x", "http://127.8.9.10:8080/x", "http://[::1]/x", "http://0.0.0.0/x",
        "http://169.254.169.254/latest/meta-data", "http://169.254.1.2/", "http://[fe80::1]/",
        "http://[fd00:ec2::254]/", "http://[::ffff:127.0.0.1]/", "http://2130706433/",
        "http://localhost:9/", "http://api.localhost/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://METADATA.google.internal./"}) {
    EXPECT_EQ(Code(g, url), Status::Code::kPermissionDenied) << url;
  }
}

TEST(TargetGuard, AllowsPublicAndPrivateNetworkAddresses) {
  TargetGuard g = Guard();
  for (const char* url : {"https://93.184.215.14/hook", "http://10.1.2.3:8080/hook",
                          "http://192.168.1.5/", "http://[2001:db8::5]/", "http://[fd00::1]/"}) {
    Result<ResolvedTarget> t = g.Resolve(url);
    ASSERT_TRUE(t.ok()) << url << " " << t.status().ToString();
    EXPECT_TRUE(t->host_is_literal);
  }
  Result<ResolvedTarget> t = g.Resolve("http://[2001:db8::5]:81/x");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->address, "2001:db8::5");
  EXPECT_EQ(t->port, 81);
}

TEST(TargetGuard, RefusesOtherSchemes) {
  TargetGuard g = Guard();
  EXPECT_EQ(Code(g, "file:///etc/passwd"), Status::Code::kInvalidArgument);
  EXPECT_EQ(Code(g, "gopher://10.0.0.1/"), Status::Code::kInvalidArgument);
  EXPECT_EQ(Code(g, "not a url"), Status::Code::kInvalidArgument);
  EXPECT_FALSE(ValidateTargetUrl("ftp://example.com/").ok());
  EXPECT_TRUE(ValidateTargetUrl("https://hooks.slack.com/services/T/B/X").ok());
}

TEST(TargetGuard, AllowListByCidrAndByName) {
  TargetGuard cidr = Guard({"127.0.0.0/8", "fe80::/16"});
  EXPECT_TRUE(cidr.Resolve("http://127.0.0.1:9/").ok());
  EXPECT_TRUE(cidr.Resolve("http://[fe80::1]/").ok());
  EXPECT_FALSE(cidr.Resolve("http://169.254.169.254/").ok());
  EXPECT_FALSE(cidr.Resolve("http://[::1]/").ok());

  TargetGuard host = Guard({"127.0.0.1/32"});
  EXPECT_TRUE(host.Resolve("http://127.0.0.1/").ok());
  EXPECT_FALSE(host.Resolve("http://127.0.0.2/").ok());

  TargetGuard name = Guard({"LocalHost"});
  Result<ResolvedTarget> t = name.Resolve("http://localhost:9/");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_FALSE(t->host_is_literal);
  EXPECT_FALSE(name.Resolve("http://127.0.0.1/").ok());
}

TEST(TargetGuard, AllowsAddressChecksSocketAddresses) {
  TargetGuard g = Guard({"10.9.0.0/16"});
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.1", &v4.sin_addr);
  EXPECT_FALSE(g.AllowsAddress(reinterpret_cast<sockaddr*>(&v4), "example.com"));
  inet_pton(AF_INET, "10.9.3.3", &v4.sin_addr);
  EXPECT_TRUE(g.AllowsAddress(reinterpret_cast<sockaddr*>(&v4), "example.com"));
  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "fd00:ec2::254", &v6.sin6_addr);
  EXPECT_FALSE(g.AllowsAddress(reinterpret_cast<sockaddr*>(&v6), "example.com"));
}

TEST(TargetGuard, BadAllowListEntriesAreRejected) {
  EXPECT_FALSE(TargetGuard::Create({"10.0.0.0/33"}).ok());
  EXPECT_FALSE(TargetGuard::Create({"10.0.0.0/"}).ok());
  EXPECT_FALSE(TargetGuard::Create({"bad host!"}).ok());
  EXPECT_FALSE(TargetGuard::Create({"example.com/8"}).ok());
  EXPECT_TRUE(TargetGuard::Create({"  ", "hooks.internal", "::1/128"}).ok());
}

TEST(RedactUrl, KeepsSchemeHostPortOnly) {
  EXPECT_EQ(RedactUrl("https://hooks.slack.com/services/T0/B0/XXXX"),
            "https://hooks.slack.com/\xE2\x80\xA6");
  EXPECT_EQ(RedactUrl("http://10.0.0.1:8080/hook?token=abc"), "http://10.0.0.1:8080/\xE2\x80\xA6");
  EXPECT_EQ(RedactUrl("http://user:pw@example.com/x"), "http://example.com/\xE2\x80\xA6");
  EXPECT_EQ(RedactUrl("::"), "<invalid url>");
}

TEST(RetryAfter, SecondsAndHttpDates) {
  EXPECT_EQ(ParseRetryAfter("7", 0), 7000);
  EXPECT_EQ(ParseRetryAfter("0", 0), 0);
  // Sun, 06 Nov 1994 08:49:37 GMT = 784111777 s.
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", 784111777000 - 5000), 5000);
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", 784111777000 + 5000), 0);
  EXPECT_EQ(ParseRetryAfter("soon", 0), -1);
  EXPECT_EQ(ParseRetryAfter("", 0), -1);
  EXPECT_EQ(ParseRetryAfter("-3", 0), -1);
}

}  // namespace
}  // namespace loupe::notify
