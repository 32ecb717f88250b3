// Minimal protobuf wire-format writer (varint, fixed, length-delimited) for the
// OTLP messages the agent sends. Nested messages are written in place and their
// length prefix is patched when they end.
//
// Thread-compatible: one writer per thread.
#ifndef LOUPE_AGENT_PROTO_WRITER_H_
#define LOUPE_AGENT_PROTO_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace loupe::internal {

class ProtoWriter {
 public:
  enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

  void Varint(uint64_t v);
  void Tag(uint32_t field, WireType type) { Varint((uint64_t{field} << 3) | type); }

  void UInt64Field(uint32_t field, uint64_t v) {
    Tag(field, kVarint);
    Varint(v);
  }
  // int64 in two's complement (10 bytes when negative), as protobuf int64.
  void Int64Field(uint32_t field, int64_t v) { UInt64Field(field, static_cast<uint64_t>(v)); }
  void BoolField(uint32_t field, bool v) { UInt64Field(field, v ? 1 : 0); }
  void Fixed64Field(uint32_t field, uint64_t v);
  void Fixed32Field(uint32_t field, uint32_t v);
  void DoubleField(uint32_t field, double v);
  void BytesField(uint32_t field, const void* data, size_t n);
  void StringField(uint32_t field, std::string_view s) { BytesField(field, s.data(), s.size()); }

  // Starts a nested message in `field`; returns a mark for EndMessage.
  size_t BeginMessage(uint32_t field);
  // Ends the message started at `mark`: writes its length (moving the body
  // when the length needs more than one byte).
  void EndMessage(size_t mark);

  const std::string& data() const { return buf_; }
  std::string Release() { return std::move(buf_); }
  void Clear() { buf_.clear(); }

 private:
  std::string buf_;
};

}  // namespace loupe::internal

#endif  // LOUPE_AGENT_PROTO_WRITER_H_
