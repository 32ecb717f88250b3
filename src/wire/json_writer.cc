#include "wire/json_writer.h"

#include <rapidjson/internal/itoa.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

namespace loupe::wire {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

bool IsContinuation(uint8_t b) { return (b & 0xC0) == 0x80; }

// Length of the well-formed UTF-8 sequence at p (1..4), or 0 with *bad set to
// the length of the maximal ill-formed subpart (>= 1) to replace.
size_t SequenceLength(const unsigned char* p, const unsigned char* end, size_t* bad) {
  const unsigned char c = p[0];
  if (c < 0x80) return 1;
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    need = 1;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    if (c == 0xE0) lo = 0xA0;  // no overlongs
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    if (c == 0xF0) lo = 0x90;  // no overlongs
    if (c == 0xF4) hi = 0x8F;  // at most U+10FFFF
  } else {
    *bad = 1;
    return 0;
  }
  size_t i = 1;
  for (; i <= need; ++i) {
    if (p + i >= end) break;
    const unsigned char b = p[i];
    const unsigned char l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
    if (b < l || b > h) break;
  }
  if (i == need + 1) return need + 1;
  *bad = i;  // the lead byte plus the continuation bytes that fit
  return 0;
}

// Appends the escaped form of s (no quotes) using at most `room` bytes, never
// splitting an escape or a UTF-8 sequence. Returns false if s did not fit.
bool AppendEscaped(std::string_view s, size_t room, std::string* out) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const uint8_t* run = p;
    while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') ++p;
    if (size_t n = static_cast<size_t>(p - run); n > 0) {
      if (n > room) {
        out->append(reinterpret_cast<const char*>(run), room);
        return false;
      }
      out->append(reinterpret_cast<const char*>(run), n);
      room -= n;
    }
    if (p == end) break;

    char buf[8];
    size_t len = 0;
    size_t consumed = 1;
    const uint8_t c = *p;
    if (c < 0x80) {
      buf[0] = '\\';
      len = 2;
      switch (c) {
        case '"':
          buf[1] = '"';
          break;
        case '\\':
          buf[1] = '\\';
          break;
        case '\n':
          buf[1] = 'n';
          break;
        case '\r':
          buf[1] = 'r';
          break;
        case '\t':
          buf[1] = 't';
          break;
        case '\b':
          buf[1] = 'b';
          break;
        case '\f':
          buf[1] = 'f';
          break;
        default:
          buf[1] = 'u';
          buf[2] = '0';
          buf[3] = '0';
          buf[4] = kHexDigits[c >> 4];
          buf[5] = kHexDigits[c & 0xF];
          len = 6;
      }
    } else if (size_t seq = internal::Utf8SequenceLength(p, end); seq > 0) {
      for (size_t i = 0; i < seq; ++i) buf[i] = static_cast<char>(p[i]);
      len = consumed = seq;
    } else {
      std::string_view replacement = "\\ufffd";
      replacement.copy(buf, replacement.size());
      len = replacement.size();
    }
    if (len > room) return false;
    out->append(buf, len);
    room -= len;
    p += consumed;
  }
  return true;
}

}  // namespace

void StringSink::Grow(size_t n) {
  out_->resize(std::max(out_->size() * 2, len_ + n + 256));
  data_ = out_->data();
}

size_t ValidUtf8Prefix(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  const auto* start = p;
  while (p < end) {
    if (end - p >= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      if ((w & 0x8080808080808080ULL) == 0) {
        p += 8;
        continue;
      }
    }
    size_t bad = 0;
    size_t n = SequenceLength(p, end, &bad);
    if (n == 0) break;
    p += n;
  }
  return static_cast<size_t>(p - start);
}

void SanitizeUtf8(std::string_view s, std::string* out) {
  out->clear();
  out->reserve(s.size() + 8);
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    size_t bad = 0;
    size_t n = SequenceLength(p, end, &bad);
    if (n > 0) {
      out->append(reinterpret_cast<const char*>(p), n);
      p += n;
    } else {
      out->append("\xEF\xBF\xBD");
      p += bad;
    }
  }
}

void JsonWriter::WriteSanitized(std::string_view s, bool key) {
  std::string_view v = s;
  if (ValidUtf8Prefix(s) != s.size()) {
    SanitizeUtf8(s, &scratch_);
    v = scratch_;
  }
  if (key) {
    w_.Key(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  } else {
    w_.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  }
}

void JsonWriter::Double(double v) {
  if (!std::isfinite(v)) {
    w_.Null();
  } else {
    w_.Double(v);
  }
}

void JsonWriter::Millis(int64_t us) {
  char buf[32];
  char* p = buf;
  uint64_t u = static_cast<uint64_t>(us);
  if (us < 0) {
    *p++ = '-';
    u = ~u + 1;
  }
  const uint64_t whole = u / 1000;
  const unsigned frac = static_cast<unsigned>(u % 1000);
  p = rapidjson::internal::u64toa(whole, p);
  if (frac != 0) {
    const unsigned d0 = frac / 100, d1 = frac / 10 % 10, d2 = frac % 10;
    *p++ = '.';
    *p++ = static_cast<char>('0' + d0);
    if (d1 != 0 || d2 != 0) *p++ = static_cast<char>('0' + d1);
    if (d2 != 0) *p++ = static_cast<char>('0' + d2);
  }
  w_.RawValue(buf, static_cast<size_t>(p - buf), rapidjson::kNumberType);
}

void JsonWriter::Hex64(uint64_t v) {
  char buf[16];
  for (int i = 15; i >= 0; --i) {
    buf[i] = kHexDigits[v & 15];
    v >>= 4;
  }
  w_.String(buf, 16);
}

void JsonWriter::Hex(const uint8_t* p, size_t n) {
  char buf[128];
  n = std::min<size_t>(n, 64);
  for (size_t i = 0; i < n; ++i) {
    buf[2 * i] = kHexDigits[p[i] >> 4];
    buf[2 * i + 1] = kHexDigits[p[i] & 15];
  }
  w_.String(buf, static_cast<rapidjson::SizeType>(2 * n));
}

namespace internal {

size_t FindInvalidJsonByte(std::string_view s) noexcept {
  constexpr uint64_t kOnes = 0x0101010101010101, kHighBits = 0x8080808080808080;
  const auto* begin = reinterpret_cast<const uint8_t*>(s.data());
  const auto* end = begin + s.size();
  const uint8_t* p = begin;
  while (p < end) {
    if (end - p >= 8) {  // fast path: 8 ASCII bytes, none of them NUL
      uint64_t w;
      std::memcpy(&w, p, 8);
      if ((w & kHighBits) == 0 && ((w - kOnes) & ~w & kHighBits) == 0) {
        p += 8;
        continue;
      }
    }
    if (*p < 0x80) {
      if (*p == 0) return static_cast<size_t>(p - begin);
      ++p;
      continue;
    }
    size_t n = Utf8SequenceLength(p, end);
    if (n == 0) return static_cast<size_t>(p - begin);
    p += n;
  }
  return std::string_view::npos;
}

std::string_view TruncateUtf8(std::string_view s, size_t max_bytes) noexcept {
  if (s.size() <= max_bytes) return s;
  size_t cut = max_bytes;
  // A UTF-8 sequence is at most 4 bytes, so a boundary is at most 3 bytes back.
  for (int i = 0; i < 3 && cut > 0 && IsContinuation(static_cast<uint8_t>(s[cut])); ++i) --cut;
  if (IsContinuation(static_cast<uint8_t>(s[cut]))) cut = max_bytes;  // not UTF-8 here
  return s.substr(0, cut);
}

size_t Utf8SequenceLength(const uint8_t* p, const uint8_t* end) noexcept {
  size_t bad = 0;
  return SequenceLength(p, end, &bad);
}

void AppendHex(std::string_view bytes, std::string* out) {
  size_t pos = out->size();
  out->resize(pos + 2 * bytes.size());
  char* d = out->data() + pos;
  for (unsigned char c : bytes) {
    *d++ = kHexDigits[c >> 4];
    *d++ = kHexDigits[c & 0xF];
  }
}

size_t BoundedJsonWriter::Room(size_t reserve) const {
  size_t used = out_.size() + open_ + reserve;
  return used >= budget_ ? 0 : budget_ - used;
}

void BoundedJsonWriter::Open(char bracket) {
  out_.push_back(bracket);
  ++open_;
}

void BoundedJsonWriter::Close(char bracket) {
  out_.push_back(bracket);
  --open_;
}

size_t BoundedJsonWriter::BeginElement() {
  size_t mark = out_.size();
  if (!out_.empty() && out_.back() != '[' && out_.back() != '{') out_.push_back(',');
  return mark;
}

bool BoundedJsonWriter::EndElement(size_t mark) {
  if (out_.size() + open_ > budget_) {
    DropElement(mark);
    return false;
  }
  return !full_;
}

void BoundedJsonWriter::DropElement(size_t mark) {
  out_.resize(mark);
  full_ = truncated_ = true;
}

bool BoundedJsonWriter::Key(std::string_view key) {
  out_.push_back('"');
  if (!AppendEscaped(key, Room(2), &out_)) return false;
  out_.append("\":");
  return true;
}

void BoundedJsonWriter::String(std::string_view s) {
  out_.push_back('"');
  if (!AppendEscaped(s, Room(1), &out_)) truncated_ = true;
  out_.push_back('"');
}

void BoundedJsonWriter::HexString(std::string_view bytes) {
  out_.push_back('"');
  size_t n = Room(1) / 2;
  if (n < bytes.size()) {
    bytes = bytes.substr(0, n);
    truncated_ = true;
  }
  AppendHex(bytes, &out_);
  out_.push_back('"');
}

void BoundedJsonWriter::Int(int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out_.append(buf, r.ptr);
}

void BoundedJsonWriter::Double(double v) {
  if (std::isnan(v)) {
    out_.append("\"NaN\"");
  } else if (std::isinf(v)) {
    out_.append(v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
  } else {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, r.ptr);
  }
}

void BoundedJsonWriter::Bool(bool v) { out_.append(v ? "true" : "false"); }

void BoundedJsonWriter::Null() { out_.append("null"); }

}  // namespace internal
}  // namespace loupe::wire
