// HyperLogLog: approximate count of distinct values in fixed memory.
//
// 2^p one-byte registers (p = 12: 4 KiB, ~1.6% standard error; p = 14:
// 16 KiB, ~0.8%). Values are added as 64-bit hashes (use Hash64 from
// common/hash.h, or any well-mixed hash). The estimate uses Ertl's improved
// estimator ("New cardinality estimation algorithms for HyperLogLog
// sketches", 2017), which needs no bias tables and has no bias jump between
// the small (linear counting) and large ranges.
//
// Thread-safety: none; callers lock. A plain value: copy and move freely.
#ifndef LOUPE_COMMON_HLL_H_
#define LOUPE_COMMON_HLL_H_

#include <cstdint>
#include <string_view>
#include <vector>

namespace loupe {

class HyperLogLog {
 public:
  static constexpr int kMinPrecision = 4;
  static constexpr int kMaxPrecision = 18;

  // REQUIRES: kMinPrecision <= precision <= kMaxPrecision (clamped otherwise).
  explicit HyperLogLog(int precision = 14);

  // Adds a value by its 64-bit hash. Never allocates.
  void AddHash(uint64_t hash) noexcept {
    const uint32_t index = static_cast<uint32_t>(hash >> (64 - p_));
    // The remaining 64 - p bits, shifted to the top; a guard bit bounds the
    // rank at 64 - p + 1 when they are all zero.
    const uint64_t rest = (hash << p_) | (uint64_t{1} << (p_ - 1));
    const uint8_t rank = static_cast<uint8_t>(__builtin_clzll(rest) + 1);
    if (rank > registers_[index]) registers_[index] = rank;
  }
  // Adds a string value (hashed with Hash64).
  void Add(std::string_view value) noexcept;

  // Estimated number of distinct values added.
  double Estimate() const noexcept;

  // Register-wise max: afterwards *this estimates the union.
  // REQUIRES: other.precision() == precision() (ignored otherwise).
  void Merge(const HyperLogLog& other) noexcept;

  void Clear() noexcept;

  // The 2^precision registers, for serialization.
  const std::vector<uint8_t>& registers() const noexcept { return registers_; }
  // Replaces the registers with serialized ones; false (and unchanged) when
  // the size is not 2^precision().
  bool SetRegisters(std::string_view bytes);
  bool empty() const noexcept;
  int precision() const noexcept { return p_; }

 private:
  int p_;
  std::vector<uint8_t> registers_;
};

}  // namespace loupe

#endif  // LOUPE_COMMON_HLL_H_
