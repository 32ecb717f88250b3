// Byte encodings shared by the embedded engine's file formats: little-endian
// fixed-width integers, LEB128 varints, zigzag for signed values, and
// length-prefixed strings (docs/format/segment.md, "Primitive encodings").
//
// Decoder is a bounds-checked cursor: reading past the end sets a sticky
// failure flag (ok() == false) and returns zeros, so callers decode a whole
// structure and check ok() once.
// Thread-safety: plain values.
#ifndef LOUPE_COMMON_CODING_H_
#define LOUPE_COMMON_CODING_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace loupe {

inline void PutFixed32(std::string* out, uint32_t v) {
  char b[4];
  std::memcpy(b, &v, 4);  // little-endian hosts only (x86-64, aarch64)
  out->append(b, 4);
}
inline void PutFixed64(std::string* out, uint64_t v) {
  char b[8];
  std::memcpy(b, &v, 8);
  out->append(b, 8);
}
inline void PutVarint(std::string* out, uint64_t v) {
  char b[10];
  int n = 0;
  while (v >= 0x80) {
    b[n++] = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  b[n++] = static_cast<char>(v);
  out->append(b, n);
}
inline uint64_t ZigZag(int64_t v) noexcept {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t UnZigZag(uint64_t v) noexcept {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}
inline void PutZigZag(std::string* out, int64_t v) { PutVarint(out, ZigZag(v)); }
inline void PutString(std::string* out, std::string_view s) {
  PutVarint(out, s.size());
  out->append(s);
}

inline uint32_t DecodeFixed32(const char* p) noexcept {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t DecodeFixed64(const char* p) noexcept {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Decodes the varint at *p (bounds-checked against end, at most 10 bytes)
// into *v and moves *p past it; false on a truncated or overlong varint.
// For hand-rolled column decoders; Decoder below is the general cursor.
inline bool GetVarint(const uint8_t** p, const uint8_t* end, uint64_t* v) noexcept {
  uint64_t x = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (*p >= end) return false;
    const uint64_t b = *(*p)++;
    x |= (b & 0x7f) << shift;
    if (b < 0x80) {
      *v = x;
      return true;
    }
  }
  return false;
}

class Decoder {
 public:
  Decoder() = default;
  explicit Decoder(std::string_view s) : p_(s.data()), end_(s.data() + s.size()) {}

  bool ok() const noexcept { return ok_; }
  bool done() const noexcept { return p_ == end_; }
  size_t remaining() const noexcept { return static_cast<size_t>(end_ - p_); }
  const char* pos() const noexcept { return p_; }

  uint64_t Varint() noexcept {
    // Fast path: one byte, the most common case in columns.
    if (p_ < end_ && static_cast<uint8_t>(*p_) < 0x80) return static_cast<uint8_t>(*p_++);
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (p_ >= end_) return Fail();
      auto b = static_cast<uint8_t>(*p_++);
      if (shift == 63 && b > 1) return Fail();
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (b < 0x80) return v;
    }
    return Fail();
  }
  uint32_t Varint32() noexcept {
    uint64_t v = Varint();
    if (v > UINT32_MAX) return static_cast<uint32_t>(Fail());
    return static_cast<uint32_t>(v);
  }
  int64_t ZigZag() noexcept { return UnZigZag(Varint()); }
  uint32_t Fixed32() noexcept {
    if (remaining() < 4) return static_cast<uint32_t>(Fail());
    uint32_t v = DecodeFixed32(p_);
    p_ += 4;
    return v;
  }
  uint64_t Fixed64() noexcept {
    if (remaining() < 8) return Fail();
    uint64_t v = DecodeFixed64(p_);
    p_ += 8;
    return v;
  }
  uint8_t Byte() noexcept {
    if (p_ >= end_) return static_cast<uint8_t>(Fail());
    return static_cast<uint8_t>(*p_++);
  }
  std::string_view Bytes(size_t n) noexcept {
    if (remaining() < n) {
      Fail();
      return {};
    }
    std::string_view s(p_, n);
    p_ += n;
    return s;
  }
  std::string_view String() noexcept {
    uint64_t n = Varint();
    if (!ok_ || n > remaining()) {
      Fail();
      return {};
    }
    return Bytes(static_cast<size_t>(n));
  }

 private:
  uint64_t Fail() noexcept {
    ok_ = false;
    p_ = end_;
    return 0;
  }

  const char* p_ = nullptr;
  const char* end_ = nullptr;
  bool ok_ = true;
};

}  // namespace loupe

#endif  // LOUPE_COMMON_CODING_H_
