// Private to the segment code: the constants and small encodings of
// docs/format/segment.md that the reader (segment.cc) and the writer
// (segment_builder.cc) must agree on, as LevelDB's table/format.h is for its
// table and table builder. Not part of the store's interface; only those two
// files and segment_format.cc include it.
#ifndef LOUPE_STORE_EMBEDDED_SEGMENT_FORMAT_H_
#define LOUPE_STORE_EMBEDDED_SEGMENT_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/coding.h"
#include "model/transaction.h"
#include "store/embedded/segment.h"

namespace loupe::store {

constexpr char kHeaderMagic[8] = {'L', 'O', 'U', 'P', 'E', 'S', 'E', 'G'};
constexpr uint64_t kTrailerMagic = 0x31444e45'50554f4cull;  // "LOUPEND1" little-endian
// Header version: 1 = profile blocks of whole blobs and varint columns;
// 2 = columnar profile blocks and bit-packed end, elapsed and error columns.
// The meta block's version is 1, or kVersionReplaces, in both.
constexpr uint32_t kVersion = 1;
constexpr uint32_t kVersionColumnar = 2;

// Columns bit-packed in version 2 (packed_ints.h): what the X-View reads.
constexpr bool IsPackedColumn(int c) { return c == kColEnd || c == kColElapsed || c == kColError; }
// Meta version of a compacted segment: the meta block ends with the sequence
// numbers of the segments it replaces.
constexpr uint32_t kVersionReplaces = 2;
// Meta version 3 (written since 2026-12-07): the replaced list is always
// there (maybe empty), and late records end with the transaction's
// dropped_steps total and its rollup cell (docs/format/segment.md).
constexpr uint32_t kVersionLateCells = 3;
constexpr size_t kHeaderSize = 16;
constexpr size_t kTrailerSize = 24;

// Bloom filter of the transaction ids: 512-bit blocks, all probes of a key in
// one cache line. BloomMayContain is true for every id given to BloomBuild,
// and for a damaged filter.
void BloomBuild(const std::vector<model::TxId>& ids, int bits_per_key, std::string* out);
bool BloomMayContain(std::string_view filter, model::TxId id);

// A chunk reference (offset, lengths, CRC, codec). GetChunk is false on a
// short input or an unknown codec.
void PutChunk(std::string* out, const Segment::Chunk& c);
bool GetChunk(Decoder* d, Segment::Chunk* c);

// The summary change of a late record.
void PutSummaryDelta(std::string* out, const model::Summary& s);
void GetSummaryDelta(Decoder* d, model::Summary* s);

}  // namespace loupe::store

#endif  // LOUPE_STORE_EMBEDDED_SEGMENT_FORMAT_H_
