#include "store/embedded/compression.h"

#include <lz4.h>
#include <zstd.h>

#include <memory>

namespace loupe::store {
namespace {

// Per-thread zstd contexts, reused across calls (a decompression context is
// ~100 KB to allocate and set up). The cache is a trivially destructible
// thread_local, so it stays readable after the thread's destructors have run:
// its owner frees the contexts at thread exit and marks the cache closed, and
// a call after that gets a context of its own instead of a freed one. Such a
// call is legal: a store closed by a static object's destructor runs after
// exit() has run the main thread's thread_local destructors.
struct ZstdCache {
  ZSTD_CCtx* c;
  ZSTD_DCtx* d;
  bool closed;
};
thread_local ZstdCache tls_zstd;  // zero-initialized, no destructor

struct ZstdCacheOwner {
  ~ZstdCacheOwner() {
    ZSTD_freeCCtx(tls_zstd.c);
    ZSTD_freeDCtx(tls_zstd.d);
    tls_zstd = {nullptr, nullptr, true};
  }
};

// Registers the cache's owner: called before the cache's first context is made.
void OwnCache() {
  thread_local ZstdCacheOwner owner;
  static_cast<void>(owner);
}

struct FreeCCtx {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct FreeDCtx {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

// The thread's contexts, or once its destructors have run, one held by *own.
ZSTD_CCtx* CompressionContext(std::unique_ptr<ZSTD_CCtx, FreeCCtx>* own) {
  if (tls_zstd.closed) {
    own->reset(ZSTD_createCCtx());
    return own->get();
  }
  if (tls_zstd.c == nullptr) {
    OwnCache();
    tls_zstd.c = ZSTD_createCCtx();
  }
  return tls_zstd.c;
}

ZSTD_DCtx* DecompressionContext(std::unique_ptr<ZSTD_DCtx, FreeDCtx>* own) {
  if (tls_zstd.closed) {
    own->reset(ZSTD_createDCtx());
    return own->get();
  }
  if (tls_zstd.d == nullptr) {
    OwnCache();
    tls_zstd.d = ZSTD_createDCtx();
  }
  return tls_zstd.d;
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
    std::unique_ptr<ZSTD_CCtx, FreeCCtx> own;
    size_t n = ZSTD_compressCCtx(CompressionContext(&own), out->data(), out->size(), in.data(),
                                 in.size(), level);
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
      std::unique_ptr<ZSTD_DCtx, FreeDCtx> own;
      size_t n = ZSTD_decompressDCtx(DecompressionContext(&own), out->data(), raw_len, in.data(),
                                     in.size());
      if (ZSTD_isError(n) || n != raw_len) return Status::Corruption("bad zstd chunk");
      return Status::OK();
    }
  }
  return Status::Corruption("unknown compression codec " + std::to_string(static_cast<int>(c)));
}

}  // namespace loupe::store
