// Bit-packed integer columns (segment version 2: the end, elapsed and error
// columns of a row group). Values are cut into blocks of 64; each block is
// stored as `zigzag base` (its minimum), `byte width` (bits of max − base,
// 0–64) and the values − base at width bits each, least significant bit
// first, in ceil(count × width / 8) bytes. Layout: docs/format/segment.md.
//
// Why: on these columns this is as small as varints + zstd (no outlier can
// widen more than its own 64 values) and decodes several times faster:
// no entropy decoder, one load and a shift per value.
// Thread-safety: pure functions.
#ifndef LOUPE_STORE_EMBEDDED_PACKED_INTS_H_
#define LOUPE_STORE_EMBEDDED_PACKED_INTS_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "common/coding.h"

namespace loupe::store {

constexpr uint32_t kPackedBlock = 64;

// Appends n values, packed, to *out.
inline void EncodePacked(const int64_t* v, size_t n, std::string* out) {
  for (size_t s = 0; s < n; s += kPackedBlock) {
    const size_t m = std::min<size_t>(kPackedBlock, n - s);
    int64_t lo = v[s], hi = v[s];
    for (size_t i = s + 1; i < s + m; ++i) {
      lo = std::min(lo, v[i]);
      hi = std::max(hi, v[i]);
    }
    const uint64_t range = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
    const int width = range == 0 ? 0 : 64 - __builtin_clzll(range);
    PutZigZag(out, lo);
    out->push_back(static_cast<char>(width));
    if (width == 0) continue;
    const size_t at = out->size();
    out->resize(at + (m * width + 7) / 8, '\0');
    auto* p = reinterpret_cast<uint8_t*>(out->data() + at);
    uint64_t bit = 0;
    for (size_t i = s; i < s + m; ++i, bit += width) {
      uint64_t x = static_cast<uint64_t>(v[i]) - static_cast<uint64_t>(lo);
      // Up to 9 bytes touched: write byte by byte.
      for (uint64_t b = bit; x != 0; b = (b | 7) + 1) {
        p[b / 8] |= static_cast<uint8_t>(x << (b % 8));
        x >>= 8 - b % 8;
      }
    }
  }
}

// Decodes exactly n values that use all of `in`, handing each to
// fn(index, value); false when `in` does not hold them.
template <typename Fn>
bool DecodePacked(std::string_view in, uint32_t n, Fn&& fn) {
  const auto* p = reinterpret_cast<const uint8_t*>(in.data());
  const auto* end = p + in.size();
  for (uint32_t s = 0; s < n; s += kPackedBlock) {
    const uint32_t m = std::min<uint32_t>(kPackedBlock, n - s);
    uint64_t z;
    if (!GetVarint(&p, end, &z)) return false;
    const auto base = static_cast<uint64_t>(UnZigZag(z));
    if (p >= end) return false;
    const uint32_t width = *p++;
    if (width > 64) return false;
    const size_t bytes = (size_t{m} * width + 7) / 8;
    if (static_cast<size_t>(end - p) < bytes) return false;
    if (width == 0) {
      for (uint32_t i = 0; i < m; ++i) fn(s + i, static_cast<int64_t>(base));
      continue;
    }
    const uint64_t mask = width == 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1;
    // One unaligned 8-byte load a value needs width ≤ 57 and 8 readable
    // bytes at the last value's first byte; otherwise go through a padded copy.
    const uint8_t* data = p;
    uint8_t padded[kPackedBlock * 8 + 16];
    if (width > 57 || static_cast<size_t>(end - p) < bytes + 8) {
      std::memset(padded, 0, sizeof(padded));
      std::memcpy(padded, p, bytes);
      data = padded;
    }
    uint64_t bit = 0;
    if (width <= 57) {
      for (uint32_t i = 0; i < m; ++i, bit += width) {
        uint64_t w;
        std::memcpy(&w, data + bit / 8, 8);
        fn(s + i, static_cast<int64_t>(base + ((w >> (bit % 8)) & mask)));
      }
    } else {
      for (uint32_t i = 0; i < m; ++i, bit += width) {
        uint64_t lo, hi;
        std::memcpy(&lo, data + bit / 8, 8);
        std::memcpy(&hi, data + bit / 8 + 8, 8);
        const unsigned sh = bit % 8;
        const uint64_t x = sh == 0 ? lo : (lo >> sh) | (hi << (64 - sh));
        fn(s + i, static_cast<int64_t>(base + (x & mask)));
      }
    }
    p += bytes;
  }
  return p == end;
}

}  // namespace loupe::store

#endif  // LOUPE_STORE_EMBEDDED_PACKED_INTS_H_
