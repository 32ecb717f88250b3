// Block compression of the segment format: none, LZ4 (fast) or zstd
// (denser). The codec is recorded per chunk (docs/format/segment.md), so a
// reader handles any mix and the choice can change without a format bump.
// Thread-safety: pure functions (zstd contexts are per thread); callable
// at any point of a thread's or the process's exit.
#ifndef LOUPE_STORE_EMBEDDED_COMPRESSION_H_
#define LOUPE_STORE_EMBEDDED_COMPRESSION_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace loupe::store {

enum class Compression : uint8_t { kNone = 0, kLz4 = 1, kZstd = 2 };

const char* CompressionName(Compression c) noexcept;

// Compresses in with `c` (zstd at `level`) into *out and returns the codec
// actually used: kNone when compression would not save space.
Compression Compress(Compression c, int level, std::string_view in, std::string* out);

// Decompresses `in` (written with codec c) into *out, which must come out
// exactly raw_len bytes long; kCorruption otherwise.
Status Uncompress(Compression c, std::string_view in, size_t raw_len, std::string* out);

}  // namespace loupe::store

#endif  // LOUPE_STORE_EMBEDDED_COMPRESSION_H_
