#include "alert/rule.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <array>
#include <cmath>
#include <string>
#include <utility>

namespace loupe::alert {
namespace {

constexpr std::array<std::pair<Signal, std::string_view>, 11> kSignals = {{
    {Signal::kTps, "tps"},
    {Signal::kCalls, "calls"},
    {Signal::kResponseTime, "response_time"},
    {Signal::kP95, "p95"},
    {Signal::kP99, "p99"},
    {Signal::kErrorRate, "error_rate"},
    {Signal::kErrorCount, "error_count"},
    {Signal::kActive, "active"},
    {Signal::kThrottled, "throttled"},
    {Signal::kInstanceDown, "instance_down"},
    {Signal::kEvent, "event"},
}};

constexpr std::string_view kBaselines[] = {"none", "yesterday", "last_week"};
constexpr std::string_view kNoData[] = {"keep", "ok", "alerting"};
constexpr std::string_view kWeekdays[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

Status Field(std::string_view field, std::string_view problem) {
  std::string m(field);
  m += ": ";
  m += problem;
  return Status::InvalidArgument(m);
}

bool ValidScopeText(const std::string& s) {
  if (s.size() > kMaxScopeBytes) return false;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

using rapidjson::Value;

// Readers that say which member was wrong. Each returns OK and leaves *out
// alone when the member is absent.
Status ReadString(const Value& o, const char* key, std::string* out) {
  auto it = o.FindMember(key);
  if (it == o.MemberEnd() || it->value.IsNull()) return Status::OK();
  if (!it->value.IsString()) return Field(key, "must be a string");
  out->assign(it->value.GetString(), it->value.GetStringLength());
  return Status::OK();
}

Status ReadInt(const Value& o, const char* key, int64_t* out) {
  auto it = o.FindMember(key);
  if (it == o.MemberEnd() || it->value.IsNull()) return Status::OK();
  if (it->value.IsInt64()) {
    *out = it->value.GetInt64();
    return Status::OK();
  }
  if (it->value.IsDouble()) {
    double d = it->value.GetDouble();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) {
      *out = static_cast<int64_t>(d);
      return Status::OK();
    }
  }
  return Field(key, "must be an integer");
}

Status ReadDouble(const Value& o, const char* key, std::optional<double>* out) {
  auto it = o.FindMember(key);
  if (it == o.MemberEnd() || it->value.IsNull()) return Status::OK();
  if (!it->value.IsNumber()) return Field(key, "must be a number");
  *out = it->value.GetDouble();
  return Status::OK();
}

Status ReadBool(const Value& o, const char* key, bool* out) {
  auto it = o.FindMember(key);
  if (it == o.MemberEnd() || it->value.IsNull()) return Status::OK();
  if (!it->value.IsBool()) return Field(key, "must be true or false");
  *out = it->value.GetBool();
  return Status::OK();
}

template <size_t N>
Status ReadEnum(const Value& o, const char* key, const std::string_view (&names)[N], uint8_t* out) {
  std::string s;
  bool present = o.HasMember(key) && !o[key].IsNull();
  LOUPE_RETURN_IF_ERROR(ReadString(o, key, &s));
  if (!present) return Status::OK();
  for (size_t i = 0; i < N; ++i) {
    if (names[i] == s) {
      *out = static_cast<uint8_t>(i);
      return Status::OK();
    }
  }
  std::string allowed;
  for (size_t i = 0; i < N; ++i) {
    if (i) allowed += ", ";
    allowed += names[i];
  }
  return Field(key, "must be one of " + allowed);
}

// "HH:MM" → minutes of the day; "24:00" is allowed as an end.
bool ParseClock(std::string_view s, int* minutes) {
  if (s.size() != 5 || s[2] != ':') return false;
  for (size_t i : {0u, 1u, 3u, 4u}) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  int h = (s[0] - '0') * 10 + (s[1] - '0');
  int m = (s[3] - '0') * 10 + (s[4] - '0');
  if (m > 59 || h > 24 || (h == 24 && m != 0)) return false;
  *minutes = h * 60 + m;
  return true;
}

// "UTC", "UTC+09:00", "UTC-05:30" → minutes east of UTC.
bool ParseOffset(std::string_view s, int* minutes) {
  if (s == "UTC" || s == "Z") {
    *minutes = 0;
    return true;
  }
  if (s.size() != 9 || s.substr(0, 3) != "UTC" || (s[3] != '+' && s[3] != '-')) return false;
  int m = 0;
  if (!ParseClock(s.substr(4), &m) || m > 14 * 60) return false;
  *minutes = s[3] == '-' ? -m : m;
  return true;
}

std::string ClockText(int minutes) {
  std::string out = "00:00";
  out[0] = static_cast<char>('0' + minutes / 600 % 10);
  out[1] = static_cast<char>('0' + minutes / 60 % 10);
  out[3] = static_cast<char>('0' + minutes % 60 / 10);
  out[4] = static_cast<char>('0' + minutes % 10);
  return out;
}

std::string OffsetText(int minutes) {
  if (minutes == 0) return "UTC";
  return std::string("UTC") + (minutes < 0 ? "-" : "+") + ClockText(std::abs(minutes));
}

Status ReadQuiet(const Value& o, QuietHours* q) {
  auto it = o.FindMember("quiet_hours");
  if (it == o.MemberEnd() || it->value.IsNull()) return Status::OK();
  const Value& v = it->value;
  if (!v.IsObject()) return Field("quiet_hours", "must be an object");
  for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
    std::string_view k(m->name.GetString(), m->name.GetStringLength());
    if (k != "days" && k != "from" && k != "to" && k != "tz") {
      return Field("quiet_hours." + std::string(k), "unknown member");
    }
  }
  q->weekdays = 0;
  auto days = v.FindMember("days");
  if (days == v.MemberEnd() || !days->value.IsArray() || days->value.Empty()) {
    return Field("quiet_hours.days", "must be a non-empty array of sun, mon, … sat");
  }
  for (const Value& d : days->value.GetArray()) {
    std::string_view name = d.IsString() ? std::string_view(d.GetString(), d.GetStringLength())
                                         : std::string_view();
    size_t i = 0;
    while (i < 7 && kWeekdays[i] != name) ++i;
    if (i == 7) return Field("quiet_hours.days", "must hold sun, mon, tue, wed, thu, fri or sat");
    q->weekdays |= static_cast<uint8_t>(1u << i);
  }
  std::string from, to, tz = "UTC";
  LOUPE_RETURN_IF_ERROR(ReadString(v, "from", &from));
  LOUPE_RETURN_IF_ERROR(ReadString(v, "to", &to));
  LOUPE_RETURN_IF_ERROR(ReadString(v, "tz", &tz));
  if (!ParseClock(from, &q->from_minute) || q->from_minute >= 1440) {
    return Field("quiet_hours.from", "must be HH:MM (00:00–23:59)");
  }
  if (!ParseClock(to, &q->to_minute)) return Field("quiet_hours.to", "must be HH:MM (00:00–24:00)");
  q->zone.clear();
  q->tz.reset();
  if (!ParseOffset(tz, &q->tz_offset_minutes)) {
    Result<std::shared_ptr<const TimeZone>> zone = TimeZone::Named(tz);
    if (!zone.ok()) {
      return Field("quiet_hours.tz",
                   "must be UTC, UTC±HH:MM (at most 14 hours) or a time zone this server knows, "
                   "such as Europe/Berlin");
    }
    q->tz_offset_minutes = 0;
    q->zone = tz;
    q->tz = *std::move(zone);
  }
  return Status::OK();
}

constexpr std::string_view kMembers[] = {
    "name",     "enabled",      "service",    "instance", "endpoint",    "signal",
    "event_type", "band",       "window_s",   "for_s",    "comparison",  "warning",
    "critical", "baseline",     "min_volume", "no_data",  "channels",    "repeat_minutes",
    "send_resolved", "quiet_hours",
    // Shown by GET, ignored on input, so a GET answer can be sent back.
    "id", "firing", "pending"};

}  // namespace

std::string_view SignalName(Signal s) noexcept {
  for (const auto& [sig, name] : kSignals) {
    if (sig == s) return name;
  }
  return "unknown";
}

std::optional<Signal> ParseSignal(std::string_view name) noexcept {
  for (const auto& [sig, n] : kSignals) {
    if (n == name) return sig;
  }
  return std::nullopt;
}

Status ValidateRule(const AlertRule& r) {
  if (r.name.empty() || r.name.size() > kMaxRuleNameBytes || !ValidScopeText(r.name)) {
    return Field("name", "must be 1 to 200 bytes without control characters");
  }
  if (!ValidScopeText(r.service)) return Field("service", "too long or has control characters");
  if (!ValidScopeText(r.instance)) return Field("instance", "too long or has control characters");
  if (!ValidScopeText(r.endpoint)) return Field("endpoint", "too long or has control characters");
  if (r.service.empty() && !r.instance.empty()) return Field("instance", "needs a service");
  if (r.service.empty() && !r.endpoint.empty()) return Field("endpoint", "needs a service");
  if (!r.instance.empty() && !r.endpoint.empty()) {
    return Field("endpoint", "a rule scopes an instance or an endpoint, not both");
  }
  if (r.window_s < 5 || r.window_s > 86400) return Field("window_s", "must be 5 to 86400");
  if (r.for_s < 0 || r.for_s > 86400) return Field("for_s", "must be 0 to 86400");
  if (r.signal == Signal::kEvent) {
    if (r.event_type.empty() || r.event_type.size() > 64) {
      return Field("event_type", "is required for signal event (1 to 64 bytes)");
    }
  } else if (!r.event_type.empty()) {
    return Field("event_type", "only applies to signal event");
  }
  if (r.band < -1 || r.band > 3) return Field("band", "must be -1 (all) or 0 to 3");
  if (r.band != -1 && r.signal != Signal::kActive) return Field("band", "only applies to signal active");
  if (!r.warning && !r.critical) return Field("critical", "a rule needs warning, critical or both");
  for (const auto& [name, v] : {std::pair{"warning", r.warning}, std::pair{"critical", r.critical}}) {
    if (v && (!std::isfinite(*v) || *v < 0)) return Field(name, "must be a number >= 0");
  }
  if (r.warning && r.critical) {
    bool ordered = r.comparison == Comparison::kAbove ? *r.warning <= *r.critical
                                                      : *r.warning >= *r.critical;
    if (!ordered) {
      return Field("warning", r.comparison == Comparison::kAbove
                                  ? "must not be above critical"
                                  : "must not be below critical (comparison below)");
    }
  }
  if (r.signal == Signal::kErrorRate && r.baseline == Baseline::kNone) {
    for (const auto& [name, v] : {std::pair{"warning", r.warning}, std::pair{"critical", r.critical}}) {
      if (v && *v > 100) return Field(name, "an error rate is a percentage (0 to 100)");
    }
  }
  if (r.baseline != Baseline::kNone &&
      (r.signal == Signal::kInstanceDown || r.signal == Signal::kActive)) {
    return Field("baseline", "does not apply to signal " + std::string(SignalName(r.signal)));
  }
  if (r.min_volume < 0 || r.min_volume > 1'000'000'000) return Field("min_volume", "must be 0 to 1e9");
  if (r.channels.size() > kMaxChannelsPerRule) return Field("channels", "at most 20 channels");
  if (r.repeat_minutes < 0 || r.repeat_minutes > 10080) {
    return Field("repeat_minutes", "must be 0 (never) to 10080");
  }
  if (r.quiet.weekdays != 0) {
    if (r.quiet.from_minute < 0 || r.quiet.from_minute >= 1440 || r.quiet.to_minute < 0 ||
        r.quiet.to_minute > 1440 || r.quiet.from_minute == r.quiet.to_minute) {
      return Field("quiet_hours", "from and to must differ");
    }
    if ((r.quiet.tz == nullptr) != r.quiet.zone.empty()) {
      return Field("quiet_hours.tz", "a time zone name needs its zone loaded");
    }
    if (r.quiet.tz_offset_minutes < -840 || r.quiet.tz_offset_minutes > 840) {
      return Field("quiet_hours.tz", "at most 14 hours from UTC");
    }
  }
  return Status::OK();
}

Result<AlertRule> ParseRule(std::string_view json) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
  if (d.HasParseError()) {
    return Status::InvalidArgument(std::string("body: invalid JSON: ") +
                                   rapidjson::GetParseError_En(d.GetParseError()));
  }
  if (!d.IsObject()) return Field("body", "must be a JSON object");
  for (auto m = d.MemberBegin(); m != d.MemberEnd(); ++m) {
    std::string_view k(m->name.GetString(), m->name.GetStringLength());
    bool known = false;
    for (std::string_view name : kMembers) known = known || name == k;
    if (!known) return Field(std::string(k), "unknown member");
  }
  AlertRule r;
  LOUPE_RETURN_IF_ERROR(ReadString(d, "name", &r.name));
  LOUPE_RETURN_IF_ERROR(ReadBool(d, "enabled", &r.enabled));
  LOUPE_RETURN_IF_ERROR(ReadString(d, "service", &r.service));
  LOUPE_RETURN_IF_ERROR(ReadString(d, "instance", &r.instance));
  LOUPE_RETURN_IF_ERROR(ReadString(d, "endpoint", &r.endpoint));
  std::string signal;
  LOUPE_RETURN_IF_ERROR(ReadString(d, "signal", &signal));
  if (signal.empty()) return Field("signal", "is required");
  auto sig = ParseSignal(signal);
  if (!sig) {
    return Field("signal",
                 "must be one of tps, calls, response_time, p95, p99, error_rate, error_count, "
                 "active, throttled, instance_down, event");
  }
  r.signal = *sig;
  LOUPE_RETURN_IF_ERROR(ReadString(d, "event_type", &r.event_type));
  int64_t band = r.band;
  LOUPE_RETURN_IF_ERROR(ReadInt(d, "band", &band));
  if (band < -1 || band > 3) return Field("band", "must be -1 (all) or 0 to 3");
  r.band = static_cast<int>(band);
  LOUPE_RETURN_IF_ERROR(ReadInt(d, "window_s", &r.window_s));
  LOUPE_RETURN_IF_ERROR(ReadInt(d, "for_s", &r.for_s));
  uint8_t cmp = 0;
  constexpr std::string_view kComparisons[] = {"above", "below"};
  LOUPE_RETURN_IF_ERROR(ReadEnum(d, "comparison", kComparisons, &cmp));
  r.comparison = static_cast<Comparison>(cmp);
  LOUPE_RETURN_IF_ERROR(ReadDouble(d, "warning", &r.warning));
  LOUPE_RETURN_IF_ERROR(ReadDouble(d, "critical", &r.critical));
  uint8_t baseline = 0;
  LOUPE_RETURN_IF_ERROR(ReadEnum(d, "baseline", kBaselines, &baseline));
  r.baseline = static_cast<Baseline>(baseline);
  LOUPE_RETURN_IF_ERROR(ReadInt(d, "min_volume", &r.min_volume));
  uint8_t no_data = 0;
  LOUPE_RETURN_IF_ERROR(ReadEnum(d, "no_data", kNoData, &no_data));
  r.no_data = static_cast<NoData>(no_data);
  if (auto it = d.FindMember("channels"); it != d.MemberEnd() && !it->value.IsNull()) {
    if (!it->value.IsArray()) return Field("channels", "must be an array of channel ids");
    for (const Value& c : it->value.GetArray()) {
      if (!c.IsUint64() || c.GetUint64() == 0) return Field("channels", "must hold channel ids");
      r.channels.push_back(c.GetUint64());
    }
  }
  LOUPE_RETURN_IF_ERROR(ReadInt(d, "repeat_minutes", &r.repeat_minutes));
  LOUPE_RETURN_IF_ERROR(ReadBool(d, "send_resolved", &r.send_resolved));
  LOUPE_RETURN_IF_ERROR(ReadQuiet(d, &r.quiet));
  LOUPE_RETURN_IF_ERROR(ValidateRule(r));
  return r;
}

std::string RuleToJson(const AlertRule& r) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  auto str = [&](const char* k, const std::string& v) {
    w.Key(k);
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  };
  w.StartObject();
  w.Key("id");
  w.Uint64(r.id);
  str("name", r.name);
  w.Key("enabled");
  w.Bool(r.enabled);
  str("service", r.service);
  str("instance", r.instance);
  str("endpoint", r.endpoint);
  w.Key("signal");
  std::string_view sig = SignalName(r.signal);
  w.String(sig.data(), static_cast<rapidjson::SizeType>(sig.size()));
  if (r.signal == Signal::kEvent) str("event_type", r.event_type);
  if (r.signal == Signal::kActive) {
    w.Key("band");
    w.Int(r.band);
  }
  w.Key("window_s");
  w.Int64(r.window_s);
  w.Key("for_s");
  w.Int64(r.for_s);
  w.Key("comparison");
  w.String(r.comparison == Comparison::kAbove ? "above" : "below");
  w.Key("warning");
  r.warning ? (void)w.Double(*r.warning) : (void)w.Null();
  w.Key("critical");
  r.critical ? (void)w.Double(*r.critical) : (void)w.Null();
  w.Key("baseline");
  std::string_view b = kBaselines[static_cast<int>(r.baseline)];
  w.String(b.data(), static_cast<rapidjson::SizeType>(b.size()));
  w.Key("min_volume");
  w.Int64(r.min_volume);
  w.Key("no_data");
  std::string_view nd = kNoData[static_cast<int>(r.no_data)];
  w.String(nd.data(), static_cast<rapidjson::SizeType>(nd.size()));
  w.Key("channels");
  w.StartArray();
  for (uint64_t c : r.channels) w.Uint64(c);
  w.EndArray();
  w.Key("repeat_minutes");
  w.Int64(r.repeat_minutes);
  w.Key("send_resolved");
  w.Bool(r.send_resolved);
  w.Key("quiet_hours");
  if (r.quiet.weekdays == 0) {
    w.Null();
  } else {
    w.StartObject();
    w.Key("days");
    w.StartArray();
    for (int i = 0; i < 7; ++i) {
      if (r.quiet.weekdays & (1u << i)) w.String(kWeekdays[i].data(), 3);
    }
    w.EndArray();
    str("from", ClockText(r.quiet.from_minute));
    str("to", ClockText(r.quiet.to_minute));
    str("tz", r.quiet.zone.empty() ? OffsetText(r.quiet.tz_offset_minutes) : r.quiet.zone);
    w.EndObject();
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace loupe::alert
