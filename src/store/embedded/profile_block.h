// Columnar profile blocks (segment version 2): the profile blobs of a run of
// rows (profile_codec.h) split into streams of like values — span ids, parent
// references, kinds, start gaps, elapsed times, and one reference stream plus
// one literal stream per string field with a per-block dictionary — each
// compressed on its own. Start times are stored as the gap to a predicted
// start (the previous step's end, or its start when it is the parent), so
// sequential and nested steps both give small numbers. Byte layout:
// docs/format/segment.md, "Profile blocks".
//
// The writer takes blobs and the reader gives back byte-identical blobs, so
// everything above the segment keeps working with blobs.
// Thread-safety: none; one writer or reader per thread.
#ifndef LOUPE_STORE_EMBEDDED_PROFILE_BLOCK_H_
#define LOUPE_STORE_EMBEDDED_PROFILE_BLOCK_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/coding.h"
#include "common/status.h"
#include "store/embedded/compression.h"

namespace loupe::store {

namespace profile_block {

// The streams of a block, in file order.
enum Stream : int {
  kIds = 0,      // fixed64: root span id, remote parent (if any), step span ids, raw parents
  kTx,           // varint per row: has remote parent, dropped_steps, step count
  kParentRef,    // varint per step: profile_codec's parent reference
  kError,        // varint per step: 0 or 1
  kStartGap,     // zigzag per step: start − predicted start
  kElapsed,      // zigzag per step
  kBindCount,    // varint per step
  kRows,         // zigzag per step
  kAttrCount,    // varint per step
  kFirstString,  // then per string field: reference stream, literal stream
};

// String fields: each has a reference stream (varint 0 = the next literal;
// k > 0 = the k-th distinct literal of this field in the block, from 1) and
// a literal stream (`string` values). kShape's values are a step's
// invariant part, serialized: byte kind, string name, sql, db_system, host,
// zigzag http_status — one reference instead of six correlated values.
enum Field : int {
  kShape = 0,
  kTxHost,
  kTxUrl,
  kBind,
  kStepUrl,
  kMessage,
  kStack,
  kAttrKey,
  kAttrValue,
  kNumFields,
};

constexpr int kNumStreams = kFirstString + 2 * kNumFields;
constexpr uint8_t kLayout = 1;

}  // namespace profile_block

// Builds one block from blobs. Memory: the block's streams plus the
// distinct strings' offsets.
class ProfileBlockWriter {
 public:
  ProfileBlockWriter();

  // Splits blob into the streams. kCorruption if it is not a well-formed
  // profile blob (nothing is added then).
  Status Add(std::string_view blob);

  uint32_t rows() const { return rows_; }
  // Bytes of the uncompressed streams so far.
  size_t raw_bytes() const;

  // Appends the encoded block (header and compressed streams) to *out and
  // clears the writer. Streams are compressed with `codec` (zstd at
  // `level`); each one is stored raw when that is smaller.
  void Finish(Compression codec, int level, std::string* out);

  // Stored (compressed) bytes of each stream over all blocks finished, for
  // measurements.
  const uint64_t* stored_bytes() const { return stored_bytes_; }

 private:
  // A string field's distinct values: open addressing over offsets into
  // its literal stream (which only grows, so offsets stay valid).
  struct Interner {
    struct Slot {
      uint64_t hash = 0;
      uint32_t offset = 0;  // of the string's bytes in the literal stream
      uint32_t length = 0;
      uint32_t id = 0;  // 0 = empty slot, else the value's id + 1
    };
    std::vector<Slot> slots;
    uint32_t count = 0;
  };

  void PutStringField(int field, std::string_view s);
  void Clear();

  std::string streams_[profile_block::kNumStreams];
  Interner interners_[profile_block::kNumFields];
  uint32_t rows_ = 0;
  uint64_t stored_bytes_[profile_block::kNumStreams] = {};
  // Relative start and elapsed of the steps of the row being added.
  std::vector<int64_t> start_, elapsed_;
  std::string shape_;
};

// Decodes one block row by row.
class ProfileBlockReader {
 public:
  // Decompresses the streams of `block` (the bytes Finish appended).
  // kCorruption if the header or a stream does not decode.
  Status Open(std::string_view block);

  uint32_t rows() const { return rows_; }

  // Rebuilds the next row's blob into *blob (cleared first), or skips the
  // row when blob is null. kCorruption if the streams do not hold it, or
  // after the last row.
  Status Next(std::string* blob);

  // After the last row: kCorruption unless every stream was used up.
  Status CheckDone() const;

 private:
  bool GetStringField(int field, std::string_view* s);
  template <bool kOut>
  bool Row(std::string* out);

  uint32_t rows_ = 0;
  uint32_t next_ = 0;
  std::string data_[profile_block::kNumStreams];
  Decoder in_[profile_block::kNumStreams];
  std::vector<std::string_view> dict_[profile_block::kNumFields];
  std::vector<int64_t> start_, elapsed_;
};

}  // namespace loupe::store

#endif  // LOUPE_STORE_EMBEDDED_PROFILE_BLOCK_H_
