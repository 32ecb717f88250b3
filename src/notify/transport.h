// Transport: one delivery attempt over the network with libcurl — an HTTP
// POST of a JSON body (Slack, webhook) or an SMTP submission (e-mail) — and
// its classification: delivered, worth retrying, or failed for good.
//
// HTTP: the target is checked and pinned by TargetGuard (no second DNS
// lookup, open-socket check, no proxies from the environment, no redirects,
// http/https only). 2xx is delivered; 408, 429 and 5xx are retried (429 and
// 503 with their Retry-After, seconds or HTTP-date); other 3xx (redirects
// are not followed) and 4xx and refused targets fail for good; connection errors and timeouts are
// retried. SMTP: the server is operator configuration (SmtpOptions), not checked by the guard. A
// 5xx reply fails for good; anything else is retried.
//
// Error texts never contain a URL's path or query nor the SMTP password.
// Thread-safety: the functions are thread-safe (one curl handle per call).
// REQUIRES: curl_global_init has run (InitCurlOnce does it).
#ifndef LOUPE_NOTIFY_TRANSPORT_H_
#define LOUPE_NOTIFY_TRANSPORT_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "notify/target_guard.h"

namespace loupe::notify {

// Calls curl_global_init once per process (thread-safe).
void InitCurlOnce();

struct Timeouts {
  // TCP and TLS connect; for SMTP libcurl also counts the greeting, EHLO,
  // STARTTLS and AUTH exchange as part of connecting.
  int64_t connect_ms = 5'000;
  int64_t total_ms = 15'000;  // whole attempt, including the response
};

// SMTP server settings (server configuration: --smtp-host, --smtp-port,
// --smtp-from, --smtp-user, --smtp-password-file, --smtp-starttls).
struct SmtpOptions {
  std::string host;  // empty: e-mail channels are not available
  uint16_t port = 25;
  std::string from;       // envelope sender and From address
  std::string user;       // empty: no AUTH
  std::string password;   // read from --smtp-password-file by the server; never logged
  bool starttls = false;  // require STARTTLS (the attempt fails if the server lacks it)
};

struct AttemptOutcome {
  enum class Kind { kDelivered, kRetry, kFailed };
  Kind kind = Kind::kFailed;
  int code = 0;                 // HTTP status or last SMTP reply code; 0: none
  int64_t retry_after_ms = -1;  // from a Retry-After header; -1: none
  std::string error;            // empty when delivered; redacted
};

// POSTs `body` (application/json) to `url` after guard.Resolve. `headers`
// are extra "Name: value" lines. `now_ms` (wall clock) turns an HTTP-date
// Retry-After into a delay.
// A non-null `cancel` that becomes true aborts the attempt (kRetry).
AttemptOutcome PostJson(const TargetGuard& guard, const std::string& url, const std::string& body,
                        const std::vector<std::string>& headers, const Timeouts& timeouts,
                        int64_t now_ms, const std::atomic<bool>* cancel = nullptr);

// Submits `message` (RFC 5322, CRLF) to the SMTP server for `recipients`.
AttemptOutcome SendMail(const SmtpOptions& smtp, const std::vector<std::string>& recipients,
                        const std::string& message, const Timeouts& timeouts,
                        const std::atomic<bool>* cancel = nullptr);

// Parses a Retry-After value: delta-seconds or an HTTP-date. Returns the
// delay in ms (0 for dates in the past), or -1 if unparseable.
int64_t ParseRetryAfter(std::string_view value, int64_t now_ms);

}  // namespace loupe::notify

#endif  // LOUPE_NOTIFY_TRANSPORT_H_
