#include "model/span.h"

#include <charconv>

namespace loupe::model {

void AttrValue::AppendText(std::string* out) const {
  char buf[64];
  switch (type) {
    case Type::kEmpty: return;
    case Type::kString:
    case Type::kBytes:
    case Type::kArray:
    case Type::kKvList: out->append(s); return;
    case Type::kBool: out->append(b ? "true" : "false"); return;
    case Type::kInt: {
      auto r = std::to_chars(buf, buf + sizeof buf, i);
      out->append(buf, r.ptr);
      return;
    }
    case Type::kDouble: {
      auto r = std::to_chars(buf, buf + sizeof buf, d);
      out->append(buf, r.ptr);
      return;
    }
  }
}

const KeyValue* SpanBatch::Find(AttrRange r, std::string_view key) const {
  for (uint32_t i = r.begin; i < r.begin + r.count; ++i) {
    if (attrs[i].key == key) return &attrs[i];
  }
  return nullptr;
}

void SpanBatch::DiscardInvalidSpan(const Mark& m) {
  attrs.resize(m.attrs);
  while (arena.size() > m.arena) arena.pop_back();
  truncated_values = m.truncated_values;
  ++invalid_spans;
}

void SpanBatch::Clear() {
  resources.clear();
  spans.clear();
  attrs.clear();
  events.clear();
  arena.clear();
  truncated_values = dropped_attributes = dropped_events = invalid_spans = 0;
}

}  // namespace loupe::model
