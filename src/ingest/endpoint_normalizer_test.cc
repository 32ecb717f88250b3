#include "ingest/endpoint_normalizer.h"

#include <gtest/gtest.h>

#include <string>

namespace loupe::ingest {
namespace {

struct Case {
  const char* in;
  const char* want;
};

TEST(EndpointNormalizer, ReplacesValueSegmentsWithPlaceholders) {
  const Case cases[] = {
      // Kept as is.
      {"/", "/"},
      {"/api/posts", "/api/posts"},
      {"/api/v2/users", "/api/v2/users"},
      {"/static/app.js", "/static/app.js"},
      {"/hash/sha256", "/hash/sha256"},
      {"/blog/how-to-bake-a-really-good-cake", "/blog/how-to-bake-a-really-good-cake"},
      {"/api/1.0/items", "/api/1.0/items"},
      // {id}
      {"/api/posts/12345", "/api/posts/{id}"},
      {"/api/users/7/orders/0", "/api/users/{id}/orders/{id}"},
      {"/invoices/123.json", "/invoices/{id}.json"},
      // {uuid}
      {"/o/123e4567-e89b-12d3-a456-426614174000", "/o/{uuid}"},
      {"/o/123E4567-E89B-12D3-A456-426614174000/x", "/o/{uuid}/x"},
      {"/img/123e4567-e89b-12d3-a456-426614174000.png", "/img/{uuid}.png"},
      // {hex}
      {"/commit/0123456789abcdef", "/commit/{hex}"},
      {"/blob/da39a3ee5e6b4b0d3255bfef95601890afd80709", "/blob/{hex}"},
      {"/short/abcdef12", "/short/abcdef12"},  // < 16 hex digits, not all digits: kept
      // {token}
      {"/users/jane.doe@example.com", "/users/{token}"},
      {"/users/jane%40example.com/x", "/users/{token}/x"},
      {"/reports/2024-01-15", "/reports/{token}"},
      {"/at/10:30:00", "/at/{token}"},
      {"/hosts/192.168.1.10", "/hosts/{token}"},
      {"/reset/aB3dE5gH7jK9mN1pQ3sT5vX7", "/reset/{token}"},
      {"/orders/INV20240115", "/orders/{token}"},
      {"/logs/2024-01-15.log", "/logs/{token}.log"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(NormalizePath(c.in), c.want) << "input: " << c.in;
  }
}

TEST(EndpointNormalizer, StripsQueryFragmentAndParams) {
  const Case cases[] = {
      {"/search?q=shoes&page=2", "/search"},
      {"/docs/intro#install", "/docs/intro"},
      {"/a/12?x=1#y", "/a/{id}"},
      {"/cart;jsessionid=ABCDEF0123/items", "/cart/items"},
      {"?only=query", "/"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(NormalizePath(c.in), c.want) << "input: " << c.in;
  }
}

TEST(EndpointNormalizer, CollapsesSlashesAndAddsLeadingSlash) {
  const Case cases[] = {
      {"", "/"},
      {"//api///posts//", "/api/posts"},
      {"/api/posts/", "/api/posts"},
      {"api/posts", "/api/posts"},
      {"////", "/"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(NormalizePath(c.in), c.want) << "input: " << c.in;
  }
}

TEST(EndpointNormalizer, TakesThePathOfFullUrls) {
  const Case cases[] = {
      {"https://example.com/api/posts/42?x=1", "/api/posts/{id}"},
      {"http://example.com:8080", "/"},
      {"http://user@example.com/a", "/a"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(NormalizePath(c.in), c.want) << "input: " << c.in;
  }
}

TEST(EndpointNormalizer, UrlPathSplitsOffSchemeAuthorityQueryAndFragment) {
  EXPECT_EQ(UrlPath("https://h:1/a/b?q#f"), "/a/b");
  EXPECT_EQ(UrlPath("/a?q"), "/a");
  EXPECT_EQ(UrlPath("a/b"), "a/b");
  EXPECT_EQ(UrlPath("https://h"), "");
  EXPECT_EQ(UrlPath("https://h?x"), "");
  EXPECT_EQ(UrlPath("//a/b"), "//a/b");
  EXPECT_EQ(UrlPath("/x:y://z"), "/x:y://z");
}

TEST(EndpointNormalizer, CapsLengthAtUtf8Boundary) {
  std::string path = "/";
  for (int i = 0; i < 200; ++i) path += "\xC3\xA9";  // "é", 2 bytes each
  path += "/end";
  std::string out = NormalizePath(path);
  EXPECT_LE(out.size(), kMaxEndpointBytes);
  EXPECT_EQ(out.size(), kMaxEndpointBytes - 1);  // 1 + 127 * 2: the 128th "é" would split
  EXPECT_EQ(static_cast<unsigned char>(out.back()), 0xA9);

  std::string huge(1 << 20, 'z');
  EXPECT_EQ(NormalizePath("/" + huge).size(), kMaxEndpointBytes);
  EXPECT_EQ(NormalizePath("/abc/def", 4), "/abc");
}

TEST(EndpointNormalizer, AppendsAfterExistingText) {
  std::string out = "GET ";
  AppendNormalizedPath("/api/posts/9", &out);
  EXPECT_EQ(out, "GET /api/posts/{id}");
}

TEST(EndpointNormalizer, ExhaustiveSmallSegmentsNeverKeepPureNumbers) {
  for (int i = 0; i < 100000; i += 7) {
    EXPECT_EQ(NormalizePath("/x/" + std::to_string(i)), "/x/{id}");
  }
}

}  // namespace
}  // namespace loupe::ingest
