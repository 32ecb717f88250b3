#include "alert/alert_state.h"

#include <bit>

#include "common/coding.h"
#include "common/hash.h"

namespace loupe::alert {
namespace {

constexpr std::string_view kMagic = "LAS1";
constexpr uint64_t kHashSeed = 0x616c6572;  // "aler"

void PutAlert(std::string* out, const Alert& a) {
  PutVarint(out, a.alert_id);
  PutVarint(out, a.rule_id);
  PutVarint(out, a.project);
  PutString(out, a.scope.service);
  PutString(out, a.scope.instance);
  PutString(out, a.scope.endpoint);
  out->push_back(static_cast<char>(a.state));
  out->push_back(static_cast<char>(a.level));
  PutFixed64(out, std::bit_cast<uint64_t>(a.value));
  PutFixed64(out, std::bit_cast<uint64_t>(a.threshold));
  PutZigZag(out, a.since_us);
  PutZigZag(out, a.last_notified_us);
  out->push_back(static_cast<char>(a.muted));
}

bool GetAlert(Decoder* d, Alert* a) {
  a->alert_id = d->Varint();
  a->rule_id = d->Varint();
  a->project = d->Varint32();
  a->scope.service = d->String();
  a->scope.instance = d->String();
  a->scope.endpoint = d->String();
  uint8_t state = d->Byte();
  uint8_t level = d->Byte();
  if (state > static_cast<uint8_t>(AlertState::kFiring) ||
      level > static_cast<uint8_t>(Level::kCritical)) {
    return false;
  }
  a->state = static_cast<AlertState>(state);
  a->level = static_cast<Level>(level);
  a->value = std::bit_cast<double>(d->Fixed64());
  a->threshold = std::bit_cast<double>(d->Fixed64());
  a->since_us = d->ZigZag();
  a->last_notified_us = d->ZigZag();
  a->muted = d->Byte() != 0;
  return d->ok();
}

}  // namespace

void EncodeAlertState(const AlertStateData& s, std::string* out) {
  size_t start = out->size();
  out->append(kMagic);
  PutVarint(out, s.next_alert_id);
  PutVarint(out, s.held.size());
  for (const HeldAlert& h : s.held) {
    PutAlert(out, h.alert);
    out->push_back(static_cast<char>(h.notified_level));
    out->push_back(static_cast<char>(h.resolve_held));
    if (h.resolve_held) PutAlert(out, h.held_resolve);
  }
  PutVarint(out, s.history.size());
  for (const auto& [project, changes] : s.history) {
    PutVarint(out, project);
    PutVarint(out, changes.size());
    for (const AlertChange& c : changes) {
      out->push_back(static_cast<char>(c.kind));
      PutAlert(out, c.alert);
      PutZigZag(out, c.at_us);
      out->push_back(static_cast<char>((c.state_changed ? 1 : 0) | (c.notify ? 2 : 0)));
    }
  }
  PutFixed64(out, Hash64(std::string_view(*out).substr(start), kHashSeed));
}

Result<AlertStateData> DecodeAlertState(std::string_view in) {
  if (in.size() < kMagic.size() + 8 || in.substr(0, kMagic.size()) != kMagic) {
    return Status::Corruption("alert state: not an alert state file");
  }
  std::string_view body = in.substr(0, in.size() - 8);
  if (Hash64(body, kHashSeed) != DecodeFixed64(in.data() + body.size())) {
    return Status::Corruption("alert state: checksum mismatch");
  }
  Decoder d(body.substr(kMagic.size()));
  AlertStateData s;
  s.next_alert_id = d.Varint();
  uint64_t held = d.Varint();
  // Every entry takes more than 16 bytes: a larger count is damage, and
  // checking first keeps a bad count from reserving gigabytes.
  if (!d.ok() || held > d.remaining() / 16) return Status::Corruption("alert state: bad count");
  s.held.resize(held);
  for (HeldAlert& h : s.held) {
    if (!GetAlert(&d, &h.alert)) return Status::Corruption("alert state: bad alert");
    uint8_t level = d.Byte();
    if (level > static_cast<uint8_t>(Level::kCritical)) {
      return Status::Corruption("alert state: bad level");
    }
    h.notified_level = static_cast<Level>(level);
    h.resolve_held = d.Byte() != 0;
    if (h.resolve_held && !GetAlert(&d, &h.held_resolve)) {
      return Status::Corruption("alert state: bad held resolve");
    }
  }
  uint64_t projects = d.Varint();
  if (!d.ok() || projects > d.remaining()) return Status::Corruption("alert state: bad count");
  for (uint64_t p = 0; p < projects; ++p) {
    uint32_t project = d.Varint32();
    uint64_t n = d.Varint();
    if (!d.ok() || n > d.remaining() / 16) return Status::Corruption("alert state: bad count");
    std::deque<AlertChange>& changes = s.history[project];
    for (uint64_t i = 0; i < n; ++i) {
      AlertChange c;
      uint8_t kind = d.Byte();
      if (kind > static_cast<uint8_t>(AlertChange::Kind::kResolved)) {
        return Status::Corruption("alert state: bad change kind");
      }
      c.kind = static_cast<AlertChange::Kind>(kind);
      if (!GetAlert(&d, &c.alert)) return Status::Corruption("alert state: bad change");
      c.at_us = d.ZigZag();
      uint8_t flags = d.Byte();
      c.state_changed = flags & 1;
      c.notify = flags & 2;
      changes.push_back(std::move(c));
    }
  }
  if (!d.ok() || !d.done()) return Status::Corruption("alert state: truncated or trailing bytes");
  return s;
}

}  // namespace loupe::alert
