// TargetGuard: decides whether the server may call a notification target
// (a Slack or webhook URL a project's editor typed), so that an editor cannot
// make the server reach internal services (ARCHITECTURE.md §8, issue 12 §3).
//
// Refused unless allowed:
//  - names: "localhost" and "*.localhost", "metadata.google.internal" (and
//    "metadata"), checked before any DNS lookup;
//  - addresses: loopback (127.0.0.0/8, ::1), unspecified (0.0.0.0/8, ::),
//    link-local (169.254.0.0/16 — which holds the cloud metadata address
//    169.254.169.254 — and fe80::/10), AWS's IPv6 metadata address
//    fd00:ec2::254; IPv4-mapped IPv6 addresses are judged as IPv4.
// Private networks (RFC 1918, fc00::/7 other than fd00:ec2::254) are allowed:
// in-house receivers live there.
//
// The allow-list (`--notify-allow-hosts`) holds host names (exact, case-
// insensitive) and CIDRs ("127.0.0.1/32", "fe80::/10"); an allowed name
// permits whatever it resolves to, an allowed CIDR permits addresses in it.
//
// DNS rebinding: Resolve looks the name up once, checks every address, and
// returns the one to pin; the HTTP client connects to that address only
// (CURLOPT_RESOLVE) and checks again at connect time (AllowsAddress from the
// open-socket callback), so a second lookup cannot swap in a forbidden
// address. Only http and https URLs are accepted; redirects are not followed.
// Thread-safety: immutable after Create; all methods are const and thread-safe.
#ifndef LOUPE_NOTIFY_TARGET_GUARD_H_
#define LOUPE_NOTIFY_TARGET_GUARD_H_

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace loupe::notify {

// A URL for messages and logs: scheme, host and port kept, path and query
// replaced by "/…" (Slack and webhook URLs carry their secret in the path or
// query). Unparseable input yields "<invalid url>".
std::string RedactUrl(std::string_view url);

// OK when `url` is an absolute http or https URL with a host (no lookup).
// kInvalidArgument otherwise; the message does not echo the URL.
Status ValidateTargetUrl(std::string_view url);

struct ResolvedTarget {
  std::string scheme;  // "http" or "https"
  std::string host;    // as in the URL, without IPv6 brackets, lower case
  uint16_t port = 0;
  std::string address;           // numeric address to connect to ("10.0.0.7", "2001:db8::1")
  bool host_is_literal = false;  // the URL named an address, not a name
};

class TargetGuard {
 public:
  // An empty allow-list: nothing internal is allowed. Entries that are
  // neither a CIDR nor a plausible host name give kInvalidArgument naming the
  // entry (operator configuration, safe to echo).
  static Result<TargetGuard> Create(const std::vector<std::string>& allow_hosts);

  TargetGuard() = default;

  // Parses `url`, checks the name, resolves it and checks every address.
  // kInvalidArgument: not an http(s) URL. kPermissionDenied: refused (the
  // message names the host and why, never the path). kUnavailable: the name
  // did not resolve (a retry may help).
  Result<ResolvedTarget> Resolve(std::string_view url) const;

  // Whether a connection to `addr` may be opened for a target named `host`.
  bool AllowsAddress(const struct sockaddr* addr, std::string_view host) const;

 private:
  struct Cidr {
    bool v6 = false;
    std::array<uint8_t, 16> bytes{};  // v4 in the first 4
    int prefix = 0;
  };
  bool HostAllowed(std::string_view host) const;
  bool InAllowedCidr(bool v6, const uint8_t* bytes) const;
  // Empty when allowed; otherwise why not ("loopback", "link-local", ...).
  std::string_view Refusal(bool v6, const uint8_t* bytes, std::string_view host) const;

  std::vector<std::string> hosts_;  // lower case, no trailing dot
  std::vector<Cidr> cidrs_;
};

}  // namespace loupe::notify

#endif  // LOUPE_NOTIFY_TARGET_GUARD_H_
