#include "notify/notification.h"

#include <bit>
#include <cmath>
#include <cstdio>

#include "common/coding.h"
#include "common/hash.h"

namespace loupe::notify {

namespace {

// Bumped when the encoding changes; Decode refuses versions it does not know
// rather than guessing (a queue written by a newer server).
constexpr uint8_t kEncodingVersion = 1;

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

}  // namespace

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
}

Result<Notification> DecodeNotification(std::string_view in) {
  Decoder d(in);
  Notification n;
  if (d.Byte() != kEncodingVersion) return Status::Corruption("notification: unknown encoding");
  n.id = d.String();
  n.project = d.String();
  n.rule_id = d.String();
  n.rule_name = d.String();
  n.alert_id = d.String();
  uint8_t state = d.Byte();
  if (state != static_cast<uint8_t>(AlertState::kFiring) &&
      state != static_cast<uint8_t>(AlertState::kResolved)) {
    return Status::Corruption("notification: bad state");
  }
  n.state = static_cast<AlertState>(state);
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
  if (!GetPairs(&d, &n.labels) || !GetPairs(&d, &n.annotations) || !d.ok() || !d.done()) {
    return Status::Corruption("notification: truncated or trailing bytes");
  }
  return n;
}

}  // namespace loupe::notify
