// Minimal protobuf wire-format writer (varint, fixed, length-delimited) for the
// OTLP messages the agent sends. Nested messages are written in place and their
// length prefix is patched when they end.
//
// The buffer is managed by hand (a size inside a std::string's capacity) and
// the small writes are inline: encoding with std::string::append per field
// spent about a third of the exporter thread's time in append and memcpy
// calls (perf of bench/agent_benchmark.cc). Clear() keeps the capacity, so a
// writer reused for every batch stops allocating.
//
// Thread-compatible: one writer per thread.
#ifndef LOUPE_AGENT_PROTO_WRITER_H_
#define LOUPE_AGENT_PROTO_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace loupe::internal {

class ProtoWriter {
 public:
  enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

  void Varint(uint64_t v) {
    char* p = Reserve(10);
    size_ += PutVarint(p, v);
  }
  void Tag(uint32_t field, WireType type) { Varint((uint64_t{field} << 3) | type); }

  void UInt64Field(uint32_t field, uint64_t v) {
    Tag(field, kVarint);
    Varint(v);
  }
  // int64 in two's complement (10 bytes when negative), as protobuf int64.
  void Int64Field(uint32_t field, int64_t v) { UInt64Field(field, static_cast<uint64_t>(v)); }
  void BoolField(uint32_t field, bool v) { UInt64Field(field, v ? 1 : 0); }
  void Fixed64Field(uint32_t field, uint64_t v) {
    Tag(field, kFixed64);
    char* p = Reserve(8);
    for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (8 * i));
    size_ += 8;
  }
  void Fixed32Field(uint32_t field, uint32_t v) {
    Tag(field, kFixed32);
    char* p = Reserve(4);
    for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
    size_ += 4;
  }
  void DoubleField(uint32_t field, double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    Fixed64Field(field, bits);
  }
  void BytesField(uint32_t field, const void* data, size_t n) {
    Tag(field, kLen);
    char* p = Reserve(10 + n);
    const size_t k = PutVarint(p, n);
    if (n > 0) std::memcpy(p + k, data, n);
    size_ += k + n;
  }
  void StringField(uint32_t field, std::string_view s) { BytesField(field, s.data(), s.size()); }

  // Starts a nested message in `field`; returns a mark for EndMessage.
  size_t BeginMessage(uint32_t field) {
    Tag(field, kLen);
    *Reserve(1) = '\0';  // one-byte length placeholder, widened in EndMessage if needed
    return size_++;
  }
  // Ends the message started at `mark`: writes its length (moving the body
  // when the length needs more than one byte).
  void EndMessage(size_t mark);

  std::string_view data() const { return std::string_view(buf_.data(), size_); }
  size_t size() const { return size_; }
  std::string Release();
  void Clear() { size_ = 0; }

 private:
  static size_t PutVarint(char* p, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
      p[n++] = static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    p[n++] = static_cast<char>(v);
    return n;
  }
  // Room for `n` more bytes at data() + size(); returns where they go.
  char* Reserve(size_t n) {
    if (buf_.size() - size_ < n) Grow(n);
    return &buf_[size_];
  }
  void Grow(size_t n);

  std::string buf_;  // [0, size_) written; the rest is room
  size_t size_ = 0;
};

}  // namespace loupe::internal

#endif  // LOUPE_AGENT_PROTO_WRITER_H_
