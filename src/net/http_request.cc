// Request parsing of net::HttpServer: the request target and query string
// (percent-decoding) and the header helpers of http_server.h.
#include <cctype>
#include <iterator>

#include "net/http_server.h"
#include "net/http_server_internal.h"

namespace loupe::net {
namespace internal {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

// Decodes %XX escapes (and '+' as space when plus_is_space). Invalid escapes
// fail when strict and are kept literally otherwise.
bool PercentDecode(std::string_view in, bool plus_is_space, bool strict, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      const int hi = i + 2 < in.size() ? HexDigit(in[i + 1]) : -1;
      const int lo = hi >= 0 ? HexDigit(in[i + 2]) : -1;
      if (hi >= 0 && lo >= 0) {
        out->push_back(static_cast<char>(hi << 4 | lo));
        i += 2;
        continue;
      }
      if (strict) return false;
      out->push_back(c);
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

// Fills method, path, query and headers from a parsed request head.
// False when the target is unusable.
bool FillRequest(const http::request<http::string_body>& h, HttpRequest* r) {
  r->method = std::string(h.method_string());
  std::string_view target = h.target();
  if (target.empty()) return false;
  if (target == "*") {  // OPTIONS *
    r->path = "*";
  } else {
    if (target[0] != '/') {
      // absolute-form: scheme://authority/path?query
      const size_t scheme = target.find("://");
      if (scheme == std::string_view::npos) return false;
      const size_t slash = target.find('/', scheme + 3);
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    }
    const size_t q = target.find('?');
    if (q != std::string_view::npos) r->query = std::string(target.substr(q + 1));
    if (!PercentDecode(target.substr(0, q), /*plus_is_space=*/false, /*strict=*/true, &r->path)) {
      return false;
    }
    if (r->path.find('\0') != std::string::npos) return false;
  }
  r->headers.reserve(std::distance(h.begin(), h.end()));
  for (const auto& f : h) {
    std::string name(f.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r->headers.emplace_back(std::move(name), std::string(f.value()));
  }
  return true;
}

}  // namespace internal

using internal::PercentDecode;

std::string MediaType(std::string_view content_type) {
  std::string_view t = content_type.substr(0, content_type.find(';'));
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
  std::string out(t);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool TokenIs(std::string_view value, std::string_view token) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  return internal::beast::iequals(value, token);
}

std::string_view HttpRequest::Header(std::string_view lowercase_name) const {
  for (const auto& [k, v] : headers) {
    if (k == lowercase_name) return v;
  }
  return {};
}

std::optional<std::string> HttpRequest::Param(std::string_view name) const {
  std::string_view q = query;
  std::string key;
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view part = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (part.empty()) continue;
    size_t eq = part.find('=');
    std::string_view k = part.substr(0, eq);
    PercentDecode(k, /*plus_is_space=*/true, /*strict=*/false, &key);
    if (key != name) continue;
    std::string value;
    if (eq != std::string_view::npos) {
      PercentDecode(part.substr(eq + 1), /*plus_is_space=*/true, /*strict=*/false, &value);
    }
    return value;
  }
  return std::nullopt;
}

}  // namespace loupe::net
