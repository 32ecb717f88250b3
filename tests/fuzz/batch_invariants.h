// Checks shared by the OTLP decoder fuzz targets: whatever the input, a
// successful decode must produce a SpanBatch whose ranges are in bounds, whose
// strings point into the body or the batch's arena, and which respects the
// limits. A violation traps, which libFuzzer reports as a crash.
#ifndef LOUPE_TESTS_FUZZ_BATCH_INVARIANTS_H_
#define LOUPE_TESTS_FUZZ_BATCH_INVARIANTS_H_

#include <rapidjson/document.h>

#include <algorithm>
#include <string_view>
#include <utility>
#include <vector>

#include "model/span.h"
#include "wire/decode_limits.h"

namespace loupe::fuzz {

#define LOUPE_FUZZ_CHECK(cond)     \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

// Small limits, so that fuzzing also exercises every cutting path.
inline wire::DecodeLimits TinyLimits() {
  wire::DecodeLimits l;
  l.max_attributes_per_span = 3;
  l.max_attributes_per_resource = 2;
  l.max_events_per_span = 2;
  l.max_attributes_per_event = 1;
  l.max_value_bytes = 13;
  l.max_text_value_bytes = 21;
  l.max_key_bytes = 8;
  l.max_spans = 50;
  l.max_depth = 3;
  return l;
}

class BatchChecker {
 public:
  BatchChecker(const model::SpanBatch& b, std::string_view body, const wire::DecodeLimits& l)
      : b_(b), body_(body), l_(l) {
    for (const std::string& s : b.arena) arena_.emplace_back(s.data(), s.data() + s.size());
    std::sort(arena_.begin(), arena_.end());
  }

  void Check() {
    for (const model::Resource& r : b_.resources)
      CheckAttrs(r.attrs, l_.max_attributes_per_resource);
    for (const model::Span& s : b_.spans) {
      LOUPE_FUZZ_CHECK(s.resource < b_.resources.size());
      LOUPE_FUZZ_CHECK(s.span_id != 0);
      LOUPE_FUZZ_CHECK(s.trace_id != model::TraceId{});
      CheckString(s.name, l_.max_value_bytes);
      CheckString(s.status_message, l_.max_value_bytes);
      CheckString(s.scope_name, l_.max_value_bytes);
      CheckAttrs(s.attrs, l_.max_attributes_per_span);
      LOUPE_FUZZ_CHECK(s.events_count <= l_.max_events_per_span);
      LOUPE_FUZZ_CHECK(s.events_begin <= b_.events.size());
      LOUPE_FUZZ_CHECK(s.events_count <= b_.events.size() - s.events_begin);
      for (uint32_t i = 0; i < s.events_count; ++i) {
        const model::SpanEvent& e = b_.events[s.events_begin + i];
        CheckString(e.name, l_.max_value_bytes);
        CheckAttrs(e.attrs, l_.max_attributes_per_event);
      }
    }
  }

 private:
  void CheckAttrs(model::AttrRange r, size_t cap) {
    LOUPE_FUZZ_CHECK(r.count <= cap);
    LOUPE_FUZZ_CHECK(r.begin <= b_.attrs.size());
    LOUPE_FUZZ_CHECK(r.count <= b_.attrs.size() - r.begin);
    for (uint32_t i = 0; i < r.count; ++i) {
      const model::KeyValue& kv = b_.attrs[r.begin + i];
      LOUPE_FUZZ_CHECK(!kv.key.empty());
      CheckString(kv.key, l_.max_key_bytes);
      using T = model::AttrValue::Type;
      switch (kv.value.type) {
        case T::kString:
          CheckString(kv.value.s, wire::StringValueLimit(l_, kv.key));
          break;
        case T::kBytes:
          CheckString(kv.value.s, l_.max_value_bytes);
          break;
        case T::kArray:
        case T::kKvList: {
          CheckString(kv.value.s, std::max<size_t>(l_.max_value_bytes, 2));
          rapidjson::Document d;
          d.Parse<rapidjson::kParseValidateEncodingFlag>(kv.value.s.data(), kv.value.s.size());
          LOUPE_FUZZ_CHECK(!d.HasParseError());
          LOUPE_FUZZ_CHECK(kv.value.type == T::kArray ? d.IsArray() : d.IsObject());
          break;
        }
        default:
          break;
      }
    }
  }

  void CheckString(std::string_view s, size_t max) {
    LOUPE_FUZZ_CHECK(s.size() <= max);
    if (s.empty()) return;
    const char* p = s.data();
    if (p >= body_.data() && p + s.size() <= body_.data() + body_.size()) return;
    auto it = std::upper_bound(arena_.begin(), arena_.end(),
                               std::make_pair(p, static_cast<const char*>(nullptr)),
                               [](const auto& a, const auto& b) { return a.first < b.first; });
    if (it != arena_.begin()) {
      --it;
      if (p >= it->first && p + s.size() <= it->second) return;
    }
    __builtin_trap();
  }

  const model::SpanBatch& b_;
  std::string_view body_;
  const wire::DecodeLimits& l_;
  std::vector<std::pair<const char*, const char*>> arena_;
};

}  // namespace loupe::fuzz

#endif  // LOUPE_TESTS_FUZZ_BATCH_INVARIANTS_H_
