#include "json.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace loupe::internal {

void AppendJsonString(std::string* out, std::string_view s, size_t max_bytes) {
  if (s.size() > max_bytes) {
    size_t n = max_bytes;
    // Do not cut inside a UTF-8 sequence: back up over continuation bytes.
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    s = s.substr(0, n);
  }
  out->push_back('"');
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (u < 0x20) {
          char tmp[8];
          std::snprintf(tmp, sizeof tmp, "\\u%04x", u);
          out->append(tmp);
        } else {
          out->push_back(c);
        }
    }
  }
  out->push_back('"');
}

void AppendJsonNumber(std::string* out, double v) {
  if (!std::isfinite(v)) v = 0;
  char tmp[40];
  if (v == std::floor(v) && std::fabs(v) < 9e15) {
    std::snprintf(tmp, sizeof tmp, "%.0f", v);
  } else {
    std::snprintf(tmp, sizeof tmp, "%.3f", v);
  }
  out->append(tmp);
}

const JsonValue* JsonValue::Find(std::string_view key) const {
  if (type != kObject) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &it->second;
}

namespace {

class Parser {
 public:
  explicit Parser(std::string_view t) : p_(t.data()), end_(t.data() + t.size()) {}

  bool Document(JsonValue* out, std::string* error) {
    if (!Value(out, 0)) {
      *error = error_;
      return false;
    }
    Ws();
    if (p_ != end_) {
      *error = "trailing characters";
      return false;
    }
    return true;
  }

 private:
  bool Fail(const char* why) {
    error_ = why;
    return false;
  }
  void Ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }
  bool Literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word) {
      return Fail("bad literal");
    }
    p_ += word.size();
    return true;
  }
  static void AppendUtf8(std::string* s, uint32_t cp) {
    if (cp < 0x80) {
      s->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      s->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      s->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      s->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      s->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      s->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      s->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      s->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      s->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  bool Hex4(uint32_t* v) {
    if (end_ - p_ < 4) return Fail("short \\u escape");
    *v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = *p_++;
      *v <<= 4;
      if (c >= '0' && c <= '9') {
        *v |= c - '0';
      } else if (c >= 'a' && c <= 'f') {
        *v |= c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        *v |= c - 'A' + 10;
      } else {
        return Fail("bad \\u escape");
      }
    }
    return true;
  }
  bool String(std::string* s) {
    ++p_;  // opening quote
    while (p_ < end_) {
      const char c = *p_++;
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return Fail("control character in string");
      if (c != '\\') {
        s->push_back(c);
        continue;
      }
      if (p_ == end_) break;
      const char e = *p_++;
      switch (e) {
        case '"':
        case '\\':
        case '/':
          s->push_back(e);
          break;
        case 'b':
          s->push_back('\b');
          break;
        case 'f':
          s->push_back('\f');
          break;
        case 'n':
          s->push_back('\n');
          break;
        case 'r':
          s->push_back('\r');
          break;
        case 't':
          s->push_back('\t');
          break;
        case 'u': {
          uint32_t cp;
          if (!Hex4(&cp)) return false;
          if (cp >= 0xD800 && cp < 0xDC00 && end_ - p_ >= 6 && p_[0] == '\\' && p_[1] == 'u') {
            p_ += 2;
            uint32_t lo;
            if (!Hex4(&lo)) return false;
            if (lo < 0xDC00 || lo > 0xDFFF) return Fail("bad surrogate pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          AppendUtf8(s, cp);
          break;
        }
        default:
          return Fail("bad escape");
      }
    }
    return Fail("unterminated string");
  }
  bool Number(double* v) {
    const char* start = p_;
    if (p_ < end_ && *p_ == '-') ++p_;
    while (p_ < end_ && ((*p_ >= '0' && *p_ <= '9') || *p_ == '.' || *p_ == 'e' || *p_ == 'E' ||
                         *p_ == '+' || *p_ == '-')) {
      ++p_;
    }
    if (p_ == start) return Fail("bad number");
    std::string tmp(start, p_);
    char* e = nullptr;
    *v = std::strtod(tmp.c_str(), &e);
    if (e != tmp.c_str() + tmp.size()) return Fail("bad number");
    return true;
  }
  bool Value(JsonValue* v, int depth) {
    if (depth > 64) return Fail("nested too deeply");
    Ws();
    if (p_ == end_) return Fail("unexpected end");
    switch (*p_) {
      case '{': {
        v->type = JsonValue::kObject;
        ++p_;
        Ws();
        if (p_ < end_ && *p_ == '}') {
          ++p_;
          return true;
        }
        for (;;) {
          Ws();
          if (p_ == end_ || *p_ != '"') return Fail("expected key");
          std::string key;
          if (!String(&key)) return false;
          Ws();
          if (p_ == end_ || *p_ != ':') return Fail("expected ':'");
          ++p_;
          JsonValue member;
          if (!Value(&member, depth + 1)) return false;
          v->object[std::move(key)] = std::move(member);
          Ws();
          if (p_ < end_ && *p_ == ',') {
            ++p_;
            continue;
          }
          if (p_ < end_ && *p_ == '}') {
            ++p_;
            return true;
          }
          return Fail("expected ',' or '}'");
        }
      }
      case '[': {
        v->type = JsonValue::kArray;
        ++p_;
        Ws();
        if (p_ < end_ && *p_ == ']') {
          ++p_;
          return true;
        }
        for (;;) {
          v->array.emplace_back();
          if (!Value(&v->array.back(), depth + 1)) return false;
          Ws();
          if (p_ < end_ && *p_ == ',') {
            ++p_;
            continue;
          }
          if (p_ < end_ && *p_ == ']') {
            ++p_;
            return true;
          }
          return Fail("expected ',' or ']'");
        }
      }
      case '"':
        v->type = JsonValue::kString;
        return String(&v->str);
      case 't':
        v->type = JsonValue::kBool;
        v->b = true;
        return Literal("true");
      case 'f':
        v->type = JsonValue::kBool;
        return Literal("false");
      case 'n':
        v->type = JsonValue::kNull;
        return Literal("null");
      default:
        v->type = JsonValue::kNumber;
        return Number(&v->num);
    }
  }

  const char* p_;
  const char* end_;
  const char* error_ = "";
};

}  // namespace

bool ParseJson(std::string_view text, JsonValue* out, std::string* error) {
  *out = JsonValue();
  return Parser(text).Document(out, error);
}

}  // namespace loupe::internal
