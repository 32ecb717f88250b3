#include "proto_writer.h"

#include <algorithm>

namespace loupe::internal {

void ProtoWriter::Grow(size_t n) {
  buf_.resize(std::max(size_ + n, std::max<size_t>(256, 2 * buf_.size())));
}

void ProtoWriter::EndMessageMoving(Mark mark, size_t len) {
  char tmp[10];
  const size_t n = PutVarint(tmp, len);
  const size_t body = mark.pos + mark.width;
  if (n > mark.width) Reserve(n - mark.width);
  std::memmove(&buf_[mark.pos + n], &buf_[body], len);
  std::memcpy(&buf_[mark.pos], tmp, n);
  size_ = mark.pos + n + len;
}

std::string ProtoWriter::Release() {
  buf_.resize(size_);
  buf_.erase(0, start_);
  start_ = size_ = 0;
  return std::move(buf_);
}

}  // namespace loupe::internal
