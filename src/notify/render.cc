#include "notify/render.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>

#include "common/hash.h"

namespace loupe::notify {

namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

void Str(JsonWriter* w, std::string_view s) {
  w->String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void KeyStr(JsonWriter* w, std::string_view k, std::string_view v) {
  Str(w, k);
  Str(w, v);
}

// Cuts s to at most max bytes without splitting a UTF-8 sequence, marking the
// cut with "…" (which the limit includes).
std::string Truncate(std::string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  static constexpr std::string_view kEllipsis = "\xE2\x80\xA6";
  size_t cut = max > kEllipsis.size() ? max - kEllipsis.size() : 0;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return std::string(s.substr(0, cut)) + std::string(kEllipsis);
}

// Slack mrkdwn treats &, < and > as control characters (links, mentions such
// as <!channel>); escaping them keeps a rule or endpoint name from pinging a
// whole workspace.
std::string SlackEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string HtmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

// Header values never carry line breaks (header injection) or other controls.
std::string OneLine(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) out.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c);
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string Base64(std::string_view in) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (static_cast<uint8_t>(in[i]) << 16) | (static_cast<uint8_t>(in[i + 1]) << 8) |
                 static_cast<uint8_t>(in[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < in.size()) {
    uint32_t v = static_cast<uint8_t>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<uint8_t>(in[i + 1]) << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// Base64 in lines of 76 characters (RFC 2045).
std::string Base64Lines(std::string_view in) {
  std::string b = Base64(in);
  std::string out;
  for (size_t i = 0; i < b.size(); i += 76) {
    out.append(b, i, 76);
    out += "\r\n";
  }
  return out;
}

bool IsPlainAscii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u < 0x7f;
  });
}

// A header value as RFC 2047 encoded-words when it is not plain ASCII (or too
// long for one line): chunks of at most 45 bytes, never splitting a UTF-8
// sequence, each "=?UTF-8?B?...?=" (at most 72 characters), folded with
// CRLF SP.
std::string EncodeHeaderValue(std::string_view s) {
  if (IsPlainAscii(s) && s.size() <= 900) return std::string(s);
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    size_t n = std::min<size_t>(45, s.size() - i);
    while (n > 0 && i + n < s.size() && (static_cast<unsigned char>(s[i + n]) & 0xC0) == 0x80) --n;
    if (n == 0) n = std::min<size_t>(45, s.size() - i);  // not UTF-8: cut anywhere
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + Base64(s.substr(i, n)) + "?=";
    i += n;
  }
  return out;
}

std::string ValueLine(const Notification& n) {
  std::string s = FormatValue(n.value, n.unit);
  if (n.state == AlertState::kResolved) return s;
  return s + " (threshold " + FormatValue(n.threshold, n.unit) + ")";
}

std::string SinceLine(const Notification& n) {
  std::string s = FormatRfc3339(n.since_ms);
  if (n.state == AlertState::kResolved && n.ends_ms != 0) s += " until " + FormatRfc3339(n.ends_ms);
  return s;
}

// Labels with alertname and severity first (unless the caller set them), the
// names unique (first wins), as Alertmanager's label sets are.
Pairs AlertLabels(const Notification& n) {
  Pairs out;
  auto add = [&out](std::string_view k, std::string_view v) {
    for (const auto& p : out) {
      if (p.first == k) return;
    }
    out.emplace_back(std::string(k), std::string(v));
  };
  for (const auto& [k, v] : n.labels) add(k, v);
  add("alertname", n.rule_name.empty() ? n.title : n.rule_name);
  add("severity", Lower(n.level));
  if (!n.project.empty()) add("project", n.project);
  std::sort(out.begin(), out.end());
  return out;
}

Pairs AlertAnnotations(const Notification& n) {
  Pairs out;
  auto add = [&out](std::string_view k, std::string_view v) {
    for (const auto& p : out) {
      if (p.first == k) return;
    }
    out.emplace_back(std::string(k), std::string(v));
  };
  for (const auto& [k, v] : n.annotations) add(k, v);
  add("summary", n.title);
  add("description", "value " + ValueLine(n) + ", scope " + n.scope);
  add("value", FormatValue(n.value, ""));
  add("threshold", FormatValue(n.threshold, ""));
  std::sort(out.begin(), out.end());
  return out;
}

void WritePairs(JsonWriter* w, const Pairs& pairs) {
  w->StartObject();
  for (const auto& [k, v] : pairs) KeyStr(w, k, v);
  w->EndObject();
}

// Slack's limits: header text 150, section text 3000, field text 2000,
// context element text 2000, button text 75, button URL 3000.
void SlackText(JsonWriter* w, std::string_view type, std::string_view text) {
  w->StartObject();
  KeyStr(w, "type", type);
  KeyStr(w, "text", text);
  w->EndObject();
}

}  // namespace

std::string FormatRfc3339(int64_t ms) {
  if (ms == 0) return "0001-01-01T00:00:00Z";
  time_t secs = static_cast<time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  int millis = static_cast<int>(ms - static_cast<int64_t>(secs) * 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[80];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

std::string FormatRfc5322Date(int64_t ms) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  time_t secs = static_cast<time_t>(ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

std::string RenderSlack(const Notification& n) {
  const bool firing = n.state == AlertState::kFiring;
  const std::string head = firing ? "[FIRING " + Upper(n.level) + "] " : "[RESOLVED] ";
  std::string fallback = head + n.title + " \xE2\x80\x94 " + ValueLine(n) + ", " + n.scope;
  if (!n.link.empty()) fallback += " " + n.link;

  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.StartObject();
  KeyStr(&w, "text", Truncate(SlackEscape(fallback), 3000));
  Str(&w, "blocks");
  w.StartArray();

  w.StartObject();
  KeyStr(&w, "type", "header");
  Str(&w, "text");
  SlackText(&w, "plain_text", Truncate(head + n.title, 150));
  w.EndObject();

  w.StartObject();
  KeyStr(&w, "type", "section");
  Str(&w, "fields");
  w.StartArray();
  SlackText(&w, "mrkdwn", Truncate("*Value*\n" + SlackEscape(ValueLine(n)), 2000));
  SlackText(&w, "mrkdwn", Truncate("*Scope*\n" + SlackEscape(n.scope), 2000));
  SlackText(&w, "mrkdwn", Truncate("*Since*\n" + SinceLine(n), 2000));
  SlackText(&w, "mrkdwn", Truncate("*Rule*\n" + SlackEscape(n.rule_name), 2000));
  w.EndArray();
  w.EndObject();

  std::string context = "Loupe \xC2\xB7 " + SlackEscape(n.project) + " \xC2\xB7 " +
                        SlackEscape(n.signal) + " \xC2\xB7 id " + n.id;
  w.StartObject();
  KeyStr(&w, "type", "context");
  Str(&w, "elements");
  w.StartArray();
  SlackText(&w, "mrkdwn", Truncate(context, 2000));
  w.EndArray();
  w.EndObject();

  if (!n.link.empty() && n.link.size() <= 3000) {
    w.StartObject();
    KeyStr(&w, "type", "actions");
    Str(&w, "elements");
    w.StartArray();
    w.StartObject();
    KeyStr(&w, "type", "button");
    Str(&w, "text");
    SlackText(&w, "plain_text", "Open in Loupe");
    KeyStr(&w, "url", n.link);
    w.EndObject();
    w.EndArray();
    w.EndObject();
  }

  w.EndArray();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

std::string RenderAlertmanager(const Notification& n, std::string_view receiver,
                               std::string_view external_url) {
  const Pairs labels = AlertLabels(n);
  const Pairs annotations = AlertAnnotations(n);
  const std::string alertname = n.rule_name.empty() ? n.title : n.rule_name;
  std::string escaped_name;
  for (char c : alertname) {
    if (c == '"' || c == '\\') escaped_name.push_back('\\');
    escaped_name.push_back(c);
  }
  uint64_t fp = 0;
  for (const auto& [k, v] : labels) fp = Hash64(v, Hash64(k, fp));
  char fingerprint[17];
  std::snprintf(fingerprint, sizeof(fingerprint), "%016llx", static_cast<unsigned long long>(fp));

  rapidjson::StringBuffer sb;
  JsonWriter w(sb);
  w.StartObject();
  KeyStr(&w, "version", "4");
  KeyStr(&w, "groupKey", "{}:{alertname=\"" + escaped_name + "\"}");
  Str(&w, "truncatedAlerts");
  w.Int(0);
  KeyStr(&w, "status", AlertStateName(n.state));
  KeyStr(&w, "receiver", receiver);
  Str(&w, "groupLabels");
  WritePairs(&w, {{"alertname", alertname}});
  // One alert per body: the common sets are the alert's own.
  Str(&w, "commonLabels");
  WritePairs(&w, labels);
  Str(&w, "commonAnnotations");
  WritePairs(&w, annotations);
  KeyStr(&w, "externalURL", external_url);
  Str(&w, "alerts");
  w.StartArray();
  w.StartObject();
  KeyStr(&w, "status", AlertStateName(n.state));
  Str(&w, "labels");
  WritePairs(&w, labels);
  Str(&w, "annotations");
  WritePairs(&w, annotations);
  KeyStr(&w, "startsAt", FormatRfc3339(n.since_ms));
  KeyStr(&w, "endsAt", FormatRfc3339(n.state == AlertState::kResolved ? n.ends_ms : 0));
  KeyStr(&w, "generatorURL", n.link);
  KeyStr(&w, "fingerprint", fingerprint);
  w.EndObject();
  w.EndArray();
  KeyStr(&w, "notificationId", n.id);
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

Status ValidateEmailAddress(std::string_view addr) {
  if (addr.empty() || addr.size() > 254) return Status::InvalidArgument("address length");
  size_t at = addr.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == addr.size() ||
      addr.find('@', at + 1) != std::string_view::npos) {
    return Status::InvalidArgument(
        "address needs exactly one '@' between a local part and a domain");
  }
  for (char c : addr) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '<' || c == '>' || c == '"' || c == ',' || c == ';' ||
        c == '(' || c == ')' || c == '\\' || c == '[' || c == ']' || c == ':') {
      return Status::InvalidArgument("address holds a character not allowed in a plain address");
    }
  }
  return Status::OK();
}

std::string EmailSubject(const Notification& n) {
  if (n.state == AlertState::kResolved) return "[RESOLVED] " + n.title;
  return "[FIRING " + Upper(n.level) + "] " + n.title;
}

std::string RenderEmail(const Notification& n, std::string_view from,
                        const std::vector<std::string>& to, int64_t now_ms) {
  std::string domain(from.substr(from.find('@') + 1));
  const std::string boundary = "loupe-" + n.id;

  std::string text = EmailSubject(n) + "\r\n\r\n";
  text += "Value: " + ValueLine(n) + "\r\n";
  text += "Scope: " + n.scope + "\r\n";
  text += "Since: " + SinceLine(n) + "\r\n";
  text += "Rule: " + n.rule_name + "\r\n";
  if (!n.project.empty()) text += "Project: " + n.project + "\r\n";
  if (!n.link.empty()) text += "\r\nOpen in Loupe: " + n.link + "\r\n";
  text += "\r\nNotification id: " + n.id + "\r\n";

  std::string html = "<!DOCTYPE html><html><body>";
  html += "<h2>" + HtmlEscape(EmailSubject(n)) + "</h2><table>";
  auto row = [&html](std::string_view k, std::string_view v) {
    html += "<tr><th align=\"left\">" + std::string(k) + "</th><td>" + HtmlEscape(v) + "</td></tr>";
  };
  row("Value", ValueLine(n));
  row("Scope", n.scope);
  row("Since", SinceLine(n));
  row("Rule", n.rule_name);
  if (!n.project.empty()) row("Project", n.project);
  html += "</table>";
  if (!n.link.empty()) {
    html += "<p><a href=\"" + HtmlEscape(n.link) + "\">Open in Loupe</a></p>";
  }
  html += "<p style=\"color:#888\">Notification id " + HtmlEscape(n.id) + "</p></body></html>";

  std::string to_line;
  for (const auto& t : to) {
    if (!to_line.empty()) to_line += ", ";
    to_line += t;
  }

  std::string m;
  m += "From: Loupe <" + std::string(from) + ">\r\n";
  m += "To: " + to_line + "\r\n";
  m += "Subject: " + EncodeHeaderValue(OneLine(EmailSubject(n))) + "\r\n";
  m += "Date: " + FormatRfc5322Date(now_ms) + "\r\n";
  m += "Message-ID: <" + n.id + "@" + domain + ">\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Auto-Submitted: auto-generated\r\n";
  m += "X-Loupe-Notification-Id: " + n.id + "\r\n";
  m += "Content-Type: multipart/alternative; boundary=\"" + boundary + "\"\r\n";
  m += "\r\n";
  m += "--" + boundary + "\r\n";
  m += "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n";
  m += Base64Lines(text);
  m += "--" + boundary + "\r\n";
  m += "Content-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n";
  m += Base64Lines(html);
  m += "--" + boundary + "--\r\n";
  return m;
}

}  // namespace loupe::notify
