// Protobuf writing shared by the OTLP encoders (otlp_proto_encode.cc for
// traces, otlp_metrics_proto_encode.cc for metrics): appends fields to a
// std::string. Nested messages are built in their own string and appended
// with Bytes(), which is simple and fast enough for encoders that are not on
// a hot path (checkpoints, the host agent's few hundred points per interval).
//
// Internal to wire/. Thread-safety: pure functions.
#ifndef LOUPE_WIRE_PROTO_WRITER_H_
#define LOUPE_WIRE_PROTO_WRITER_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "model/span.h"

namespace loupe::wire::internal::pb {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

inline void Varint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
inline void Tag(uint32_t field, WireType t, std::string* out) {
  Varint(uint64_t{field} << 3 | t, out);
}
inline void Bytes(uint32_t field, std::string_view b, std::string* out) {
  Tag(field, kLen, out);
  Varint(b.size(), out);
  out->append(b);
}
inline void Fixed64Raw(uint64_t v, std::string* out) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 8);
}
inline void Fixed64(uint32_t field, uint64_t v, std::string* out) {
  Tag(field, kFixed64, out);
  Fixed64Raw(v, out);
}
inline void Double(uint32_t field, double d, std::string* out) {
  uint64_t bits;
  std::memcpy(&bits, &d, 8);
  Fixed64(field, bits, out);
}
inline void Fixed32(uint32_t field, uint32_t v, std::string* out) {
  Tag(field, kFixed32, out);
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 4);
}
inline void VarintField(uint32_t field, uint64_t v, std::string* out) {
  Tag(field, kVarint, out);
  Varint(v, out);
}
inline uint64_t ZigZag32(int32_t v) {
  return static_cast<uint32_t>((static_cast<uint32_t>(v) << 1) ^ static_cast<uint32_t>(v >> 31));
}

// AnyValue (common.proto). Values a decoder had rendered as text (bytes as
// hex, arrays and key-value lists as JSON) are written as strings.
inline void EncodeValue(const model::AttrValue& v, std::string* out) {
  using T = model::AttrValue::Type;
  switch (v.type) {
    case T::kEmpty:
      break;
    case T::kBool:
      VarintField(2, v.b ? 1 : 0, out);
      break;
    case T::kInt:
      VarintField(3, static_cast<uint64_t>(v.i), out);
      break;
    case T::kDouble:
      Double(4, v.d, out);
      break;
    case T::kString:
    case T::kBytes:
    case T::kArray:
    case T::kKvList:
      Bytes(1, v.s, out);
      break;
  }
}

// attrs[r] as repeated KeyValue field `field`; indexes past attrs are ignored.
inline void EncodeAttrs(uint32_t field, const std::vector<model::KeyValue>& attrs,
                        model::AttrRange r, std::string* out) {
  const size_t end = std::min<size_t>(size_t{r.begin} + r.count, attrs.size());
  std::string value, pair;
  for (size_t i = r.begin; i < end; ++i) {
    const model::KeyValue& kv = attrs[i];
    value.clear();
    pair.clear();
    EncodeValue(kv.value, &value);
    Bytes(1, kv.key, &pair);
    Bytes(2, value, &pair);
    Bytes(field, pair, out);
  }
}

}  // namespace loupe::wire::internal::pb

#endif  // LOUPE_WIRE_PROTO_WRITER_H_
