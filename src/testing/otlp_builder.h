// Builds OTLP trace export requests for tests and benchmarks.
//
// Describe the request with plain structs and encode it as protobuf
// (EncodeTraceRequest) or OTLP/JSON (EncodeTraceRequestJson):
//
//   using namespace loupe::testing;
//   SpanSpec span;
//   span.trace_id = TraceIdBytes(1, 2);
//   span.span_id = SpanIdBytes(3);
//   span.name = "GET /users/{id}";
//   span.kind = 2;  // SERVER
//   span.start_time_unix_nano = 1'700'000'000'000'000'000;
//   span.end_time_unix_nano = span.start_time_unix_nano + 5'000'000;
//   span.attributes = {{"http.request.method", "GET"}, {"http.response.status_code", 200}};
//   std::string body = EncodeTraceRequest(
//       {MakeResource({{"service.name", "shop"}}, {MakeScope("io.otel", {span})})});
//
// Ids are raw bytes (TraceIdBytes/SpanIdBytes make them from integers, read
// big-endian as the decoders do), so tests can also send ids of a wrong length.
// ProtoWriter is exposed to hand-craft unusual or malformed messages.
//
// Not optimized; for tests and benchmark setup only. Thread-safety: pure
// functions; a ProtoWriter is used by one thread.
#ifndef LOUPE_TESTING_OTLP_BUILDER_H_
#define LOUPE_TESTING_OTLP_BUILDER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace loupe::testing {

struct Attr;

// An OTLP AnyValue. Converts implicitly from strings, bools, ints and doubles.
struct Value {
  enum class Kind { kEmpty, kString, kBool, kInt, kDouble, kBytes, kArray, kKvList };

  // Defined below Attr, which must be complete first.
  Value();
  Value(const char* s);       // NOLINT: implicit by design
  Value(std::string s);       // NOLINT
  Value(std::string_view s);  // NOLINT
  Value(bool b);              // NOLINT
  Value(int i);               // NOLINT
  Value(int64_t i);           // NOLINT
  Value(double d);            // NOLINT

  static Value Bytes(std::string raw);
  static Value Array(std::vector<Value> values);
  static Value KvList(std::vector<Attr> values);

  Kind kind = Kind::kEmpty;
  std::string s;  // kString, kBytes (raw bytes)
  bool b = false;
  int64_t i = 0;
  double d = 0;
  std::vector<Value> array;
  std::vector<Attr> kvlist;
};

// An OTLP KeyValue.
struct Attr {
  std::string key;
  Value value;
};

inline Value::Value() = default;
inline Value::Value(const char* s) : kind(Kind::kString), s(s) {}
inline Value::Value(std::string s) : kind(Kind::kString), s(std::move(s)) {}
inline Value::Value(std::string_view s) : kind(Kind::kString), s(s) {}
inline Value::Value(bool b) : kind(Kind::kBool), b(b) {}
inline Value::Value(int i) : kind(Kind::kInt), i(i) {}
inline Value::Value(int64_t i) : kind(Kind::kInt), i(i) {}
inline Value::Value(double d) : kind(Kind::kDouble), d(d) {}

struct EventSpec {
  uint64_t time_unix_nano = 0;
  std::string name;
  std::vector<Attr> attributes;
  uint32_t dropped_attributes_count = 0;
};

struct LinkSpec {
  std::string trace_id;  // raw bytes
  std::string span_id;   // raw bytes
  std::vector<Attr> attributes;
};

struct SpanSpec {
  std::string trace_id;        // raw bytes, 16 for a valid span
  std::string span_id;         // raw bytes, 8 for a valid span
  std::string parent_span_id;  // raw bytes, empty for a root
  std::string trace_state;
  std::string name;
  int kind = 0;  // Span.SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer
  uint64_t start_time_unix_nano = 0;
  uint64_t end_time_unix_nano = 0;
  std::vector<Attr> attributes;
  uint32_t dropped_attributes_count = 0;
  std::vector<EventSpec> events;
  uint32_t dropped_events_count = 0;
  std::vector<LinkSpec> links;
  int status_code = 0;  // 0 unset, 1 ok, 2 error
  std::string status_message;
  uint32_t flags = 0;  // SpanFlags, e.g. 0x100 | 0x200 for a remote parent
};

struct ScopeSpec {
  std::string name;
  std::string version;
  std::vector<SpanSpec> spans;
};

struct ResourceSpec {
  std::vector<Attr> attributes;
  std::vector<ScopeSpec> scopes;
  std::string schema_url;
};

// Shorthands (designated initializers would trip g++ 12's
// -Wmissing-field-initializers).
ResourceSpec MakeResource(std::vector<Attr> attributes, std::vector<ScopeSpec> scopes);
ScopeSpec MakeScope(std::string name, std::vector<SpanSpec> spans);
EventSpec MakeEvent(uint64_t time_unix_nano, std::string name, std::vector<Attr> attributes = {});

// 16 id bytes: hi then lo, each big-endian.
std::string TraceIdBytes(uint64_t hi, uint64_t lo);
// 8 id bytes, big-endian (so the decoders read back `id`).
std::string SpanIdBytes(uint64_t id);
// Lowercase hex of raw bytes (ids as OTLP/JSON spells them).
std::string Hex(std::string_view bytes);

// ExportTraceServiceRequest as protobuf bytes. Fields at their default value
// are omitted, as protobuf encoders do.
std::string EncodeTraceRequest(const std::vector<ResourceSpec>& resources);

// The same request as OTLP/JSON (lowerCamelCase keys, hex ids, int64 as
// decimal strings, enums as integers, bytes as base64).
std::string EncodeTraceRequestJson(const std::vector<ResourceSpec>& resources);

// Minimal protobuf writer.
class ProtoWriter {
 public:
  ProtoWriter& Varint(uint32_t field, uint64_t v);
  ProtoWriter& Fixed64(uint32_t field, uint64_t v);
  ProtoWriter& Fixed32(uint32_t field, uint32_t v);
  ProtoWriter& Double(uint32_t field, double v);
  ProtoWriter& Bytes(uint32_t field, std::string_view bytes);
  ProtoWriter& Message(uint32_t field, const ProtoWriter& m) { return Bytes(field, m.data()); }
  // Raw bytes, e.g. a hand-made tag.
  ProtoWriter& Raw(std::string_view bytes);
  ProtoWriter& RawVarint(uint64_t v);

  const std::string& data() const { return data_; }

 private:
  std::string data_;
};

}  // namespace loupe::testing

#endif  // LOUPE_TESTING_OTLP_BUILDER_H_
