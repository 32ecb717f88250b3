// Sample compression for the time-series store (docs/format/tsdb.md, "Chunk
// streams"): timestamps as delta-of-delta and values either as Gorilla XOR
// or, when every value of a column is a decimal with few digits, as scaled
// integers with delta-of-delta. Bits are written most significant first.
//
// The head appends with the streaming encoders (TimestampEncoder,
// XorEncoder); blocks re-encode whole columns with EncodeValues, which picks
// the smaller of the two value codecs.
//
// Decoders never read past their input: a truncated or corrupt stream makes
// them return false, never crash.
// Thread-safety: values; one thread per object.
#ifndef LOUPE_STORE_TSDB_CHUNK_H_
#define LOUPE_STORE_TSDB_CHUNK_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>
#include <bit>

namespace loupe::tsdb {

// Appends bits to a byte string; the last byte is padded with zeros.
class BitWriter {
 public:
  // Writes the low n bits of bits (REQUIRES: 0 < n <= 64).
  void Write(uint64_t bits, int n) noexcept;
  void WriteBit(bool bit) noexcept { Write(bit ? 1 : 0, 1); }
  // The bytes so far, the partial last byte included.
  std::string Bytes() const;
  size_t bit_size() const noexcept { return bytes_.size() * 8 + used_; }
  size_t MemoryBytes() const noexcept { return bytes_.capacity() + sizeof(*this); }

 private:
  std::string bytes_;  // whole bytes
  uint64_t acc_ = 0;   // pending bits, right-aligned
  int used_ = 0;       // number of pending bits (< 8 between calls)
};

class BitReader {
 public:
  explicit BitReader(std::string_view data) noexcept
      : p_(reinterpret_cast<const uint8_t*>(data.data())), end_(p_ + data.size()) {}
  // Reads n bits (0 < n <= 64) into *v; false past the end. Inline with an
  // 8-byte refill: decoding is most of a query's time (BM_TsdbQuery24h).
  bool Read(int n, uint64_t* v) noexcept {
    if (n > 56) return ReadWide(n, v);
    if (avail_ < n) {
      Refill();
      if (avail_ < n) return false;
    }
    *v = acc_ >> (64 - n);
    acc_ <<= n;
    avail_ -= n;
    return true;
  }
  bool ReadBit(bool* bit) noexcept {
    uint64_t v;
    if (!Read(1, &v)) return false;
    *bit = v != 0;
    return true;
  }

 private:
  bool ReadWide(int n, uint64_t* v) noexcept;
  // Tops acc_ up to at least 57 bits while input remains.
  void Refill() noexcept {
    if (end_ - p_ >= 8) {
      uint64_t w = 0;
      for (int i = 0; i < 8; ++i) w = (w << 8) | p_[i];
      // Bits past the claimed bytes are the stream's next bits; a later
      // refill ORs the same bits again, which changes nothing.
      acc_ |= w >> avail_;
      const int bytes = (64 - avail_) / 8;
      p_ += bytes;
      avail_ += bytes * 8;
      return;
    }
    while (avail_ <= 56 && p_ < end_) {
      acc_ |= static_cast<uint64_t>(*p_++) << (56 - avail_);
      avail_ += 8;
    }
  }
  const uint8_t* p_;
  const uint8_t* end_;
  uint64_t acc_ = 0;  // buffered bits, left-aligned
  int avail_ = 0;
};

// Delta-of-delta timestamps (int64 ms). The first is written whole, the
// second as a delta, the rest as the change of delta in buckets of 0, 7, 12,
// 20 or 64 bits.
class TimestampEncoder {
 public:
  void Append(int64_t t, BitWriter* w) noexcept;

 private:
  uint64_t n_ = 0;
  int64_t prev_ = 0;
  int64_t delta_ = 0;
};

class TimestampDecoder {
 public:
  bool Next(BitReader* r, int64_t* t) noexcept;

 private:
  uint64_t n_ = 0;
  int64_t prev_ = 0;
  int64_t delta_ = 0;
};

// Gorilla XOR doubles. Every bit pattern (NaN payloads included) round-trips.
class XorEncoder {
 public:
  void Append(double v, BitWriter* w) noexcept;

 private:
  bool first_ = true;
  uint64_t prev_ = 0;
  int leading_ = -1;  // window of the last written XOR; -1 = none yet
  int trailing_ = 0;
};

class XorDecoder {
 public:
  bool Next(BitReader* r, double* v) noexcept;

 private:
  bool first_ = true;
  uint64_t prev_ = 0;
  int leading_ = 0;
  int trailing_ = 0;
};

// The decoders are inline: they are most of a query's time, and inlining
// them into the column loops cut BM_TsdbQuery24h by a quarter.
namespace chunk_internal {
inline bool GetDod(BitReader* r, int64_t* d) noexcept {
  int width = 0;
  for (int prefix = 0; prefix < 4; ++prefix) {
    bool bit;
    if (!r->ReadBit(&bit)) return false;
    if (!bit) {
      static constexpr int kWidths[4] = {0, 7, 12, 20};
      width = kWidths[prefix];
      break;
    }
    if (prefix == 3) width = 64;
  }
  if (width == 0) {
    *d = 0;
    return true;
  }
  uint64_t u;
  if (!r->Read(width, &u)) return false;
  if (width < 64 && u > (1ULL << (width - 1))) u -= 1ULL << width;
  *d = static_cast<int64_t>(u);
  return true;
}
}  // namespace chunk_internal

inline bool TimestampDecoder::Next(BitReader* r, int64_t* t) noexcept {
  if (n_ == 0) {
    uint64_t u;
    if (!r->Read(64, &u)) return false;
    prev_ = static_cast<int64_t>(u);
  } else {
    int64_t d;
    if (!chunk_internal::GetDod(r, &d)) return false;
    delta_ = n_ == 1 ? d : static_cast<int64_t>(static_cast<uint64_t>(delta_) + static_cast<uint64_t>(d));
    prev_ = static_cast<int64_t>(static_cast<uint64_t>(prev_) + static_cast<uint64_t>(delta_));
  }
  ++n_;
  *t = prev_;
  return true;
}

inline bool XorDecoder::Next(BitReader* r, double* v) noexcept {
  if (first_) {
    if (!r->Read(64, &prev_)) return false;
    first_ = false;
    *v = std::bit_cast<double>(prev_);
    return true;
  }
  bool bit;
  if (!r->ReadBit(&bit)) return false;
  if (bit) {
    if (!r->ReadBit(&bit)) return false;
    if (bit) {
      uint64_t lead, sig;
      if (!r->Read(5, &lead) || !r->Read(6, &sig)) return false;
      if (sig == 0) sig = 64;
      if (lead + sig > 64) return false;
      leading_ = static_cast<int>(lead);
      trailing_ = static_cast<int>(64 - lead - sig);
    }
    const int sig = 64 - leading_ - trailing_;
    if (sig <= 0) return false;
    uint64_t x;
    if (!r->Read(sig, &x)) return false;
    prev_ ^= x << trailing_;
  }
  *v = std::bit_cast<double>(prev_);
  return true;
}

// Whole columns, as blocks store them.
void EncodeTimestamps(std::span<const int64_t> ts, std::string* out);
bool DecodeTimestamps(std::string_view data, size_t n, std::vector<int64_t>* out);

// A value column: one mode byte (0 = XOR, 1..7 = decimal with mode-1 digits
// after the point) then the stream. EncodeValues picks the smaller encoding.
void EncodeValues(std::span<const double> values, std::string* out);
bool DecodeValues(std::string_view data, size_t n, std::vector<double>* out);

}  // namespace loupe::tsdb

#endif  // LOUPE_STORE_TSDB_CHUNK_H_
