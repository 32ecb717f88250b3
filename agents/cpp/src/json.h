// Small JSON writer and reader for the Loupe extension messages
// (docs/format/agent-protocol.md): the agent writes snapshots and reads the
// configuration and the snapshot answer. Not a general-purpose library.
//
// Thread-compatible.
#ifndef LOUPE_AGENT_JSON_H_
#define LOUPE_AGENT_JSON_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace loupe::internal {

// Appends `s` as a JSON string literal (quotes included), cut to `max_bytes`
// of input (never inside a UTF-8 sequence).
void AppendJsonString(std::string* out, std::string_view s, size_t max_bytes = SIZE_MAX);
// Appends a finite number (non-finite as 0) with up to 3 decimals.
void AppendJsonNumber(std::string* out, double v);

struct JsonValue {
  enum Type { kNull, kBool, kNumber, kString, kArray, kObject } type = kNull;
  bool b = false;
  double num = 0;
  std::string str;
  std::vector<JsonValue> array;
  std::map<std::string, JsonValue, std::less<>> object;

  // Member `key` of an object, or nullptr (also when this is not an object).
  const JsonValue* Find(std::string_view key) const;
};

// Parses a complete JSON document (nesting <= 64). false on malformed input,
// with a reason in *error.
bool ParseJson(std::string_view text, JsonValue* out, std::string* error);

}  // namespace loupe::internal

#endif  // LOUPE_AGENT_JSON_H_
