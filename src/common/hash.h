// Fast non-cryptographic 64-bit hashing for in-memory tables and ids.
// Not for security: use common/crypto.h for keys and tokens.
#ifndef LOUPE_COMMON_HASH_H_
#define LOUPE_COMMON_HASH_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace loupe {

// 64-bit mixer (the splitmix64 finalizer): bijective, good avalanche.
inline uint64_t Mix64(uint64_t x) noexcept {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// Hash of arbitrary bytes: 8 bytes at a time through Mix64. Stable across
// runs and machines (little-endian loads), so it may name things on disk.
inline uint64_t Hash64(const void* data, size_t n, uint64_t seed = 0) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t h = Mix64(seed ^ (0x9e3779b97f4a7c15ULL * (n + 1)));
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = Mix64(h ^ w) * 0x9e3779b97f4a7c15ULL;
    p += 8;
    n -= 8;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, p, n);
  return Mix64(h ^ tail ^ (static_cast<uint64_t>(n) << 56));
}

inline uint64_t Hash64(std::string_view s, uint64_t seed = 0) noexcept {
  return Hash64(s.data(), s.size(), seed);
}

}  // namespace loupe

#endif  // LOUPE_COMMON_HASH_H_
