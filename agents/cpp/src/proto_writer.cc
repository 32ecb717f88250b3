#include "proto_writer.h"

#include <cstring>

namespace loupe::internal {

void ProtoWriter::Varint(uint64_t v) {
  char tmp[10];
  size_t n = 0;
  while (v >= 0x80) {
    tmp[n++] = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  tmp[n++] = static_cast<char>(v);
  buf_.append(tmp, n);
}

void ProtoWriter::Fixed64Field(uint32_t field, uint64_t v) {
  Tag(field, kFixed64);
  char tmp[8];
  for (int i = 0; i < 8; ++i) tmp[i] = static_cast<char>(v >> (8 * i));
  buf_.append(tmp, 8);
}

void ProtoWriter::Fixed32Field(uint32_t field, uint32_t v) {
  Tag(field, kFixed32);
  char tmp[4];
  for (int i = 0; i < 4; ++i) tmp[i] = static_cast<char>(v >> (8 * i));
  buf_.append(tmp, 4);
}

void ProtoWriter::DoubleField(uint32_t field, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  Fixed64Field(field, bits);
}

void ProtoWriter::BytesField(uint32_t field, const void* data, size_t n) {
  Tag(field, kLen);
  Varint(n);
  buf_.append(static_cast<const char*>(data), n);
}

size_t ProtoWriter::BeginMessage(uint32_t field) {
  Tag(field, kLen);
  buf_.push_back('\0');  // one-byte length placeholder, widened in EndMessage if needed
  return buf_.size() - 1;
}

void ProtoWriter::EndMessage(size_t mark) {
  const size_t len = buf_.size() - mark - 1;
  if (len < 0x80) {
    buf_[mark] = static_cast<char>(len);
    return;
  }
  char tmp[10];
  size_t n = 0;
  uint64_t v = len;
  while (v >= 0x80) {
    tmp[n++] = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  tmp[n++] = static_cast<char>(v);
  buf_.insert(mark + 1, n - 1, '\0');
  std::memcpy(&buf_[mark], tmp, n);
}

}  // namespace loupe::internal
