#include "notify/notification.h"

#include <bit>
#include <cmath>
#include <cstdio>

#include "common/coding.h"
#include "common/hash.h"

namespace loupe::notify {

namespace {

// Bumped when the encoding changes; Decode refuses versions it does not know
// rather than guessing (a queue written by a newer server). 1: one alert;
// 2: version 1's fields, then the members of a grouped notification.
constexpr uint8_t kEncodingVersion = 2;
constexpr uint8_t kEncodingVersionSingle = 1;

void PutPairs(std::string* out, const Pairs& pairs) {
  PutVarint(out, pairs.size());
  for (const auto& [k, v] : pairs) {
    PutString(out, k);
    PutString(out, v);
  }
}

bool GetPairs(Decoder* d, Pairs* pairs) {
  uint64_t n = d->Varint();
  // Each pair takes at least two bytes: a count beyond that is damage, and
  // checking it first keeps a corrupt count from reserving gigabytes.
  if (!d->ok() || n > d->remaining() / 2) return false;
  pairs->reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    std::string k(d->String());
    std::string v(d->String());
    pairs->emplace_back(std::move(k), std::move(v));
  }
  return d->ok();
}

void PutMember(std::string* out, const NotificationAlert& a) {
  PutString(out, a.alert_id);
  out->push_back(static_cast<char>(a.state));
  PutString(out, a.level);
  PutString(out, a.title);
  PutFixed64(out, std::bit_cast<uint64_t>(a.value));
  PutFixed64(out, std::bit_cast<uint64_t>(a.threshold));
  PutString(out, a.scope);
  PutZigZag(out, a.since_ms);
  PutZigZag(out, a.ends_ms);
  PutString(out, a.link);
  PutPairs(out, a.labels);
  PutPairs(out, a.annotations);
}

bool GetState(Decoder* d, AlertState* state) {
  uint8_t s = d->Byte();
  if (s != static_cast<uint8_t>(AlertState::kFiring) &&
      s != static_cast<uint8_t>(AlertState::kResolved)) {
    return false;
  }
  *state = static_cast<AlertState>(s);
  return true;
}

bool GetMember(Decoder* d, NotificationAlert* a) {
  a->alert_id = d->String();
  if (!GetState(d, &a->state)) return false;
  a->level = d->String();
  a->title = d->String();
  a->value = std::bit_cast<double>(d->Fixed64());
  a->threshold = std::bit_cast<double>(d->Fixed64());
  a->scope = d->String();
  a->since_ms = d->ZigZag();
  a->ends_ms = d->ZigZag();
  a->link = d->String();
  return GetPairs(d, &a->labels) && GetPairs(d, &a->annotations) && d->ok();
}

}  // namespace

std::vector<NotificationAlert> MembersOf(const Notification& n) {
  if (!n.alerts.empty()) return n.alerts;
  return {NotificationAlert{n.alert_id, n.state, n.level, n.title, n.value, n.threshold, n.scope,
                            n.since_ms, n.ends_ms, n.link, n.labels, n.annotations}};
}

std::string MakeGroupNotificationId(const std::vector<std::string>& member_ids) {
  if (member_ids.size() == 1) return member_ids[0];
  std::string key = "group";
  for (const std::string& id : member_ids) {
    key.push_back('\0');
    key += id;
  }
  char buf[33];
  std::snprintf(buf, sizeof(buf), "%016llx%016llx", static_cast<unsigned long long>(Hash64(key, 1)),
                static_cast<unsigned long long>(Hash64(key, 2)));
  return buf;
}

std::string_view AlertStateName(AlertState s) noexcept {
  return s == AlertState::kResolved ? "resolved" : "firing";
}

std::string MakeNotificationId(std::string_view alert_id, AlertState state, int64_t at_ms) {
  std::string key(alert_id);
  key.push_back('\0');
  key.push_back(static_cast<char>(state));
  PutFixed64(&key, static_cast<uint64_t>(at_ms));
  // Two seeds give 128 bits, so distinct transitions do not collide in
  // practice even across many projects.
  char buf[33];
  std::snprintf(buf, sizeof(buf), "%016llx%016llx", static_cast<unsigned long long>(Hash64(key, 1)),
                static_cast<unsigned long long>(Hash64(key, 2)));
  return buf;
}

std::string FormatValue(double v, std::string_view unit) {
  char buf[64];
  if (!std::isfinite(v)) {
    std::snprintf(buf, sizeof(buf), "%s", std::isnan(v) ? "no data" : (v > 0 ? "inf" : "-inf"));
  } else {
    std::snprintf(buf, sizeof(buf), "%.3f", v);
    // Trim trailing zeros of the fraction ("12.500" -> "12.5", "3.000" -> "3").
    std::string s(buf);
    while (!s.empty() && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
    if (s == "-0") s = "0";
    std::snprintf(buf, sizeof(buf), "%s", s.c_str());
  }
  std::string out(buf);
  if (!unit.empty() && std::isfinite(v)) {
    out.push_back(' ');
    out.append(unit);
  }
  return out;
}

void EncodeNotification(const Notification& n, std::string* out) {
  out->push_back(static_cast<char>(kEncodingVersion));
  PutString(out, n.id);
  PutString(out, n.project);
  PutString(out, n.rule_id);
  PutString(out, n.rule_name);
  PutString(out, n.alert_id);
  out->push_back(static_cast<char>(n.state));
  PutString(out, n.level);
  PutString(out, n.title);
  PutString(out, n.signal);
  PutFixed64(out, std::bit_cast<uint64_t>(n.value));
  PutFixed64(out, std::bit_cast<uint64_t>(n.threshold));
  PutString(out, n.unit);
  PutString(out, n.scope);
  PutZigZag(out, n.since_ms);
  PutZigZag(out, n.ends_ms);
  PutString(out, n.link);
  PutPairs(out, n.labels);
  PutPairs(out, n.annotations);
  PutVarint(out, n.alerts.size());
  for (const NotificationAlert& a : n.alerts) PutMember(out, a);
}

Result<Notification> DecodeNotification(std::string_view in) {
  Decoder d(in);
  Notification n;
  const uint8_t version = d.Byte();
  if (version != kEncodingVersion && version != kEncodingVersionSingle) {
    return Status::Corruption("notification: unknown encoding");
  }
  n.id = d.String();
  n.project = d.String();
  n.rule_id = d.String();
  n.rule_name = d.String();
  n.alert_id = d.String();
  if (!GetState(&d, &n.state)) return Status::Corruption("notification: bad state");
  n.level = d.String();
  n.title = d.String();
  n.signal = d.String();
  n.value = std::bit_cast<double>(d.Fixed64());
  n.threshold = std::bit_cast<double>(d.Fixed64());
  n.unit = d.String();
  n.scope = d.String();
  n.since_ms = d.ZigZag();
  n.ends_ms = d.ZigZag();
  n.link = d.String();
  if (!GetPairs(&d, &n.labels) || !GetPairs(&d, &n.annotations) || !d.ok()) {
    return Status::Corruption("notification: truncated");
  }
  if (version == kEncodingVersion) {
    uint64_t members = d.Varint();
    // A member takes at least 30 bytes: a larger count is damage.
    if (!d.ok() || members > d.remaining() / 30) {
      return Status::Corruption("notification: bad count");
    }
    n.alerts.resize(members);
    for (NotificationAlert& a : n.alerts) {
      if (!GetMember(&d, &a)) return Status::Corruption("notification: bad member");
    }
  }
  if (!d.ok() || !d.done()) return Status::Corruption("notification: truncated or trailing bytes");
  return n;
}

}  // namespace loupe::notify
