// Writing segments (segment.h): WriteSegment writes one from rows in memory,
// SegmentWriter streams one row by row (compaction). Byte layout:
// docs/format/segment.md; the reader is in segment.h.
//
// Thread-safety: WriteSegment is a pure function of its inputs; a
// SegmentWriter is used by one thread.
#ifndef LOUPE_STORE_EMBEDDED_SEGMENT_BUILDER_H_
#define LOUPE_STORE_EMBEDDED_SEGMENT_BUILDER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/env.h"
#include "common/status.h"
#include "model/transaction.h"
#include "store/embedded/compression.h"
#include "store/embedded/profile_block.h"
#include "store/embedded/segment.h"

namespace loupe::store {

// How WriteSegment and SegmentWriter lay a segment out.
struct SegmentOptions {
  Compression column_compression = Compression::kZstd;
  Compression profile_compression = Compression::kZstd;
  int zstd_level = 3;
  uint32_t rows_per_group = 8192;
  // Uncompressed bytes of a profile block's streams (of its blobs in
  // version 1) before it is cut.
  size_t profile_block_bytes = 128 << 10;
  // The file version to write: 2 (columnar profile blocks, bit-packed end,
  // elapsed and error columns) or 1 (whole-blob profile blocks, varint
  // columns), which is written only by tests of the old reader and by
  // measurements.
  uint32_t version = 2;
  int bloom_bits_per_key = 10;
  // false: write meta version 1/2 (late records without dropped_steps and
  // rollup cell), as files before 2026-12-07 are; only for tests of the
  // old reader.
  bool late_cells = true;
};

// One row handed to WriteSegment. dict[] are local ids into the dictionaries
// passed along; profile is an EncodeProfile blob.
struct SegmentRow {
  model::TxId id = 0;
  model::TraceId trace{};
  int64_t start_us = 0;
  int64_t end_us = 0;
  int32_t status = 0;
  bool error = false;
  uint32_t dict[kNumDictColumns] = {};
  model::Summary summary;
  uint32_t steps = 0;
  std::string_view profile;
};

// Bytes of each part of a written segment, for measurements.
struct SegmentSizes {
  uint64_t file = 0;
  uint64_t columns[kNumColumns] = {};
  uint64_t ids = 0;  // id + trace sections, both orders, bloom
  uint64_t profiles = 0;
  uint64_t profile_streams[profile_block::kNumStreams] = {};  // columnar: stored bytes
  uint64_t dicts = 0;
  uint64_t meta = 0;
};

// Writes a segment to path atomically (temporary file, fsync, rename, fsync
// of the directory). Sorts *rows by end time. REQUIRES: every dict id of a
// row is < dicts[c].size(); rows.size() < 2^32.
Status WriteSegment(Env* env, const std::string& path, const SegmentOptions& options,
                    uint32_t project, int64_t partition,
                    const std::vector<std::string> (&dicts)[kNumDictColumns],
                    std::vector<SegmentRow>* rows, const std::vector<LateRecord>& late,
                    SegmentSizes* sizes = nullptr);

// Writes a segment row by row, streaming to path + ".tmp" (a few MiB are
// buffered; row groups and profile blocks are written as they fill), then
// Finish() adds dictionaries, late steps, id sections and the meta block,
// fsyncs, renames to path and fsyncs the directory. Memory: ~24 bytes per
// row (ids, trace ids) plus one row group and one profile block. The
// destructor deletes the temporary file unless Finish succeeded.
// Not thread-safe.
class SegmentWriter {
 public:
  static Result<std::unique_ptr<SegmentWriter>> Create(Env* env, const std::string& path,
                                                       const SegmentOptions& options,
                                                       uint32_t project, int64_t partition);
  ~SegmentWriter();
  SegmentWriter(const SegmentWriter&) = delete;
  SegmentWriter& operator=(const SegmentWriter&) = delete;

  // REQUIRES: rows come in ascending end time (InvalidArgument otherwise);
  // dict ids are < the sizes of the dictionaries given to Finish. The
  // profile view need only be valid during the call.
  Status Add(const SegmentRow& row);
  // `replaces`: sequence numbers of the segments of the same partition this
  // one supersedes (compaction; docs/format/segment.md); empty for a flush.
  Status Finish(const std::vector<std::string> (&dicts)[kNumDictColumns],
                const std::vector<LateRecord>& late, const std::vector<uint64_t>& replaces,
                SegmentSizes* sizes = nullptr);
  // Appends column c's dictionary to *out as a segment stores it: the entry
  // count (varint), then each entry in id order (varint length, bytes; id 0
  // is ""). Called once per column, in column order.
  using DictSerializer = std::function<void(int c, std::string* out)>;
  // The same, the dictionaries serialized by the caller one at a time (a
  // compaction frees each once it is written).
  Status Finish(const DictSerializer& dicts, const std::vector<LateRecord>& late,
                const std::vector<uint64_t>& replaces, SegmentSizes* sizes = nullptr);
  // Reserves the ids of `rows` rows (a compaction knows its row count).
  void Reserve(size_t rows) {
    ids_.reserve(rows);
    traces_.reserve(rows);
  }
  uint64_t rows() const { return rows_; }
  // Profile steps not counted by Add (a compaction knows only the inputs'
  // totals); they go into the meta block's step count.
  void AddSteps(uint64_t n) { steps_ += n; }

 private:
  SegmentWriter(Env* env, std::string path, const SegmentOptions& options, uint32_t project,
                int64_t partition);
  uint64_t Offset() const;
  Segment::Chunk AddChunk(std::string_view raw, Compression codec);
  Status MaybeWrite(bool force);
  void FlushGroup();
  void FlushBlock();

  Env* const env_;
  const std::string path_, tmp_;
  const SegmentOptions options_;
  const uint32_t project_;
  const int64_t partition_;
  const uint32_t per_group_;
  std::unique_ptr<WritableFile> file_;
  bool started_ = false, finished_ = false;
  Status status_;
  uint64_t written_ = 0;
  std::string buf_, scratch_;
  uint64_t rows_ = 0, steps_ = 0;
  int64_t min_end_ = 0, last_end_ = 0, group_min_end_ = 0;
  uint32_t group_rows_ = 0, groups_ = 0, blocks_ = 0;
  uint32_t block_first_ = 0;
  std::string cols_[kNumColumns];
  std::vector<int64_t> packed_[kNumColumns];  // version 2: end, elapsed, error
  std::string block_;                         // version 1: the blobs of the current block
  ProfileBlockWriter columnar_block_;
  std::string groups_meta_, blocks_meta_;
  std::vector<model::TxId> ids_;
  std::vector<model::TraceId> traces_;
  SegmentSizes sizes_;
};

}  // namespace loupe::store

#endif  // LOUPE_STORE_EMBEDDED_SEGMENT_BUILDER_H_
