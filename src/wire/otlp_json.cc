#include "wire/otlp_json.h"

#include <cstring>
#include <limits>
#include <string>
#include <string_view>

#include "wire/json_reader.h"

namespace loupe::wire {
namespace {

using namespace internal::json;  // NOLINT: the reader's types and helpers

constexpr std::string_view kSpanKindNames[] = {
    "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",      "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER",
};
constexpr std::string_view kStatusCodeNames[] = {
    "STATUS_CODE_UNSET",
    "STATUS_CODE_OK",
    "STATUS_CODE_ERROR",
};

inline uint32_t SaturatingAdd(uint32_t a, uint32_t b) {
  uint32_t r;
  return __builtin_add_overflow(a, b, &r) ? std::numeric_limits<uint32_t>::max() : r;
}

class JsonDecoder : public JsonReader<model::SpanBatch> {
 public:
  JsonDecoder(const DecodeLimits& limits, model::SpanBatch* out) : JsonReader(limits, out) {}

  Status Decode(std::string* body) {
    out_->Clear();
    // The default MemoryPoolAllocator also makes destroying a deeply nested
    // document non-recursive.
    rapidjson::Document doc;
    if (!Parse(body, &doc)) return status_;
    Path root;
    if (!doc.IsObject()) {
      Fail(root, "expected an object");
    } else {
      DecodeRequest(doc, root);
    }
    return status_;
  }

 private:
  bool DecodeRequest(const Value& request, const Path& path) {
    for (const auto& m : request.GetObject()) {
      std::string_view name = Str(m.name);
      if (Is(name, "resourceSpans", "resource_spans")) {
        Path p{&path, name};
        if (!ForEach(m.value, p, [this](const Value& v, const Path& vp) {
              return DecodeResourceSpans(v, vp);
            })) {
          return false;
        }
      }
    }
    return true;
  }

  bool DecodeResourceSpans(const Value& v, const Path& path) {
    if (!ExpectObject(v, path)) return false;
    const auto index = static_cast<uint32_t>(out_->resources.size());
    const auto attrs_begin = static_cast<uint32_t>(out_->attrs.size());
    for (const auto& m : v.GetObject()) {
      std::string_view name = Str(m.name);
      if (name == "resource" && !m.value.IsNull()) {
        Path p{&path, name};
        if (!ExpectObject(m.value, p) || !DecodeResource(m.value, p, attrs_begin)) return false;
      }
    }
    model::Resource& resource = out_->resources.emplace_back();
    resource.attrs = {attrs_begin, static_cast<uint32_t>(out_->attrs.size()) - attrs_begin};
    for (const auto& m : v.GetObject()) {
      std::string_view name = Str(m.name);
      if (Is(name, "scopeSpans", "scope_spans") ||
          Is(name, "instrumentationLibrarySpans", "instrumentation_library_spans")) {
        Path p{&path, name};
        if (!ForEach(m.value, p, [this, index](const Value& e, const Path& ep) {
              return DecodeScopeSpans(e, ep, index);
            })) {
          return false;
        }
      }
    }
    return true;
  }

  bool DecodeResource(const Value& v, const Path& path, uint32_t attrs_begin) {
    uint32_t dropped = 0;
    for (const auto& m : v.GetObject()) {
      std::string_view name = Str(m.name);
      if (name == "attributes") {
        Path p{&path, name};
        if (!DecodeAttributes(m.value, p, attrs_begin, limits_.max_attributes_per_resource,
                              &dropped)) {
          return false;
        }
      }
    }
    out_->dropped_attributes += dropped;
    return true;
  }

  bool DecodeScopeSpans(const Value& v, const Path& path, uint32_t resource) {
    if (!ExpectObject(v, path)) return false;
    std::string_view scope_name;
    for (const auto& m : v.GetObject()) {
      std::string_view name = Str(m.name);
      if ((name == "scope" || Is(name, "instrumentationLibrary", "instrumentation_library")) &&
          !m.value.IsNull()) {
        Path p{&path, name};
        if (!ExpectObject(m.value, p)) return false;
        for (const auto& s : m.value.GetObject()) {
          if (Str(s.name) == "name") {
            Path sp{&p, "name"};
            if (!GetString(s.value, sp, &scope_name)) return false;
          }
        }
      }
    }
    scope_name = LimitString(scope_name);
    for (const auto& m : v.GetObject()) {
      std::string_view name = Str(m.name);
      if (name == "spans") {
        Path p{&path, name};
        if (!ForEach(m.value, p, [&](const Value& e, const Path& ep) {
              return DecodeSpan(e, ep, resource, scope_name);
            })) {
          return false;
        }
      }
    }
    return true;
  }

  // Reads an id member. Null leaves the id absent; a string that is not hex of
  // the right size makes *ok false (an invalid span, not a malformed request).
  bool GetId(const Value& v, const Path& path, uint8_t* out, size_t n, bool allow_empty, bool* ok) {
    if (v.IsNull()) return true;
    if (!v.IsString()) return Fail(path, "expected a hex string");
    std::string_view hex = Str(v);
    if (allow_empty && hex.empty()) {
      std::memset(out, 0, n);
      *ok = true;
      return true;
    }
    *ok = HexToBytes(hex, out, n);
    return true;
  }

  bool DecodeSpan(const Value& v, const Path& path, uint32_t resource,
                  std::string_view scope_name) {
    model::SpanBatch& batch = *out_;
    if (spans_seen_ >= limits_.max_spans) {
      return Fail(path, "request has more than " + std::to_string(limits_.max_spans) + " spans");
    }
    ++spans_seen_;
    if (!ExpectObject(v, path)) return false;

    model::Span span;
    span.resource = resource;
    span.scope_name = scope_name;
    const model::SpanBatch::Mark mark = batch.MarkPosition();
    const uint32_t attrs_begin = mark.attrs;
    bool trace_id_ok = true, span_id_ok = true, parent_ok = true;
    uint8_t id[8];
    uint32_t sender_dropped_attrs = 0, sender_dropped_events = 0, dropped_attrs = 0;
    const Value* events = nullptr;
    Path events_path;
    for (const auto& m : v.GetObject()) {
      std::string_view name = Str(m.name);
      Path p{&path, name};
      const Value& value = m.value;
      bool ok = true;
      if (Is(name, "traceId", "trace_id")) {
        ok = GetId(value, p, span.trace_id.data(), span.trace_id.size(), false, &trace_id_ok);
      } else if (Is(name, "spanId", "span_id")) {
        std::memset(id, 0, sizeof id);
        ok = GetId(value, p, id, sizeof id, false, &span_id_ok);
        span.span_id = span_id_ok ? LoadBig64(id) : 0;
      } else if (Is(name, "parentSpanId", "parent_span_id")) {
        std::memset(id, 0, sizeof id);
        ok = GetId(value, p, id, sizeof id, true, &parent_ok);
        span.parent_span_id = parent_ok ? LoadBig64(id) : 0;
      } else if (name == "name") {
        ok = GetString(value, p, &span.name);
        span.name = LimitString(span.name);
      } else if (name == "kind") {
        int kind = 0;
        ok = GetEnum(value, p, kSpanKindNames, &kind);
        span.kind = kind < 0 ? model::SpanKind::kUnspecified : static_cast<model::SpanKind>(kind);
      } else if (Is(name, "startTimeUnixNano", "start_time_unix_nano")) {
        ok = GetUint64(value, p, &span.start_unix_nano);
      } else if (Is(name, "endTimeUnixNano", "end_time_unix_nano")) {
        ok = GetUint64(value, p, &span.end_unix_nano);
      } else if (name == "attributes") {
        ok = DecodeAttributes(value, p, attrs_begin, limits_.max_attributes_per_span,
                              &dropped_attrs);
      } else if (Is(name, "droppedAttributesCount", "dropped_attributes_count")) {
        ok = GetUint32(value, p, &sender_dropped_attrs);
      } else if (name == "events") {
        if (!value.IsNull() && !value.IsArray()) return Fail(p, "expected an array");
        events = &value;
        events_path = p;
      } else if (Is(name, "droppedEventsCount", "dropped_events_count")) {
        ok = GetUint32(value, p, &sender_dropped_events);
      } else if (name == "status") {
        ok = DecodeStatus(value, p, &span);
      } else if (name == "flags") {
        ok = GetUint32(value, p, &span.flags);
      }
      if (!ok) return false;
    }

    if (!trace_id_ok || !span_id_ok || !parent_ok || span.trace_id == model::TraceId{} ||
        span.span_id == 0) {
      batch.DiscardInvalidSpan(mark);
      return true;
    }

    span.attrs = {attrs_begin, static_cast<uint32_t>(batch.attrs.size()) - attrs_begin};
    span.dropped_attributes = SaturatingAdd(sender_dropped_attrs, dropped_attrs);
    batch.dropped_attributes += dropped_attrs;

    span.events_begin = static_cast<uint32_t>(batch.events.size());
    uint32_t dropped_events = 0;
    if (events != nullptr) {
      if (!ForEach(*events, events_path, [&](const Value& e, const Path& ep) {
            if (batch.events.size() - span.events_begin >= limits_.max_events_per_span) {
              ++dropped_events;
              return true;
            }
            return DecodeEvent(e, ep);
          })) {
        return false;
      }
    }
    span.events_count = static_cast<uint32_t>(batch.events.size()) - span.events_begin;
    span.dropped_events = SaturatingAdd(sender_dropped_events, dropped_events);
    batch.dropped_events += dropped_events;
    batch.spans.push_back(span);
    return true;
  }

  static uint64_t LoadBig64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
    return v;
  }

  bool DecodeStatus(const Value& v, const Path& path, model::Span* span) {
    if (v.IsNull()) return true;
    if (!ExpectObject(v, path)) return false;
    for (const auto& m : v.GetObject()) {
      std::string_view name = Str(m.name);
      Path p{&path, name};
      if (name == "message") {
        if (!GetString(m.value, p, &span->status_message)) return false;
        span->status_message = LimitString(span->status_message);
      } else if (name == "code") {
        int code = 0;
        if (!GetEnum(m.value, p, kStatusCodeNames, &code)) return false;
        span->status = code < 0 ? model::SpanStatus::kUnset : static_cast<model::SpanStatus>(code);
      }
    }
    return true;
  }

  bool DecodeEvent(const Value& v, const Path& path) {
    if (!ExpectObject(v, path)) return false;
    model::SpanEvent event;
    event.attrs.begin = static_cast<uint32_t>(out_->attrs.size());
    uint32_t dropped = 0;
    for (const auto& m : v.GetObject()) {
      std::string_view name = Str(m.name);
      Path p{&path, name};
      bool ok = true;
      if (Is(name, "timeUnixNano", "time_unix_nano")) {
        ok = GetUint64(m.value, p, &event.time_unix_nano);
      } else if (name == "name") {
        ok = GetString(m.value, p, &event.name);
        event.name = LimitString(event.name);
      } else if (name == "attributes") {
        ok = DecodeAttributes(m.value, p, event.attrs.begin, limits_.max_attributes_per_event,
                              &dropped);
      }
      if (!ok) return false;
    }
    event.attrs.count = static_cast<uint32_t>(out_->attrs.size()) - event.attrs.begin;
    out_->dropped_attributes += dropped;
    out_->events.push_back(event);
    return true;
  }

  size_t spans_seen_ = 0;
};

}  // namespace

Status DecodeTracesJson(std::string* body, const DecodeLimits& limits,
                        model::SpanBatch* out) noexcept {
  return JsonDecoder(limits, out).Decode(body);
}

}  // namespace loupe::wire
