// Bounded decompression of gzip (and zlib) request bodies.
//
// Thread-safety: Gunzip is reentrant.
#ifndef LOUPE_WIRE_GZIP_H_
#define LOUPE_WIRE_GZIP_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace loupe::wire {

// Decompresses `in` into *out (replacing its contents). `in` is gzip (RFC
// 1952; several concatenated members are decompressed one after the other)
// or a zlib stream (RFC 1950, HTTP's "deflate"); the format is detected from
// the header.
//
// Returns OK; ResourceExhausted("decompressed body exceeds N bytes") as soon
// as the output would exceed max_out bytes; InvalidArgument for empty,
// truncated or corrupt input (zlib's message and the input offset), or bytes
// after the end of the last member that do not start another gzip member.
//
// Memory: *out's capacity is grown by doubling up to exactly max_out + 1
// bytes, so a compression bomb costs at most about max_out + 64 KiB (when *out
// starts empty or holds an earlier result of Gunzip with the same max_out).
// On error *out is empty (its capacity is kept for reuse).
Status Gunzip(std::string_view in, size_t max_out, std::string* out) noexcept;

}  // namespace loupe::wire

#endif  // LOUPE_WIRE_GZIP_H_
