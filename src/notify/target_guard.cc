#include "notify/target_guard.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>

namespace loupe::notify {

namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string NormalizeHost(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::string h = Lower(host);
  while (!h.empty() && h.back() == '.') h.pop_back();
  return h;
}

struct UrlFree {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
struct CurlStrFree {
  void operator()(char* s) const { curl_free(s); }
};
using CurlStr = std::unique_ptr<char, CurlStrFree>;

CurlStr GetPart(CURLU* u, CURLUPart part, unsigned flags = 0) {
  char* s = nullptr;
  if (curl_url_get(u, part, &s, flags) != CURLUE_OK) return nullptr;
  return CurlStr(s);
}

// True when the first `prefix` bits of a and b agree.
bool PrefixMatch(const uint8_t* a, const uint8_t* b, int prefix) {
  int full = prefix / 8;
  if (std::memcmp(a, b, full) != 0) return false;
  int rest = prefix % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

bool NameIsForbidden(std::string_view h) {
  auto ends_with = [h](std::string_view s) {
    return h.size() >= s.size() && h.substr(h.size() - s.size()) == s;
  };
  return h == "localhost" || ends_with(".localhost") || h == "metadata.google.internal" ||
         h == "metadata";
}

}  // namespace

std::string RedactUrl(std::string_view url) {
  std::unique_ptr<CURLU, UrlFree> u(curl_url());
  std::string s(url);
  if (!u || curl_url_set(u.get(), CURLUPART_URL, s.c_str(), 0) != CURLUE_OK) {
    return "<invalid url>";
  }
  CurlStr scheme = GetPart(u.get(), CURLUPART_SCHEME);
  CurlStr host = GetPart(u.get(), CURLUPART_HOST);
  CurlStr port = GetPart(u.get(), CURLUPART_PORT);
  if (!scheme || !host) return "<invalid url>";
  std::string out = std::string(scheme.get()) + "://" + host.get();
  if (port) out += std::string(":") + port.get();
  return out + "/\xE2\x80\xA6";
}

Status ValidateTargetUrl(std::string_view url) {
  std::unique_ptr<CURLU, UrlFree> u(curl_url());
  std::string s(url);
  if (!u || curl_url_set(u.get(), CURLUPART_URL, s.c_str(), 0) != CURLUE_OK) {
    return Status::InvalidArgument("url: not a valid absolute URL");
  }
  CurlStr scheme = GetPart(u.get(), CURLUPART_SCHEME);
  CurlStr host = GetPart(u.get(), CURLUPART_HOST);
  if (!scheme || !host || host.get()[0] == '\0') {
    return Status::InvalidArgument("url: needs a scheme and a host");
  }
  std::string sc = Lower(scheme.get());
  if (sc != "http" && sc != "https") return Status::InvalidArgument("url: must be http or https");
  return Status::OK();
}

Result<TargetGuard> TargetGuard::Create(const std::vector<std::string>& allow_hosts) {
  TargetGuard g;
  for (const std::string& raw : allow_hosts) {
    std::string entry = raw;
    entry.erase(std::remove_if(entry.begin(), entry.end(),
                               [](char c) { return std::isspace(static_cast<unsigned char>(c)); }),
                entry.end());
    if (entry.empty()) continue;
    size_t slash = entry.find('/');
    std::string addr = NormalizeHost(entry.substr(0, slash));
    Cidr c;
    if (inet_pton(AF_INET, addr.c_str(), c.bytes.data()) == 1) {
      c.prefix = 32;
    } else if (inet_pton(AF_INET6, addr.c_str(), c.bytes.data()) == 1) {
      c.v6 = true;
      c.prefix = 128;
    } else if (slash == std::string::npos) {
      std::string host = NormalizeHost(entry);
      bool plausible = !host.empty() && std::all_of(host.begin(), host.end(), [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '.' || ch == '_';
      });
      if (!plausible) return Status::InvalidArgument("notify allow-list entry '" + raw + "'");
      g.hosts_.push_back(host);
      continue;
    } else {
      return Status::InvalidArgument("notify allow-list entry '" + raw + "': bad CIDR address");
    }
    if (slash != std::string::npos) {
      std::string bits = entry.substr(slash + 1);
      int max = c.v6 ? 128 : 32;
      if (bits.empty() || bits.size() > 3 ||
          !std::all_of(bits.begin(), bits.end(),
                       [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); }) ||
          std::stoi(bits) > max) {
        return Status::InvalidArgument("notify allow-list entry '" + raw + "': bad prefix length");
      }
      c.prefix = std::stoi(bits);
    }
    g.cidrs_.push_back(c);
  }
  return g;
}

bool TargetGuard::HostAllowed(std::string_view host) const {
  std::string h = NormalizeHost(host);
  return std::find(hosts_.begin(), hosts_.end(), h) != hosts_.end();
}

bool TargetGuard::InAllowedCidr(bool v6, const uint8_t* bytes) const {
  for (const Cidr& c : cidrs_) {
    if (c.v6 == v6 && PrefixMatch(c.bytes.data(), bytes, c.prefix)) return true;
  }
  return false;
}

std::string_view TargetGuard::Refusal(bool v6, const uint8_t* b, std::string_view host) const {
  if (!host.empty() && HostAllowed(host)) return {};
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (v6 && std::memcmp(b, kMapped, 12) == 0) return Refusal(false, b + 12, {});
  if (InAllowedCidr(v6, b)) return {};
  if (!v6) {
    if (b[0] == 127) return "loopback";
    if (b[0] == 0) return "unspecified";
    if (b[0] == 169 && b[1] == 254)
      return b[2] == 169 && b[3] == 254 ? "cloud metadata" : "link-local";
    return {};
  }
  static constexpr uint8_t kZero[16] = {};
  // fd00:ec2::254
  static constexpr uint8_t kAwsMetadata[16] = {0xfd, 0, 0x0e, 0xc2, 0, 0, 0,    0,
                                               0,    0, 0,    0,    0, 0, 0x02, 0x54};
  if (std::memcmp(b, kZero, 15) == 0 && (b[15] == 1 || b[15] == 0)) {
    return b[15] == 1 ? "loopback" : "unspecified";
  }
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return "link-local";
  if (std::memcmp(b, kAwsMetadata, 16) == 0) return "cloud metadata";
  return {};
}

bool TargetGuard::AllowsAddress(const struct sockaddr* addr, std::string_view host) const {
  if (addr->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    return Refusal(false, reinterpret_cast<const uint8_t*>(&in->sin_addr), host).empty();
  }
  if (addr->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    return Refusal(true, in6->sin6_addr.s6_addr, host).empty();
  }
  return false;
}

Result<ResolvedTarget> TargetGuard::Resolve(std::string_view url) const {
  std::unique_ptr<CURLU, UrlFree> u(curl_url());
  std::string s(url);
  if (!u || curl_url_set(u.get(), CURLUPART_URL, s.c_str(), 0) != CURLUE_OK) {
    return Status::InvalidArgument("not a valid URL");
  }
  CurlStr scheme = GetPart(u.get(), CURLUPART_SCHEME);
  CurlStr host = GetPart(u.get(), CURLUPART_HOST);
  CurlStr port = GetPart(u.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT);
  if (!scheme || !host || !port) return Status::InvalidArgument("URL needs a scheme and a host");
  ResolvedTarget t;
  t.scheme = Lower(scheme.get());
  if (t.scheme != "http" && t.scheme != "https") {
    return Status::InvalidArgument("only http and https targets are allowed");
  }
  t.host = NormalizeHost(host.get());
  t.port = static_cast<uint16_t>(std::atoi(port.get()));
  if (NameIsForbidden(t.host) && !HostAllowed(t.host)) {
    return Status::PermissionDenied("target host " + t.host +
                                    " is refused (internal name; see --notify-allow-hosts)");
  }

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(t.host.c_str(), nullptr, &hints, &res);
  t.host_is_literal = rc == 0;
  if (rc != 0) {
    hints.ai_flags = 0;
    rc = getaddrinfo(t.host.c_str(), nullptr, &hints, &res);
  }
  if (rc != 0) {
    return Status::Unavailable("resolving " + t.host + ": " + gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(res, freeaddrinfo);
  // Every address must pass: a name that resolves to a public and a loopback
  // address is refused, not half-used.
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    std::string_view why;
    if (ai->ai_family == AF_INET) {
      why = Refusal(false,
                    reinterpret_cast<const uint8_t*>(
                        &reinterpret_cast<const sockaddr_in*>(ai->ai_addr)->sin_addr),
                    t.host);
    } else if (ai->ai_family == AF_INET6) {
      why = Refusal(true, reinterpret_cast<const sockaddr_in6*>(ai->ai_addr)->sin6_addr.s6_addr,
                    t.host);
    } else {
      continue;
    }
    if (!why.empty()) {
      return Status::PermissionDenied("target host " + t.host + " is refused (" + std::string(why) +
                                      " address; see --notify-allow-hosts)");
    }
    if (t.address.empty()) {
      char buf[INET6_ADDRSTRLEN] = {};
      const void* src = ai->ai_family == AF_INET
                            ? static_cast<const void*>(
                                  &reinterpret_cast<const sockaddr_in*>(ai->ai_addr)->sin_addr)
                            : static_cast<const void*>(
                                  &reinterpret_cast<const sockaddr_in6*>(ai->ai_addr)->sin6_addr);
      if (inet_ntop(ai->ai_family, src, buf, sizeof(buf)) != nullptr) t.address = buf;
    }
  }
  if (t.address.empty()) return Status::Unavailable("resolving " + t.host + ": no address");
  return t;
}

}  // namespace loupe::notify
