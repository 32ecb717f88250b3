#include "store/tsdb/chunk.h"

#include <bit>
#include <cmath>
#include <cstring>

namespace loupe::tsdb {

void BitWriter::Write(uint64_t bits, int n) noexcept {
  // Split wide writes so that pending (< 8) + n stays within 64 bits.
  if (n > 32) {
    Write(bits >> 32, n - 32);
    bits &= 0xffffffffULL;
    n = 32;
  }
  bits &= (1ULL << n) - 1;
  acc_ = (acc_ << n) | bits;
  used_ += n;
  while (used_ >= 8) {
    used_ -= 8;
    bytes_.push_back(static_cast<char>(acc_ >> used_));
  }
  acc_ &= (1ULL << used_) - 1;
}

std::string BitWriter::Bytes() const {
  std::string out = bytes_;
  if (used_ > 0) out.push_back(static_cast<char>(acc_ << (8 - used_)));
  return out;
}

bool BitReader::ReadWide(int n, uint64_t* v) noexcept {
  uint64_t hi, lo;
  if (!Read(n - 32, &hi) || !Read(32, &lo)) return false;
  *v = (hi << 32) | lo;
  return true;
}

namespace {

int64_t Wrap(uint64_t u) noexcept { return static_cast<int64_t>(u); }

// Change of delta in buckets: '0' = 0; '10' + 7 bits; '110' + 12; '1110' +
// 20; '1111' + 64. An n-bit bucket holds [-(2^(n-1) - 1), 2^(n-1)].
void PutDod(int64_t d, BitWriter* w) noexcept {
  const auto u = static_cast<uint64_t>(d);
  if (d == 0) {
    w->Write(0, 1);
  } else if (d >= -63 && d <= 64) {
    w->Write(0b10, 2);
    w->Write(u, 7);
  } else if (d >= -2047 && d <= 2048) {
    w->Write(0b110, 3);
    w->Write(u, 12);
  } else if (d >= -524287 && d <= 524288) {
    w->Write(0b1110, 4);
    w->Write(u, 20);
  } else {
    w->Write(0b1111, 4);
    w->Write(u, 64);
  }
}

// Scaled decimals use the timestamp codec: integers as first value, delta,
// then delta-of-delta, in wrapping arithmetic that the decoder undoes.
using IntEncoder = TimestampEncoder;
using IntDecoder = TimestampDecoder;

uint64_t Bits(double v) noexcept { return std::bit_cast<uint64_t>(v); }

constexpr double kPow10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
constexpr int kMaxDigits = 6;

// The fewest digits after the point that represent every value exactly as
// an integer / 10^digits, or -1.
int DecimalDigits(std::span<const double> values) noexcept {
  for (int e = 0; e <= kMaxDigits; ++e) {
    bool all = true;
    for (double v : values) {
      const double scaled = v * kPow10[e];
      if (!(std::fabs(scaled) < 9.0e15)) {  // also rejects NaN and infinities
        return -1;
      }
      const auto k = static_cast<int64_t>(std::nearbyint(scaled));
      if (Bits(static_cast<double>(k) / kPow10[e]) != Bits(v)) {
        all = false;
        break;
      }
    }
    if (all) return e;
  }
  return -1;
}

}  // namespace

// Timestamps use the integer codec; the classes stay separate so that the
// head's per-series state is small and named.
void TimestampEncoder::Append(int64_t t, BitWriter* w) noexcept {
  if (n_ == 0) {
    w->Write(static_cast<uint64_t>(t), 64);
  } else {
    const int64_t delta = Wrap(static_cast<uint64_t>(t) - static_cast<uint64_t>(prev_));
    PutDod(n_ == 1 ? delta : Wrap(static_cast<uint64_t>(delta) - static_cast<uint64_t>(delta_)), w);
    delta_ = delta;
  }
  prev_ = t;
  ++n_;
}

void XorEncoder::Append(double v, BitWriter* w) noexcept {
  const uint64_t bits = Bits(v);
  if (first_) {
    w->Write(bits, 64);
    first_ = false;
    prev_ = bits;
    return;
  }
  const uint64_t x = bits ^ prev_;
  prev_ = bits;
  if (x == 0) {
    w->WriteBit(false);
    return;
  }
  w->WriteBit(true);
  int lead = std::countl_zero(x);
  const int trail = std::countr_zero(x);
  if (lead > 31) lead = 31;  // 5 bits
  if (leading_ >= 0 && lead >= leading_ && trail >= trailing_) {
    w->WriteBit(false);
    w->Write(x >> trailing_, 64 - leading_ - trailing_);
    return;
  }
  leading_ = lead;
  trailing_ = trail;
  const int sig = 64 - lead - trail;
  w->WriteBit(true);
  w->Write(static_cast<uint64_t>(lead), 5);
  w->Write(static_cast<uint64_t>(sig == 64 ? 0 : sig), 6);
  w->Write(x >> trail, sig);
}

void EncodeTimestamps(std::span<const int64_t> ts, std::string* out) {
  BitWriter w;
  TimestampEncoder enc;
  for (int64_t t : ts) enc.Append(t, &w);
  out->append(w.Bytes());
}

bool DecodeTimestamps(std::string_view data, size_t n, std::vector<int64_t>* out) {
  BitReader r(data);
  TimestampDecoder dec;
  out->resize(n);
  for (size_t i = 0; i < n; ++i) {
    if (!dec.Next(&r, &(*out)[i])) return false;
  }
  return true;
}

void EncodeValues(std::span<const double> values, std::string* out) {
  BitWriter xw;
  XorEncoder xe;
  for (double v : values) xe.Append(v, &xw);
  const int digits = DecimalDigits(values);
  if (digits >= 0) {
    BitWriter iw;
    IntEncoder ie;
    for (double v : values) {
      ie.Append(static_cast<int64_t>(std::nearbyint(v * kPow10[digits])), &iw);
    }
    if (iw.bit_size() < xw.bit_size()) {
      out->push_back(static_cast<char>(1 + digits));
      out->append(iw.Bytes());
      return;
    }
  }
  out->push_back(0);
  out->append(xw.Bytes());
}

bool DecodeValues(std::string_view data, size_t n, std::vector<double>* out) {
  if (data.empty()) return n == 0;
  const auto mode = static_cast<uint8_t>(data[0]);
  BitReader r(data.substr(1));
  out->resize(n);
  if (mode == 0) {
    XorDecoder dec;
    for (size_t i = 0; i < n; ++i) {
      if (!dec.Next(&r, &(*out)[i])) return false;
    }
    return true;
  }
  if (mode > 1 + kMaxDigits) return false;
  const double scale = kPow10[mode - 1];
  IntDecoder dec;
  for (size_t i = 0; i < n; ++i) {
    int64_t k;
    if (!dec.Next(&r, &k)) return false;
    (*out)[i] = static_cast<double>(k) / scale;
  }
  return true;
}

}  // namespace loupe::tsdb
