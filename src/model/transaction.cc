#include "model/transaction.h"

#include <cstring>

#include "common/hash.h"

namespace loupe::model {
namespace {
constexpr char kHex[] = "0123456789abcdef";

void AppendHex(const uint8_t* p, size_t n, std::string* out) {
  for (size_t i = 0; i < n; ++i) {
    out->push_back(kHex[p[i] >> 4]);
    out->push_back(kHex[p[i] & 15]);
  }
}

int HexVal(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool ParseHex(std::string_view hex, uint8_t* out, size_t n) noexcept {
  if (hex.size() != 2 * n) return false;
  for (size_t i = 0; i < n; ++i) {
    int hi = HexVal(hex[2 * i]), lo = HexVal(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}
}  // namespace

TxId MakeTxId(const TraceId& trace, SpanId root_span) noexcept {
  uint8_t buf[24];
  std::memcpy(buf, trace.data(), 16);
  std::memcpy(buf + 16, &root_span, 8);
  TxId id = Hash64(buf, sizeof buf, 0x4c6f757065ULL);
  return id == 0 ? 1 : id;
}

std::string TxIdToHex(TxId id) {
  uint8_t b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(id >> (56 - 8 * i));
  std::string s;
  AppendHex(b, 8, &s);
  return s;
}

bool TxIdFromHex(std::string_view hex, TxId* out) noexcept {
  uint8_t b[8];
  if (!ParseHex(hex, b, 8)) return false;
  TxId v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | b[i];
  *out = v;
  return true;
}

std::string TraceIdToHex(const TraceId& id) {
  std::string s;
  AppendHex(id.data(), 16, &s);
  return s;
}

bool TraceIdFromHex(std::string_view hex, TraceId* out) noexcept {
  return ParseHex(hex, out->data(), 16);
}

std::string SpanIdToHex(SpanId id) { return TxIdToHex(id); }

const char* StepKindName(StepKind k) noexcept {
  switch (k) {
    case StepKind::kMethod: return "method";
    case StepKind::kSql: return "sql";
    case StepKind::kExternal: return "external";
    case StepKind::kMessage: return "message";
    case StepKind::kError: return "error";
  }
  return "method";
}

void Summary::Add(const std::vector<Step>& steps) noexcept {
  for (const Step& s : steps) {
    if (s.kind == StepKind::kSql) {
      ++sql_count;
      sql_us += s.elapsed_us;
    } else if (s.kind == StepKind::kExternal) {
      ++external_count;
      external_us += s.elapsed_us;
    }
  }
}

}  // namespace loupe::model
