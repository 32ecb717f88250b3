#include "alert/alert_config.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <utility>

namespace loupe::alert {
namespace {

constexpr char kFileName[] = "alerts.json";
constexpr size_t kMaxUrlBytes = 2048;
constexpr size_t kMaxAddresses = 50;
constexpr size_t kMaxCommentBytes = 1024;

using rapidjson::Value;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

Status Field(std::string_view field, std::string_view problem) {
  return Status::InvalidArgument(std::string(field) + ": " + std::string(problem));
}

bool HasControl(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// An address a mail header can carry: local@domain, no spaces or controls
// (a CR/LF would inject headers), nothing a mail client would read as a
// second address.
bool ValidAddress(std::string_view a) {
  size_t at = a.find('@');
  if (a.empty() || a.size() > 254 || at == 0 || at == std::string_view::npos ||
      at + 1 == a.size() || a.find('@', at + 1) != std::string_view::npos) {
    return false;
  }
  for (char c : a) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == ',' || c == ';' || c == '<' ||
        c == '>' || c == '"' || c == '(' || c == ')' || c == '\\') {
      return false;
    }
  }
  return a.substr(at + 1).find('.') != std::string_view::npos;
}

bool ValidUrl(std::string_view u) {
  bool scheme = u.rfind("https://", 0) == 0 || u.rfind("http://", 0) == 0;
  if (!scheme || u.size() > kMaxUrlBytes) return false;
  size_t host = u.find("://") + 3;
  if (host >= u.size() || u[host] == '/') return false;
  return std::none_of(u.begin(), u.end(), [](char c) {  // ASCII, percent-encoded
    return static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f;
  });
}

// "https://hooks.slack.com/services/T0/B0/XXXX" → "https://hooks.slack.com/…"
std::string RedactUrl(const std::string& url) {
  size_t host = url.find("://");
  if (host == std::string::npos) return "";
  size_t path = url.find_first_of("/?#", host + 3);
  std::string out = url.substr(0, path);
  size_t at = out.find('@', host + 3);  // user:password@host
  if (at != std::string::npos) out = out.substr(0, host + 3) + out.substr(at + 1);
  return path == std::string::npos ? out : out + "/…";
}

std::string_view Str(const Value& v) { return {v.GetString(), v.GetStringLength()}; }

void String(Writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

Status CheckMembers(const Value& o, std::initializer_list<std::string_view> known) {
  for (auto m = o.MemberBegin(); m != o.MemberEnd(); ++m) {
    if (std::find(known.begin(), known.end(), Str(m->name)) == known.end()) {
      return Field(Str(m->name), "unknown member");
    }
  }
  return Status::OK();
}

Result<rapidjson::Document> ParseObject(std::string_view json) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
  if (d.HasParseError()) {
    return Status::InvalidArgument(std::string("body: invalid JSON: ") +
                                   rapidjson::GetParseError_En(d.GetParseError()));
  }
  if (!d.IsObject()) return Field("body", "must be a JSON object");
  return d;
}

void WriteChannel(Writer& w, const Channel& c, bool redact) {
  w.StartObject();
  w.Key("id");
  w.Uint64(c.id);
  w.Key("name");
  String(w, c.name);
  w.Key("type");
  String(w, ChannelTypeName(c.type));
  w.Key("enabled");
  w.Bool(c.enabled);
  if (c.type == ChannelType::kEmail) {
    w.Key("addresses");
    w.StartArray();
    for (const auto& a : c.addresses) String(w, a);
    w.EndArray();
  } else if (redact) {
    w.Key("url");
    String(w, RedactUrl(c.url));
    w.Key("has_url");
    w.Bool(!c.url.empty());
  } else {
    w.Key("url");
    String(w, c.url);
  }
  w.EndObject();
}

void WriteSilence(Writer& w, const Silence& s) {
  w.StartObject();
  w.Key("id");
  w.Uint64(s.id);
  w.Key("rule_id");
  w.Uint64(s.rule_id);
  w.Key("service");
  String(w, s.service);
  w.Key("instance");
  String(w, s.instance);
  w.Key("endpoint");
  String(w, s.endpoint);
  w.Key("start_ms");
  w.Int64(s.start_us / 1000);
  w.Key("end_ms");
  w.Int64(s.end_us / 1000);
  w.Key("comment");
  String(w, s.comment);
  w.EndObject();
}

std::string ValueToString(const Value& v) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  v.Accept(w);
  return std::string(sb.GetString(), sb.GetSize());
}

}  // namespace

std::string_view ChannelTypeName(ChannelType t) noexcept {
  switch (t) {
    case ChannelType::kEmail: return "email";
    case ChannelType::kSlack: return "slack";
    case ChannelType::kWebhook: return "webhook";
  }
  return "webhook";
}

Result<Channel> ParseChannel(std::string_view json, const Channel* existing) {
  auto doc = ParseObject(json);
  if (!doc.ok()) return doc.status();
  const Value& d = *doc;
  LOUPE_RETURN_IF_ERROR(CheckMembers(d, {"id", "name", "type", "addresses", "url", "enabled", "has_url"}));
  Channel c = existing ? *existing : Channel{};
  if (d.HasMember("name")) {
    if (!d["name"].IsString()) return Field("name", "must be a string");
    c.name = std::string(Str(d["name"]));
  }
  if (c.name.empty() || c.name.size() > 200 || HasControl(c.name)) {
    return Field("name", "must be 1 to 200 bytes without control characters");
  }
  if (d.HasMember("type")) {
    std::string_view t = d["type"].IsString() ? Str(d["type"]) : "";
    ChannelType type;
    if (t == "email") {
      type = ChannelType::kEmail;
    } else if (t == "slack") {
      type = ChannelType::kSlack;
    } else if (t == "webhook") {
      type = ChannelType::kWebhook;
    } else {
      return Field("type", "must be email, slack or webhook");
    }
    if (existing && type != existing->type) return Field("type", "cannot change; add a new channel");
    c.type = type;
  } else if (!existing) {
    return Field("type", "is required (email, slack or webhook)");
  }
  if (d.HasMember("enabled")) {
    if (!d["enabled"].IsBool()) return Field("enabled", "must be true or false");
    c.enabled = d["enabled"].GetBool();
  }
  if (c.type == ChannelType::kEmail) {
    if (d.HasMember("url")) return Field("url", "an email channel has addresses, not a url");
    if (d.HasMember("addresses")) {
      const Value& a = d["addresses"];
      if (!a.IsArray()) return Field("addresses", "must be an array of e-mail addresses");
      c.addresses.clear();
      for (const Value& x : a.GetArray()) {
        if (!x.IsString() || !ValidAddress(Str(x))) {
          return Field("addresses", "must hold e-mail addresses (name@example.com)");
        }
        c.addresses.emplace_back(Str(x));
      }
    }
    if (c.addresses.empty() || c.addresses.size() > kMaxAddresses) {
      return Field("addresses", "1 to 50 e-mail addresses");
    }
  } else {
    if (d.HasMember("addresses")) return Field("addresses", "only an email channel has addresses");
    // A GET answer sent back carries the redacted URL: keep the stored one.
    bool echoed = existing && d.HasMember("url") && d["url"].IsString() &&
                  Str(d["url"]) == RedactUrl(existing->url);
    if (d.HasMember("url") && !echoed) {
      if (!d["url"].IsString() || !ValidUrl(Str(d["url"]))) {
        return Field("url", "must be an http:// or https:// URL of at most 2048 bytes");
      }
      c.url = std::string(Str(d["url"]));
    }
    if (c.url.empty()) return Field("url", "is required for a " + std::string(ChannelTypeName(c.type)) + " channel");
  }
  return c;
}

std::string ChannelToJson(const Channel& c) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  WriteChannel(w, c, true);
  return std::string(sb.GetString(), sb.GetSize());
}

Result<Silence> ParseSilence(std::string_view json, int64_t now_us) {
  auto doc = ParseObject(json);
  if (!doc.ok()) return doc.status();
  const Value& d = *doc;
  LOUPE_RETURN_IF_ERROR(CheckMembers(
      d, {"id", "rule_id", "service", "instance", "endpoint", "start_ms", "end_ms", "duration_s",
          "comment"}));
  Silence s;
  auto str = [&](const char* key, std::string* out) -> Status {
    if (!d.HasMember(key) || d[key].IsNull()) return Status::OK();
    if (!d[key].IsString() || d[key].GetStringLength() > kMaxScopeBytes || HasControl(Str(d[key]))) {
      return Field(key, "must be a string of at most 1024 bytes without control characters");
    }
    *out = std::string(Str(d[key]));
    return Status::OK();
  };
  LOUPE_RETURN_IF_ERROR(str("service", &s.service));
  LOUPE_RETURN_IF_ERROR(str("instance", &s.instance));
  LOUPE_RETURN_IF_ERROR(str("endpoint", &s.endpoint));
  if (d.HasMember("comment")) {
    if (!d["comment"].IsString() || d["comment"].GetStringLength() > kMaxCommentBytes) {
      return Field("comment", "must be a string of at most 1024 bytes");
    }
    s.comment = std::string(Str(d["comment"]));
  }
  if (d.HasMember("rule_id") && !d["rule_id"].IsNull()) {
    if (!d["rule_id"].IsUint64()) return Field("rule_id", "must be a rule id");
    s.rule_id = d["rule_id"].GetUint64();
  }
  s.start_us = now_us;
  if (d.HasMember("start_ms")) {
    if (!d["start_ms"].IsInt64()) return Field("start_ms", "must be Unix milliseconds");
    s.start_us = d["start_ms"].GetInt64() * 1000;
  }
  if (d.HasMember("end_ms") == d.HasMember("duration_s")) {
    return Field("end_ms", "give end_ms or duration_s (one of them)");
  }
  if (d.HasMember("end_ms")) {
    if (!d["end_ms"].IsInt64()) return Field("end_ms", "must be Unix milliseconds");
    s.end_us = d["end_ms"].GetInt64() * 1000;
  } else {
    if (!d["duration_s"].IsInt64() || d["duration_s"].GetInt64() <= 0 ||
        d["duration_s"].GetInt64() > 366 * 86400) {
      return Field("duration_s", "must be 1 to 31622400 seconds");
    }
    s.end_us = s.start_us + d["duration_s"].GetInt64() * 1'000'000;
  }
  if (s.end_us <= s.start_us) return Field("end_ms", "must be after the start");
  if (s.end_us <= now_us) return Field("end_ms", "is in the past");
  if (s.end_us - s.start_us > int64_t{366} * 86400 * 1'000'000) {
    return Field("end_ms", "a silence lasts at most a year");
  }
  return s;
}

std::string SilenceToJson(const Silence& s) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  WriteSilence(w, s);
  return std::string(sb.GetString(), sb.GetSize());
}

Result<std::unique_ptr<AlertConfig>> AlertConfig::Open(const std::string& data_dir, Env* env) {
  std::unique_ptr<AlertConfig> c(
      new AlertConfig(data_dir.empty() ? "" : data_dir + "/" + kFileName, env));
  if (!c->path_.empty() && env->FileExists(c->path_)) {
    Result<std::string> text = ReadFileToString(env, c->path_);
    if (!text.ok()) return text.status();
    Status st = c->Load(*text);
    if (!st.ok()) return st.Annotate("reading " + c->path_);
  }
  return c;
}

Status AlertConfig::Load(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.data(), text.size());
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("projects") ||
      !d["projects"].IsArray() || !d.HasMember("next_id") || !d["next_id"].IsUint64()) {
    return Status::Corruption("not an alerts file");
  }
  next_id_ = d["next_id"].GetUint64();
  for (const Value& p : d["projects"].GetArray()) {
    if (!p.IsObject() || !p.HasMember("id") || !p["id"].IsUint()) {
      return Status::Corruption("bad project entry");
    }
    uint32_t pid = p["id"].GetUint();
    Project& proj = projects_[pid];
    auto array = [&](const char* key) -> const Value* {
      return p.HasMember(key) && p[key].IsArray() ? &p[key] : nullptr;
    };
    if (const Value* a = array("channels")) {
      for (const Value& v : a->GetArray()) {
        auto c = ParseChannel(ValueToString(v));
        if (!c.ok() || !v.HasMember("id") || !v["id"].IsUint64()) {
          return Status::Corruption("channel: " + c.status().message());
        }
        c->id = v["id"].GetUint64();
        c->project = pid;
        proj.channels[c->id] = std::move(*c);
      }
    }
    if (const Value* a = array("rules")) {
      for (const Value& v : a->GetArray()) {
        auto r = ParseRule(ValueToString(v));
        if (!r.ok() || !v.HasMember("id") || !v["id"].IsUint64()) {
          return Status::Corruption("rule: " + r.status().message());
        }
        r->id = v["id"].GetUint64();
        r->project = pid;
        proj.rules[r->id] = std::move(*r);
      }
    }
    if (const Value* a = array("silences")) {
      for (const Value& v : a->GetArray()) {
        Silence s;
        if (!v.IsObject() || !v.HasMember("id") || !v["id"].IsUint64() ||
            !v.HasMember("start_ms") || !v["start_ms"].IsInt64() || !v.HasMember("end_ms") ||
            !v["end_ms"].IsInt64()) {
          return Status::Corruption("bad silence");
        }
        s.id = v["id"].GetUint64();
        s.project = pid;
        s.rule_id = v.HasMember("rule_id") && v["rule_id"].IsUint64() ? v["rule_id"].GetUint64() : 0;
        for (auto [key, out] : {std::pair{"service", &s.service}, std::pair{"instance", &s.instance},
                                std::pair{"endpoint", &s.endpoint},
                                std::pair{"comment", &s.comment}}) {
          if (v.HasMember(key) && v[key].IsString()) *out = std::string(Str(v[key]));
        }
        s.start_us = v["start_ms"].GetInt64() * 1000;
        s.end_us = v["end_ms"].GetInt64() * 1000;
        proj.silences[s.id] = std::move(s);
      }
    }
  }
  return Status::OK();
}

Status AlertConfig::Save() const {
  if (path_.empty()) return Status::OK();
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("next_id");
  w.Uint64(next_id_);
  w.Key("projects");
  w.StartArray();
  for (const auto& [pid, p] : projects_) {
    w.StartObject();
    w.Key("id");
    w.Uint(pid);
    w.Key("channels");
    w.StartArray();
    for (const auto& [id, c] : p.channels) WriteChannel(w, c, false);
    w.EndArray();
    w.Key("rules");
    w.StartArray();
    for (const auto& [id, r] : p.rules) {
      std::string json = RuleToJson(r);
      w.RawValue(json.data(), json.size(), rapidjson::kObjectType);
    }
    w.EndArray();
    w.Key("silences");
    w.StartArray();
    for (const auto& [id, s] : p.silences) WriteSilence(w, s);
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return WriteFileAtomically(env_, path_, std::string_view(sb.GetString(), sb.GetSize()))
      .Annotate("saving alert rules and channels");
}

Status AlertConfig::CheckChannels(const Project& p, const AlertRule& r) const {
  for (uint64_t c : r.channels) {
    if (!p.channels.count(c)) {
      return Field("channels", "no channel " + std::to_string(c) + " in this project");
    }
  }
  return Status::OK();
}

// Each change: apply, save, undo on a failed save.
Result<AlertRule> AlertConfig::AddRule(uint32_t project, AlertRule rule) {
  LOUPE_RETURN_IF_ERROR(ValidateRule(rule));
  std::lock_guard<std::mutex> l(mu_);
  Project& p = projects_[project];
  if (p.rules.size() >= kMaxRules) {
    refused_over_cap_.fetch_add(1, std::memory_order_relaxed);
    return Status::ResourceExhausted("a project has at most " + std::to_string(kMaxRules) +
                                     " alert rules");
  }
  LOUPE_RETURN_IF_ERROR(CheckChannels(p, rule));
  rule.id = next_id_++;
  rule.project = project;
  p.rules[rule.id] = rule;
  ++version_;
  Status st = Save();
  if (!st.ok()) {
    p.rules.erase(rule.id);
    return st;
  }
  return rule;
}

Result<AlertRule> AlertConfig::UpdateRule(uint32_t project, uint64_t id, AlertRule rule) {
  LOUPE_RETURN_IF_ERROR(ValidateRule(rule));
  std::lock_guard<std::mutex> l(mu_);
  Project& p = projects_[project];
  auto it = p.rules.find(id);
  if (it == p.rules.end()) return Status::NotFound("no alert rule " + std::to_string(id));
  LOUPE_RETURN_IF_ERROR(CheckChannels(p, rule));
  rule.id = id;
  rule.project = project;
  AlertRule old = std::exchange(it->second, rule);
  ++version_;
  Status st = Save();
  if (!st.ok()) {
    it->second = std::move(old);
    return st;
  }
  return rule;
}

Status AlertConfig::DeleteRule(uint32_t project, uint64_t id) {
  std::lock_guard<std::mutex> l(mu_);
  Project& p = projects_[project];
  auto it = p.rules.find(id);
  if (it == p.rules.end()) return Status::NotFound("no alert rule " + std::to_string(id));
  AlertRule old = std::move(it->second);
  p.rules.erase(it);
  ++version_;
  Status st = Save();
  if (!st.ok()) p.rules[id] = std::move(old);
  return st;
}

Result<AlertRule> AlertConfig::GetRule(uint32_t project, uint64_t id) const {
  std::lock_guard<std::mutex> l(mu_);
  auto p = projects_.find(project);
  if (p == projects_.end() || !p->second.rules.count(id)) {
    return Status::NotFound("no alert rule " + std::to_string(id));
  }
  return p->second.rules.at(id);
}

std::vector<AlertRule> AlertConfig::Rules(uint32_t project) const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<AlertRule> out;
  auto p = projects_.find(project);
  if (p != projects_.end()) {
    for (const auto& [id, r] : p->second.rules) out.push_back(r);
  }
  return out;
}

std::vector<AlertRule> AlertConfig::AllRules() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<AlertRule> out;
  for (const auto& [pid, p] : projects_) {
    for (const auto& [id, r] : p.rules) out.push_back(r);
  }
  return out;
}

uint64_t AlertConfig::rules_version() const {
  std::lock_guard<std::mutex> l(mu_);
  return version_;
}

Result<Channel> AlertConfig::AddChannel(uint32_t project, Channel c) {
  std::lock_guard<std::mutex> l(mu_);
  Project& p = projects_[project];
  if (p.channels.size() >= kMaxChannels) {
    refused_over_cap_.fetch_add(1, std::memory_order_relaxed);
    return Status::ResourceExhausted("a project has at most " + std::to_string(kMaxChannels) +
                                     " alert channels");
  }
  c.id = next_id_++;
  c.project = project;
  p.channels[c.id] = c;
  Status st = Save();
  if (!st.ok()) {
    p.channels.erase(c.id);
    return st;
  }
  return c;
}

Result<Channel> AlertConfig::UpdateChannel(uint32_t project, uint64_t id, Channel c) {
  std::lock_guard<std::mutex> l(mu_);
  Project& p = projects_[project];
  auto it = p.channels.find(id);
  if (it == p.channels.end()) return Status::NotFound("no alert channel " + std::to_string(id));
  c.id = id;
  c.project = project;
  Channel old = std::exchange(it->second, c);
  Status st = Save();
  if (!st.ok()) {
    it->second = std::move(old);
    return st;
  }
  return c;
}

Status AlertConfig::DeleteChannel(uint32_t project, uint64_t id) {
  std::lock_guard<std::mutex> l(mu_);
  Project& p = projects_[project];
  auto it = p.channels.find(id);
  if (it == p.channels.end()) return Status::NotFound("no alert channel " + std::to_string(id));
  for (const auto& [rid, r] : p.rules) {
    if (std::count(r.channels.begin(), r.channels.end(), id)) {
      return Field("channel", "rule " + std::to_string(rid) + " (" + r.name +
                                  ") still sends to it; change the rule first");
    }
  }
  Channel old = std::move(it->second);
  p.channels.erase(it);
  Status st = Save();
  if (!st.ok()) p.channels[id] = std::move(old);
  return st;
}

Result<Channel> AlertConfig::GetChannel(uint32_t project, uint64_t id) const {
  std::lock_guard<std::mutex> l(mu_);
  auto p = projects_.find(project);
  if (p == projects_.end() || !p->second.channels.count(id)) {
    return Status::NotFound("no alert channel " + std::to_string(id));
  }
  return p->second.channels.at(id);
}

std::vector<Channel> AlertConfig::Channels(uint32_t project) const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<Channel> out;
  auto p = projects_.find(project);
  if (p != projects_.end()) {
    for (const auto& [id, c] : p->second.channels) out.push_back(c);
  }
  return out;
}

std::vector<Channel> AlertConfig::AllChannels() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<Channel> out;
  for (const auto& [pid, p] : projects_) {
    for (const auto& [id, c] : p.channels) out.push_back(c);
  }
  return out;
}

Result<Silence> AlertConfig::AddSilence(uint32_t project, Silence s, int64_t now_us) {
  std::lock_guard<std::mutex> l(mu_);
  Project& p = projects_[project];
  std::map<uint64_t, Silence> before = p.silences;
  std::erase_if(p.silences, [&](const auto& kv) { return kv.second.end_us <= now_us; });
  if (p.silences.size() >= kMaxSilences) {
    p.silences = std::move(before);
    refused_over_cap_.fetch_add(1, std::memory_order_relaxed);
    return Status::ResourceExhausted("a project has at most " + std::to_string(kMaxSilences) +
                                     " silences");
  }
  if (s.rule_id != 0 && !p.rules.count(s.rule_id)) {
    p.silences = std::move(before);
    return Field("rule_id", "no alert rule " + std::to_string(s.rule_id) + " in this project");
  }
  s.id = next_id_++;
  s.project = project;
  p.silences[s.id] = s;
  Status st = Save();
  if (!st.ok()) {
    p.silences = std::move(before);
    return st;
  }
  return s;
}

Status AlertConfig::DeleteSilence(uint32_t project, uint64_t id) {
  std::lock_guard<std::mutex> l(mu_);
  Project& p = projects_[project];
  auto it = p.silences.find(id);
  if (it == p.silences.end()) return Status::NotFound("no silence " + std::to_string(id));
  Silence old = std::move(it->second);
  p.silences.erase(it);
  Status st = Save();
  if (!st.ok()) p.silences[id] = std::move(old);
  return st;
}

std::vector<Silence> AlertConfig::Silences(uint32_t project) const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<Silence> out;
  auto p = projects_.find(project);
  if (p != projects_.end()) {
    for (const auto& [id, s] : p->second.silences) out.push_back(s);
  }
  return out;
}

std::vector<Silence> AlertConfig::AllSilences() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<Silence> out;
  for (const auto& [pid, p] : projects_) {
    for (const auto& [id, s] : p.silences) out.push_back(s);
  }
  return out;
}

}  // namespace loupe::alert
