// CRC32C (Castagnoli polynomial 0x1EDC6F41, reflected 0x82F63B78), the
// checksum of every on-disk structure: the write-ahead log and the embedded
// engine's files (docs/format/).
//
// Uses the SSE4.2 crc32 instruction when the CPU has it (checked once at
// run time), else a slicing-by-8 table implementation; both give identical
// results. Stored checksums are masked (LevelDB util/crc32c.h) so that a CRC
// over data that itself contains CRCs stays well distributed.
// Thread-safety: pure functions.
#ifndef LOUPE_LOG_CRC32C_H_
#define LOUPE_LOG_CRC32C_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace loupe::crc32c {

// Returns the CRC32C of data[0, n) continuing from init_crc (the CRC of the
// bytes before). Extend(0, ...) starts a new checksum.
uint32_t Extend(uint32_t init_crc, const void* data, size_t n) noexcept;

inline uint32_t Value(const void* data, size_t n) noexcept { return Extend(0, data, n); }
inline uint32_t Value(std::string_view s) noexcept { return Extend(0, s.data(), s.size()); }

// The table implementation, whatever the CPU (for tests).
uint32_t ExtendPortable(uint32_t init_crc, const void* data, size_t n) noexcept;

// True when the hardware path is in use (reported by benchmarks).
bool HardwareAccelerated() noexcept;

constexpr uint32_t kMaskDelta = 0xa282ead8u;

inline uint32_t Mask(uint32_t crc) noexcept { return ((crc >> 15) | (crc << 17)) + kMaskDelta; }

inline uint32_t Unmask(uint32_t masked) noexcept {
  uint32_t rot = masked - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

}  // namespace loupe::crc32c

#endif  // LOUPE_LOG_CRC32C_H_
