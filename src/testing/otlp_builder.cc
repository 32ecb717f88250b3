#include "testing/otlp_builder.h"

#include <bit>
#include <cmath>
#include <cstdio>

namespace loupe::testing {
namespace {

// ---- protobuf ----

ProtoWriter EncodeAnyValue(const Value& v);

ProtoWriter EncodeKeyValue(const Attr& a) {
  ProtoWriter w;
  w.Bytes(1, a.key).Message(2, EncodeAnyValue(a.value));
  return w;
}

ProtoWriter EncodeAnyValue(const Value& v) {
  ProtoWriter w;
  switch (v.kind) {
    case Value::Kind::kEmpty:
      break;
    case Value::Kind::kString:
      w.Bytes(1, v.s);
      break;
    case Value::Kind::kBool:
      w.Varint(2, v.b ? 1 : 0);
      break;
    case Value::Kind::kInt:
      w.Varint(3, static_cast<uint64_t>(v.i));
      break;
    case Value::Kind::kDouble:
      w.Double(4, v.d);
      break;
    case Value::Kind::kArray: {
      ProtoWriter list;
      for (const Value& e : v.array) list.Message(1, EncodeAnyValue(e));
      w.Message(5, list);
      break;
    }
    case Value::Kind::kKvList: {
      ProtoWriter list;
      for (const Attr& a : v.kvlist) list.Message(1, EncodeKeyValue(a));
      w.Message(6, list);
      break;
    }
    case Value::Kind::kBytes:
      w.Bytes(7, v.s);
      break;
  }
  return w;
}

void AddString(ProtoWriter* w, uint32_t field, const std::string& s) {
  if (!s.empty()) w->Bytes(field, s);
}

void AddVarint(ProtoWriter* w, uint32_t field, uint64_t v) {
  if (v != 0) w->Varint(field, v);
}

ProtoWriter EncodeSpan(const SpanSpec& s) {
  ProtoWriter w;
  AddString(&w, 1, s.trace_id);
  AddString(&w, 2, s.span_id);
  AddString(&w, 3, s.trace_state);
  AddString(&w, 4, s.parent_span_id);
  AddString(&w, 5, s.name);
  AddVarint(&w, 6, static_cast<uint64_t>(static_cast<int64_t>(s.kind)));
  if (s.start_time_unix_nano != 0) w.Fixed64(7, s.start_time_unix_nano);
  if (s.end_time_unix_nano != 0) w.Fixed64(8, s.end_time_unix_nano);
  for (const Attr& a : s.attributes) w.Message(9, EncodeKeyValue(a));
  AddVarint(&w, 10, s.dropped_attributes_count);
  for (const EventSpec& e : s.events) {
    ProtoWriter ew;
    if (e.time_unix_nano != 0) ew.Fixed64(1, e.time_unix_nano);
    AddString(&ew, 2, e.name);
    for (const Attr& a : e.attributes) ew.Message(3, EncodeKeyValue(a));
    AddVarint(&ew, 4, e.dropped_attributes_count);
    w.Message(11, ew);
  }
  AddVarint(&w, 12, s.dropped_events_count);
  for (const LinkSpec& l : s.links) {
    ProtoWriter lw;
    AddString(&lw, 1, l.trace_id);
    AddString(&lw, 2, l.span_id);
    for (const Attr& a : l.attributes) lw.Message(4, EncodeKeyValue(a));
    w.Message(13, lw);
  }
  if (s.status_code != 0 || !s.status_message.empty()) {
    ProtoWriter sw;
    AddString(&sw, 2, s.status_message);
    AddVarint(&sw, 3, static_cast<uint64_t>(static_cast<int64_t>(s.status_code)));
    w.Message(15, sw);
  }
  if (s.flags != 0) w.Fixed32(16, s.flags);
  return w;
}

// ---- JSON ----

void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(c));
      out->append(buf);
    } else {
      out->push_back(c);
    }
  }
  out->push_back('"');
}

std::string Base64(std::string_view raw) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 3 <= raw.size(); i += 3) {
    uint32_t n = static_cast<uint8_t>(raw[i]) << 16 | static_cast<uint8_t>(raw[i + 1]) << 8 |
                 static_cast<uint8_t>(raw[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) out.push_back(kAlphabet[(n >> shift) & 63]);
  }
  if (size_t rest = raw.size() - i; rest > 0) {
    uint32_t n = static_cast<uint8_t>(raw[i]) << 16;
    if (rest == 2) n |= static_cast<uint8_t>(raw[i + 1]) << 8;
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(rest == 2 ? kAlphabet[(n >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

void AppendAttrsJson(const std::vector<Attr>& attrs, std::string* out);

void AppendValueJson(const Value& v, std::string* out) {
  switch (v.kind) {
    case Value::Kind::kEmpty:
      *out += "{}";
      return;
    case Value::Kind::kString:
      *out += "{\"stringValue\":";
      AppendJsonString(v.s, out);
      *out += '}';
      return;
    case Value::Kind::kBool:
      *out += v.b ? "{\"boolValue\":true}" : "{\"boolValue\":false}";
      return;
    case Value::Kind::kInt:
      *out += "{\"intValue\":\"" + std::to_string(v.i) + "\"}";
      return;
    case Value::Kind::kDouble: {
      *out += "{\"doubleValue\":";
      if (std::isnan(v.d)) {
        *out += "\"NaN\"";
      } else if (std::isinf(v.d)) {
        *out += v.d > 0 ? "\"Infinity\"" : "\"-Infinity\"";
      } else {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.17g", v.d);
        *out += buf;
      }
      *out += '}';
      return;
    }
    case Value::Kind::kBytes:
      *out += "{\"bytesValue\":\"" + Base64(v.s) + "\"}";
      return;
    case Value::Kind::kArray: {
      *out += "{\"arrayValue\":{\"values\":[";
      for (size_t i = 0; i < v.array.size(); ++i) {
        if (i > 0) *out += ',';
        AppendValueJson(v.array[i], out);
      }
      *out += "]}}";
      return;
    }
    case Value::Kind::kKvList:
      *out += "{\"kvlistValue\":{\"values\":";
      AppendAttrsJson(v.kvlist, out);
      *out += "}}";
      return;
  }
}

void AppendAttrsJson(const std::vector<Attr>& attrs, std::string* out) {
  *out += '[';
  for (size_t i = 0; i < attrs.size(); ++i) {
    if (i > 0) *out += ',';
    *out += "{\"key\":";
    AppendJsonString(attrs[i].key, out);
    *out += ",\"value\":";
    AppendValueJson(attrs[i].value, out);
    *out += '}';
  }
  *out += ']';
}

void AppendSpanJson(const SpanSpec& s, std::string* out) {
  *out += "{\"traceId\":\"" + Hex(s.trace_id) + "\",\"spanId\":\"" + Hex(s.span_id) + "\"";
  if (!s.parent_span_id.empty()) *out += ",\"parentSpanId\":\"" + Hex(s.parent_span_id) + "\"";
  if (!s.trace_state.empty()) {
    *out += ",\"traceState\":";
    AppendJsonString(s.trace_state, out);
  }
  *out += ",\"name\":";
  AppendJsonString(s.name, out);
  *out += ",\"kind\":" + std::to_string(s.kind);
  *out += ",\"startTimeUnixNano\":\"" + std::to_string(s.start_time_unix_nano) + "\"";
  *out += ",\"endTimeUnixNano\":\"" + std::to_string(s.end_time_unix_nano) + "\"";
  *out += ",\"attributes\":";
  AppendAttrsJson(s.attributes, out);
  if (s.dropped_attributes_count != 0) {
    *out += ",\"droppedAttributesCount\":" + std::to_string(s.dropped_attributes_count);
  }
  *out += ",\"events\":[";
  for (size_t i = 0; i < s.events.size(); ++i) {
    const EventSpec& e = s.events[i];
    if (i > 0) *out += ',';
    *out += "{\"timeUnixNano\":\"" + std::to_string(e.time_unix_nano) + "\",\"name\":";
    AppendJsonString(e.name, out);
    *out += ",\"attributes\":";
    AppendAttrsJson(e.attributes, out);
    *out += '}';
  }
  *out += ']';
  if (s.dropped_events_count != 0) {
    *out += ",\"droppedEventsCount\":" + std::to_string(s.dropped_events_count);
  }
  if (!s.links.empty()) {
    *out += ",\"links\":[";
    for (size_t i = 0; i < s.links.size(); ++i) {
      if (i > 0) *out += ',';
      *out += "{\"traceId\":\"" + Hex(s.links[i].trace_id) + "\",\"spanId\":\"" +
              Hex(s.links[i].span_id) + "\",\"attributes\":";
      AppendAttrsJson(s.links[i].attributes, out);
      *out += '}';
    }
    *out += ']';
  }
  *out += ",\"status\":{\"code\":" + std::to_string(s.status_code);
  if (!s.status_message.empty()) {
    *out += ",\"message\":";
    AppendJsonString(s.status_message, out);
  }
  *out += '}';
  if (s.flags != 0) *out += ",\"flags\":" + std::to_string(s.flags);
  *out += '}';
}

}  // namespace

Value Value::Bytes(std::string raw) {
  Value v;
  v.kind = Kind::kBytes;
  v.s = std::move(raw);
  return v;
}

Value Value::Array(std::vector<Value> values) {
  Value v;
  v.kind = Kind::kArray;
  v.array = std::move(values);
  return v;
}

Value Value::KvList(std::vector<Attr> values) {
  Value v;
  v.kind = Kind::kKvList;
  v.kvlist = std::move(values);
  return v;
}

ResourceSpec MakeResource(std::vector<Attr> attributes, std::vector<ScopeSpec> scopes) {
  ResourceSpec r;
  r.attributes = std::move(attributes);
  r.scopes = std::move(scopes);
  return r;
}

ScopeSpec MakeScope(std::string name, std::vector<SpanSpec> spans) {
  ScopeSpec s;
  s.name = std::move(name);
  s.spans = std::move(spans);
  return s;
}

EventSpec MakeEvent(uint64_t time_unix_nano, std::string name, std::vector<Attr> attributes) {
  EventSpec e;
  e.time_unix_nano = time_unix_nano;
  e.name = std::move(name);
  e.attributes = std::move(attributes);
  return e;
}

std::string TraceIdBytes(uint64_t hi, uint64_t lo) { return SpanIdBytes(hi) + SpanIdBytes(lo); }

std::string SpanIdBytes(uint64_t id) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i, id >>= 8) s[i] = static_cast<char>(id & 0xFF);
  return s;
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xF]);
  }
  return out;
}

std::string EncodeTraceRequest(const std::vector<ResourceSpec>& resources) {
  ProtoWriter request;
  for (const ResourceSpec& r : resources) {
    ProtoWriter rs;
    ProtoWriter resource;
    for (const Attr& a : r.attributes) resource.Message(1, EncodeKeyValue(a));
    rs.Message(1, resource);
    for (const ScopeSpec& scope : r.scopes) {
      ProtoWriter ss;
      ProtoWriter sw;
      AddString(&sw, 1, scope.name);
      AddString(&sw, 2, scope.version);
      ss.Message(1, sw);
      for (const SpanSpec& span : scope.spans) ss.Message(2, EncodeSpan(span));
      rs.Message(2, ss);
    }
    AddString(&rs, 3, r.schema_url);
    request.Message(1, rs);
  }
  return request.data();
}

std::string EncodeTraceRequestJson(const std::vector<ResourceSpec>& resources) {
  std::string out = "{\"resourceSpans\":[";
  for (size_t i = 0; i < resources.size(); ++i) {
    const ResourceSpec& r = resources[i];
    if (i > 0) out += ',';
    out += "{\"resource\":{\"attributes\":";
    AppendAttrsJson(r.attributes, &out);
    out += "},\"scopeSpans\":[";
    for (size_t j = 0; j < r.scopes.size(); ++j) {
      const ScopeSpec& scope = r.scopes[j];
      if (j > 0) out += ',';
      out += "{\"scope\":{\"name\":";
      AppendJsonString(scope.name, &out);
      out += ",\"version\":";
      AppendJsonString(scope.version, &out);
      out += "},\"spans\":[";
      for (size_t k = 0; k < scope.spans.size(); ++k) {
        if (k > 0) out += ',';
        AppendSpanJson(scope.spans[k], &out);
      }
      out += "]}";
    }
    out += ']';
    if (!r.schema_url.empty()) {
      out += ",\"schemaUrl\":";
      AppendJsonString(r.schema_url, &out);
    }
    out += '}';
  }
  out += "]}";
  return out;
}

ProtoWriter& ProtoWriter::RawVarint(uint64_t v) {
  while (v >= 0x80) {
    data_.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  data_.push_back(static_cast<char>(v));
  return *this;
}

ProtoWriter& ProtoWriter::Varint(uint32_t field, uint64_t v) {
  return RawVarint(uint64_t{field} << 3).RawVarint(v);
}

ProtoWriter& ProtoWriter::Fixed64(uint32_t field, uint64_t v) {
  RawVarint(uint64_t{field} << 3 | 1);
  for (int i = 0; i < 8; ++i, v >>= 8) data_.push_back(static_cast<char>(v & 0xFF));
  return *this;
}

ProtoWriter& ProtoWriter::Fixed32(uint32_t field, uint32_t v) {
  RawVarint(uint64_t{field} << 3 | 5);
  for (int i = 0; i < 4; ++i, v >>= 8) data_.push_back(static_cast<char>(v & 0xFF));
  return *this;
}

ProtoWriter& ProtoWriter::Double(uint32_t field, double v) {
  return Fixed64(field, std::bit_cast<uint64_t>(v));
}

ProtoWriter& ProtoWriter::Bytes(uint32_t field, std::string_view bytes) {
  RawVarint(uint64_t{field} << 3 | 2).RawVarint(bytes.size());
  data_.append(bytes);
  return *this;
}

ProtoWriter& ProtoWriter::Raw(std::string_view bytes) {
  data_.append(bytes);
  return *this;
}

}  // namespace loupe::testing
