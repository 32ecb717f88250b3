// Renderers: a Notification as the bytes each kind of channel expects.
// Pure functions, no I/O. Design and examples: docs/design/notify.md.
//
//  - Slack incoming webhook: Block Kit `blocks` with a plain `text` fallback
//    (what notifications and old clients show).
//  - Generic webhook: a body in Prometheus Alertmanager's webhook format
//    (version "4", every alert of the notification in `alerts`, the group's
//    status and common labels), so receivers written for
//    Alertmanager work unchanged. Loupe adds one top-level field,
//    "notificationId" (the stable de-duplication key), which such receivers
//    ignore.
//  - E-mail: an RFC 5322 message, MIME multipart/alternative with a
//    text/plain and a text/html part (both UTF-8, base64), Message-ID derived
//    from the notification id so retries carry the same one.
//
// Everything that comes from rules, scopes or labels is untrusted: the Slack
// text is escaped for mrkdwn, the HTML part is HTML-escaped, header values
// are stripped of CR/LF and encoded (RFC 2047) when not plain ASCII.
// Thread-safety: pure functions.
#ifndef LOUPE_NOTIFY_RENDER_H_
#define LOUPE_NOTIFY_RENDER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "notify/notification.h"

namespace loupe::notify {

// Slack message JSON: {"text": fallback, "blocks": [header, section with
// fields (one alert) or listing the first 10 alerts and "and N more",
// context, actions (when n.link is set)]}. Texts are cut to Slack's block
// limits. E-mail lists every alert of a grouped notification.
std::string RenderSlack(const Notification& n);

// Alertmanager webhook JSON. `receiver` is the channel's name, `external_url`
// Loupe's own base URL ("" if unknown).
std::string RenderAlertmanager(const Notification& n, std::string_view receiver,
                               std::string_view external_url);

// RFC 3339 UTC time with milliseconds ("2026-12-07T21:15:49.123Z"); the zero
// time of Alertmanager ("0001-01-01T00:00:00Z") for ms == 0.
std::string FormatRfc3339(int64_t ms);

// RFC 5322 date ("Mon, 07 Dec 2026 21:15:49 +0000").
std::string FormatRfc5322Date(int64_t ms);

// OK when `addr` is a plain addr-spec ("local@domain") safe to put in a
// header and an SMTP envelope: no spaces, controls, quotes, angle brackets,
// commas or semicolons; one '@' with both sides non-empty; at most 254 bytes.
// kInvalidArgument otherwise, naming the problem (not echoing the address).
Status ValidateEmailAddress(std::string_view addr);

// The full message (headers and body, CRLF line ends). REQUIRES: `from` and
// every `to` pass ValidateEmailAddress. `now_ms` fills the Date header.
std::string RenderEmail(const Notification& n, std::string_view from,
                        const std::vector<std::string>& to, int64_t now_ms);

// The e-mail Subject before encoding: "[FIRING CRITICAL] title" or
// "[RESOLVED] title" (the group's state and level).
std::string EmailSubject(const Notification& n);

}  // namespace loupe::notify

#endif  // LOUPE_NOTIFY_RENDER_H_
