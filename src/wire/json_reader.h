// The OTLP/JSON reading shared by the decoders (otlp_json.cc for traces,
// otlp_metrics_json.cc for metrics): in-situ parsing with RapidJSON, typed
// getters that follow the OTLP JSON mapping (64-bit integers as numbers or
// decimal strings, NaN/Infinity as strings, enums as numbers or names, null as
// absent), error paths such as "resourceSpans[0].scopeSpans[1].spans[2].kind",
// and the decoding of KeyValue/AnyValue attributes under DecodeLimits.
//
// JsonReader<Batch> is a base class for one decoder of one request; Batch is
// a model batch as for ProtoReader (proto_reader.h).
//
// Internal to wire/. Thread-safety: one reader per request and thread.
#ifndef LOUPE_WIRE_JSON_READER_H_
#define LOUPE_WIRE_JSON_READER_H_

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "model/span.h"
#include "wire/decode_limits.h"
#include "wire/json_writer.h"

namespace loupe::wire::internal::json {

using model::AttrValue;
using rapidjson::SizeType;
using rapidjson::Value;

inline constexpr int kMaxSupportedDepth = 64;
// No kParseValidateEncodingFlag: RapidJSON 1.1.0's validator reads up to 3
// bytes past the end of the buffer on a truncated multibyte sequence (found
// by otlp_json_fuzz), so the body is validated by
// internal::::loupe::wire::internal::FindInvalidJsonByte() instead.
// No kParseFullPrecisionFlag: its slow path (StrtodDiyFp) in RapidJSON 1.1.0
// normalizes a zero significand with clz(0), so `0e42` parsed as -1.55e231
// (found by otlp_json_fuzz under UBSan). The normal-precision path computes
// significand * 10^exp, which is exact for the integers and short decimals
// OTLP carries and at most 3 ULP off otherwise.
inline constexpr unsigned kParseFlags = rapidjson::kParseIterativeFlag;

// Where a value sits in the document, for error messages. Lives on the stack
// of the decoding functions; rendered only when reporting an error.
struct Path {
  const Path* parent = nullptr;
  std::string_view name;  // member name; empty for an array element
  size_t index = 0;       // array index when name is empty

  std::string ToString() const {
    std::vector<const Path*> chain;
    for (const Path* p = this; p != nullptr && p->parent != nullptr; p = p->parent) {
      chain.push_back(p);
    }
    std::string s;
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
      if ((*it)->name.empty()) {
        s += '[' + std::to_string((*it)->index) + ']';
      } else {
        if (!s.empty()) s += '.';
        s += (*it)->name;
      }
    }
    return s.empty() ? "(root)" : s;
  }
};

// True if `name` is the member's JSON name or its proto field name.
inline bool Is(std::string_view name, std::string_view json_name, std::string_view proto_name) {
  return name == json_name || name == proto_name;
}

inline std::string_view Str(const Value& v) { return {v.GetString(), v.GetStringLength()}; }

inline int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes exactly n bytes from 2n hex digits; false if hex is anything else.
inline bool HexToBytes(std::string_view hex, uint8_t* out, size_t n) {
  if (hex.size() != 2 * n) return false;
  for (size_t i = 0; i < n; ++i) {
    int hi = HexDigit(hex[2 * i]), lo = HexDigit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

inline int Base64Digit(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

// Standard or URL-safe base64, padding optional. False on any other input.
inline bool Base64Decode(std::string_view in, std::string* out) {
  size_t padding = 0;
  while (!in.empty() && in.back() == '=' && padding < 2) {
    in.remove_suffix(1);
    ++padding;
  }
  if (in.size() % 4 == 1) return false;
  if (padding > 0 && (in.size() + padding) % 4 != 0) return false;
  out->clear();
  out->reserve(in.size() * 3 / 4);
  uint32_t bits = 0;
  int nbits = 0;
  for (char c : in) {
    int d = Base64Digit(c);
    if (d < 0) return false;
    bits = (bits << 6) | static_cast<uint32_t>(d);
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      out->push_back(static_cast<char>((bits >> nbits) & 0xFF));
    }
  }
  return true;
}

template <typename Batch>
class JsonReader {
 public:
  JsonReader(const DecodeLimits& limits, Batch* out)
      : limits_(limits),
        max_depth_(limits.max_depth < 1                    ? 1
                   : limits.max_depth > kMaxSupportedDepth ? kMaxSupportedDepth
                                                           : limits.max_depth),
        out_(out) {}

 protected:
  // Validates and parses *body in situ into *doc. False (status_ set) if it
  // is not UTF-8 JSON without NUL bytes.
  bool Parse(std::string* body, rapidjson::Document* doc) {
    if (size_t bad = ::loupe::wire::internal::FindInvalidJsonByte(*body);
        bad != std::string_view::npos) {
      status_ =
          Status::InvalidArgument(std::string("invalid OTLP JSON at byte ") + std::to_string(bad) +
                                  ((*body)[bad] == '\0' ? ": NUL byte" : ": invalid UTF-8"));
      return false;
    }
    doc->ParseInsitu<kParseFlags>(body->data());
    if (doc->HasParseError()) {
      status_ = Status::InvalidArgument(std::string("invalid OTLP JSON at byte ") +
                                        std::to_string(doc->GetErrorOffset()) + ": " +
                                        rapidjson::GetParseError_En(doc->GetParseError()));
      return false;
    }
    return true;
  }

  [[gnu::cold, gnu::noinline]] bool Fail(const Path& path, std::string_view what) {
    status_ =
        Status::InvalidArgument("invalid OTLP JSON: " + path.ToString() + ": " + std::string(what));
    return false;
  }

  [[gnu::cold, gnu::noinline]] bool TooDeep(const Path& path) {
    return Fail(path, "AnyValue nested deeper than " + std::to_string(max_depth_) + " levels");
  }

  bool ExpectObject(const Value& v, const Path& path) {
    return v.IsObject() ? true : Fail(path, "expected an object");
  }

  // Calls f(element, element_path) for each element of the array v; null is
  // an empty array.
  template <typename F>
  bool ForEach(const Value& v, const Path& path, F&& f) {
    if (v.IsNull()) return true;
    if (!v.IsArray()) return Fail(path, "expected an array");
    for (SizeType i = 0; i < v.Size(); ++i) {
      Path element{&path, {}, i};
      if (!f(v[i], element)) return false;
    }
    return true;
  }

  // Null leaves *out unchanged (an absent field).
  bool GetString(const Value& v, const Path& path, std::string_view* out) {
    if (v.IsString()) {
      *out = Str(v);
      return true;
    }
    return v.IsNull() ? true : Fail(path, "expected a string");
  }

  bool GetUint64(const Value& v, const Path& path, uint64_t* out) {
    if (v.IsUint64()) {
      *out = v.GetUint64();
      return true;
    }
    if (v.IsDouble()) {
      double d = v.GetDouble();
      if (d >= 0 && d < 18446744073709551616.0 && std::trunc(d) == d) {
        *out = static_cast<uint64_t>(d);
        return true;
      }
    } else if (v.IsString()) {
      std::string_view s = Str(v);
      auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
      if (!s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size()) return true;
    } else if (v.IsNull()) {
      return true;
    }
    return Fail(path, "expected an unsigned 64-bit integer (number or decimal string)");
  }

  bool GetInt64(const Value& v, const Path& path, int64_t* out) {
    if (v.IsInt64()) {
      *out = v.GetInt64();
      return true;
    }
    if (v.IsDouble()) {
      double d = v.GetDouble();
      if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 && std::trunc(d) == d) {
        *out = static_cast<int64_t>(d);
        return true;
      }
    } else if (v.IsString()) {
      std::string_view s = Str(v);
      auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
      if (!s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size()) return true;
    } else if (v.IsNull()) {
      return true;
    }
    return Fail(path, "expected a signed 64-bit integer (number or decimal string)");
  }

  bool GetUint32(const Value& v, const Path& path, uint32_t* out) {
    uint64_t u = *out;
    if (!GetUint64(v, path, &u)) return false;
    if (u > std::numeric_limits<uint32_t>::max()) return Fail(path, "exceeds 32 bits");
    *out = static_cast<uint32_t>(u);
    return true;
  }

  bool GetDouble(const Value& v, const Path& path, double* out) {
    if (v.IsNumber()) {
      *out = v.GetDouble();
      return true;
    }
    if (v.IsString()) {
      std::string_view s = Str(v);
      if (s == "NaN") {
        *out = std::numeric_limits<double>::quiet_NaN();
        return true;
      }
      if (s == "Infinity" || s == "-Infinity") {
        *out = s[0] == '-' ? -std::numeric_limits<double>::infinity()
                           : std::numeric_limits<double>::infinity();
        return true;
      }
      auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
      if (!s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size()) return true;
    } else if (v.IsNull()) {
      return true;
    }
    return Fail(path, "expected a number");
  }

  // An enum as its number or its name; unknown numbers and names are -1.
  template <size_t N>
  bool GetEnum(const Value& v, const Path& path, const std::string_view (&names)[N], int* out) {
    if (v.IsNull()) return true;
    if (v.IsInt64() || v.IsUint64()) {
      *out = v.IsInt64() && v.GetInt64() >= 0 && v.GetInt64() < static_cast<int64_t>(N)
                 ? static_cast<int>(v.GetInt64())
                 : -1;
      return true;
    }
    if (v.IsString()) {
      *out = -1;
      for (size_t i = 0; i < N; ++i) {
        if (Str(v) == names[i]) *out = static_cast<int>(i);
      }
      return true;
    }
    return Fail(path, "expected an enum number or name");
  }

  std::string_view LimitString(std::string_view s) {
    return LimitString(s, limits_.max_value_bytes);
  }
  std::string_view LimitString(std::string_view s, size_t limit) {
    if (s.size() <= limit) [[likely]] {
      return s;
    }
    ++out_->truncated_values;
    return ::loupe::wire::internal::TruncateUtf8(s, limit);
  }

  // Appends the KeyValues of the array v to out_->attrs, keeping at most `cap`
  // for the owner whose attributes start at attrs_begin and dropping those
  // with an unusable key; counts what it does not keep in *dropped.
  bool DecodeAttributes(const Value& v, const Path& path, uint32_t attrs_begin, size_t cap,
                        uint32_t* dropped) {
    return ForEach(v, path, [&](const Value& e, const Path& ep) {
      if (out_->attrs.size() - attrs_begin >= cap) {
        ++*dropped;
        return true;
      }
      if (!ExpectObject(e, ep)) return false;
      model::KeyValue kv;
      for (const auto& m : e.GetObject()) {
        std::string_view name = Str(m.name);
        Path p{&ep, name};
        if (name == "key") {
          if (!GetString(m.value, p, &kv.key)) return false;
        } else if (name == "value") {
          // The string limit depends on the key, which may come after the value.
          if (!DecodeAnyValue(m.value, p, &kv.value)) return false;
        }
      }
      if (kv.key.empty() || kv.key.size() > limits_.max_key_bytes) {
        ++*dropped;
        return true;
      }
      if (kv.value.type == AttrValue::Type::kString) {
        kv.value.s = LimitString(kv.value.s, StringValueLimit(limits_, kv.key));
      }
      out_->attrs.push_back(kv);
      return true;
    });
  }

  bool DecodeBytes(const Value& v, const Path& path, std::string* raw) {
    if (!v.IsString()) return Fail(path, "expected a base64 string");
    if (!Base64Decode(Str(v), raw)) return Fail(path, "invalid base64");
    return true;
  }

  // An attribute's value (nesting level 1). Members set in order, so the last
  // oneof member present wins; null members are absent.
  // A string value is left whole: its limit depends on the attribute's key
  // (StringValueLimit), which the caller cuts it to.
  bool DecodeAnyValue(const Value& v, const Path& path, AttrValue* out) {
    if (v.IsNull()) return true;
    if (!ExpectObject(v, path)) return false;
    for (const auto& m : v.GetObject()) {
      std::string_view name = Str(m.name);
      const Value& value = m.value;
      if (value.IsNull()) continue;
      Path p{&path, name};
      if (Is(name, "stringValue", "string_value")) {
        if (!value.IsString()) return Fail(p, "expected a string");
        out->type = AttrValue::Type::kString;
        out->s = Str(value);
      } else if (Is(name, "boolValue", "bool_value")) {
        if (!value.IsBool()) return Fail(p, "expected true or false");
        out->type = AttrValue::Type::kBool;
        out->b = value.GetBool();
      } else if (Is(name, "intValue", "int_value")) {
        if (!GetInt64(value, p, &out->i)) return false;
        out->type = AttrValue::Type::kInt;
      } else if (Is(name, "doubleValue", "double_value")) {
        if (!GetDouble(value, p, &out->d)) return false;
        out->type = AttrValue::Type::kDouble;
      } else if (Is(name, "arrayValue", "array_value") || Is(name, "kvlistValue", "kvlist_value")) {
        const bool is_array = name[0] == 'a';
        ::loupe::wire::internal::BoundedJsonWriter w(limits_.max_value_bytes);
        if (!(is_array ? RenderArray(value, p, 2, &w) : RenderKvList(value, p, 2, &w))) {
          return false;
        }
        if (w.truncated()) ++out_->truncated_values;
        out->type = is_array ? AttrValue::Type::kArray : AttrValue::Type::kKvList;
        out->s = out_->Own(std::move(w.text()));
      } else if (Is(name, "bytesValue", "bytes_value")) {
        std::string raw;
        if (!DecodeBytes(value, p, &raw)) return false;
        std::string_view bytes = raw;
        if (bytes.size() > limits_.max_value_bytes / 2) {
          bytes = bytes.substr(0, limits_.max_value_bytes / 2);
          ++out_->truncated_values;
        }
        std::string hex;
        ::loupe::wire::internal::AppendHex(bytes, &hex);
        out->type = AttrValue::Type::kBytes;
        out->s = out_->Own(std::move(hex));
      }
    }
    return true;
  }

  // Returns the "values" array of an ArrayValue/KeyValueList object, or null.
  bool GetValues(const Value& v, const Path& path, const Value** values, Path* values_path) {
    *values = nullptr;
    if (!ExpectObject(v, path)) return false;
    for (const auto& m : v.GetObject()) {
      if (Str(m.name) == "values") {
        *values_path = Path{&path, "values"};
        if (!m.value.IsNull() && !m.value.IsArray()) return Fail(*values_path, "expected an array");
        *values = m.value.IsArray() ? &m.value : nullptr;
      }
    }
    return true;
  }

  // Renders an ArrayValue whose elements are at nesting level `depth`.
  bool RenderArray(const Value& v, const Path& path, int depth,
                   ::loupe::wire::internal::BoundedJsonWriter* w) {
    if (depth > max_depth_) return TooDeep(path);
    const Value* values;
    Path vp;
    if (!GetValues(v, path, &values, &vp)) return false;
    w->Open('[');
    for (SizeType i = 0; values != nullptr && i < values->Size() && !w->full(); ++i) {
      Path ep{&vp, {}, i};
      size_t mark = w->BeginElement();
      if (!RenderAnyValue((*values)[i], ep, depth, w)) return false;
      w->EndElement(mark);
    }
    w->Close(']');
    return true;
  }

  // Renders a KeyValueList whose values are at nesting level `depth`.
  bool RenderKvList(const Value& v, const Path& path, int depth,
                    ::loupe::wire::internal::BoundedJsonWriter* w) {
    if (depth > max_depth_) return TooDeep(path);
    const Value* values;
    Path vp;
    if (!GetValues(v, path, &values, &vp)) return false;
    w->Open('{');
    for (SizeType i = 0; values != nullptr && i < values->Size() && !w->full(); ++i) {
      Path ep{&vp, {}, i};
      const Value& kv = (*values)[i];
      if (!ExpectObject(kv, ep)) return false;
      std::string_view key;
      const Value* value = nullptr;
      Path value_path;
      for (const auto& m : kv.GetObject()) {
        std::string_view name = Str(m.name);
        if (name == "key") {
          Path kp{&ep, name};
          if (!GetString(m.value, kp, &key)) return false;
        } else if (name == "value") {
          value = &m.value;
          value_path = Path{&ep, name};
        }
      }
      size_t mark = w->BeginElement();
      if (!w->Key(key)) {
        w->DropElement(mark);
        break;
      }
      if (value == nullptr) {
        w->Null();
      } else if (!RenderAnyValue(*value, value_path, depth, w)) {
        return false;
      }
      w->EndElement(mark);
    }
    w->Close('}');
    return true;
  }

  // Renders an AnyValue at nesting level `depth`: its last non-null member,
  // or null.
  bool RenderAnyValue(const Value& v, const Path& path, int depth,
                      ::loupe::wire::internal::BoundedJsonWriter* w) {
    if (v.IsNull()) {
      w->Null();
      return true;
    }
    if (!ExpectObject(v, path)) return false;
    const Value* last = nullptr;
    std::string_view last_name;
    for (const auto& m : v.GetObject()) {
      std::string_view name = Str(m.name);
      if (m.value.IsNull()) continue;
      if (Is(name, "stringValue", "string_value") || Is(name, "boolValue", "bool_value") ||
          Is(name, "intValue", "int_value") || Is(name, "doubleValue", "double_value") ||
          Is(name, "arrayValue", "array_value") || Is(name, "kvlistValue", "kvlist_value") ||
          Is(name, "bytesValue", "bytes_value")) {
        last = &m.value;
        last_name = name;
      }
    }
    if (last == nullptr) {
      w->Null();
      return true;
    }
    Path p{&path, last_name};
    switch (last_name[0]) {
      case 's':
        if (!last->IsString()) return Fail(p, "expected a string");
        w->String(Str(*last));
        return true;
      case 'b':
        if (last_name[1] == 'o') {
          if (!last->IsBool()) return Fail(p, "expected true or false");
          w->Bool(last->GetBool());
        } else {
          std::string raw;
          if (!DecodeBytes(*last, p, &raw)) return false;
          w->HexString(raw);
        }
        return true;
      case 'i': {
        int64_t i = 0;
        if (!GetInt64(*last, p, &i)) return false;
        w->Int(i);
        return true;
      }
      case 'd': {
        double d = 0;
        if (!GetDouble(*last, p, &d)) return false;
        w->Double(d);
        return true;
      }
      case 'a':
        return RenderArray(*last, p, depth + 1, w);
      default:  // kvlistValue
        return RenderKvList(*last, p, depth + 1, w);
    }
  }

  const DecodeLimits& limits_;
  const int max_depth_;
  Batch* out_;
  Status status_;
};

}  // namespace loupe::wire::internal::json

#endif  // LOUPE_WIRE_JSON_READER_H_
