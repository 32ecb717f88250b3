#include "store/embedded/compression.h"

#include <lz4.h>
#include <zstd.h>

#include <memory>

namespace loupe::store {
namespace {

struct ZstdContexts {
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ZSTD_DCtx* d = ZSTD_createDCtx();
  ~ZstdContexts() {
    ZSTD_freeCCtx(c);
    ZSTD_freeDCtx(d);
  }
};

ZstdContexts& Contexts() {
  thread_local ZstdContexts ctx;
  return ctx;
}

}  // namespace

const char* CompressionName(Compression c) noexcept {
  switch (c) {
    case Compression::kNone:
      return "none";
    case Compression::kLz4:
      return "lz4";
    case Compression::kZstd:
      return "zstd";
  }
  return "unknown";
}

Compression Compress(Compression c, int level, std::string_view in, std::string* out) {
  out->clear();
  if (c == Compression::kLz4 && in.size() <= LZ4_MAX_INPUT_SIZE) {
    out->resize(static_cast<size_t>(LZ4_compressBound(static_cast<int>(in.size()))));
    int n = LZ4_compress_default(in.data(), out->data(), static_cast<int>(in.size()),
                                 static_cast<int>(out->size()));
    if (n > 0 && static_cast<size_t>(n) < in.size()) {
      out->resize(static_cast<size_t>(n));
      return Compression::kLz4;
    }
  } else if (c == Compression::kZstd) {
    out->resize(ZSTD_compressBound(in.size()));
    size_t n =
        ZSTD_compressCCtx(Contexts().c, out->data(), out->size(), in.data(), in.size(), level);
    if (!ZSTD_isError(n) && n < in.size()) {
      out->resize(n);
      return Compression::kZstd;
    }
  }
  out->assign(in);
  return Compression::kNone;
}

Status Uncompress(Compression c, std::string_view in, size_t raw_len, std::string* out) {
  switch (c) {
    case Compression::kNone:
      if (in.size() != raw_len) return Status::Corruption("stored chunk has the wrong length");
      out->assign(in);
      return Status::OK();
    case Compression::kLz4: {
      out->resize(raw_len);
      int n = LZ4_decompress_safe(in.data(), out->data(), static_cast<int>(in.size()),
                                  static_cast<int>(raw_len));
      if (n < 0 || static_cast<size_t>(n) != raw_len) return Status::Corruption("bad lz4 chunk");
      return Status::OK();
    }
    case Compression::kZstd: {
      out->resize(raw_len);
      size_t n = ZSTD_decompressDCtx(Contexts().d, out->data(), raw_len, in.data(), in.size());
      if (ZSTD_isError(n) || n != raw_len) return Status::Corruption("bad zstd chunk");
      return Status::OK();
    }
  }
  return Status::Corruption("unknown compression codec " + std::to_string(static_cast<int>(c)));
}

}  // namespace loupe::store
