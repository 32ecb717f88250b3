// OTLP/HTTP protobuf encoding of finished transactions
// (opentelemetry-proto: collector/trace/v1 ExportTraceServiceRequest,
// trace/v1 trace.proto, common/v1 common.proto, resource/v1 resource.proto).
// Attribute names: docs/format/agent-protocol.md.

#include <cctype>
#include <string_view>

#include "agent_internal.h"
#include "proto_writer.h"
#include "tx_record.h"

namespace loupe::internal {
namespace {

// Field numbers of the OTLP messages written here.
constexpr uint32_t kRequestResourceSpans = 1;   // ExportTraceServiceRequest
constexpr uint32_t kResourceSpansResource = 1;  // ResourceSpans
constexpr uint32_t kResourceSpansScopeSpans = 2;
constexpr uint32_t kResourceAttributes = 1;  // Resource
constexpr uint32_t kScopeSpansScope = 1;     // ScopeSpans
constexpr uint32_t kScopeSpansSpans = 2;
constexpr uint32_t kScopeName = 1;  // InstrumentationScope
constexpr uint32_t kScopeVersion = 2;
constexpr uint32_t kSpanTraceId = 1;  // Span
constexpr uint32_t kSpanSpanId = 2;
constexpr uint32_t kSpanParentSpanId = 4;
constexpr uint32_t kSpanName = 5;
constexpr uint32_t kSpanKind = 6;
constexpr uint32_t kSpanStartTime = 7;
constexpr uint32_t kSpanEndTime = 8;
constexpr uint32_t kSpanAttributes = 9;
constexpr uint32_t kSpanEvents = 11;
constexpr uint32_t kSpanStatus = 15;
constexpr uint32_t kSpanFlags = 16;
constexpr uint32_t kEventTime = 1;  // Span.Event
constexpr uint32_t kEventName = 2;
constexpr uint32_t kEventAttributes = 3;
constexpr uint32_t kStatusMessage = 2;  // Status
constexpr uint32_t kStatusCode = 3;
constexpr uint32_t kKeyValueKey = 1;  // KeyValue
constexpr uint32_t kKeyValueValue = 2;
constexpr uint32_t kAnyString = 1;  // AnyValue
constexpr uint32_t kAnyBool = 2;
constexpr uint32_t kAnyInt = 3;
constexpr uint32_t kAnyDouble = 4;
constexpr uint32_t kAnyArray = 5;
constexpr uint32_t kArrayValues = 1;  // ArrayValue

constexpr uint64_t kKindInternal = 1, kKindServer = 2, kKindClient = 3;
constexpr uint64_t kStatusError = 2;
// Span.flags: W3C trace flags in the low byte, then "has is_remote" and
// "is_remote" (of the parent).
constexpr uint32_t kFlagSampled = 0x01, kFlagHasIsRemote = 0x100, kFlagIsRemote = 0x200;

// Writes attributes (KeyValue messages) with their lengths computed up front:
// no placeholder to patch (see ProtoWriter).
class SpanWriter {
 public:
  explicit SpanWriter(ProtoWriter* w) : w_(w) {}

  void Str(std::string_view key, std::string_view v) {
    KeyValue(key, ProtoWriter::LenFieldSize(kAnyString, v.size()));
    w_->StringField(kAnyString, v);
  }
  void Int(std::string_view key, int64_t v) {
    KeyValue(key, ProtoWriter::TagSize(kAnyInt) +
                      ProtoWriter::VarintSize(static_cast<uint64_t>(v)));
    w_->Int64Field(kAnyInt, v);
  }
  void Double(std::string_view key, double v) {
    KeyValue(key, ProtoWriter::TagSize(kAnyDouble) + 8);
    w_->DoubleField(kAnyDouble, v);
  }
  void Bool(std::string_view key, bool v) {
    KeyValue(key, ProtoWriter::TagSize(kAnyBool) + 1);
    w_->BoolField(kAnyBool, v);
  }
  // The bind values [first, first + n) of `t`.
  void StrList(std::string_view key, const TxView& t, size_t first, size_t n) {
    size_t arr = 0;
    for (size_t i = first; i < first + n; ++i) {
      arr += ProtoWriter::LenFieldSize(kArrayValues,
                                       ProtoWriter::LenFieldSize(kAnyString, t.bind(i).size()));
    }
    KeyValue(key, ProtoWriter::LenFieldSize(kAnyArray, arr));
    w_->LenHeader(kAnyArray, arr);
    for (size_t i = first; i < first + n; ++i) {
      const std::string_view v = t.bind(i);
      w_->LenHeader(kArrayValues, ProtoWriter::LenFieldSize(kAnyString, v.size()));
      w_->StringField(kAnyString, v);
    }
  }
  // Attributes go to `field` (Span.attributes or Event.attributes).
  void set_attr_field(uint32_t f) { attr_field_ = f; }

 private:
  // The KeyValue's header, its key and the AnyValue's header; the caller
  // writes the AnyValue's `any_len` bytes.
  void KeyValue(std::string_view key, size_t any_len) {
    w_->LenHeader(attr_field_, ProtoWriter::LenFieldSize(kKeyValueKey, key.size()) +
                                   ProtoWriter::LenFieldSize(kKeyValueValue, any_len));
    w_->StringField(kKeyValueKey, key);
    w_->LenHeader(kKeyValueValue, any_len);
  }

  ProtoWriter* w_;
  uint32_t attr_field_ = kSpanAttributes;
};

void WriteException(ProtoWriter* w, uint64_t time_ns, std::string_view type,
                    std::string_view message, std::string_view stack) {
  const ProtoWriter::Mark ev = w->BeginMessage(kSpanEvents);
  w->Fixed64Field(kEventTime, time_ns);
  w->StringField(kEventName, "exception");
  SpanWriter a(w);
  a.set_attr_field(kEventAttributes);
  if (!type.empty()) a.Str("exception.type", type);
  if (!message.empty()) a.Str("exception.message", message);
  if (!stack.empty()) a.Str("exception.stacktrace", stack);
  w->EndMessage(ev);
}

void WriteStatus(ProtoWriter* w, bool error, std::string_view message) {
  if (!error) return;
  const ProtoWriter::Mark st = w->BeginMessage(kSpanStatus);
  if (!message.empty()) w->StringField(kStatusMessage, message);
  w->UInt64Field(kStatusCode, kStatusError);
  w->EndMessage(st);
}

// Messages (point steps) whose parent is `parent` become "message" events.
void WriteMessages(ProtoWriter* w, const TxView& t, int32_t parent) {
  if (t->messages == 0) return;  // the common case: no scan of every step per span
  for (size_t i = 0; i < t.nsteps(); ++i) {
    const StepRec& r = t.step(i);
    if (r.kind != Step::kMessage || r.parent != parent) continue;
    const ProtoWriter::Mark ev = w->BeginMessage(kSpanEvents);
    w->Fixed64Field(kEventTime, r.start_ns);
    w->StringField(kEventName, "message");
    SpanWriter a(w);
    a.set_attr_field(kEventAttributes);
    a.Str("message", t.text(r.text));
    w->EndMessage(ev);
  }
}

// "GET /orders/{id}" → ("GET", "/orders/{id}"); no method prefix → ("", endpoint).
void SplitEndpoint(std::string_view ep, std::string_view* method, std::string_view* route) {
  const size_t sp = ep.find(' ');
  if (sp != std::string_view::npos && sp > 0 && sp <= 16) {
    bool upper = true;
    for (size_t i = 0; i < sp; ++i) upper &= std::isupper(static_cast<unsigned char>(ep[i])) != 0;
    if (upper) {
      *method = ep.substr(0, sp);
      *route = ep.substr(sp + 1);
      return;
    }
  }
  *method = {};
  *route = ep;
}

void WriteTransaction(ProtoWriter* w, const TxView& v) {
  const TxRecord& t = v.tx();
  const std::string_view endpoint = v.text(t.endpoint);
  const ProtoWriter::Mark span = w->BeginMessage(kScopeSpansSpans, /*expect_large=*/true);
  w->BytesField(kSpanTraceId, t.trace_id, 16);
  w->BytesField(kSpanSpanId, t.span_id, 8);
  if (t.has_parent) w->BytesField(kSpanParentSpanId, t.parent_span_id, 8);
  w->StringField(kSpanName, endpoint);
  w->UInt64Field(kSpanKind, kKindServer);
  w->Fixed64Field(kSpanStartTime, t.start_ns);
  w->Fixed64Field(kSpanEndTime, t.end_ns);

  SpanWriter a(w);
  std::string_view ep_method, route;
  SplitEndpoint(endpoint, &ep_method, &route);
  const std::string_view http_method = v.text(t.http_method);
  const std::string_view method = !http_method.empty() ? http_method : ep_method;
  if (!method.empty()) {
    a.Str("http.request.method", method);
    a.Str("http.route", route);
  }
  if (t.http_path.len != 0) a.Str("url.path", v.text(t.http_path));
  if (t.status != 0) a.Int("http.response.status_code", t.status);
  if (t.client_ip.len != 0) a.Str("client.address", v.text(t.client_ip));
  if (t.user.len != 0) a.Str("user.id", v.text(t.user));
  a.Int("thread.id", t.thread_id);
  if (t.throttled) {
    a.Bool("loupe.throttled", true);
    a.Str("loupe.throttle.action",
          t.throttle_action == Admission::kRedirect ? "redirect" : "reject");
  }
  if (t.steps_dropped > 0) a.Int("loupe.steps.dropped", t.steps_dropped);
  for (size_t i = 0; i < t.nattributes; ++i) a.Str(v.attribute_key(i), v.attribute_value(i));

  const std::string_view error_message = v.text(t.error_message);
  if (t.error_type.len != 0 || !error_message.empty() || t.error_stack.len != 0) {
    WriteException(w, t.end_ns, v.text(t.error_type), error_message, v.text(t.error_stack));
  }
  WriteMessages(w, v, -1);
  if (t.error && error_message.empty() && t.status >= 500) {
    WriteStatus(w, true, "HTTP " + std::to_string(t.status));
  } else {
    WriteStatus(w, t.error, error_message);
  }
  w->Fixed32Field(kSpanFlags, (t.sampled ? kFlagSampled : 0) | kFlagHasIsRemote |
                                  (t.has_parent ? kFlagIsRemote : 0));
  w->EndMessage(span);
}

std::string_view FirstWord(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  size_t n = 0;
  while (n < s.size() && n < 32 && std::isalpha(static_cast<unsigned char>(s[n]))) ++n;
  return s.substr(0, n);
}

void WriteStep(ProtoWriter* w, const TxView& t, int32_t index) {
  const StepRec& r = t.step(index);
  const std::string_view text = t.text(r.text);
  const std::string_view system = t.text(r.system);
  const std::string_view error_message = t.text(r.error_message);
  // A method step span is ~90 bytes plus twice its name: under 128 for names
  // up to ~20 bytes; SQL and external spans are longer.
  const ProtoWriter::Mark span = w->BeginMessage(
      kScopeSpansSpans, /*expect_large=*/r.kind != Step::kMethod || text.size() > 20);
  w->BytesField(kSpanTraceId, t->trace_id, 16);
  w->BytesField(kSpanSpanId, r.span_id, 8);
  w->BytesField(kSpanParentSpanId, r.parent >= 0 ? t.step(r.parent).span_id : t->span_id, 8);
  SpanWriter a(w);
  switch (r.kind) {
    case Step::kSql: {
      std::string_view op = FirstWord(text);
      w->StringField(kSpanName, op.empty() ? std::string_view("SQL") : op);
      w->UInt64Field(kSpanKind, kKindClient);
      w->Fixed64Field(kSpanStartTime, r.start_ns);
      w->Fixed64Field(kSpanEndTime, r.end_ns);
      if (!system.empty()) a.Str("db.system", system);
      a.Str("db.query.text", text);
      if (r.nbinds != 0) a.StrList("loupe.sql.binds", t, r.first_bind, r.nbinds);
      if (r.rows >= 0) {
        a.Int("loupe.sql.rows", r.rows);
        a.Double("loupe.sql.fetch_ms", r.fetch_ms);
      }
      break;
    }
    case Step::kExternal:
      w->StringField(kSpanName, system.empty() ? std::string_view("HTTP") : system);
      w->UInt64Field(kSpanKind, kKindClient);
      w->Fixed64Field(kSpanStartTime, r.start_ns);
      w->Fixed64Field(kSpanEndTime, r.end_ns);
      if (!system.empty()) a.Str("http.request.method", system);
      a.Str("url.full", text);
      if (r.http_status != 0) a.Int("http.response.status_code", r.http_status);
      break;
    default:
      w->StringField(kSpanName, text);
      w->UInt64Field(kSpanKind, kKindInternal);
      w->Fixed64Field(kSpanStartTime, r.start_ns);
      w->Fixed64Field(kSpanEndTime, r.end_ns);
      a.Str("code.function", text);
      break;
  }
  if (!error_message.empty()) WriteException(w, r.end_ns, {}, error_message, {});
  WriteMessages(w, t, index);
  WriteStatus(w, r.error, error_message);
  w->Fixed32Field(kSpanFlags, (t->sampled ? kFlagSampled : 0) | kFlagHasIsRemote);
  w->EndMessage(span);
}

}  // namespace

void EncodeTraces(const Agent::Impl& agent, const char* const* records, size_t n,
                  ProtoWriter* out) {
  // ExportTraceServiceRequest { ResourceSpans { Resource, ScopeSpans { scope,
  // spans... } } }: the spans are written first, behind room for everything
  // before them, which is prepended once their length is known, so the batch
  // is never moved to widen a length (see ProtoWriter).
  ProtoWriter resource;
  {
    const ProtoWriter::Mark res = resource.BeginMessage(kResourceSpansResource, true);
    SpanWriter a(&resource);
    a.set_attr_field(kResourceAttributes);
    a.Str("service.name", agent.options.service);
    a.Str("service.instance.id", agent.instance);
    a.Str("host.name", agent.host);
    a.Int("process.pid", agent.pid);
    a.Str("telemetry.sdk.name", "loupe-cpp");
    a.Str("telemetry.sdk.language", "cpp");
    a.Str("telemetry.sdk.version", "0.1");
    resource.EndMessage(res);
  }
  ProtoWriter scope;
  {
    const ProtoWriter::Mark m = scope.BeginMessage(kScopeSpansScope);
    scope.StringField(kScopeName, "loupe-cpp");
    scope.StringField(kScopeVersion, "0.1");
    scope.EndMessage(m);
  }
  constexpr size_t kHeader = 1 + 10;  // a tag and a length
  ProtoWriter& w = *out;
  w.Clear(kHeader + resource.size() + kHeader + scope.size());
  for (size_t i = 0; i < n; ++i) {
    const TxView t(records[i]);
    WriteTransaction(&w, t);
    for (size_t j = 0; j < t.nsteps(); ++j) {
      if (t.step(j).kind != Step::kMessage) WriteStep(&w, t, static_cast<int32_t>(j));
    }
  }
  const size_t scope_spans = scope.size() + w.size();
  const size_t resource_spans = resource.size() +
                                ProtoWriter::LenFieldSize(kResourceSpansScopeSpans, scope_spans);
  ProtoWriter head;
  head.LenHeader(kRequestResourceSpans, resource_spans);
  head.Raw(resource.data());
  head.LenHeader(kResourceSpansScopeSpans, scope_spans);
  head.Raw(scope.data());
  w.Prepend(head.data());
}

}  // namespace loupe::internal
