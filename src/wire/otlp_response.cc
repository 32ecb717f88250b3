#include "wire/otlp_response.h"

#include "wire/json_writer.h"

namespace loupe::wire {
namespace {

void AppendVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void AppendTag(uint32_t field, uint32_t wire_type, std::string* out) {
  AppendVarint(uint64_t{field} << 3 | wire_type, out);
}

void AppendLengthDelimited(uint32_t field, std::string_view bytes, std::string* out) {
  AppendTag(field, 2, out);
  AppendVarint(bytes.size(), out);
  out->append(bytes);
}

}  // namespace

std::string EncodeExportResponseProto(int64_t rejected_spans, std::string_view error_message) {
  std::string partial;
  if (rejected_spans != 0) {
    AppendTag(1, 0, &partial);
    AppendVarint(static_cast<uint64_t>(rejected_spans), &partial);  // int64: two's complement
  }
  if (!error_message.empty()) AppendLengthDelimited(2, error_message, &partial);
  std::string out;
  if (!partial.empty()) AppendLengthDelimited(1, partial, &out);
  return out;
}

namespace {

std::string PartialSuccessJson(std::string_view rejected_key, int64_t rejected,
                               std::string_view error_message) {
  if (rejected == 0 && error_message.empty()) return "{}";
  std::string out;
  JsonWriter w(&out);
  w.StartObject();
  w.Key("partialSuccess");
  w.StartObject();
  // int64 is a string in the protobuf JSON mapping.
  if (rejected != 0) w.Field(rejected_key, std::to_string(rejected));
  if (!error_message.empty()) w.Field("errorMessage", error_message);
  w.EndObject();
  w.EndObject();
  w.Finish();
  return out;
}

}  // namespace

std::string EncodeExportResponseJson(int64_t rejected_spans, std::string_view error_message) {
  return PartialSuccessJson("rejectedSpans", rejected_spans, error_message);
}

std::string EncodeMetricsExportResponseJson(int64_t rejected_data_points,
                                            std::string_view error_message) {
  return PartialSuccessJson("rejectedDataPoints", rejected_data_points, error_message);
}

std::string EncodeRpcStatusProto(int code, std::string_view message) {
  std::string out;
  if (code != 0) {
    AppendTag(1, 0, &out);
    // int32: negative values are sign-extended to 64 bits (10 bytes).
    AppendVarint(static_cast<uint64_t>(static_cast<int64_t>(code)), &out);
  }
  if (!message.empty()) AppendLengthDelimited(2, message, &out);
  return out;
}

std::string EncodeRpcStatusWithRetryProto(int code, std::string_view message, int retry_seconds) {
  std::string duration;  // google.protobuf.Duration
  AppendTag(1, 0, &duration);
  AppendVarint(static_cast<uint64_t>(retry_seconds), &duration);
  std::string retry_info;  // google.rpc.RetryInfo
  AppendLengthDelimited(1, duration, &retry_info);
  std::string any;  // google.protobuf.Any
  AppendLengthDelimited(1, "type.googleapis.com/google.rpc.RetryInfo", &any);
  AppendLengthDelimited(2, retry_info, &any);
  std::string out = EncodeRpcStatusProto(code, message);
  AppendLengthDelimited(3, any, &out);
  return out;
}

std::string EncodeRpcStatusJson(int code, std::string_view message) {
  std::string out;
  JsonWriter w(&out);
  w.StartObject();
  w.FieldInt("code", code);
  w.Field("message", message);
  w.EndObject();
  w.Finish();
  return out;
}

}  // namespace loupe::wire
