#include "wire/otlp_proto_encode.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <string_view>
#include <utility>
#include <vector>

namespace loupe::wire {
namespace {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

void Varint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
void Tag(uint32_t field, WireType t, std::string* out) { Varint(uint64_t{field} << 3 | t, out); }
void Bytes(uint32_t field, std::string_view b, std::string* out) {
  Tag(field, kLen, out);
  Varint(b.size(), out);
  out->append(b);
}
void Fixed64(uint32_t field, uint64_t v, std::string* out) {
  Tag(field, kFixed64, out);
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 8);
}
void Fixed32(uint32_t field, uint32_t v, std::string* out) {
  Tag(field, kFixed32, out);
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 4);
}
void VarintField(uint32_t field, uint64_t v, std::string* out) {
  Tag(field, kVarint, out);
  Varint(v, out);
}
std::string_view SpanIdBytes(model::SpanId id, char (&buf)[8]) {
  for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>(id >> (56 - 8 * i));
  return {buf, 8};
}

// AnyValue (common.proto).
void EncodeValue(const model::AttrValue& v, std::string* out) {
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
    case T::kDouble: {
      uint64_t bits;
      std::memcpy(&bits, &v.d, 8);
      Fixed64(4, bits, out);
      break;
    }
    case T::kString:
    case T::kBytes:   // the decoder's hex text
    case T::kArray:   // the decoder's JSON rendering
    case T::kKvList:
      Bytes(1, v.s, out);
      break;
  }
}

void EncodeAttrs(uint32_t field, const model::SpanBatch& b, model::AttrRange r, std::string* out) {
  const size_t end = std::min<size_t>(size_t{r.begin} + r.count, b.attrs.size());
  for (size_t i = r.begin; i < end; ++i) {
    const model::KeyValue& kv = b.attrs[i];
    std::string value, pair;
    EncodeValue(kv.value, &value);
    Bytes(1, kv.key, &pair);
    Bytes(2, value, &pair);
    Bytes(field, pair, out);
  }
}

void EncodeSpan(const model::SpanBatch& b, const model::Span& s, std::string* out) {
  char buf[8];
  Bytes(1, std::string_view(reinterpret_cast<const char*>(s.trace_id.data()), 16), out);
  Bytes(2, SpanIdBytes(s.span_id, buf), out);
  if (s.parent_span_id != 0) Bytes(4, SpanIdBytes(s.parent_span_id, buf), out);
  if (!s.name.empty()) Bytes(5, s.name, out);
  if (s.kind != model::SpanKind::kUnspecified) VarintField(6, static_cast<uint64_t>(s.kind), out);
  if (s.start_unix_nano != 0) Fixed64(7, s.start_unix_nano, out);
  if (s.end_unix_nano != 0) Fixed64(8, s.end_unix_nano, out);
  EncodeAttrs(9, b, s.attrs, out);
  if (s.dropped_attributes != 0) VarintField(10, s.dropped_attributes, out);
  const size_t ev_end = std::min<size_t>(size_t{s.events_begin} + s.events_count, b.events.size());
  for (size_t i = s.events_begin; i < ev_end; ++i) {
    const model::SpanEvent& e = b.events[i];
    std::string ev;
    if (e.time_unix_nano != 0) Fixed64(1, e.time_unix_nano, &ev);
    if (!e.name.empty()) Bytes(2, e.name, &ev);
    EncodeAttrs(3, b, e.attrs, &ev);
    Bytes(11, ev, out);
  }
  if (s.dropped_events != 0) VarintField(12, s.dropped_events, out);
  if (s.status != model::SpanStatus::kUnset || !s.status_message.empty()) {
    std::string st;
    if (!s.status_message.empty()) Bytes(2, s.status_message, &st);
    if (s.status != model::SpanStatus::kUnset) VarintField(3, static_cast<uint64_t>(s.status), &st);
    Bytes(15, st, out);
  }
  if (s.flags != 0) Fixed32(16, s.flags, out);
}

}  // namespace

void EncodeTracesProto(const model::SpanBatch& batch, std::string* out) {
  // Group span indexes by resource, then by scope name (in first-seen order).
  std::map<uint32_t, std::vector<std::pair<std::string_view, std::vector<size_t>>>> groups;
  for (size_t i = 0; i < batch.spans.size(); ++i) {
    const model::Span& s = batch.spans[i];
    auto& scopes = groups[s.resource];
    auto it = std::find_if(scopes.begin(), scopes.end(),
                           [&](const auto& g) { return g.first == s.scope_name; });
    if (it == scopes.end()) {
      scopes.emplace_back(s.scope_name, std::vector<size_t>{});
      it = scopes.end() - 1;
    }
    it->second.push_back(i);
  }
  for (const auto& [res, scopes] : groups) {
    std::string rs;
    if (res < batch.resources.size()) {
      std::string resource;
      EncodeAttrs(1, batch, batch.resources[res].attrs, &resource);
      Bytes(1, resource, &rs);
    }
    for (const auto& [scope_name, spans] : scopes) {
      std::string ss;
      if (!scope_name.empty()) {
        std::string scope;
        Bytes(1, scope_name, &scope);
        Bytes(1, scope, &ss);
      }
      for (size_t i : spans) {
        std::string span;
        EncodeSpan(batch, batch.spans[i], &span);
        Bytes(2, span, &ss);
      }
      Bytes(2, ss, &rs);
    }
    Bytes(1, rs, out);
  }
}

}  // namespace loupe::wire
