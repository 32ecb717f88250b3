// OTLP/HTTP protobuf encoding of finished transactions
// (opentelemetry-proto: collector/trace/v1 ExportTraceServiceRequest,
// trace/v1 trace.proto, common/v1 common.proto, resource/v1 resource.proto).
// Attribute names: docs/format/agent-protocol.md.

#include <cctype>
#include <string_view>

#include "agent_internal.h"
#include "proto_writer.h"

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

class SpanWriter {
 public:
  explicit SpanWriter(ProtoWriter* w) : w_(w) {}

  void Str(std::string_view key, std::string_view v) {
    const size_t kv = w_->BeginMessage(attr_field_);
    w_->StringField(kKeyValueKey, key);
    const size_t any = w_->BeginMessage(kKeyValueValue);
    w_->StringField(kAnyString, v);
    w_->EndMessage(any);
    w_->EndMessage(kv);
  }
  void Int(std::string_view key, int64_t v) {
    const size_t kv = w_->BeginMessage(attr_field_);
    w_->StringField(kKeyValueKey, key);
    const size_t any = w_->BeginMessage(kKeyValueValue);
    w_->Int64Field(kAnyInt, v);
    w_->EndMessage(any);
    w_->EndMessage(kv);
  }
  void Double(std::string_view key, double v) {
    const size_t kv = w_->BeginMessage(attr_field_);
    w_->StringField(kKeyValueKey, key);
    const size_t any = w_->BeginMessage(kKeyValueValue);
    w_->DoubleField(kAnyDouble, v);
    w_->EndMessage(any);
    w_->EndMessage(kv);
  }
  void Bool(std::string_view key, bool v) {
    const size_t kv = w_->BeginMessage(attr_field_);
    w_->StringField(kKeyValueKey, key);
    const size_t any = w_->BeginMessage(kKeyValueValue);
    w_->BoolField(kAnyBool, v);
    w_->EndMessage(any);
    w_->EndMessage(kv);
  }
  // The values of the list starting at binds[first] (BindRecord::next).
  void StrList(std::string_view key, const BindRecord* first) {
    const size_t kv = w_->BeginMessage(attr_field_);
    w_->StringField(kKeyValueKey, key);
    const size_t any = w_->BeginMessage(kKeyValueValue);
    const size_t arr = w_->BeginMessage(kAnyArray);
    for (const BindRecord* b = first; b != nullptr; b = b->next) {
      const size_t item = w_->BeginMessage(kArrayValues);
      w_->StringField(kAnyString, b->value);
      w_->EndMessage(item);
    }
    w_->EndMessage(arr);
    w_->EndMessage(any);
    w_->EndMessage(kv);
  }
  // Attributes go to `field` (Span.attributes or Event.attributes).
  void set_attr_field(uint32_t f) { attr_field_ = f; }

 private:
  ProtoWriter* w_;
  uint32_t attr_field_ = kSpanAttributes;
};

void WriteException(ProtoWriter* w, uint64_t time_ns, std::string_view type,
                    std::string_view message, std::string_view stack) {
  const size_t ev = w->BeginMessage(kSpanEvents);
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
  const size_t st = w->BeginMessage(kSpanStatus);
  if (!message.empty()) w->StringField(kStatusMessage, message);
  w->UInt64Field(kStatusCode, kStatusError);
  w->EndMessage(st);
}

// Messages (point steps) whose parent is `parent` become "message" events.
void WriteMessages(ProtoWriter* w, const Transaction::State& t, int32_t parent) {
  if (t.messages == 0) return;  // the common case: no scan of every step per span
  for (size_t i = 0; i < t.steps.size(); ++i) {
    const StepRecord& r = t.steps[i];
    if (r.kind != Step::kMessage || r.parent != parent) continue;
    const size_t ev = w->BeginMessage(kSpanEvents);
    w->Fixed64Field(kEventTime, r.start_ns);
    w->StringField(kEventName, "message");
    SpanWriter a(w);
    a.set_attr_field(kEventAttributes);
    a.Str("message", r.text);
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

void WriteTransaction(ProtoWriter* w, const Transaction::State& t) {
  const size_t span = w->BeginMessage(kScopeSpansSpans);
  w->BytesField(kSpanTraceId, t.trace_id, 16);
  w->BytesField(kSpanSpanId, t.span_id, 8);
  if (t.has_parent) w->BytesField(kSpanParentSpanId, t.parent_span_id, 8);
  w->StringField(kSpanName, t.endpoint);
  w->UInt64Field(kSpanKind, kKindServer);
  w->Fixed64Field(kSpanStartTime, t.start_ns);
  w->Fixed64Field(kSpanEndTime, t.end_ns);

  SpanWriter a(w);
  std::string_view ep_method, route;
  SplitEndpoint(t.endpoint, &ep_method, &route);
  const std::string_view method =
      !t.http_method.empty() ? t.http_method : ep_method;
  if (!method.empty()) {
    a.Str("http.request.method", method);
    a.Str("http.route", route);
  }
  if (!t.http_path.empty()) a.Str("url.path", t.http_path);
  if (t.status != 0) a.Int("http.response.status_code", t.status);
  if (!t.client_ip.empty()) a.Str("client.address", t.client_ip);
  if (!t.user.empty()) a.Str("user.id", t.user);
  a.Int("thread.id", t.thread_id);
  if (t.throttled) {
    a.Bool("loupe.throttled", true);
    a.Str("loupe.throttle.action",
          t.throttle_action == Admission::kRedirect ? "redirect" : "reject");
  }
  if (t.steps_dropped > 0) a.Int("loupe.steps.dropped", t.steps_dropped);
  for (const auto& [k, v] : t.attributes) a.Str(k, v);

  if (!t.error_type.empty() || !t.error_message.empty() || !t.error_stack.empty()) {
    WriteException(w, t.end_ns, t.error_type, t.error_message, t.error_stack);
  }
  WriteMessages(w, t, -1);
  if (t.error && t.error_message.empty() && t.status >= 500) {
    WriteStatus(w, true, "HTTP " + std::to_string(t.status));
  } else {
    WriteStatus(w, t.error, t.error_message);
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

void WriteStep(ProtoWriter* w, const Transaction::State& t, int32_t index) {
  const StepRecord& r = t.steps[index];
  const size_t span = w->BeginMessage(kScopeSpansSpans);
  w->BytesField(kSpanTraceId, t.trace_id, 16);
  w->BytesField(kSpanSpanId, r.span_id, 8);
  w->BytesField(kSpanParentSpanId, r.parent >= 0 ? t.steps[r.parent].span_id : t.span_id, 8);
  SpanWriter a(w);
  switch (r.kind) {
    case Step::kSql: {
      std::string_view op = FirstWord(r.text);
      w->StringField(kSpanName, op.empty() ? std::string_view("SQL") : op);
      w->UInt64Field(kSpanKind, kKindClient);
      w->Fixed64Field(kSpanStartTime, r.start_ns);
      w->Fixed64Field(kSpanEndTime, r.end_ns);
      if (!r.system.empty()) a.Str("db.system", r.system);
      a.Str("db.query.text", r.text);
      if (r.first_bind != nullptr) a.StrList("loupe.sql.binds", r.first_bind);
      if (r.rows >= 0) {
        a.Int("loupe.sql.rows", r.rows);
        a.Double("loupe.sql.fetch_ms", r.fetch_ms);
      }
      break;
    }
    case Step::kExternal:
      w->StringField(kSpanName, r.system.empty() ? std::string_view("HTTP") : r.system);
      w->UInt64Field(kSpanKind, kKindClient);
      w->Fixed64Field(kSpanStartTime, r.start_ns);
      w->Fixed64Field(kSpanEndTime, r.end_ns);
      if (!r.system.empty()) a.Str("http.request.method", r.system);
      a.Str("url.full", r.text);
      if (r.http_status != 0) a.Int("http.response.status_code", r.http_status);
      break;
    default:
      w->StringField(kSpanName, r.text);
      w->UInt64Field(kSpanKind, kKindInternal);
      w->Fixed64Field(kSpanStartTime, r.start_ns);
      w->Fixed64Field(kSpanEndTime, r.end_ns);
      a.Str("code.function", r.text);
      break;
  }
  if (!r.error_message.empty()) WriteException(w, r.end_ns, {}, r.error_message, {});
  WriteMessages(w, t, index);
  WriteStatus(w, r.error, r.error_message);
  w->Fixed32Field(kSpanFlags, (t.sampled ? kFlagSampled : 0) | kFlagHasIsRemote);
  w->EndMessage(span);
}

}  // namespace

void EncodeTraces(const Agent::Impl& agent, Transaction::State* const* txs, size_t n,
                  ProtoWriter* out) {
  ProtoWriter& w = *out;
  w.Clear();
  const size_t rs = w.BeginMessage(kRequestResourceSpans);
  {
    const size_t res = w.BeginMessage(kResourceSpansResource);
    SpanWriter a(&w);
    a.set_attr_field(kResourceAttributes);
    a.Str("service.name", agent.options.service);
    a.Str("service.instance.id", agent.instance);
    a.Str("host.name", agent.host);
    a.Int("process.pid", agent.pid);
    a.Str("telemetry.sdk.name", "loupe-cpp");
    a.Str("telemetry.sdk.language", "cpp");
    a.Str("telemetry.sdk.version", "0.1");
    w.EndMessage(res);
  }
  const size_t ss = w.BeginMessage(kResourceSpansScopeSpans);
  {
    const size_t scope = w.BeginMessage(kScopeSpansScope);
    w.StringField(kScopeName, "loupe-cpp");
    w.StringField(kScopeVersion, "0.1");
    w.EndMessage(scope);
  }
  for (size_t i = 0; i < n; ++i) {
    const Transaction::State& t = *txs[i];
    WriteTransaction(&w, t);
    for (size_t j = 0; j < t.steps.size(); ++j) {
      if (t.steps[j].kind != Step::kMessage) WriteStep(&w, t, static_cast<int32_t>(j));
    }
  }
  w.EndMessage(ss);
  w.EndMessage(rs);
}

}  // namespace loupe::internal
