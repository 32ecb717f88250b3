#include "api/json.h"

#include <rapidjson/internal/itoa.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace loupe::api {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

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

}  // namespace loupe::api
