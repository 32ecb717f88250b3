#include "wire/gzip.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <random>
#include <string>

namespace loupe::wire {
namespace {

constexpr size_t kMiB = 1 << 20;

enum class Format { kGzip, kZlib };

// Compresses `chunk` repeated `repeat` times, without materializing the input.
std::string Compress(std::string_view chunk, size_t repeat = 1, Format format = Format::kGzip) {
  z_stream zs{};
  int bits = format == Format::kGzip ? 16 + MAX_WBITS : MAX_WBITS;
  EXPECT_EQ(deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out;
  char buf[64 << 10];
  for (size_t i = 0; i <= repeat; ++i) {
    bool last = i == repeat;
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(chunk.data()));
    zs.avail_in = last ? 0 : static_cast<uInt>(chunk.size());
    int rc;
    do {
      zs.next_out = reinterpret_cast<Bytef*>(buf);
      zs.avail_out = sizeof buf;
      rc = deflate(&zs, last ? Z_FINISH : Z_NO_FLUSH);
      out.append(buf, sizeof buf - zs.avail_out);
    } while (zs.avail_out == 0 || (last && rc != Z_STREAM_END));
  }
  deflateEnd(&zs);
  return out;
}

std::string RandomText(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = "abcdefgh ij{}\":,0123"[rng() % 20];
  return s;
}

TEST(Gunzip, RoundTripsGzipAndZlib) {
  for (size_t n : {size_t{0}, size_t{1}, size_t{1000}, 70 * size_t{1024}, 3 * kMiB + 7}) {
    std::string text = RandomText(n, static_cast<uint32_t>(n));
    for (Format format : {Format::kGzip, Format::kZlib}) {
      std::string out;
      Status st = Gunzip(Compress(text, 1, format), 20 * kMiB, &out);
      ASSERT_TRUE(st.ok()) << n << st.ToString();
      EXPECT_EQ(out, text) << n;
    }
  }
}

TEST(Gunzip, DecompressesConcatenatedMembers) {
  std::string out;
  ASSERT_TRUE(Gunzip(Compress("hello ") + Compress("world") + Compress(""), kMiB, &out).ok());
  EXPECT_EQ(out, "hello world");
}

TEST(Gunzip, AcceptsOutputOfExactlyTheLimit) {
  std::string text = RandomText(100000, 1);
  std::string gz = Compress(text);
  std::string out;
  EXPECT_TRUE(Gunzip(gz, text.size(), &out).ok());
  EXPECT_EQ(out, text);
  Status st = Gunzip(gz, text.size() - 1, &out);
  EXPECT_EQ(st.code(), Status::Code::kResourceExhausted);
  EXPECT_EQ(st.message(), "decompressed body exceeds 99999 bytes");
  EXPECT_TRUE(Gunzip(Compress(""), 0, &out).ok());
  EXPECT_EQ(Gunzip(Compress("x"), 0, &out).code(), Status::Code::kResourceExhausted);
}

TEST(Gunzip, StopsABombAtTheLimitWithoutAllocatingMore) {
  const std::string zeros(kMiB, '\0');
  std::string bomb = Compress(zeros, 100);  // 100 MiB of zeros
  ASSERT_LT(bomb.size(), kMiB);
  std::string out;
  Status st = Gunzip(bomb, 20 * kMiB, &out);
  EXPECT_EQ(st.code(), Status::Code::kResourceExhausted);
  EXPECT_EQ(st.message(), "decompressed body exceeds 20971520 bytes");
  EXPECT_LE(out.capacity(), 20 * kMiB + kMiB);
  EXPECT_TRUE(out.empty());

  // The same through a reused output string.
  st = Gunzip(bomb, 20 * kMiB, &out);
  EXPECT_EQ(st.code(), Status::Code::kResourceExhausted);
  EXPECT_LE(out.capacity(), 20 * kMiB + kMiB);
}

TEST(Gunzip, GrowsTheOutputWithoutOvershootingTheLimit) {
  // Outputs just below and above each buffer size of the doubling sequence.
  const size_t limit = 5 * kMiB + 123;
  for (size_t n : {limit / 8, limit / 4 + 1, limit / 2, limit / 2 + 1, limit - 1, limit}) {
    std::string out;
    ASSERT_TRUE(Gunzip(Compress(std::string(n, 'a')), limit, &out).ok()) << n;
    EXPECT_EQ(out.size(), n);
    EXPECT_LE(out.capacity(), limit + 1) << n;
  }
}

TEST(Gunzip, RejectsEveryTruncation) {
  std::string text = RandomText(5000, 2);
  for (Format format : {Format::kGzip, Format::kZlib}) {
    std::string gz = Compress(text, 1, format);
    for (size_t n = 0; n < gz.size(); ++n) {
      std::string out;
      Status st = Gunzip(gz.substr(0, n), kMiB, &out);
      EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << n;
    }
  }
  std::string out;
  Status st = Gunzip(Compress(text).substr(0, 100), kMiB, &out);
  EXPECT_NE(st.message().find("truncated"), std::string::npos) << st.message();
}

TEST(Gunzip, RejectsCorruptInput) {
  std::string text = RandomText(5000, 3);
  std::string gz = Compress(text);
  int rejected = 0;
  for (size_t i = 0; i < gz.size(); ++i) {
    std::string bad = gz;
    bad[i] ^= 0x55;
    std::string out;
    Status st = Gunzip(bad, kMiB, &out);
    if (!st.ok()) {
      EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << i;
      ++rejected;
    }
  }
  // Header flags/mtime/OS bytes may change harmlessly; everything else is
  // caught by the deflate decoder or the CRC.
  EXPECT_GE(rejected, static_cast<int>(gz.size()) - 10);

  std::string out;
  Status st = Gunzip("not gzip at all", kMiB, &out);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("at byte"), std::string::npos) << st.message();
  EXPECT_EQ(Gunzip("", kMiB, &out).code(), Status::Code::kInvalidArgument);
}

TEST(Gunzip, RejectsTrailingGarbage) {
  std::string out;
  Status st = Gunzip(Compress("hello") + "junk", kMiB, &out);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("after the end"), std::string::npos) << st.message();
  EXPECT_EQ(Gunzip(Compress("hello") + std::string(1, '\x1f'), kMiB, &out).code(),
            Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace loupe::wire
