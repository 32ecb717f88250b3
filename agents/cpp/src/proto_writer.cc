#include "proto_writer.h"

#include <algorithm>

namespace loupe::internal {

void ProtoWriter::Grow(size_t n) {
  buf_.resize(std::max(size_ + n, std::max<size_t>(256, 2 * buf_.size())));
}

void ProtoWriter::EndMessage(size_t mark) {
  const size_t len = size_ - mark - 1;
  if (len < 0x80) {
    buf_[mark] = static_cast<char>(len);
    return;
  }
  char tmp[10];
  const size_t n = PutVarint(tmp, len);
  Reserve(n - 1);
  std::memmove(&buf_[mark + n], &buf_[mark + 1], len);
  std::memcpy(&buf_[mark], tmp, n);
  size_ += n - 1;
}

std::string ProtoWriter::Release() {
  buf_.resize(size_);
  size_ = 0;
  return std::move(buf_);
}

}  // namespace loupe::internal
