// Minimal protobuf wire-format writer (varint, fixed, length-delimited) for the
// OTLP messages the agent sends. A nested message is written in one of three
// ways: with its length computed up front (LenHeader, for the many small
// attribute messages), in place behind a placeholder of one or two bytes
// patched when it ends (BeginMessage/EndMessage), or, for the few enclosing
// messages of a whole batch, behind a header prepended into room kept at the
// front of the buffer (Clear(headroom), Prepend). Patching a one-byte
// placeholder moves the body when the length needs more bytes; that was about
// 13 % of the exporter thread (memmove) in a profile of the demo, mostly the
// two messages around every batch, moved whole, and every span.
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

#include <cassert>
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

  // Bytes of the varint `v`, of the tag of `field`, and of a whole
  // length-delimited field of `n` bytes.
  static size_t VarintSize(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
      v >>= 7;
      ++n;
    }
    return n;
  }
  static size_t TagSize(uint32_t field) { return VarintSize(uint64_t{field} << 3); }
  static size_t LenFieldSize(uint32_t field, size_t n) {
    return TagSize(field) + VarintSize(n) + n;
  }
  // `bytes` as they are (an encoded field).
  void Raw(std::string_view bytes) {
    char* p = Reserve(bytes.size());
    if (!bytes.empty()) std::memcpy(p, bytes.data(), bytes.size());
    size_ += bytes.size();
  }
  // The tag and length of a nested message of exactly `len` bytes, which the
  // caller writes next.
  void LenHeader(uint32_t field, size_t len) {
    Tag(field, kLen);
    Varint(len);
  }

  struct Mark {
    size_t pos;      // of the placeholder
    size_t width;    // its bytes
  };
  // Starts a nested message in `field`; returns a mark for EndMessage.
  // `expect_large`: the body is expected to need a two-byte length (128 bytes
  // to 16 KiB, e.g. a span), so two bytes are kept for it instead of one.
  Mark BeginMessage(uint32_t field, bool expect_large = false) {
    Tag(field, kLen);
    const size_t width = expect_large ? 2 : 1;
    Reserve(width);
    const Mark m{size_, width};
    size_ += width;
    return m;
  }
  // Ends the message started at `mark`: writes its length, moving the body
  // when the length needs more or fewer bytes than were kept.
  void EndMessage(Mark mark) {
    const size_t len = size_ - mark.pos - mark.width;
    if (mark.width == 1 && len < 0x80) {
      buf_[mark.pos] = static_cast<char>(len);
    } else if (mark.width == 2 && len >= 0x80 && len < 0x4000) {
      buf_[mark.pos] = static_cast<char>((len & 0x7f) | 0x80);
      buf_[mark.pos + 1] = static_cast<char>(len >> 7);
    } else {
      EndMessageMoving(mark, len);
    }
  }

  // Forgets what was written and keeps `headroom` bytes in front of what
  // comes next for Prepend.
  void Clear(size_t headroom = 0) {
    if (buf_.size() < headroom) Grow(headroom);
    start_ = size_ = headroom;
  }
  // Writes `bytes` just before data(). REQUIRES: that much headroom is left.
  void Prepend(std::string_view bytes) {
    assert(bytes.size() <= start_);
    start_ -= bytes.size();
    std::memcpy(&buf_[start_], bytes.data(), bytes.size());
  }

  std::string_view data() const { return std::string_view(buf_.data() + start_, size_ - start_); }
  size_t size() const { return size_ - start_; }
  std::string Release();

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
  void EndMessageMoving(Mark mark, size_t len);

  std::string buf_;  // [start_, size_) written; the rest is room
  size_t start_ = 0;
  size_t size_ = 0;
};

}  // namespace loupe::internal

#endif  // LOUPE_AGENT_PROTO_WRITER_H_
