// JSON text output of the project: JsonWriter for responses and frames
// (the API, the OTLP responses), BoundedJsonWriter for attribute values that
// must fit a byte budget, and the UTF-8 helpers both rely on.
//
// JsonWriter is a thin layer over rapidjson::Writer that appends straight
// into a std::string (no intermediate buffer to copy) and adds:
//  - strings and keys are sanitized: invalid UTF-8 (telemetry is untrusted)
//    becomes U+FFFD, so the output is always valid JSON;
//  - Double() writes null for NaN and infinities;
//  - Millis() writes microseconds as milliseconds with up to three decimals
//    ("150.377"), exactly and without floating-point formatting;
//  - Hex64() / Hex() write ids as lowercase hex strings without allocating.
// Misuse (a value where a key is due) is caught by assertions in debug builds.
//
// BoundedJsonWriter (the decoders render array and kvlist attribute values as
// compact JSON and must bound how much they write for one value) always
// produces valid JSON within its budget; it escapes by itself because it cuts
// strings at a character boundary to fit, which rapidjson cannot.
//
// Thread-safety: functions are pure; a JsonWriter or BoundedJsonWriter is
// used by one thread.
#ifndef LOUPE_WIRE_JSON_WRITER_H_
#define LOUPE_WIRE_JSON_WRITER_H_

#include <rapidjson/stream.h>
#include <rapidjson/writer.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace loupe::wire {

// Length of the longest prefix of s that is well-formed UTF-8 (RFC 3629: no
// overlongs, no surrogates, at most U+10FFFF).
size_t ValidUtf8Prefix(std::string_view s) noexcept;
// Copies s to *out replacing each maximal ill-formed subsequence with U+FFFD.
void SanitizeUtf8(std::string_view s, std::string* out);

// rapidjson output stream over a std::string, written through a raw pointer.
class StringSink {
 public:
  using Ch = char;
  explicit StringSink(std::string* out) : out_(out), len_(out->size()), data_(out->data()) {}
  void Put(char c) {
    Reserve(1);
    data_[len_++] = c;
  }
  void PutUnsafe(char c) { data_[len_++] = c; }
  void Reserve(size_t n) {
    if (len_ + n > out_->size()) Grow(n);
  }
  void Flush() {}
  // Trims the string to what was written. Call once at the end.
  void Finish() { out_->resize(len_); }
  size_t size() const { return len_; }

 private:
  void Grow(size_t n);
  std::string* out_;
  size_t len_;
  char* data_;
};

}  // namespace loupe::wire

namespace rapidjson {
template <>
inline void PutReserve<loupe::wire::StringSink>(loupe::wire::StringSink& s, size_t count) {
  s.Reserve(count);
}
template <>
inline void PutUnsafe<loupe::wire::StringSink>(loupe::wire::StringSink& s, char c) {
  s.PutUnsafe(c);
}
}  // namespace rapidjson

namespace loupe::wire {

class JsonWriter {
 public:
  // Appends to *out; call Finish() (or destroy the writer) before using *out,
  // and do not touch *out meanwhile (the writer holds a pointer into it).
  explicit JsonWriter(std::string* out) : sink_(out), w_(sink_) {}
  ~JsonWriter() { Finish(); }
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;

  void Finish() {
    if (!finished_) sink_.Finish();
    finished_ = true;
  }
  // Makes room for n more bytes up front (no effect on the output).
  void Reserve(size_t n) { sink_.Reserve(n); }
  // Bytes written so far (before Finish()).
  size_t size() const { return sink_.size(); }

  void StartObject() { w_.StartObject(); }
  void EndObject() { w_.EndObject(); }
  void StartArray() { w_.StartArray(); }
  void EndArray() { w_.EndArray(); }

  JsonWriter& Key(std::string_view k) {
    if (IsAscii(k)) {
      w_.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
    } else {
      WriteSanitized(k, /*key=*/true);
    }
    return *this;
  }
  void String(std::string_view s) {
    if (IsAscii(s)) {
      w_.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    } else {
      WriteSanitized(s, /*key=*/false);
    }
  }
  void Bool(bool b) { w_.Bool(b); }
  void Null() { w_.Null(); }
  void Int(int64_t v) { w_.Int64(v); }
  void Uint(uint64_t v) { w_.Uint64(v); }
  // null for NaN and infinities; otherwise the shortest text that reads back
  // as v (rates such as tps need every digit: 2/60 must not become 0.033).
  void Double(double v);
  // Milliseconds rounded to the microsecond (three decimals); null for NaN.
  void Ms(double v) { Double(std::round(v * 1000.0) / 1000.0); }
  // µs → ms with up to three decimals ("12", "12.5", "0.001", "-3.25").
  void Millis(int64_t us);
  // 16 lowercase hex digits.
  void Hex64(uint64_t v);
  // Lowercase hex of n bytes (n <= 64).
  void Hex(const uint8_t* p, size_t n);

  // Convenience: Key + value.
  void Field(std::string_view k, std::string_view v) { Key(k).String(v); }
  void Field(std::string_view k, const char* v) { Key(k).String(v); }
  void Field(std::string_view k, const std::string& v) { Key(k).String(v); }
  void FieldInt(std::string_view k, int64_t v) { Key(k).Int(v); }
  void FieldUint(std::string_view k, uint64_t v) { Key(k).Uint(v); }
  void FieldBool(std::string_view k, bool v) { Key(k).Bool(v); }
  void FieldDouble(std::string_view k, double v) { Key(k).Double(v); }
  void FieldMs(std::string_view k, double v) { Key(k).Ms(v); }
  void FieldMillis(std::string_view k, int64_t us) { Key(k).Millis(us); }

 private:
  static bool IsAscii(std::string_view s) {
    // Checked bytewise; the compiler vectorizes it.
    unsigned char acc = 0;
    for (char c : s) acc |= static_cast<unsigned char>(c);
    return acc < 0x80;
  }
  void WriteSanitized(std::string_view s, bool key);

  StringSink sink_;
  rapidjson::Writer<StringSink> w_;
  std::string scratch_;
  bool finished_ = false;
};

}  // namespace loupe::wire

// ---- internal to wire/: not part of the public API of loupe_wire ----

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
