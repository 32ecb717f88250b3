#include "ingest/endpoint_normalizer.h"

#include <cstdint>

namespace loupe::ingest {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool IsDateSeparator(char c) {
  return c == '-' || c == '_' || c == '.' || c == ':' || c == '+' || c == ',';
}

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < 36; ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !IsHex(s[i])) return false;
  }
  return true;
}

bool IsEmail(std::string_view seg) {
  return seg.find('@') != std::string_view::npos || seg.find("%40") != std::string_view::npos;
}

// The placeholder for a segment that looks like a value, or nullptr to keep it.
const char* Classify(std::string_view seg) {
  size_t digits = 0, letters = 0, hex = 0, separators = 0;
  for (char c : seg) {
    if (IsDigit(c)) {
      ++digits;
    } else if (IsAlpha(c)) {
      ++letters;
    } else if (IsDateSeparator(c)) {
      ++separators;
    }
    hex += IsHex(c);
  }
  const size_t n = seg.size();
  if (n == 0) return nullptr;
  if (digits == n) return "{id}";
  if (IsUuid(seg)) return "{uuid}";
  if (n >= 16 && hex == n) return "{hex}";
  if (IsEmail(seg)) return "{token}";
  if (digits >= 4 && digits + separators == n) return "{token}";  // date, time, IP
  if (digits > 0 && letters > 0 && (n >= 20 || digits >= 6)) return "{token}";
  return nullptr;
}

// Appends one segment (without slashes), replaced by its placeholder if it
// looks like a value. A short alphabetic extension survives: "123.json" →
// "{id}.json".
void AppendSegment(std::string_view seg, std::string* out) {
  if (IsEmail(seg)) {
    out->append("{token}");  // "jane@example.com" has a ".com" that is no extension
    return;
  }
  size_t dot = seg.rfind('.');
  if (dot != std::string_view::npos && dot > 0 && seg.size() - dot - 1 >= 1 &&
      seg.size() - dot - 1 <= 5) {
    std::string_view ext = seg.substr(dot + 1);
    bool alpha = true;
    for (char c : ext) alpha &= IsAlpha(c);
    if (alpha) {
      if (const char* stem = Classify(seg.substr(0, dot))) {
        out->append(stem);
        out->append(seg.substr(dot));
        return;
      }
    }
  }
  const char* ph = Classify(seg);
  out->append(ph != nullptr ? std::string_view(ph) : seg);
}

// Cuts *s to at most `max` bytes without splitting a UTF-8 sequence.
void CutUtf8(std::string* s, size_t start, size_t max) {
  if (s->size() - start <= max) return;
  size_t end = start + max;
  while (end > start && (static_cast<uint8_t>((*s)[end]) & 0xC0) == 0x80) --end;
  s->resize(end);
}

}  // namespace

std::string_view UrlPath(std::string_view url) noexcept {
  // "scheme://authority" prefix: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
  size_t i = 0;
  if (!url.empty() && IsAlpha(url[0])) {
    while (i < url.size() &&
           (IsAlpha(url[i]) || IsDigit(url[i]) || url[i] == '+' || url[i] == '-' || url[i] == '.'))
      ++i;
    if (url.substr(i, 3) == "://") {
      size_t p = url.find_first_of("/?#", i + 3);
      url = p == std::string_view::npos ? std::string_view() : url.substr(p);
    }
  }
  size_t q = url.find_first_of("?#");
  if (q != std::string_view::npos) url = url.substr(0, q);
  return url;
}

void AppendNormalizedPath(std::string_view path, std::string* out, size_t max_bytes) {
  path = UrlPath(path);
  const size_t start = out->size();
  size_t i = 0;
  while (i < path.size() && out->size() - start <= max_bytes) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t end = path.find('/', i);
    if (end == std::string_view::npos) end = path.size();
    std::string_view seg = path.substr(i, end - i);
    i = end;
    size_t semi = seg.find(';');
    if (semi != std::string_view::npos) seg = seg.substr(0, semi);
    if (seg.empty()) continue;
    out->push_back('/');
    AppendSegment(seg, out);
  }
  if (out->size() == start) out->push_back('/');
  CutUtf8(out, start, max_bytes);
}

std::string NormalizePath(std::string_view path, size_t max_bytes) {
  std::string out;
  AppendNormalizedPath(path, &out, max_bytes);
  return out;
}

}  // namespace loupe::ingest
