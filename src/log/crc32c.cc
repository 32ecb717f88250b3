#include "log/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace loupe::crc32c {
namespace {

constexpr uint32_t kPoly = 0x82f63b78u;

struct Tables {
  std::array<std::array<uint32_t, 256>, 8> t{};
  constexpr Tables() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i) {
      for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
    }
  }
};
constexpr Tables kTables;

uint32_t TableExtend(uint32_t crc, const uint8_t* p, size_t n) noexcept {
  const auto& t = kTables.t;
  uint32_t c = ~crc;
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
    c = (c >> 8) ^ t[0][(c ^ *p++) & 0xff];
    --n;
  }
  while (n >= 8) {
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + 4, 4);
    lo ^= c;
    c = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
        t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) c = (c >> 8) ^ t[0][(c ^ *p++) & 0xff];
  return ~c;
}

#if defined(__x86_64__)
// The crc32 instruction has a latency of 3 cycles and a throughput of one
// per cycle: one stream uses a third of it. Blocks of 3 × kLong (then
// 3 × kShort) bytes are checksummed as three independent streams and
// combined (LevelDB/Mark Adler's crc32c.c scheme): the register after a
// block of stream 0 and then stream 1's bytes is Shift(reg0 over stream 0,
// |stream 1|) ^ (stream 1's register from 0), by linearity. Shift(c, n),
// c followed by n zero bytes, is four table lookups. Row-group chunks are
// 2–30 KiB, so both block sizes matter; checking them was ~7 % of an hour's
// binned X-View with one stream (docs/benchmarks.md).
constexpr size_t kLong = 4096;
constexpr size_t kShort = 256;

// t[k][b]: the raw register b << 8k after n zero bytes.
struct ZerosTable {
  uint32_t t[4][256];
  explicit ZerosTable(size_t n) {
    uint32_t basis[32];
    for (int j = 0; j < 32; ++j) {
      uint32_t c = uint32_t{1} << j;
      for (size_t i = 0; i < n; ++i) c = (c >> 8) ^ kTables.t[0][c & 0xff];
      basis[j] = c;
    }
    for (int k = 0; k < 4; ++k) {
      for (uint32_t b = 0; b < 256; ++b) {
        uint32_t v = 0;
        for (int j = 0; j < 8; ++j) {
          if (b >> j & 1) v ^= basis[8 * k + j];
        }
        t[k][b] = v;
      }
    }
  }
  uint32_t Shift(uint32_t c) const {
    return t[0][c & 0xff] ^ t[1][(c >> 8) & 0xff] ^ t[2][(c >> 16) & 0xff] ^ t[3][c >> 24];
  }
};

const ZerosTable& LongZeros() {
  static const ZerosTable z(kLong);
  return z;
}
const ZerosTable& ShortZeros() {
  static const ZerosTable z(kShort);
  return z;
}

// Three streams over blocks of 3 × block bytes while they last.
__attribute__((target("sse4.2"))) inline uint64_t Streams3(uint64_t c, const uint8_t** pp,
                                                           size_t* np, size_t block,
                                                           const ZerosTable& zeros) noexcept {
  const uint8_t* p = *pp;
  size_t n = *np;
  while (n >= 3 * block) {
    uint64_t c1 = 0, c2 = 0;
    const uint8_t* end = p + block;
    do {
      uint64_t w0, w1, w2;
      std::memcpy(&w0, p, 8);
      std::memcpy(&w1, p + block, 8);
      std::memcpy(&w2, p + 2 * block, 8);
      c = _mm_crc32_u64(c, w0);
      c1 = _mm_crc32_u64(c1, w1);
      c2 = _mm_crc32_u64(c2, w2);
      p += 8;
    } while (p < end);
    c = zeros.Shift(static_cast<uint32_t>(c)) ^ c1;
    c = zeros.Shift(static_cast<uint32_t>(c)) ^ c2;
    p += 2 * block;
    n -= 3 * block;
  }
  *pp = p;
  *np = n;
  return c;
}

__attribute__((target("sse4.2"))) uint32_t ExtendSse42(uint32_t crc, const uint8_t* p,
                                                       size_t n) noexcept {
  uint64_t c = ~crc;
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
    c = _mm_crc32_u8(static_cast<uint32_t>(c), *p++);
    --n;
  }
  if (n >= 3 * kShort) {
    c = Streams3(c, &p, &n, kLong, LongZeros());
    c = Streams3(c, &p, &n, kShort, ShortZeros());
  }
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    c = _mm_crc32_u64(c, w);
    p += 8;
    n -= 8;
  }
  while (n-- > 0) c = _mm_crc32_u8(static_cast<uint32_t>(c), *p++);
  return ~static_cast<uint32_t>(c);
}

bool DetectSse42() noexcept { return __builtin_cpu_supports("sse4.2"); }
#else
bool DetectSse42() noexcept { return false; }
#endif

const bool kHasSse42 = DetectSse42();

}  // namespace

uint32_t Extend(uint32_t init_crc, const void* data, size_t n) noexcept {
  const auto* p = static_cast<const uint8_t*>(data);
#if defined(__x86_64__)
  if (kHasSse42) return ExtendSse42(init_crc, p, n);
#endif
  return TableExtend(init_crc, p, n);
}

uint32_t ExtendPortable(uint32_t init_crc, const void* data, size_t n) noexcept {
  return TableExtend(init_crc, static_cast<const uint8_t*>(data), n);
}

bool HardwareAccelerated() noexcept { return kHasSse42; }

}  // namespace loupe::crc32c
