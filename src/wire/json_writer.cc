#include "wire/json_writer.h"

#include <charconv>
#include <cmath>
#include <cstring>

namespace loupe::wire::internal {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

bool IsContinuation(uint8_t b) { return (b & 0xC0) == 0x80; }

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
    } else if (size_t seq = Utf8SequenceLength(p, end); seq > 0) {
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
  const uint8_t b0 = p[0];
  if (b0 < 0x80) return 1;
  size_t len;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;  // no overlongs
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;  // no overlongs
    if (b0 == 0xF4) hi = 0x8F;  // at most U+10FFFF
  } else {
    return 0;
  }
  if (static_cast<size_t>(end - p) < len) return 0;
  if (p[1] < lo || p[1] > hi) return 0;
  for (size_t i = 2; i < len; ++i) {
    if (!IsContinuation(p[i])) return 0;
  }
  return len;
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

void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  AppendEscaped(s, SIZE_MAX, out);
  out->push_back('"');
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

}  // namespace loupe::wire::internal
