#include "wire/otlp_proto_encode.h"

#include <algorithm>
#include <map>
#include <string_view>
#include <utility>
#include <vector>

#include "wire/proto_writer.h"

namespace loupe::wire {
namespace {

using namespace internal::pb;  // NOLINT: the field writers

std::string_view SpanIdBytes(model::SpanId id, char (&buf)[8]) {
  for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>(id >> (56 - 8 * i));
  return {buf, 8};
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
  EncodeAttrs(9, b.attrs, s.attrs, out);
  if (s.dropped_attributes != 0) VarintField(10, s.dropped_attributes, out);
  const size_t ev_end = std::min<size_t>(size_t{s.events_begin} + s.events_count, b.events.size());
  for (size_t i = s.events_begin; i < ev_end; ++i) {
    const model::SpanEvent& e = b.events[i];
    std::string ev;
    if (e.time_unix_nano != 0) Fixed64(1, e.time_unix_nano, &ev);
    if (!e.name.empty()) Bytes(2, e.name, &ev);
    EncodeAttrs(3, b.attrs, e.attrs, &ev);
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
      EncodeAttrs(1, batch.attrs, batch.resources[res].attrs, &resource);
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
