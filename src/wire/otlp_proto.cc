#include "wire/otlp_proto.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include "wire/proto_reader.h"

namespace loupe::wire {
namespace {

using namespace internal;  // NOLINT: the reader's wire types, fields and helpers

// Field numbers, opentelemetry-proto trace v1 and common v1.
constexpr uint32_t kRequestResourceSpans = 1;   // ExportTraceServiceRequest
constexpr uint32_t kResourceSpansResource = 1;  // ResourceSpans
constexpr uint32_t kResourceSpansScopeSpans = 2;
constexpr uint32_t kResourceSpansLibrarySpans = 1000;  // deprecated, same shape
constexpr uint32_t kResourceAttributes = 1;            // Resource
constexpr uint32_t kScopeSpansScope = 1;               // ScopeSpans
constexpr uint32_t kScopeSpansSpans = 2;
constexpr uint32_t kScopeName = 1;  // InstrumentationScope
enum SpanField : uint32_t {
  kSpanTraceId = 1,
  kSpanSpanId = 2,
  kSpanParentSpanId = 4,
  kSpanName = 5,
  kSpanKind = 6,
  kSpanStartTime = 7,
  kSpanEndTime = 8,
  kSpanAttributes = 9,
  kSpanDroppedAttributes = 10,
  kSpanEvents = 11,
  kSpanDroppedEvents = 12,
  kSpanStatus = 15,
  kSpanFlags = 16,
};
constexpr uint32_t kEventTime = 1;  // Span.Event
constexpr uint32_t kEventName = 2;
constexpr uint32_t kEventAttributes = 3;
constexpr uint32_t kStatusMessage = 2;  // Status
constexpr uint32_t kStatusCode = 3;

class ProtoDecoder : public ProtoReader<model::SpanBatch> {
 public:
  ProtoDecoder(std::string_view body, const DecodeLimits& limits, model::SpanBatch* out)
      : ProtoReader(body, limits, out) {}

  Status Decode() {
    out_->Clear();
    if (size_ >= std::numeric_limits<uint32_t>::max()) {
      return Status::InvalidArgument("OTLP protobuf body of 4 GiB or more");
    }
    DecodeRequest(base_, base_ + size_);
    return status_;
  }

 private:
  bool DecodeRequest(const uint8_t* p, const uint8_t* end) {
    Field f;
    while (p < end) {
      if (!ReadField(&p, end, "ExportTraceServiceRequest", &f)) return false;
      if (f.number == kRequestResourceSpans) {
        if (!Expect(f, kLen, "ExportTraceServiceRequest.resource_spans")) return false;
        if (!DecodeResourceSpans(f.begin, f.end)) return false;
      }
    }
    return true;
  }

  // Two passes so that the resource's attributes are contiguous in out_->attrs
  // and known before the spans, whatever the field order.
  bool DecodeResourceSpans(const uint8_t* begin, const uint8_t* end) {
    const auto index = static_cast<uint32_t>(out_->resources.size());
    const auto attrs_begin = static_cast<uint32_t>(out_->attrs.size());
    bool has_scopes = false;
    Field f;
    for (const uint8_t* p = begin; p < end;) {
      if (!ReadField(&p, end, "ResourceSpans", &f)) return false;
      if (f.number == kResourceSpansResource) {
        if (!Expect(f, kLen, "ResourceSpans.resource")) return false;
        if (!DecodeResource(f.begin, f.end, attrs_begin)) return false;
      } else if (f.number == kResourceSpansScopeSpans || f.number == kResourceSpansLibrarySpans) {
        if (!Expect(f, kLen, "ResourceSpans.scope_spans")) return false;
        has_scopes = true;
      }
    }
    model::Resource& resource = out_->resources.emplace_back();
    resource.attrs = {attrs_begin, static_cast<uint32_t>(out_->attrs.size()) - attrs_begin};
    if (!has_scopes) return true;
    for (const uint8_t* p = begin; p < end;) {
      if (!ReadField(&p, end, "ResourceSpans", &f)) return false;
      if (f.number == kResourceSpansScopeSpans || f.number == kResourceSpansLibrarySpans) {
        if (!DecodeScopeSpans(f.begin, f.end, index)) return false;
      }
    }
    return true;
  }

  bool DecodeResource(const uint8_t* p, const uint8_t* end, uint32_t attrs_begin) {
    uint32_t dropped = 0;
    Field f;
    while (p < end) {
      if (!ReadField(&p, end, "Resource", &f)) return false;
      if (f.number == kResourceAttributes) {
        if (!Expect(f, kLen, "Resource.attributes")) return false;
        if (!AddAttribute(f, attrs_begin, limits_.max_attributes_per_resource, &dropped)) {
          return false;
        }
      }
    }
    out_->dropped_attributes += dropped;
    return true;
  }

  bool DecodeScopeSpans(const uint8_t* begin, const uint8_t* end, uint32_t resource) {
    std::string_view scope_name;
    bool has_spans = false;
    Field f;
    for (const uint8_t* p = begin; p < end;) {
      if (!ReadField(&p, end, "ScopeSpans", &f)) return false;
      if (f.number == kScopeSpansScope) {
        if (!Expect(f, kLen, "ScopeSpans.scope")) return false;
        if (!DecodeScope(f.begin, f.end, &scope_name)) return false;
      } else if (f.number == kScopeSpansSpans) {
        if (!Expect(f, kLen, "ScopeSpans.spans")) return false;
        has_spans = true;
      }
    }
    if (!has_spans) return true;
    for (const uint8_t* p = begin; p < end;) {
      if (!ReadField(&p, end, "ScopeSpans", &f)) return false;
      if (f.number == kScopeSpansSpans) {
        if (!DecodeSpan(f.begin, f.end, resource, scope_name)) return false;
      }
    }
    return true;
  }

  bool DecodeScope(const uint8_t* p, const uint8_t* end, std::string_view* name) {
    Field f;
    while (p < end) {
      if (!ReadField(&p, end, "InstrumentationScope", &f)) return false;
      if (f.number == kScopeName) {
        if (!Expect(f, kLen, "InstrumentationScope.name")) return false;
        *name = LimitString(f.view());
      }
    }
    return true;
  }

  // Pass 1 reads the scalars and the attributes; pass 2, only for a valid
  // span, the events, whose attributes then follow the span's in out_->attrs.
  bool DecodeSpan(const uint8_t* begin, const uint8_t* end, uint32_t resource,
                  std::string_view scope_name) {
    model::SpanBatch& batch = *out_;
    if (spans_seen_ >= limits_.max_spans) {
      status_ = Status::InvalidArgument("OTLP request has more than " +
                                        std::to_string(limits_.max_spans) + " spans (at byte " +
                                        std::to_string(begin - base_) + ")");
      return false;
    }
    ++spans_seen_;

    model::Span span;
    span.resource = resource;
    span.scope_name = scope_name;
    const model::SpanBatch::Mark mark = batch.MarkPosition();
    const uint32_t attrs_begin = mark.attrs;
    bool trace_id_ok = true, span_id_ok = true, parent_ok = true, has_events = false;
    uint32_t sender_dropped_attrs = 0, sender_dropped_events = 0, dropped_attrs = 0;
    Field f;
    for (const uint8_t* p = begin; p < end;) {
      if (!ReadField(&p, end, "Span", &f)) return false;
      switch (f.number) {
        case kSpanTraceId:
          if (!Expect(f, kLen, "Span.trace_id")) return false;
          trace_id_ok = f.size() == span.trace_id.size();
          if (trace_id_ok) std::memcpy(span.trace_id.data(), f.begin, span.trace_id.size());
          break;
        case kSpanSpanId:
          if (!Expect(f, kLen, "Span.span_id")) return false;
          span_id_ok = f.size() == 8;
          if (span_id_ok) span.span_id = LoadBig64(f.begin);
          break;
        case kSpanParentSpanId:
          if (!Expect(f, kLen, "Span.parent_span_id")) return false;
          parent_ok = f.size() == 8 || f.size() == 0;
          span.parent_span_id = f.size() == 8 ? LoadBig64(f.begin) : 0;
          break;
        case kSpanName:
          if (!Expect(f, kLen, "Span.name")) return false;
          span.name = LimitString(f.view());
          break;
        case kSpanKind:
          if (!Expect(f, kVarint, "Span.kind")) return false;
          span.kind = f.value <= static_cast<uint64_t>(model::SpanKind::kConsumer)
                          ? static_cast<model::SpanKind>(f.value)
                          : model::SpanKind::kUnspecified;
          break;
        case kSpanStartTime:
          if (!Expect(f, kFixed64, "Span.start_time_unix_nano")) return false;
          span.start_unix_nano = f.value;
          break;
        case kSpanEndTime:
          if (!Expect(f, kFixed64, "Span.end_time_unix_nano")) return false;
          span.end_unix_nano = f.value;
          break;
        case kSpanAttributes:
          if (!Expect(f, kLen, "Span.attributes")) return false;
          if (!AddAttribute(f, attrs_begin, limits_.max_attributes_per_span, &dropped_attrs)) {
            return false;
          }
          break;
        case kSpanDroppedAttributes:
          if (!Expect(f, kVarint, "Span.dropped_attributes_count")) return false;
          sender_dropped_attrs = static_cast<uint32_t>(f.value);
          break;
        case kSpanEvents:
          if (!Expect(f, kLen, "Span.events")) return false;
          has_events = true;
          break;
        case kSpanDroppedEvents:
          if (!Expect(f, kVarint, "Span.dropped_events_count")) return false;
          sender_dropped_events = static_cast<uint32_t>(f.value);
          break;
        case kSpanStatus:
          if (!Expect(f, kLen, "Span.status")) return false;
          if (!DecodeStatus(f.begin, f.end, &span)) return false;
          break;
        case kSpanFlags:
          if (!Expect(f, kFixed32, "Span.flags")) return false;
          span.flags = static_cast<uint32_t>(f.value);
          break;
        default:
          break;
      }
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
    if (has_events) {
      for (const uint8_t* p = begin; p < end;) {
        if (!ReadField(&p, end, "Span", &f)) return false;
        if (f.number != kSpanEvents) continue;
        if (batch.events.size() - span.events_begin >= limits_.max_events_per_span) {
          ++dropped_events;
          continue;
        }
        if (!DecodeEvent(f.begin, f.end)) return false;
      }
    }
    span.events_count = static_cast<uint32_t>(batch.events.size()) - span.events_begin;
    span.dropped_events = SaturatingAdd(sender_dropped_events, dropped_events);
    batch.dropped_events += dropped_events;
    batch.spans.push_back(span);
    return true;
  }

  bool DecodeStatus(const uint8_t* p, const uint8_t* end, model::Span* span) {
    Field f;
    while (p < end) {
      if (!ReadField(&p, end, "Status", &f)) return false;
      if (f.number == kStatusMessage) {
        if (!Expect(f, kLen, "Status.message")) return false;
        span->status_message = LimitString(f.view());
      } else if (f.number == kStatusCode) {
        if (!Expect(f, kVarint, "Status.code")) return false;
        span->status = f.value <= static_cast<uint64_t>(model::SpanStatus::kError)
                           ? static_cast<model::SpanStatus>(f.value)
                           : model::SpanStatus::kUnset;
      }
    }
    return true;
  }

  bool DecodeEvent(const uint8_t* p, const uint8_t* end) {
    model::SpanEvent event;
    event.attrs.begin = static_cast<uint32_t>(out_->attrs.size());
    uint32_t dropped = 0;
    Field f;
    while (p < end) {
      if (!ReadField(&p, end, "Span.Event", &f)) return false;
      switch (f.number) {
        case kEventTime:
          if (!Expect(f, kFixed64, "Span.Event.time_unix_nano")) return false;
          event.time_unix_nano = f.value;
          break;
        case kEventName:
          if (!Expect(f, kLen, "Span.Event.name")) return false;
          event.name = LimitString(f.view());
          break;
        case kEventAttributes:
          if (!Expect(f, kLen, "Span.Event.attributes")) return false;
          if (!AddAttribute(f, event.attrs.begin, limits_.max_attributes_per_event, &dropped)) {
            return false;
          }
          break;
        default:
          break;
      }
    }
    event.attrs.count = static_cast<uint32_t>(out_->attrs.size()) - event.attrs.begin;
    out_->dropped_attributes += dropped;
    out_->events.push_back(event);
    return true;
  }

  size_t spans_seen_ = 0;
};

}  // namespace

Status DecodeTracesProto(std::string_view body, const DecodeLimits& limits,
                         model::SpanBatch* out) noexcept {
  return ProtoDecoder(body, limits, out).Decode();
}

}  // namespace loupe::wire
