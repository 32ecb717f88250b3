// Endpoint normalizer: turns URL paths into low-cardinality templates, so that
// "GET /api/users/12345/orders?page=2" and "GET /api/users/777/orders" are one
// endpoint, "GET /api/users/{id}/orders". Used when a server span has no
// http.route (see docs/design/ingest.md, "Endpoints").
//
// Rules, in order:
//  - a full URL ("https://host:8080/a/b") is reduced to its path ("/a/b");
//  - the query ("?..."), the fragment ("#...") and ";params" of each segment
//    (";jsessionid=...") are stripped;
//  - runs of "/" collapse to one, a trailing "/" is dropped, the result always
//    starts with "/" (an empty path becomes "/");
//  - each segment is classified and replaced when it looks like a value:
//      {id}     all digits ("12345"), also with a short extension ("123.json" → "{id}.json")
//      {uuid}   8-4-4-4-12 hex digits
//      {hex}    16 or more hex digits
//      {token}  e-mail addresses (contain '@'); dates, times and other runs of
//               digits and separators with at least 4 digits ("2024-01-15",
//               "10:30:00"); segments of 20 or more characters mixing letters and
//               digits (API keys, session ids, base64); segments with 6 or more
//               digits among letters ("INV20240115")
//    anything else is kept as is (words, "v2", "sha256", slugs);
//  - the result is cut at `max_bytes` (default 256) at a UTF-8 boundary.
//
// Thread-safety: pure functions.
#ifndef LOUPE_INGEST_ENDPOINT_NORMALIZER_H_
#define LOUPE_INGEST_ENDPOINT_NORMALIZER_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace loupe::ingest {

inline constexpr size_t kMaxEndpointBytes = 256;

// Appends the template of `path` to *out, adding at most `max_bytes` bytes.
void AppendNormalizedPath(std::string_view path, std::string* out,
                          size_t max_bytes = kMaxEndpointBytes);

// The template of `path` as a new string.
std::string NormalizePath(std::string_view path, size_t max_bytes = kMaxEndpointBytes);

// The path of a URL or request target, without query and fragment:
// "https://h:1/a/b?q#f" → "/a/b", "/a?q" → "/a", "a/b" → "a/b", "https://h" → ""
// (callers treat an empty path as "/"). Only "scheme://" starts an authority;
// "//a" is taken as a path, as request targets with doubled slashes are common.
std::string_view UrlPath(std::string_view url) noexcept;

}  // namespace loupe::ingest

#endif  // LOUPE_INGEST_ENDPOINT_NORMALIZER_H_
