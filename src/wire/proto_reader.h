// The protobuf reading shared by the OTLP decoders (otlp_proto.cc for traces,
// otlp_metrics_proto.cc for metrics): a bounds-checked field reader with
// InvalidArgument errors that name the message and the byte offset, and the
// decoding of KeyValue/AnyValue attributes under DecodeLimits.
//
// ProtoReader<Batch> is a base class for one decoder of one request. Batch is
// a model batch with the members the attribute decoding writes: attrs (a
// vector of model::KeyValue), truncated_values, and Own(std::string) for
// rendered values (model::SpanBatch, model::MetricBatch). Strings it stores
// are views into the body or the batch's arena.
//
// Internal to wire/. Thread-safety: one reader per request and thread.
#ifndef LOUPE_WIRE_PROTO_READER_H_
#define LOUPE_WIRE_PROTO_READER_H_

#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <utility>

#include "common/status.h"
#include "model/span.h"
#include "wire/decode_limits.h"
#include "wire/json_writer.h"

namespace loupe::wire::internal {

// Wire types.
constexpr uint32_t kVarint = 0;
constexpr uint32_t kFixed64 = 1;
constexpr uint32_t kLen = 2;
constexpr uint32_t kStartGroup = 3;
constexpr uint32_t kEndGroup = 4;
constexpr uint32_t kFixed32 = 5;

constexpr uint64_t kMaxFieldNumber = (1u << 29) - 1;
constexpr int kMaxSupportedDepth = 64;

// Field numbers, opentelemetry-proto common v1.
constexpr uint32_t kKeyValueKey = 1;  // KeyValue
constexpr uint32_t kKeyValueValue = 2;
enum AnyValueField : uint32_t {
  kAnyString = 1,
  kAnyBool = 2,
  kAnyInt = 3,
  kAnyDouble = 4,
  kAnyArray = 5,
  kAnyKvList = 6,
  kAnyBytes = 7,
};
constexpr uint32_t kAnyWireType[8] = {0, kLen, kVarint, kVarint, kFixed64, kLen, kLen, kLen};
constexpr uint32_t kListValues = 1;  // ArrayValue and KeyValueList

struct Field {
  uint32_t number = 0;
  uint32_t wire_type = 0;
  uint64_t value = 0;              // kVarint, kFixed64, kFixed32
  const uint8_t* begin = nullptr;  // kLen payload
  const uint8_t* end = nullptr;
  const uint8_t* tag = nullptr;  // first byte of the field

  size_t size() const { return static_cast<size_t>(end - begin); }
  std::string_view view() const {
    return {reinterpret_cast<const char*>(begin), static_cast<size_t>(end - begin)};
  }
};

// Returns the position after the varint, or nullptr if it is truncated or
// longer than 10 bytes. Bits beyond 64 are dropped, as protobuf does.
inline const uint8_t* ReadVarint(const uint8_t* p, const uint8_t* end, uint64_t* v) {
  if (p < end && *p < 0x80) {
    *v = *p;
    return p + 1;
  }
  uint64_t result = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    uint64_t b = *p++;
    result |= (b & 0x7F) << shift;
    if (b < 0x80) {
      *v = result;
      return p;
    }
  }
  return nullptr;
}

inline uint64_t LoadLittle64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

inline uint32_t LoadLittle32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap32(v);
  return v;
}

inline uint64_t LoadBig64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap64(v);
  return v;
}

inline uint32_t SaturatingAdd(uint32_t a, uint32_t b) {
  uint32_t r;
  return __builtin_add_overflow(a, b, &r) ? std::numeric_limits<uint32_t>::max() : r;
}
template <typename Batch>
class ProtoReader {
 public:
  ProtoReader(std::string_view body, const DecodeLimits& limits, Batch* out)
      : base_(reinterpret_cast<const uint8_t*>(body.data())),
        size_(body.size()),
        limits_(limits),
        max_depth_(limits.max_depth < 1                    ? 1
                   : limits.max_depth > kMaxSupportedDepth ? kMaxSupportedDepth
                                                           : limits.max_depth),
        out_(out) {}

 protected:
  using AttrValue = model::AttrValue;

  // Reads the field at *p of a message ending at end and advances *p past it.
  // `message` names the message for error messages.
  // Inlined: it is most of the decoding work (perf: 30% of the time in
  // wire_decode_benchmark as a call).
  [[gnu::always_inline]] bool ReadField(const uint8_t** pp, const uint8_t* end, const char* message,
                                        Field* f) {
    const uint8_t* p = *pp;
    f->tag = p;
    uint64_t tag;
    p = ReadVarint(p, end, &tag);
    if (p == nullptr) return BadVarint(f->tag, end, message, "field tag");
    f->number = static_cast<uint32_t>(tag >> 3);
    f->wire_type = static_cast<uint32_t>(tag & 7);
    if ((tag >> 3) == 0 || (tag >> 3) > kMaxFieldNumber) return BadTag(f->tag, tag, message);
    switch (f->wire_type) {
      case kVarint: {
        const uint8_t* v = p;
        p = ReadVarint(p, end, &f->value);
        if (p == nullptr) return BadVarint(v, end, message, "varint field");
        break;
      }
      case kFixed64:
        if (end - p < 8) return Truncated(p, end, message, "fixed64 field", 8);
        f->value = LoadLittle64(p);
        p += 8;
        break;
      case kFixed32:
        if (end - p < 4) return Truncated(p, end, message, "fixed32 field", 4);
        f->value = LoadLittle32(p);
        p += 4;
        break;
      case kLen: {
        const uint8_t* at = p;
        uint64_t len;
        p = ReadVarint(p, end, &len);
        if (p == nullptr) return BadVarint(at, end, message, "length");
        if (len > static_cast<uint64_t>(end - p)) return Truncated(at, end, message, "length", len);
        f->begin = p;
        f->end = p + len;
        p += len;
        break;
      }
      default:
        return BadTag(f->tag, tag, message);
    }
    *pp = p;
    return true;
  }

  [[gnu::always_inline]] bool Expect(const Field& f, uint32_t wire_type, const char* field_name) {
    if (f.wire_type == wire_type) [[likely]] {
      return true;
    }
    return WrongWireType(f, wire_type, field_name);
  }

  [[gnu::cold, gnu::noinline]] bool WrongWireType(const Field& f, uint32_t wire_type,
                                                  const char* field_name) {
    return Malformed(f.tag, std::string(field_name) + " (field " + std::to_string(f.number) +
                                ") has wire type " + std::to_string(f.wire_type) + ", expected " +
                                std::to_string(wire_type));
  }

  [[gnu::cold, gnu::noinline]] bool Malformed(const uint8_t* at, std::string_view what) {
    status_ = Status::InvalidArgument("malformed OTLP protobuf at byte " +
                                      std::to_string(at - base_) + ": " + std::string(what));
    return false;
  }

  [[gnu::cold, gnu::noinline]] bool BadVarint(const uint8_t* at, const uint8_t* end,
                                              const char* message, const char* what) {
    return Malformed(
        at, std::string(end - at >= 10 ? "overlong " : "truncated ") + what + " in " + message);
  }

  [[gnu::cold, gnu::noinline]] bool BadTag(const uint8_t* at, uint64_t tag, const char* message) {
    uint64_t number = tag >> 3, wire_type = tag & 7;
    if (number == 0 || number > kMaxFieldNumber) {
      return Malformed(at, "invalid field number " + std::to_string(number) + " in " + message);
    }
    if (wire_type == kStartGroup || wire_type == kEndGroup) {
      return Malformed(at, "group wire type (field " + std::to_string(number) + " of " + message +
                               ") is not supported");
    }
    return Malformed(at, "invalid wire type " + std::to_string(wire_type) + " (field " +
                             std::to_string(number) + " of " + message + ")");
  }

  [[gnu::cold, gnu::noinline]] bool Truncated(const uint8_t* at, const uint8_t* end,
                                              const char* message, const char* what,
                                              uint64_t need) {
    return Malformed(at, std::string(what) + " of " + std::to_string(need) + " bytes in " +
                             message + " runs past the end of the enclosing message (" +
                             std::to_string(end - at) + " bytes left)");
  }

  [[gnu::cold, gnu::noinline]] bool TooDeep(const uint8_t* at) {
    return Malformed(at, "AnyValue nested deeper than " + std::to_string(max_depth_) + " levels");
  }

  // A string value, cut to `limit` (by default limits_.max_value_bytes).
  std::string_view LimitString(std::string_view s) {
    return LimitString(s, limits_.max_value_bytes);
  }
  std::string_view LimitString(std::string_view s, size_t limit) {
    if (s.size() <= limit) [[likely]] {
      return s;
    }
    ++out_->truncated_values;
    return internal::TruncateUtf8(s, limit);
  }

  // A bytes value as lowercase hex in the arena, cut to limits_.max_value_bytes.
  std::string_view HexValue(std::string_view bytes) {
    if (bytes.size() > limits_.max_value_bytes / 2) {
      bytes = bytes.substr(0, limits_.max_value_bytes / 2);
      ++out_->truncated_values;
    }
    std::string hex;
    internal::AppendHex(bytes, &hex);
    return out_->Own(std::move(hex));
  }

  // Appends the KeyValue in f to out_->attrs unless its owner (whose
  // attributes start at attrs_begin) already has `cap` of them or its key is
  // unusable; then counts it in *dropped (without decoding it if over cap).
  bool AddAttribute(const Field& f, uint32_t attrs_begin, size_t cap, uint32_t* dropped) {
    if (out_->attrs.size() - attrs_begin >= cap) {
      ++*dropped;
      return true;
    }
    model::KeyValue kv;
    Field g;
    for (const uint8_t* p = f.begin; p < f.end;) {
      if (!ReadField(&p, f.end, "KeyValue", &g)) return false;
      if (g.number == kKeyValueKey) {
        if (!Expect(g, kLen, "KeyValue.key")) return false;
        kv.key = g.view();
      } else if (g.number == kKeyValueValue) {
        if (!Expect(g, kLen, "KeyValue.value")) return false;
        // The string limit depends on the key, which may come after the value.
        if (!DecodeAnyValue(g.begin, g.end, &kv.value)) return false;
      }
    }
    if (kv.key.empty() || kv.key.size() > limits_.max_key_bytes) {
      ++*dropped;
      return true;
    }
    if (kv.value.type == AttrValue::Type::kString) {
      kv.value.s = LimitString(kv.value.s, StringValueLimit(limits_, kv.key));
    }
    out_->attrs.push_back(kv);
    return true;
  }

  // Fields not present leave *v unchanged, so a repeated value field merges
  // as protobuf does (the last oneof member present wins).
  // A string value is left whole: its limit depends on the attribute's key
  // (StringValueLimit), which the caller cuts it to.
  bool DecodeAnyValue(const uint8_t* p, const uint8_t* end, AttrValue* v) {
    Field f;
    while (p < end) {
      if (!ReadField(&p, end, "AnyValue", &f)) return false;
      if (f.number < kAnyString || f.number > kAnyBytes) continue;
      if (!Expect(f, kAnyWireType[f.number], "AnyValue member")) return false;
      switch (f.number) {
        case kAnyString:
          v->type = AttrValue::Type::kString;
          v->s = f.view();
          break;
        case kAnyBool:
          v->type = AttrValue::Type::kBool;
          v->b = f.value != 0;
          break;
        case kAnyInt:
          v->type = AttrValue::Type::kInt;
          v->i = static_cast<int64_t>(f.value);
          break;
        case kAnyDouble:
          v->type = AttrValue::Type::kDouble;
          v->d = std::bit_cast<double>(f.value);
          break;
        case kAnyArray:
        case kAnyKvList: {
          BoundedJsonWriter w(limits_.max_value_bytes);
          bool ok = f.number == kAnyArray ? RenderArray(f.begin, f.end, 2, &w)
                                          : RenderKvList(f.begin, f.end, 2, &w);
          if (!ok) return false;
          if (w.truncated()) ++out_->truncated_values;
          v->type = f.number == kAnyArray ? AttrValue::Type::kArray : AttrValue::Type::kKvList;
          v->s = out_->Own(std::move(w.text()));
          break;
        }
        case kAnyBytes:
          v->type = AttrValue::Type::kBytes;
          v->s = HexValue(f.view());
          break;
      }
    }
    return true;
  }

  // Renders the ArrayValue [p, end) whose elements are at nesting level `depth`.
  bool RenderArray(const uint8_t* p, const uint8_t* end, int depth, BoundedJsonWriter* w) {
    if (depth > max_depth_) return TooDeep(p);
    w->Open('[');
    Field f;
    while (p < end) {
      if (!ReadField(&p, end, "ArrayValue", &f)) return false;
      if (f.number != kListValues) continue;
      if (!Expect(f, kLen, "ArrayValue.values")) return false;
      if (w->full()) continue;
      size_t mark = w->BeginElement();
      if (!RenderAnyValue(f.begin, f.end, depth, w)) return false;
      w->EndElement(mark);
    }
    w->Close(']');
    return true;
  }

  // Renders the KeyValueList [p, end) whose values are at nesting level `depth`.
  bool RenderKvList(const uint8_t* p, const uint8_t* end, int depth, BoundedJsonWriter* w) {
    if (depth > max_depth_) return TooDeep(p);
    w->Open('{');
    Field f, g;
    while (p < end) {
      if (!ReadField(&p, end, "KeyValueList", &f)) return false;
      if (f.number != kListValues) continue;
      if (!Expect(f, kLen, "KeyValueList.values")) return false;
      if (w->full()) continue;
      std::string_view key;
      const uint8_t* value_begin = nullptr;
      const uint8_t* value_end = nullptr;
      for (const uint8_t* q = f.begin; q < f.end;) {
        if (!ReadField(&q, f.end, "KeyValue", &g)) return false;
        if (g.number == kKeyValueKey) {
          if (!Expect(g, kLen, "KeyValue.key")) return false;
          key = g.view();
        } else if (g.number == kKeyValueValue) {
          if (!Expect(g, kLen, "KeyValue.value")) return false;
          value_begin = g.begin;
          value_end = g.end;
        }
      }
      size_t mark = w->BeginElement();
      if (!w->Key(key)) {
        w->DropElement(mark);
        continue;
      }
      if (value_begin == nullptr) {
        w->Null();
      } else if (!RenderAnyValue(value_begin, value_end, depth, w)) {
        return false;
      }
      w->EndElement(mark);
    }
    w->Close('}');
    return true;
  }

  // Renders the AnyValue [p, end) at nesting level `depth`: its last oneof
  // member, or null if it has none.
  bool RenderAnyValue(const uint8_t* p, const uint8_t* end, int depth, BoundedJsonWriter* w) {
    Field f, last;
    while (p < end) {
      if (!ReadField(&p, end, "AnyValue", &f)) return false;
      if (f.number < kAnyString || f.number > kAnyBytes) continue;
      if (!Expect(f, kAnyWireType[f.number], "AnyValue member")) return false;
      last = f;
    }
    switch (last.number) {
      case kAnyString:
        w->String(last.view());
        return true;
      case kAnyBool:
        w->Bool(last.value != 0);
        return true;
      case kAnyInt:
        w->Int(static_cast<int64_t>(last.value));
        return true;
      case kAnyDouble:
        w->Double(std::bit_cast<double>(last.value));
        return true;
      case kAnyArray:
        return RenderArray(last.begin, last.end, depth + 1, w);
      case kAnyKvList:
        return RenderKvList(last.begin, last.end, depth + 1, w);
      case kAnyBytes:
        w->HexString(last.view());
        return true;
      default:
        w->Null();
        return true;
    }
  }

  const uint8_t* base_;
  size_t size_;
  const DecodeLimits& limits_;
  const int max_depth_;
  Batch* out_;
  Status status_;
};

}  // namespace loupe::wire::internal

#endif  // LOUPE_WIRE_PROTO_READER_H_
