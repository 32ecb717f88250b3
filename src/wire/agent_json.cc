#include "wire/agent_json.h"

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <cmath>
#include <new>
#include <string_view>

#include "wire/json_writer.h"

namespace loupe::wire {
namespace {

using rapidjson::SizeType;
using rapidjson::Value;

// Same RapidJSON 1.1.0 workarounds as otlp_json.cc: no
// kParseValidateEncodingFlag (it over-reads on truncated UTF-8; the body is
// checked by FindInvalidJsonByte first) and no kParseFullPrecisionFlag (its
// slow path mis-normalizes a zero significand).
constexpr unsigned kParseFlags = rapidjson::kParseIterativeFlag;

// Milliseconds past this (year ~5138) are a unit mistake; it also keeps the
// conversion to µs far from overflow.
constexpr double kMaxMs = 1e14;

inline std::string_view Str(const Value& v) { return {v.GetString(), v.GetStringLength()}; }

// Checks and parses an agent body in situ; `what` names it in errors
// ("snapshot", "crash report").
Status ParseBody(std::string* body, const char* what, rapidjson::Document* doc) {
  if (size_t bad = internal::FindInvalidJsonByte(*body); bad != std::string_view::npos) {
    return Status::InvalidArgument(std::string("invalid ") + what + " JSON at byte " +
                                   std::to_string(bad) +
                                   ((*body)[bad] == '\0' ? ": NUL byte" : ": invalid UTF-8"));
  }
  doc->ParseInsitu<kParseFlags>(body->data());
  if (doc->HasParseError()) {
    return Status::InvalidArgument(std::string("invalid ") + what + " JSON at byte " +
                                   std::to_string(doc->GetErrorOffset()) + ": " +
                                   rapidjson::GetParseError_En(doc->GetParseError()));
  }
  return Status::OK();
}

class Decoder {
 public:
  Decoder(const AgentLimits& limits, model::ActiveSnapshot* out) : limits_(limits), out_(out) {}

  Status Decode(std::string* body) {
    *out_ = model::ActiveSnapshot{};
    rapidjson::Document doc;
    if (Status p = ParseBody(body, "snapshot", &doc); !p.ok()) return p;
    if (!doc.IsObject()) return (Fail("(root)", "expected an object"), status_);
    bool has_time = false;
    for (const auto& m : doc.GetObject()) {
      std::string_view k = Str(m.name);
      const Value& v = m.value;
      bool ok = true;
      if (k == "service") {
        ok = GetString(v, "service", &out_->service);
      } else if (k == "instance") {
        ok = GetString(v, "instance", &out_->instance);
      } else if (k == "host") {
        ok = GetString(v, "host", &out_->host);
      } else if (k == "agent") {
        ok = GetString(v, "agent", &out_->agent);
      } else if (k == "pid") {
        ok = GetCount(v, "pid", &out_->pid);
      } else if (k == "started_ms") {
        ok = GetMillis(v, "started_ms", &out_->started_us);
      } else if (k == "time_ms") {
        has_time = !v.IsNull();
        ok = GetMillis(v, "time_ms", &out_->time_us);
      } else if (k == "active") {
        ok = DecodeActive(v);
      } else if (k == "stacks") {
        ok = DecodeStacks(v);
      } else if (k == "throttled") {
        ok = DecodeThrottled(v);
      } else if (k == "counters") {
        ok = DecodeCounters(v);
      }
      if (!ok) return status_;
    }
    if (out_->service.empty()) return (Fail("service", "required, a non-empty string"), status_);
    if (out_->instance.empty()) return (Fail("instance", "required, a non-empty string"), status_);
    if (!has_time) return (Fail("time_ms", "required"), status_);
    return Status::OK();
  }

 private:
  [[gnu::cold, gnu::noinline]] bool Fail(const std::string& path, std::string_view what) {
    status_ = Status::InvalidArgument("invalid snapshot: " + path + ": " + std::string(what));
    return false;
  }

  static std::string Elem(std::string_view array, size_t i, std::string_view field = {}) {
    std::string s(array);
    s += '[';
    s += std::to_string(i);
    s += ']';
    if (!field.empty()) {
      s += '.';
      s += field;
    }
    return s;
  }

  bool GetString(const Value& v, std::string_view path, std::string* out) {
    if (v.IsNull()) return true;
    if (!v.IsString()) return Fail(std::string(path), "expected a string");
    std::string_view s = Str(v);
    if (s.size() > limits_.max_string_bytes) {
      s = internal::TruncateUtf8(s, limits_.max_string_bytes);
      ++out_->truncated_strings;
    }
    out->assign(s);
    return true;
  }

  // Non-negative milliseconds (fractions allowed) to µs, rounded.
  bool GetMillis(const Value& v, std::string_view path, int64_t* us) {
    if (v.IsNull()) return true;
    if (!v.IsNumber()) return Fail(std::string(path), "expected a number of milliseconds");
    double ms = v.GetDouble();
    if (!(ms >= 0 && ms <= kMaxMs)) {
      return Fail(std::string(path), "expected a non-negative number of milliseconds");
    }
    *us = static_cast<int64_t>(std::llround(ms * 1000.0));
    return true;
  }

  // Non-negative integer (an integral double is accepted).
  bool GetCount(const Value& v, std::string_view path, int64_t* out) {
    if (v.IsNull()) return true;
    if (v.IsInt64() && v.GetInt64() >= 0) {
      *out = v.GetInt64();
      return true;
    }
    if (v.IsDouble()) {
      double d = v.GetDouble();
      if (d >= 0 && d < 9.2e18 && std::trunc(d) == d) {
        *out = static_cast<int64_t>(d);
        return true;
      }
    }
    return Fail(std::string(path), "expected a non-negative integer");
  }

  // *arr = the array, or nullptr for null; fails past `max` elements.
  bool GetArray(const Value& v, std::string_view path, size_t max, const Value** arr) {
    *arr = nullptr;
    if (v.IsNull()) return true;
    if (!v.IsArray()) return Fail(std::string(path), "expected an array");
    if (v.Size() > max) {
      return Fail(std::string(path),
                  std::to_string(v.Size()) + " entries exceed the limit of " + std::to_string(max));
    }
    *arr = &v;
    return true;
  }

  bool DecodeActive(const Value& v) {
    const Value* arr;
    if (!GetArray(v, "active", limits_.max_active, &arr)) return false;
    if (arr == nullptr) return true;
    out_->active.resize(arr->Size());
    for (SizeType i = 0; i < arr->Size(); ++i) {
      const Value& e = (*arr)[i];
      if (!e.IsObject()) return Fail(Elem("active", i), "expected an object");
      model::ActiveTx& a = out_->active[i];
      for (const auto& m : e.GetObject()) {
        std::string_view k = Str(m.name);
        const Value& f = m.value;
        bool ok = true;
        if (k == "id") {
          ok = GetString(f, Elem("active", i, k), &a.id);
        } else if (k == "trace_id") {
          ok = GetString(f, Elem("active", i, k), &a.trace_id);
        } else if (k == "endpoint") {
          ok = GetString(f, Elem("active", i, k), &a.endpoint);
        } else if (k == "start_ms") {
          ok = GetMillis(f, Elem("active", i, k), &a.start_us);
        } else if (k == "elapsed_ms") {
          ok = GetMillis(f, Elem("active", i, k), &a.elapsed_us);
        } else if (k == "thread") {
          ok = GetString(f, Elem("active", i, k), &a.thread);
        } else if (k == "step") {
          ok = GetString(f, Elem("active", i, k), &a.step);
        } else if (k == "step_kind") {
          ok = GetString(f, Elem("active", i, k), &a.step_kind);
        } else if (k == "user") {
          ok = GetString(f, Elem("active", i, k), &a.user);
        } else if (k == "client_ip") {
          ok = GetString(f, Elem("active", i, k), &a.client_ip);
        }
        if (!ok) return false;
      }
    }
    return true;
  }

  bool DecodeStacks(const Value& v) {
    const Value* arr;
    if (!GetArray(v, "stacks", limits_.max_stacks, &arr)) return false;
    if (arr == nullptr) return true;
    out_->stacks.resize(arr->Size());
    for (SizeType i = 0; i < arr->Size(); ++i) {
      const Value& e = (*arr)[i];
      if (!e.IsObject()) return Fail(Elem("stacks", i), "expected an object");
      model::StackSample& s = out_->stacks[i];
      for (const auto& m : e.GetObject()) {
        std::string_view k = Str(m.name);
        const Value& f = m.value;
        bool ok = true;
        if (k == "time_ms") {
          ok = GetMillis(f, Elem("stacks", i, k), &s.time_us);
        } else if (k == "tx_id") {
          ok = GetString(f, Elem("stacks", i, k), &s.tx_id);
        } else if (k == "endpoint") {
          ok = GetString(f, Elem("stacks", i, k), &s.endpoint);
        } else if (k == "elapsed_ms") {
          ok = GetMillis(f, Elem("stacks", i, k), &s.elapsed_us);
        } else if (k == "frames") {
          const Value* frames;
          std::string path = Elem("stacks", i, k);
          ok = GetArray(f, path, limits_.max_frames, &frames);
          if (ok && frames != nullptr) {
            s.frames.resize(frames->Size());
            for (SizeType j = 0; ok && j < frames->Size(); ++j) {
              const Value& fr = (*frames)[j];
              if (!fr.IsString()) {
                ok = Fail(path + "[" + std::to_string(j) + "]", "expected a string");
              } else {
                ok = GetString(fr, path, &s.frames[j]);
              }
            }
          }
        }
        if (!ok) return false;
      }
    }
    return true;
  }

  bool DecodeThrottled(const Value& v) {
    const Value* arr;
    if (!GetArray(v, "throttled", limits_.max_throttled, &arr)) return false;
    if (arr == nullptr) return true;
    out_->throttled.resize(arr->Size());
    for (SizeType i = 0; i < arr->Size(); ++i) {
      const Value& e = (*arr)[i];
      if (!e.IsObject()) return Fail(Elem("throttled", i), "expected an object");
      model::ThrottleEntry& t = out_->throttled[i];
      for (const auto& m : e.GetObject()) {
        std::string_view k = Str(m.name);
        const Value& f = m.value;
        bool ok = true;
        if (k == "time_ms") {
          ok = GetMillis(f, Elem("throttled", i, k), &t.time_us);
        } else if (k == "endpoint") {
          ok = GetString(f, Elem("throttled", i, k), &t.endpoint);
        } else if (k == "action") {
          ok = GetString(f, Elem("throttled", i, k), &t.action);
        } else if (k == "active") {
          ok = GetCount(f, Elem("throttled", i, k), &t.active);
        } else if (k == "limit") {
          ok = GetCount(f, Elem("throttled", i, k), &t.limit);
        } else if (k == "count") {
          ok = GetCount(f, Elem("throttled", i, k), &t.count);
        }
        if (!ok) return false;
      }
    }
    return true;
  }

  bool DecodeCounters(const Value& v) {
    if (v.IsNull()) return true;
    if (!v.IsObject()) return Fail("counters", "expected an object");
    for (const auto& m : v.GetObject()) {
      std::string_view k = Str(m.name);
      int64_t* dst = k == "transactions" ? &out_->counters.transactions
                     : k == "exported"   ? &out_->counters.exported
                     : k == "dropped"    ? &out_->counters.dropped
                     : k == "throttled"  ? &out_->counters.throttled
                                         : nullptr;
      if (dst != nullptr && !GetCount(m.value, "counters." + std::string(k), dst)) return false;
    }
    return true;
  }

  const AgentLimits& limits_;
  model::ActiveSnapshot* out_;
  Status status_;
};

}  // namespace

Status DecodeActiveSnapshotJson(std::string* body, const AgentLimits& limits,
                                model::ActiveSnapshot* out) noexcept {
  try {
    return Decoder(limits, out).Decode(body);
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("out of memory decoding a snapshot");
  }
}

}  // namespace loupe::wire

namespace loupe::wire {
namespace {

constexpr size_t kMaxCrashFrames = 128;

bool CrashFail(Status* st, std::string_view path, std::string_view what) {
  *st = Status::InvalidArgument("invalid crash report: " + std::string(path) + ": " +
                                std::string(what));
  return false;
}

}  // namespace

Status DecodeCrashReportJson(std::string* body, const AgentLimits& limits,
                             model::CrashReport* out) noexcept {
  try {
    *out = model::CrashReport{};
    rapidjson::Document doc;
    if (Status p = ParseBody(body, "crash report", &doc); !p.ok()) return p;
    Status st;
    if (!doc.IsObject()) return (CrashFail(&st, "(root)", "expected an object"), st);
    auto get_string = [&](const Value& v, std::string_view path, std::string* dst) {
      if (v.IsNull()) return true;
      if (!v.IsString()) return CrashFail(&st, path, "expected a string");
      *dst = std::string(internal::TruncateUtf8(Str(v), limits.max_string_bytes));
      return true;
    };
    bool has_time = false;
    for (const auto& m : doc.GetObject()) {
      std::string_view k = Str(m.name);
      const Value& v = m.value;
      bool ok = true;
      if (k == "service") {
        ok = get_string(v, "service", &out->service);
      } else if (k == "instance") {
        ok = get_string(v, "instance", &out->instance);
      } else if (k == "endpoint") {
        ok = get_string(v, "endpoint", &out->endpoint);
      } else if (k == "signal") {
        ok = get_string(v, "signal", &out->signal);
      } else if (k == "message") {
        ok = get_string(v, "message", &out->message);
      } else if (k == "address") {
        ok = get_string(v, "address", &out->address);
      } else if (k == "signal_number" || k == "pid") {
        if (v.IsNull()) continue;
        if (!v.IsInt64() || v.GetInt64() < 0 || v.GetInt64() > INT32_MAX) {
          ok = CrashFail(&st, k, "expected a non-negative integer");
        } else {
          (k == "pid" ? out->pid : out->signal_number) = static_cast<int32_t>(v.GetInt64());
        }
      } else if (k == "time_ms") {
        if (v.IsNull()) continue;
        const double ms = v.IsNumber() ? v.GetDouble() : -1;
        if (!(ms >= 0 && ms <= kMaxMs)) {
          ok = CrashFail(&st, "time_ms", "expected a non-negative number of milliseconds");
        } else {
          out->time_us = static_cast<int64_t>(std::llround(ms * 1000.0));
          has_time = true;
        }
      } else if (k == "tx_id") {
        if (v.IsNull()) continue;
        std::string hex;
        ok = get_string(v, "tx_id", &hex);
        if (ok && (hex.size() != 16 ||
                   hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)) {
          ok = CrashFail(&st, "tx_id", "expected 16 hex digits");
        }
        if (ok) out->tx_id = std::stoull(hex, nullptr, 16);
      } else if (k == "frames") {
        if (v.IsNull()) continue;
        if (!v.IsArray()) {
          ok = CrashFail(&st, "frames", "expected an array of strings");
        } else if (v.Size() > kMaxCrashFrames) {
          ok = CrashFail(&st, "frames",
                         "at most " + std::to_string(kMaxCrashFrames) + " frames");
        } else {
          for (SizeType i = 0; ok && i < v.Size(); ++i) {
            ok = get_string(v[i], "frames[" + std::to_string(i) + "]",
                            &out->frames.emplace_back());
          }
        }
      }
      if (!ok) return st;
    }
    if (out->service.empty()) return (CrashFail(&st, "service", "required, a non-empty string"), st);
    if (out->instance.empty()) {
      return (CrashFail(&st, "instance", "required, a non-empty string"), st);
    }
    if (!has_time) return (CrashFail(&st, "time_ms", "required"), st);
    if (out->signal.empty() && out->signal_number == 0) {
      return (CrashFail(&st, "signal", "signal or signal_number is required"), st);
    }
    return Status::OK();
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("out of memory decoding a crash report");
  }
}

}  // namespace loupe::wire
