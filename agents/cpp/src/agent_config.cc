#include "agent_config.h"

#include <algorithm>
#include <cmath>

#include "json.h"

namespace loupe::internal {

bool GlobMatch(std::string_view pattern, std::string_view text) {
  // Iterative matcher with one backtrack point (the last `*`): linear in
  // practice and never exponential.
  size_t p = 0, t = 0;
  size_t star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool AgentConfig::ProfilingEnabled(std::string_view method) const {
  return std::any_of(profiling_methods.begin(), profiling_methods.end(),
                     [&](const std::string& g) { return GlobMatch(g, method); });
}

namespace {

bool Num(const JsonValue* v, double* out, const char* name, std::string* error) {
  if (v == nullptr || v->type == JsonValue::kNull) return true;
  if (v->type != JsonValue::kNumber || !std::isfinite(v->num)) {
    *error = std::string(name) + ": not a number";
    return false;
  }
  *out = v->num;
  return true;
}

}  // namespace

bool ParseAgentConfig(std::string_view json, AgentConfig* out, std::string* error) {
  JsonValue doc;
  if (!ParseJson(json, &doc, error)) return false;
  if (doc.type != JsonValue::kObject) {
    *error = "configuration is not an object";
    return false;
  }
  AgentConfig c;
  double d = 0;
  if (!Num(doc.Find("version"), &d, "version", error)) return false;
  c.version = d < 0 ? 0 : static_cast<uint64_t>(d);

  if (const JsonValue* bands = doc.Find("bands_ms")) {
    if (bands->type != JsonValue::kArray) {
      *error = "bands_ms: not an array";
      return false;
    }
    c.bands_ms.clear();
    for (const JsonValue& b : bands->array) {
      if (b.type != JsonValue::kNumber) {
        *error = "bands_ms: not a number";
        return false;
      }
      c.bands_ms.push_back(b.num);
    }
    std::sort(c.bands_ms.begin(), c.bands_ms.end());
  }

  if (const JsonValue* as = doc.Find("active_stack");
      as != nullptr && as->type == JsonValue::kObject) {
    d = c.stack_threshold_ms;
    if (!Num(as->Find("threshold_ms"), &d, "active_stack.threshold_ms", error)) return false;
    c.stack_threshold_ms = static_cast<int>(std::clamp(d, 0.0, 86400000.0));
    d = c.stack_interval_ms;
    if (!Num(as->Find("interval_ms"), &d, "active_stack.interval_ms", error)) return false;
    // Below 10 ms sampling would cost the agent's thread more than it tells.
    c.stack_interval_ms = static_cast<int>(std::clamp(d, 10.0, 3600000.0));
  }

  if (const JsonValue* th = doc.Find("throttle"); th != nullptr && th->type == JsonValue::kObject) {
    if (const JsonValue* e = th->Find("enabled"))
      c.throttle_enabled = e->type == JsonValue::kBool && e->b;
    d = 0;
    if (!Num(th->Find("max_active"), &d, "throttle.max_active", error)) return false;
    c.max_active = d < 0 ? 0 : static_cast<int64_t>(d);
    if (const JsonValue* a = th->Find("action"); a != nullptr && a->type == JsonValue::kString) {
      if (a->str == "redirect") {
        c.throttle_action = Admission::kRedirect;
      } else if (a->str == "reject") {
        c.throttle_action = Admission::kReject;
      } else {
        *error = "throttle.action: neither reject nor redirect";
        return false;
      }
    }
    if (const JsonValue* u = th->Find("redirect_url");
        u != nullptr && u->type == JsonValue::kString) {
      c.redirect_url = u->str;
    }
    if (const JsonValue* eps = th->Find("endpoints");
        eps != nullptr && eps->type == JsonValue::kObject) {
      for (const auto& [ep, limit] : eps->object) {
        if (limit.type != JsonValue::kNumber || limit.num < 0) {
          *error = "throttle.endpoints: limit is not a non-negative number";
          return false;
        }
        c.endpoint_limits[ep] = static_cast<int64_t>(limit.num);
      }
    }
  }

  if (const JsonValue* pr = doc.Find("profiling");
      pr != nullptr && pr->type == JsonValue::kObject) {
    if (const JsonValue* m = pr->Find("methods"); m != nullptr && m->type == JsonValue::kArray) {
      for (const JsonValue& g : m->array) {
        if (g.type == JsonValue::kString) c.profiling_methods.push_back(g.str);
      }
    }
  }
  *out = std::move(c);
  return true;
}

}  // namespace loupe::internal
