#include "control/agent_config.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <cmath>

namespace loupe::control {
namespace {

constexpr char kFileName[] = "agent-config.json";
constexpr size_t kMaxBands = 3;  // JENNIFER-style 4 bands at most
constexpr int64_t kMaxMs = 86'400'000;
constexpr int64_t kMaxActive = 1'000'000;
constexpr size_t kMaxEndpointLimits = 100;
constexpr size_t kMaxPatterns = 100;
constexpr size_t kMaxPatternBytes = 256;
constexpr size_t kMaxUrlBytes = 1024;
constexpr size_t kMaxEndpointBytes = 1024;

using rapidjson::Value;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

std::string_view Str(const Value& v) { return {v.GetString(), v.GetStringLength()}; }

bool HasControl(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

bool ValidRedirectUrl(std::string_view u) {
  if (u.empty() || u.size() > kMaxUrlBytes || HasControl(u)) return false;
  for (char c : u) {
    if (c == ' ' || c == '\\') return false;
  }
  if (u[0] == '/') return u.size() == 1 || u[1] != '/';  // "//host" is not relative
  for (std::string_view scheme : {"http://", "https://"}) {
    if (u.size() > scheme.size() && u.substr(0, scheme.size()) == scheme &&
        u[scheme.size()] != '/') {
      return true;
    }
  }
  return false;
}

void WriteConfig(const AgentConfig& c, Writer& w) {
  w.Key("bands_ms");
  w.StartArray();
  for (int64_t b : c.bands_ms) w.Int64(b);
  w.EndArray();
  w.Key("active_stack");
  w.StartObject();
  w.Key("threshold_ms");
  w.Int64(c.stack_threshold_ms);
  w.Key("interval_ms");
  w.Int64(c.stack_interval_ms);
  w.EndObject();
  w.Key("throttle");
  w.StartObject();
  w.Key("enabled");
  w.Bool(c.throttle.enabled);
  w.Key("max_active");
  w.Int64(c.throttle.max_active);
  w.Key("action");
  w.String(c.throttle.action.data(), static_cast<rapidjson::SizeType>(c.throttle.action.size()));
  w.Key("redirect_url");
  w.String(c.throttle.redirect_url.data(),
           static_cast<rapidjson::SizeType>(c.throttle.redirect_url.size()));
  w.Key("endpoints");
  w.StartObject();
  for (const auto& [ep, n] : c.throttle.endpoints) {
    w.Key(ep.data(), static_cast<rapidjson::SizeType>(ep.size()));
    w.Int64(n);
  }
  w.EndObject();
  w.EndObject();
  w.Key("profiling");
  w.StartObject();
  w.Key("methods");
  w.StartArray();
  for (const auto& m : c.profiling_methods) {
    w.String(m.data(), static_cast<rapidjson::SizeType>(m.size()));
  }
  w.EndArray();
  w.EndObject();
}

// Reads a config object; every key is known or an error.
class ConfigReader {
 public:
  Status Read(const Value& v, AgentConfig* c) {
    if (!v.IsObject()) return Bad("(root)", "expected an object");
    for (const auto& m : v.GetObject()) {
      std::string_view k = Str(m.name);
      const Value& f = m.value;
      if (k == "version" || k == "overridden") continue;
      if (f.IsNull()) continue;
      if (k == "bands_ms") {
        if (!f.IsArray()) return Bad(k, "expected an array of milliseconds");
        c->bands_ms.clear();
        for (const auto& b : f.GetArray()) {
          int64_t ms = 0;
          LOUPE_RETURN_IF_ERROR(Int(b, "bands_ms[]", &ms));
          c->bands_ms.push_back(ms);
        }
      } else if (k == "active_stack") {
        if (!f.IsObject()) return Bad(k, "expected an object");
        for (const auto& s : f.GetObject()) {
          std::string_view sk = Str(s.name);
          if (sk == "threshold_ms") {
            LOUPE_RETURN_IF_ERROR(
                Int(s.value, "active_stack.threshold_ms", &c->stack_threshold_ms));
          } else if (sk == "interval_ms") {
            LOUPE_RETURN_IF_ERROR(Int(s.value, "active_stack.interval_ms", &c->stack_interval_ms));
          } else {
            return Unknown("active_stack.", sk);
          }
        }
      } else if (k == "throttle") {
        LOUPE_RETURN_IF_ERROR(ReadThrottle(f, &c->throttle));
      } else if (k == "profiling") {
        if (!f.IsObject()) return Bad(k, "expected an object");
        for (const auto& s : f.GetObject()) {
          if (Str(s.name) != "methods") return Unknown("profiling.", Str(s.name));
          if (!s.value.IsArray()) return Bad("profiling.methods", "expected an array of strings");
          c->profiling_methods.clear();
          for (const auto& p : s.value.GetArray()) {
            if (!p.IsString()) return Bad("profiling.methods[]", "expected a string");
            c->profiling_methods.emplace_back(Str(p));
          }
        }
      } else {
        return Unknown("", k);
      }
    }
    return Status::OK();
  }

 private:
  static Status Bad(std::string_view path, std::string_view what) {
    return Status::InvalidArgument(std::string(path) + ": " + std::string(what));
  }
  static Status Unknown(std::string_view prefix, std::string_view key) {
    std::string k(key.substr(0, 64));
    return Status::InvalidArgument("unknown field " + std::string(prefix) + k);
  }
  static Status Int(const Value& v, std::string_view path, int64_t* out) {
    if (v.IsInt64()) {
      *out = v.GetInt64();
      return Status::OK();
    }
    if (v.IsDouble() && std::trunc(v.GetDouble()) == v.GetDouble() &&
        std::fabs(v.GetDouble()) < 9e18) {
      *out = static_cast<int64_t>(v.GetDouble());
      return Status::OK();
    }
    return Bad(path, "expected an integer");
  }
  Status ReadThrottle(const Value& f, ThrottleConfig* t) {
    if (!f.IsObject()) return Bad("throttle", "expected an object");
    for (const auto& s : f.GetObject()) {
      std::string_view sk = Str(s.name);
      const Value& v = s.value;
      if (v.IsNull()) continue;
      if (sk == "enabled") {
        if (!v.IsBool()) return Bad("throttle.enabled", "expected true or false");
        t->enabled = v.GetBool();
      } else if (sk == "max_active") {
        LOUPE_RETURN_IF_ERROR(Int(v, "throttle.max_active", &t->max_active));
      } else if (sk == "action") {
        if (!v.IsString()) return Bad("throttle.action", "expected a string");
        t->action = Str(v);
      } else if (sk == "redirect_url") {
        if (!v.IsString()) return Bad("throttle.redirect_url", "expected a string");
        t->redirect_url = Str(v);
      } else if (sk == "endpoints") {
        if (!v.IsObject()) return Bad("throttle.endpoints", "expected an object");
        t->endpoints.clear();
        for (const auto& e : v.GetObject()) {
          int64_t n = 0;
          LOUPE_RETURN_IF_ERROR(Int(e.value, "throttle.endpoints[]", &n));
          t->endpoints[std::string(Str(e.name))] = n;
        }
      } else {
        return Unknown("throttle.", sk);
      }
    }
    return Status::OK();
  }
};

}  // namespace

Status ValidateAgentConfig(const AgentConfig& c) {
  if (c.bands_ms.empty() || c.bands_ms.size() > kMaxBands) {
    return Status::InvalidArgument("bands_ms: 1 to 3 thresholds");
  }
  for (size_t i = 0; i < c.bands_ms.size(); ++i) {
    if (c.bands_ms[i] <= 0 || c.bands_ms[i] > kMaxMs) {
      return Status::InvalidArgument("bands_ms: thresholds must be > 0 and at most a day");
    }
    if (i > 0 && c.bands_ms[i] <= c.bands_ms[i - 1]) {
      return Status::InvalidArgument("bands_ms: thresholds must increase");
    }
  }
  if (c.stack_threshold_ms < 0 || c.stack_threshold_ms > kMaxMs) {
    return Status::InvalidArgument("active_stack.threshold_ms must be 0 .. 86400000");
  }
  if (c.stack_interval_ms < 100 || c.stack_interval_ms > 60000) {
    return Status::InvalidArgument("active_stack.interval_ms must be 100 .. 60000");
  }
  const ThrottleConfig& t = c.throttle;
  if (t.max_active < 0 || t.max_active > kMaxActive) {
    return Status::InvalidArgument("throttle.max_active must be 0 .. 1000000");
  }
  if (t.enabled && t.max_active == 0 && t.endpoints.empty()) {
    return Status::InvalidArgument(
        "throttle.max_active must be 1 .. 1000000 when throttling is enabled without endpoint "
        "limits");
  }
  if (t.action != "reject" && t.action != "redirect") {
    return Status::InvalidArgument("throttle.action must be reject or redirect");
  }
  if (t.action == "redirect" || !t.redirect_url.empty()) {
    if (!ValidRedirectUrl(t.redirect_url)) {
      return Status::InvalidArgument(
          "throttle.redirect_url must be a relative path (/busy.html) or an http(s) URL of at "
          "most 1 KiB");
    }
  }
  if (t.endpoints.size() > kMaxEndpointLimits) {
    return Status::InvalidArgument("throttle.endpoints: at most 100 endpoint limits");
  }
  for (const auto& [ep, n] : t.endpoints) {
    if (ep.empty() || ep.size() > kMaxEndpointBytes || HasControl(ep)) {
      return Status::InvalidArgument("throttle.endpoints: endpoint names are 1 .. 1024 bytes");
    }
    if (n < 1 || n > kMaxActive) {
      return Status::InvalidArgument("throttle.endpoints: limits must be 1 .. 1000000");
    }
  }
  if (c.profiling_methods.size() > kMaxPatterns) {
    return Status::InvalidArgument("profiling.methods: at most 100 patterns");
  }
  for (const auto& p : c.profiling_methods) {
    if (p.empty() || p.size() > kMaxPatternBytes || HasControl(p)) {
      return Status::InvalidArgument("profiling.methods: patterns are 1 .. 256 bytes");
    }
  }
  return Status::OK();
}

Result<AgentConfig> ParseAgentConfigJson(std::string_view json) {
  rapidjson::Document d;
  d.Parse<rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag>(json.data(),
                                                                                  json.size());
  if (d.HasParseError()) {
    return Status::InvalidArgument(std::string("invalid JSON at byte ") +
                                   std::to_string(d.GetErrorOffset()) + ": " +
                                   rapidjson::GetParseError_En(d.GetParseError()));
  }
  AgentConfig c;
  LOUPE_RETURN_IF_ERROR(ConfigReader().Read(d, &c));
  LOUPE_RETURN_IF_ERROR(ValidateAgentConfig(c));
  return c;
}

std::string EffectiveConfigJson(const EffectiveConfig& e, bool with_overridden) {
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("version");
  w.Uint64(e.version);
  WriteConfig(e.config, w);
  if (with_overridden) {
    w.Key("overridden");
    w.Bool(e.overridden);
  }
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize());
}

Result<std::unique_ptr<AgentConfigStore>> AgentConfigStore::Open(const std::string& data_dir,
                                                                 Env* env) {
  std::unique_ptr<AgentConfigStore> s(
      new AgentConfigStore(data_dir.empty() ? "" : data_dir + "/" + kFileName, env));
  if (!s->path_.empty() && env->FileExists(s->path_)) {
    Result<std::string> text = ReadFileToString(env, s->path_);
    if (!text.ok()) return text.status();
    Status st = s->Load(*text);
    if (!st.ok()) return st.Annotate("reading " + s->path_);
  }
  return s;
}

Status AgentConfigStore::Load(const std::string& text) {
  rapidjson::Document d;
  d.Parse(text.data(), text.size());
  if (d.HasParseError() || !d.IsObject() || !d.HasMember("projects") || !d["projects"].IsArray()) {
    return Status::Corruption("not an agent configuration file");
  }
  for (const auto& p : d["projects"].GetArray()) {
    if (!p.IsObject() || !p.HasMember("id") || !p["id"].IsUint() || !p.HasMember("version") ||
        !p["version"].IsUint64() || !p.HasMember("default")) {
      return Status::Corruption("bad project entry");
    }
    ProjectConfig pc;
    pc.version = p["version"].GetUint64();
    Status st = ConfigReader().Read(p["default"], &pc.defaults);
    if (st.ok()) st = ValidateAgentConfig(pc.defaults);
    if (!st.ok()) return Status::Corruption("project default: " + st.message());
    if (p.HasMember("services") && p["services"].IsObject()) {
      for (const auto& s : p["services"].GetObject()) {
        AgentConfig c;
        st = ConfigReader().Read(s.value, &c);
        if (st.ok()) st = ValidateAgentConfig(c);
        if (!st.ok()) return Status::Corruption("service override: " + st.message());
        pc.services.emplace(std::string(Str(s.name)), std::move(c));
      }
    }
    projects_[p["id"].GetUint()] = std::move(pc);
  }
  return Status::OK();
}

Status AgentConfigStore::Save() const {
  if (path_.empty()) return Status::OK();
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.StartObject();
  w.Key("projects");
  w.StartArray();
  for (const auto& [id, pc] : projects_) {
    w.StartObject();
    w.Key("id");
    w.Uint(id);
    w.Key("version");
    w.Uint64(pc.version);
    w.Key("default");
    w.StartObject();
    WriteConfig(pc.defaults, w);
    w.EndObject();
    w.Key("services");
    w.StartObject();
    for (const auto& [name, c] : pc.services) {
      w.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()));
      w.StartObject();
      WriteConfig(c, w);
      w.EndObject();
    }
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  std::string text(sb.GetString(), sb.GetSize());
  text += '\n';
  return WriteFileAtomically(env_, path_, text).Annotate("saving agent configuration");
}

EffectiveConfig AgentConfigStore::GetLocked(ProjectId project, std::string_view service) const {
  EffectiveConfig e;
  auto it = projects_.find(project);
  if (it == projects_.end()) return e;
  e.version = it->second.version;
  e.config = it->second.defaults;
  if (!service.empty()) {
    if (auto s = it->second.services.find(service); s != it->second.services.end()) {
      e.config = s->second;
      e.overridden = true;
    }
  }
  return e;
}

EffectiveConfig AgentConfigStore::Get(ProjectId project, std::string_view service) const {
  std::lock_guard<std::mutex> l(mu_);
  return GetLocked(project, service);
}

uint64_t AgentConfigStore::Version(ProjectId project) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = projects_.find(project);
  return it == projects_.end() ? 1 : it->second.version;
}

Result<EffectiveConfig> AgentConfigStore::Put(ProjectId project, std::string_view service,
                                              AgentConfig config) {
  LOUPE_RETURN_IF_ERROR(ValidateAgentConfig(config));
  if (service.size() > kMaxEndpointBytes) {
    return Status::InvalidArgument("service names are at most 1024 bytes");
  }
  std::lock_guard<std::mutex> l(mu_);
  const bool existed = projects_.count(project) > 0;
  ProjectConfig& pc = projects_[project];
  const ProjectConfig before = pc;
  if (service.empty()) {
    pc.defaults = std::move(config);
  } else {
    auto it = pc.services.find(service);
    if (it == pc.services.end()) {
      if (pc.services.size() >= kMaxOverridesPerProject) {
        if (!existed) projects_.erase(project);
        return Status::ResourceExhausted("at most 1000 service overrides per project");
      }
      pc.services.emplace(std::string(service), std::move(config));
    } else {
      it->second = std::move(config);
    }
  }
  ++pc.version;
  Status st = Save();
  if (!st.ok()) {
    if (existed) {
      projects_[project] = before;
    } else {
      projects_.erase(project);
    }
    return st;
  }
  return GetLocked(project, service);
}

Result<EffectiveConfig> AgentConfigStore::Remove(ProjectId project, std::string_view service) {
  std::lock_guard<std::mutex> l(mu_);
  auto p = projects_.find(project);
  if (service.empty() || p == projects_.end()) {
    return Status::NotFound("no override for service '" + std::string(service.substr(0, 64)) + "'");
  }
  auto it = p->second.services.find(service);
  if (it == p->second.services.end()) {
    return Status::NotFound("no override for service '" + std::string(service.substr(0, 64)) + "'");
  }
  AgentConfig removed = std::move(it->second);
  p->second.services.erase(it);
  ++p->second.version;
  Status st = Save();
  if (!st.ok()) {
    p->second.services.emplace(std::string(service), std::move(removed));
    --p->second.version;
    return st;
  }
  return GetLocked(project, service);
}

}  // namespace loupe::control
