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

// Alerts a grouped Slack message lists; the rest are "and N more".
constexpr size_t kSlackListed = 10;

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

std::string ValueLine(const NotificationAlert& a, std::string_view unit) {
  std::string s = FormatValue(a.value, unit);
  if (a.state == AlertState::kResolved) return s;
  return s + " (threshold " + FormatValue(a.threshold, unit) + ")";
}

std::string SinceLine(const NotificationAlert& a) {
  std::string s = FormatRfc3339(a.since_ms);
  if (a.state == AlertState::kResolved && a.ends_ms != 0) s += " until " + FormatRfc3339(a.ends_ms);
  return s;
}

// "[FIRING CRITICAL] " or "[RESOLVED] ".
std::string StateTag(AlertState state, std::string_view level) {
  return state == AlertState::kFiring ? "[FIRING " + Upper(level) + "] " : "[RESOLVED] ";
}

// Adds k=v unless k is there already (the first wins).
void AddUnique(Pairs* out, std::string_view k, std::string_view v) {
  for (const auto& p : *out) {
    if (p.first == k) return;
  }
  out->emplace_back(std::string(k), std::string(v));
}

// Labels with alertname and severity first (unless the caller set them), the
// names unique (first wins), as Alertmanager's label sets are.
Pairs AlertLabels(const Notification& n, const NotificationAlert& a) {
  Pairs out;
  for (const auto& [k, v] : a.labels) AddUnique(&out, k, v);
  AddUnique(&out, "alertname", n.rule_name.empty() ? a.title : n.rule_name);
  AddUnique(&out, "severity", Lower(a.level));
  if (!n.project.empty()) AddUnique(&out, "project", n.project);
  std::sort(out.begin(), out.end());
  return out;
}

Pairs AlertAnnotations(const Notification& n, const NotificationAlert& a) {
  Pairs out;
  for (const auto& [k, v] : a.annotations) AddUnique(&out, k, v);
  AddUnique(&out, "summary", a.title);
  AddUnique(&out, "description", "value " + ValueLine(a, n.unit) + ", scope " + a.scope);
  AddUnique(&out, "value", FormatValue(a.value, ""));
  AddUnique(&out, "threshold", FormatValue(a.threshold, ""));
  std::sort(out.begin(), out.end());
  return out;
}

// The pairs every set holds with the same value (Alertmanager's common
// labels and annotations). REQUIRES: sets not empty, each sorted.
Pairs Common(const std::vector<Pairs>& sets) {
  Pairs out;
  for (const auto& p : sets[0]) {
    bool everywhere = std::all_of(sets.begin() + 1, sets.end(), [&](const Pairs& other) {
      return std::binary_search(other.begin(), other.end(), p);
    });
    if (everywhere) out.push_back(p);
  }
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
  const std::vector<NotificationAlert> members = MembersOf(n);
  const NotificationAlert& lead = members[0];
  const std::string head = StateTag(n.state, n.level);
  std::string fallback = head + n.title + " \xE2\x80\x94 ";
  if (members.size() == 1) {
    fallback += ValueLine(lead, n.unit) + ", " + lead.scope;
  } else {
    fallback += std::to_string(members.size()) + " alerts: " + lead.scope + ", \xE2\x80\xA6";
  }
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

  if (members.size() == 1) {
    w.StartObject();
    KeyStr(&w, "type", "section");
    Str(&w, "fields");
    w.StartArray();
    SlackText(&w, "mrkdwn", Truncate("*Value*\n" + SlackEscape(ValueLine(lead, n.unit)), 2000));
    SlackText(&w, "mrkdwn", Truncate("*Scope*\n" + SlackEscape(lead.scope), 2000));
    SlackText(&w, "mrkdwn", Truncate("*Since*\n" + SinceLine(lead), 2000));
    SlackText(&w, "mrkdwn", Truncate("*Rule*\n" + SlackEscape(n.rule_name), 2000));
    w.EndArray();
    w.EndObject();
  } else {
    // One line per alert, the first kSlackListed of them: a message of
    // hundreds of lines helps nobody, the link and the e-mail have them all.
    std::string list = "*Rule* " + SlackEscape(n.rule_name) + "\n";
    const size_t listed = std::min(members.size(), kSlackListed);
    for (size_t i = 0; i < listed; ++i) {
      const NotificationAlert& a = members[i];
      std::string line = StateTag(a.state, a.level) + SlackEscape(a.scope) + ": " +
                         SlackEscape(ValueLine(a, n.unit));
      // Our links are query-escaped; one that could end mrkdwn's <url|text> early is left out.
      if (!a.link.empty() && a.link.find_first_of("|<> ") == std::string::npos) {
        line = "<" + a.link + "|" + line + ">";
      }
      list += "\xE2\x80\xA2 " + line + "\n";
    }
    if (members.size() > listed) {
      list += "and " + std::to_string(members.size() - listed) + " more";
    }
    w.StartObject();
    KeyStr(&w, "type", "section");
    Str(&w, "text");
    SlackText(&w, "mrkdwn", Truncate(list, 3000));
    w.EndObject();
  }

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
  const std::vector<NotificationAlert> members = MembersOf(n);
  std::vector<Pairs> labels, annotations;
  for (const NotificationAlert& a : members) {
    labels.push_back(AlertLabels(n, a));
    annotations.push_back(AlertAnnotations(n, a));
  }
  const std::string alertname = n.rule_name.empty() ? members[0].title : n.rule_name;
  std::string escaped_name;
  for (char c : alertname) {
    if (c == '"' || c == '\\') escaped_name.push_back('\\');
    escaped_name.push_back(c);
  }

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
  Str(&w, "commonLabels");
  WritePairs(&w, Common(labels));
  Str(&w, "commonAnnotations");
  WritePairs(&w, Common(annotations));
  KeyStr(&w, "externalURL", external_url);
  Str(&w, "alerts");
  w.StartArray();
  for (size_t i = 0; i < members.size(); ++i) {
    const NotificationAlert& a = members[i];
    uint64_t fp = 0;
    for (const auto& [k, v] : labels[i]) fp = Hash64(v, Hash64(k, fp));
    char fingerprint[17];
    std::snprintf(fingerprint, sizeof(fingerprint), "%016llx", static_cast<unsigned long long>(fp));
    w.StartObject();
    KeyStr(&w, "status", AlertStateName(a.state));
    Str(&w, "labels");
    WritePairs(&w, labels[i]);
    Str(&w, "annotations");
    WritePairs(&w, annotations[i]);
    KeyStr(&w, "startsAt", FormatRfc3339(a.since_ms));
    KeyStr(&w, "endsAt", FormatRfc3339(a.state == AlertState::kResolved ? a.ends_ms : 0));
    KeyStr(&w, "generatorURL", a.link);
    KeyStr(&w, "fingerprint", fingerprint);
    w.EndObject();
  }
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

std::string EmailSubject(const Notification& n) { return StateTag(n.state, n.level) + n.title; }

std::string RenderEmail(const Notification& n, std::string_view from,
                        const std::vector<std::string>& to, int64_t now_ms) {
  std::string domain(from.substr(from.find('@') + 1));
  const std::string boundary = "loupe-" + n.id;
  const std::vector<NotificationAlert> members = MembersOf(n);

  std::string text = EmailSubject(n) + "\r\n\r\n";
  std::string html = "<!DOCTYPE html><html><body>";
  html += "<h2>" + HtmlEscape(EmailSubject(n)) + "</h2>";
  auto row = [&html](std::string_view k, std::string_view v) {
    html += "<tr><th align=\"left\">" + std::string(k) + "</th><td>" + HtmlEscape(v) + "</td></tr>";
  };
  if (members.size() == 1) {
    const NotificationAlert& a = members[0];
    text += "Value: " + ValueLine(a, n.unit) + "\r\n";
    text += "Scope: " + a.scope + "\r\n";
    text += "Since: " + SinceLine(a) + "\r\n";
    html += "<table>";
    row("Value", ValueLine(a, n.unit));
    row("Scope", a.scope);
    row("Since", SinceLine(a));
  } else {
    // Every alert of the group (AlertNotifier keeps groups to a size a mail
    // can list), each with its state, value, time and link.
    text += std::to_string(members.size()) + " alerts:\r\n";
    html +=
        "<table><tr><th align=\"left\">State</th><th align=\"left\">Scope</th>"
        "<th align=\"left\">Value</th><th align=\"left\">Since</th></tr>";
    for (const NotificationAlert& a : members) {
      std::string tag = StateTag(a.state, a.level);
      text += "- " + tag + a.scope + ": " + ValueLine(a, n.unit) + ", since " + SinceLine(a);
      if (!a.link.empty()) text += "\r\n  " + a.link;
      text += "\r\n";
      std::string scope = HtmlEscape(a.scope);
      if (!a.link.empty()) scope = "<a href=\"" + HtmlEscape(a.link) + "\">" + scope + "</a>";
      html += "<tr><td>" + HtmlEscape(tag) + "</td><td>" + scope + "</td><td>" +
              HtmlEscape(ValueLine(a, n.unit)) + "</td><td>" + HtmlEscape(SinceLine(a)) +
              "</td></tr>";
    }
    html += "</table><table>";
    text += "\r\n";
  }
  text += "Rule: " + n.rule_name + "\r\n";
  if (!n.project.empty()) text += "Project: " + n.project + "\r\n";
  if (!n.link.empty()) text += "\r\nOpen in Loupe: " + n.link + "\r\n";
  text += "\r\nNotification id: " + n.id + "\r\n";

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
