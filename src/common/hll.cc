#include "common/hll.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/hash.h"

namespace loupe {
namespace {

// Seed so HLL hashes are independent of other uses of Hash64 on the same strings.
constexpr uint64_t kHllSeed = 0x686c6c2d6c6f7570ULL;

// Ertl 2017, algorithm 6 helpers.
double Sigma(double x) {
  if (x == 1.0) return std::numeric_limits<double>::infinity();
  double y = 1.0;
  double z = x;
  double prev;
  do {
    x *= x;
    prev = z;
    z += x * y;
    y += y;
  } while (z != prev);
  return z;
}

double Tau(double x) {
  if (x == 0.0 || x == 1.0) return 0.0;
  double y = 1.0;
  double z = 1.0 - x;
  double prev;
  do {
    x = std::sqrt(x);
    prev = z;
    y *= 0.5;
    z -= (1.0 - x) * (1.0 - x) * y;
  } while (z != prev);
  return z / 3.0;
}

}  // namespace

HyperLogLog::HyperLogLog(int precision)
    : p_(std::clamp(precision, kMinPrecision, kMaxPrecision)), registers_(size_t{1} << p_, 0) {}

void HyperLogLog::Add(std::string_view value) noexcept { AddHash(Hash64(value, kHllSeed)); }

double HyperLogLog::Estimate() const noexcept {
  const int q = 64 - p_;
  const double m = static_cast<double>(registers_.size());
  // Histogram of register values 0 .. q + 1.
  uint32_t c[64 + 2] = {};
  for (uint8_t r : registers_) ++c[r];
  double z = m * Tau((m - c[q + 1]) / m);
  for (int k = q; k >= 1; --k) z = 0.5 * (z + c[k]);
  z += m * Sigma(c[0] / m);
  constexpr double kAlphaInf = 0.7213475204444817;  // 1 / (2 ln 2)
  return kAlphaInf * m * m / z;
}

void HyperLogLog::Merge(const HyperLogLog& other) noexcept {
  if (other.p_ != p_) return;
  for (size_t i = 0; i < registers_.size(); ++i) {
    registers_[i] = std::max(registers_[i], other.registers_[i]);
  }
}

void HyperLogLog::Clear() noexcept { std::fill(registers_.begin(), registers_.end(), 0); }

bool HyperLogLog::empty() const noexcept {
  return std::all_of(registers_.begin(), registers_.end(), [](uint8_t r) { return r == 0; });
}

bool HyperLogLog::SetRegisters(std::string_view bytes) {
  if (bytes.size() != registers_.size()) return false;
  std::copy(bytes.begin(), bytes.end(), registers_.begin());
  return true;
}

}  // namespace loupe
