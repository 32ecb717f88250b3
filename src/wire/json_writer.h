// Internal to wire/: JSON text output, UTF-8 aware truncation and hex.
//
// The decoders render array and kvlist attribute values as compact JSON and
// must bound how much they write for one value; BoundedJsonWriter does that
// while always producing valid JSON. The response encoders use
// AppendJsonString. Not part of the public API of loupe_wire.
//
// Thread-safety: functions are pure; a BoundedJsonWriter is used by one thread.
#ifndef LOUPE_WIRE_JSON_WRITER_H_
#define LOUPE_WIRE_JSON_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace loupe::wire::internal {

// Returns the longest prefix of s of at most max_bytes bytes that does not end
// inside a UTF-8 multibyte sequence. If s is not valid UTF-8 around the cut,
// cuts at max_bytes.
std::string_view TruncateUtf8(std::string_view s, size_t max_bytes) noexcept;

// Length of the well-formed UTF-8 sequence (RFC 3629: no overlongs, no
// surrogates, at most U+10FFFF) starting at p, or 0 if there is none.
// REQUIRES: p < end.
size_t Utf8SequenceLength(const uint8_t* p, const uint8_t* end) noexcept;

// Returns the offset of the first byte that is NUL (which would end in-situ
// JSON parsing early) or not part of well-formed UTF-8, or npos if there is
// none. The JSON decoders validate with this instead of RapidJSON's
// kParseValidateEncodingFlag (see otlp_json.cc for why).
size_t FindInvalidJsonByte(std::string_view s) noexcept;

// Appends the lowercase hex digits of bytes to *out.
void AppendHex(std::string_view bytes, std::string* out);

// Appends s as a JSON string literal, quotes included. Escapes '"', '\\' and
// control characters; each byte that is not part of well-formed UTF-8 becomes
// U+FFFD, so the result is always valid JSON.
void AppendJsonString(std::string_view s, std::string* out);

// Writes compact JSON into a string while keeping its size within a budget.
//
// The caller writes elements of arrays/objects between BeginElement() and
// EndElement(). EndElement() removes the element again if the text plus the
// closers still owed would exceed the budget, and then full() turns true: the
// caller stops adding elements at every level and closes what it opened, so
// the result is valid JSON of at most max(budget, 2) bytes. String values are
// cut at a character boundary to fit instead of being dropped.
class BoundedJsonWriter {
 public:
  explicit BoundedJsonWriter(size_t budget) : budget_(budget < 2 ? 2 : budget) {}

  BoundedJsonWriter(const BoundedJsonWriter&) = delete;
  BoundedJsonWriter& operator=(const BoundedJsonWriter&) = delete;

  // Opens '[' or '{'; Close() writes the matching closer.
  void Open(char bracket);
  void Close(char bracket);

  // Returns a mark to pass to EndElement(); writes the ',' separator if needed.
  size_t BeginElement();
  // Returns false (and full() is then true) if the element did not fit.
  bool EndElement(size_t mark);
  // Removes the element begun at mark and turns full() true.
  void DropElement(size_t mark);

  // Writes "key": and returns true, or returns false if the key does not fit
  // whole; the caller then drops the element (keys are never cut).
  bool Key(std::string_view key);
  // Writes a string value, cut to fit the budget if needed.
  void String(std::string_view s);
  // Writes the lowercase hex of bytes as a string value, cut to fit.
  void HexString(std::string_view bytes);
  void Int(int64_t v);
  // NaN and infinities are written as the strings "NaN", "Infinity",
  // "-Infinity" (the protobuf JSON mapping's spelling).
  void Double(double v);
  void Bool(bool v);
  void Null();

  bool full() const { return full_; }
  // True if anything was cut or dropped.
  bool truncated() const { return truncated_; }
  std::string& text() { return out_; }

 private:
  // Bytes still available for a value that needs `reserve` more bytes after it.
  size_t Room(size_t reserve) const;

  std::string out_;
  size_t budget_;
  size_t open_ = 0;  // closers still owed
  bool full_ = false;
  bool truncated_ = false;
};

}  // namespace loupe::wire::internal

#endif  // LOUPE_WIRE_JSON_WRITER_H_
