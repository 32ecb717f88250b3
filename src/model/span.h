// Decoded OTLP spans, as wire/ produces them and ingest/ consumes them.
//
// A SpanBatch is the decoded form of one export request. Strings are views
// into memory the batch keeps alive: the request body it was decoded from
// (which the caller must keep alive while the batch is used) or the batch's own
// arena (values the decoder had to render, e.g. arrays, ints as text).
// Attributes and events live in flat vectors of the batch; spans refer to
// ranges of them, so decoding allocates per batch, not per span.
//
// Thread-safety: a plain value; not shared between threads while mutated.
#ifndef LOUPE_MODEL_SPAN_H_
#define LOUPE_MODEL_SPAN_H_

#include <array>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace loupe::model {

using TraceId = std::array<uint8_t, 16>;  // all zero = invalid
using SpanId = uint64_t;                  // 8 id bytes read big-endian; 0 = none

// OTLP Span.SpanKind values.
enum class SpanKind : uint8_t {
  kUnspecified = 0, kInternal = 1, kServer = 2, kClient = 3, kProducer = 4, kConsumer = 5,
};

// OTLP Status.StatusCode values.
enum class SpanStatus : uint8_t { kUnset = 0, kOk = 1, kError = 2 };

// OTLP span flags (SpanFlags): bit 8 says whether bit 9 (parent is remote) is known.
inline constexpr uint32_t kSpanFlagsHasIsRemote = 0x100;
inline constexpr uint32_t kSpanFlagsIsRemote = 0x200;

struct AttrValue {
  enum class Type : uint8_t { kEmpty, kString, kBool, kInt, kDouble, kBytes, kArray, kKvList };
  Type type = Type::kEmpty;
  bool b = false;
  int64_t i = 0;
  double d = 0;
  // kString: the text. kBytes: raw bytes. kArray/kKvList: a JSON rendering in the arena.
  std::string_view s;

  // The value as text: strings as is, numbers and bools formatted. Appends to *out.
  void AppendText(std::string* out) const;
};

struct KeyValue {
  std::string_view key;
  AttrValue value;
};

struct AttrRange {
  uint32_t begin = 0;  // index into SpanBatch::attrs
  uint32_t count = 0;
};

struct Resource {
  AttrRange attrs;
};

struct SpanEvent {
  uint64_t time_unix_nano = 0;
  std::string_view name;
  AttrRange attrs;
};

struct Span {
  TraceId trace_id{};
  SpanId span_id = 0;
  SpanId parent_span_id = 0;
  uint32_t flags = 0;
  SpanKind kind = SpanKind::kUnspecified;
  SpanStatus status = SpanStatus::kUnset;
  std::string_view name;
  std::string_view status_message;
  uint64_t start_unix_nano = 0;
  uint64_t end_unix_nano = 0;
  uint32_t resource = 0;  // index into SpanBatch::resources
  std::string_view scope_name;
  AttrRange attrs;
  uint32_t events_begin = 0;  // index into SpanBatch::events
  uint32_t events_count = 0;
  uint32_t dropped_attributes = 0;  // by the sender or by our limits
  uint32_t dropped_events = 0;
};

struct SpanBatch {
  std::vector<Resource> resources;
  std::vector<Span> spans;
  std::vector<KeyValue> attrs;
  std::vector<SpanEvent> events;
  std::deque<std::string> arena;  // owns rendered strings; deque keeps addresses stable

  // What the decoder cut to stay within its limits (counted, reported in /metrics).
  uint64_t truncated_values = 0;
  uint64_t dropped_attributes = 0;
  uint64_t dropped_events = 0;
  // Spans skipped because their ids are invalid (trace_id not 16 bytes or all
  // zero, span_id not 8 bytes or zero, parent_span_id neither empty nor 8 bytes).
  uint64_t invalid_spans = 0;

  std::string_view Own(std::string s) { return arena.emplace_back(std::move(s)); }

  // What a decoder must undo to drop the span it is decoding: take a Mark
  // before its attributes, call Discard(mark) to forget them (and their arena
  // strings and truncation counts) and count the span as invalid.
  struct Mark {
    uint32_t attrs;
    size_t arena;
    uint64_t truncated_values;
  };
  Mark MarkPosition() const {
    return Mark{static_cast<uint32_t>(attrs.size()), arena.size(), truncated_values};
  }
  void DiscardInvalidSpan(const Mark& m);
  const KeyValue* Find(AttrRange r, std::string_view key) const;
  void Clear();
};

}  // namespace loupe::model

#endif  // LOUPE_MODEL_SPAN_H_
