#include "wire/gzip.h"

#include <zlib.h>

#include <algorithm>
#include <limits>

namespace loupe::wire {
namespace {

constexpr size_t kMinBuffer = 64 << 10;

// The next buffer size when `capacity` is used up, for an output limited to
// `limit` bytes: from the sizes limit, limit/2, limit/4, ... the smallest one
// that is at least twice the capacity (and kMinBuffer). Each step then at
// least doubles, so std::string allocates exactly the size asked for instead
// of rounding up to twice its old capacity, and the last step lands exactly
// on `limit`.
size_t NextBufferSize(size_t capacity, size_t limit) {
  size_t need = std::max(kMinBuffer, capacity > limit / 2 ? limit : 2 * capacity);
  size_t size = limit;
  while (size / 2 >= need) size /= 2;
  return size;
}

class InflateStream {
 public:
  InflateStream() = default;
  InflateStream(const InflateStream&) = delete;
  InflateStream& operator=(const InflateStream&) = delete;
  ~InflateStream() {
    if (initialized_) inflateEnd(&zs_);
  }

  int Init() {
    // 32 + MAX_WBITS: accept gzip or zlib headers.
    int rc = inflateInit2(&zs_, 32 + MAX_WBITS);
    initialized_ = rc == Z_OK;
    return rc;
  }
  z_stream* get() { return &zs_; }

 private:
  z_stream zs_{};
  bool initialized_ = false;
};

Status Corrupt(std::string_view what, size_t offset, const char* zmsg) {
  std::string msg = "invalid compressed body at byte " + std::to_string(offset) + ": ";
  msg += what;
  if (zmsg != nullptr) {
    msg += " (";
    msg += zmsg;
    msg += ")";
  }
  return Status::InvalidArgument(msg);
}

Status Inflate(std::string_view in, size_t max_out, std::string* out) {
  if (in.empty()) return Status::InvalidArgument("invalid compressed body: empty");
  // Output may grow to max_out + 1 bytes: producing that last byte is how we
  // learn the limit is exceeded.
  const size_t limit = std::min(max_out, out->max_size() - 1) + 1;

  InflateStream stream;
  if (int rc = stream.Init(); rc != Z_OK) {
    return rc == Z_MEM_ERROR ? Status::ResourceExhausted("out of memory for zlib")
                             : Status::Internal("inflateInit2 failed");
  }
  z_stream* zs = stream.get();
  const auto* next_in = reinterpret_cast<const Bytef*>(in.data());
  size_t in_left = in.size();
  size_t produced = 0;
  out->resize(std::min(out->capacity(), limit));

  for (;;) {
    if (produced == out->size()) out->resize(NextBufferSize(out->capacity(), limit));
    const uInt in_chunk = static_cast<uInt>(std::min<size_t>(in_left, UINT_MAX));
    const uInt out_chunk = static_cast<uInt>(std::min<size_t>(out->size() - produced, UINT_MAX));
    zs->next_in = const_cast<Bytef*>(next_in);
    zs->avail_in = in_chunk;
    zs->next_out = reinterpret_cast<Bytef*>(out->data() + produced);
    zs->avail_out = out_chunk;

    int rc = inflate(zs, Z_NO_FLUSH);

    next_in += in_chunk - zs->avail_in;
    in_left -= in_chunk - zs->avail_in;
    produced += out_chunk - zs->avail_out;
    const size_t offset = in.size() - in_left;
    if (produced > max_out) {
      return Status::ResourceExhausted("decompressed body exceeds " + std::to_string(max_out) +
                                       " bytes");
    }

    switch (rc) {
      case Z_OK:
        break;
      case Z_STREAM_END:
        if (in_left == 0) {
          out->resize(produced);
          return Status::OK();
        }
        // Another gzip member follows (as `cat a.gz b.gz` makes).
        if (in_left >= 2 && next_in[0] == 0x1f && next_in[1] == 0x8b) {
          if (inflateReset(zs) != Z_OK) return Status::Internal("inflateReset failed");
          break;
        }
        return Corrupt("unexpected bytes after the end of the compressed stream", offset, nullptr);
      case Z_BUF_ERROR:
        // No progress: either the output is full (grown above) or the input
        // ended before the stream did.
        if (zs->avail_out != 0) return Corrupt("truncated compressed stream", offset, nullptr);
        break;
      case Z_NEED_DICT:
        return Corrupt("zlib stream needs a preset dictionary", offset, nullptr);
      case Z_MEM_ERROR:
        return Status::ResourceExhausted("out of memory in zlib");
      default:  // Z_DATA_ERROR, Z_STREAM_ERROR
        return Corrupt("corrupt compressed stream", offset, zs->msg);
    }
    if (rc == Z_OK && in_left == 0 && zs->avail_out != 0) {
      return Corrupt("truncated compressed stream", offset, nullptr);
    }
  }
}

}  // namespace

Status Gunzip(std::string_view in, size_t max_out, std::string* out) noexcept {
  out->clear();
  Status st = Inflate(in, max_out, out);
  if (!st.ok()) out->clear();
  return st;
}

}  // namespace loupe::wire
