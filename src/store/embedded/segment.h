// Segment: one immutable, self-contained file of transactions of one project
// and one time partition, in columns. Byte layout, encodings and checksums:
// docs/format/segment.md.
//
// A segment holds:
//  - the transaction table, rows sorted by end time, cut into row groups
//    (default 8,192 rows) with their min/max end time; each column of a group
//    is a separately compressed, checksummed chunk, so a reader skips groups
//    outside a time range and a damaged chunk costs only its group;
//  - per-segment string dictionaries (service, instance, endpoint, user,
//    client ip, http method, error type); rows hold small local ids;
//  - uncompressed id sections for point lookups: transaction ids and trace
//    ids in row order, row permutations sorted by id and by trace id, and a
//    Bloom filter of the ids;
//  - profiles: per-row profile blobs (profile_codec.h) in row order, in
//    blocks of ~128 KiB split into columnar streams (profile_block.h);
//    version 1 files, still read, packed the blobs whole;
//  - late steps of transactions stored in other segments of the partition;
//  - a meta block (all offsets, lengths, CRCs) and a fixed trailer.
//
// This header is the reader (Segment) and what reader and writer share; the
// writer (WriteSegment, SegmentWriter) is in segment_builder.h.
//
// Thread-safety: a Segment is immutable after Open and all its methods may be
// called concurrently.
#ifndef LOUPE_STORE_EMBEDDED_SEGMENT_H_
#define LOUPE_STORE_EMBEDDED_SEGMENT_H_

#include <atomic>
#include <cassert>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/env.h"
#include "common/status.h"
#include "model/transaction.h"
#include "store/dict.h"
#include "store/embedded/compression.h"
#include "store/embedded/profile_block.h"

namespace loupe::store {

// The dictionary-encoded columns (DictColumn, IsHighCardinality) are
// store/dict.h's, in file order.

// A decoded dictionary: id -> string, in one buffer (one allocation for the
// strings instead of one per entry). Not thread-safe; a value.
class StringTable {
 public:
  StringTable() { ends_.push_back(0); }
  size_t size() const noexcept { return ends_.size() - 1; }
  std::string_view Get(uint32_t id) const noexcept {
    return std::string_view(data_.data() + ends_[id], ends_[id + 1] - ends_[id]);
  }
  // The id of s, or -1 (a linear search: a filter looks a value up once per
  // segment, which costs less than decoding the dictionary did).
  int64_t Find(std::string_view s) const noexcept;
  void Add(std::string_view s) {
    data_.append(s);
    ends_.push_back(data_.size());
  }
  void Clear() {
    data_.clear();
    ends_.assign(1, 0);
  }
  size_t bytes() const noexcept { return data_.capacity() + ends_.capacity() * sizeof(size_t); }

 private:
  std::string data_;
  std::vector<size_t> ends_;  // string i is [ends_[i], ends_[i + 1])
};

// All columns of a row group, in file order.
enum Column : int {
  kColEnd = 0,    // end_us, zigzag delta from the previous row (first: from group min_end)
  kColElapsed,    // end_us - start_us, zigzag
  kColStatus,     // zigzag
  kColError,      // varint 0/1
  kColDictFirst,  // kNumDictColumns varint local ids
  kColSqlCount = kColDictFirst + kNumDictColumns,
  kColSqlUs,
  kColFetchCount,
  kColFetchUs,
  kColExternalCount,
  kColExternalUs,
  kColCpuUs,  // zigzag, -1 = not reported
  kNumColumns,
};

// Column masks for Segment::ReadGroup: bit c selects Column c; kReadIds the
// id section, kReadTraces the trace id section.
constexpr uint32_t ColumnBit(int c) { return 1u << c; }
constexpr uint32_t kReadIds = 1u << kNumColumns;
constexpr uint32_t kReadTraces = 1u << (kNumColumns + 1);
constexpr uint32_t kReadAll = (1u << (kNumColumns + 2)) - 1;
// Not in kReadAll: point DecodedGroup::mapped_ids at the group's ids in the
// mapped file instead of copying them into DecodedGroup::id (a scan reads
// each id once; the copy was ~5 % of an hour's X-View).
constexpr uint32_t kMapIds = 1u << (kNumColumns + 2);

// Late steps of a transaction stored elsewhere: the summary change they
// bring and an EncodeSteps blob (base time 0: absolute start times).
struct LateRecord {
  model::TxId tx = 0;
  model::Summary delta{0, 0, 0, 0, 0, 0, 0};
  uint32_t steps = 0;
  std::string blob;
  // The transaction's dropped_steps total (LateSteps::dropped_steps; the
  // largest of its records wins); 0 in files before meta version 3.
  uint32_t dropped_steps = 0;
  // The rollup cell the delta belongs to: the transaction's end time and its
  // service, instance and endpoint ids (kDictService.. kDictEndpoint) in the
  // dictionaries of whoever holds the record (the project's in memory, the
  // segment's in a file). has_cell is false in files before meta version 3
  // (their rollup files never counted late steps).
  bool has_cell = false;
  int64_t end_us = 0;
  uint32_t cell[3] = {};
};

// A row group decoded.
struct DecodedGroup {
  uint32_t first_row = 0;
  uint32_t rows = 0;
  std::vector<int64_t> end, elapsed;
  std::vector<int32_t> status;
  std::vector<uint8_t> error;
  std::vector<uint32_t> dict[kNumDictColumns];
  std::vector<model::Summary> summary;
  std::vector<model::TxId> id;
  std::vector<model::TraceId> trace;
  // With kMapIds: rows x fixed64 ids in the mapped segment, valid while the
  // Segment lives.
  const char* mapped_ids = nullptr;
};

class Segment {
 public:
  struct Chunk {
    uint64_t offset = 0;
    uint32_t length = 0;
    uint32_t raw_length = 0;
    uint32_t crc = 0;  // masked CRC32C of the stored bytes
    Compression codec = Compression::kNone;
  };
  struct Group {
    uint32_t first_row = 0;
    uint32_t rows = 0;
    int64_t min_end = 0, max_end = 0;
    Chunk columns[kNumColumns];
  };

  // Opens and checks the trailer, meta block, dictionaries and late steps.
  // kCorruption (naming the file) when any of them fails its checksum.
  static Result<std::unique_ptr<Segment>> Open(Env* env, const std::string& path);

  const std::string& path() const { return path_; }
  uint32_t project() const { return project_; }
  int64_t partition() const { return partition_; }
  uint32_t rows() const { return rows_; }
  uint64_t steps() const { return steps_; }  // profile steps plus late steps
  int64_t min_end() const { return min_end_; }
  int64_t max_end() const { return max_end_; }
  uint64_t file_size() const { return file_->Size(); }
  const std::vector<Group>& groups() const { return groups_; }
  // The dictionary of column c. REQUIRES: !IsHighCardinality(c) (those are
  // not kept in memory: ReadDict).
  const std::vector<std::string>& dict(int c) const {
    assert(!IsHighCardinality(c));
    return dicts_[c];
  }
  // Entries of column c's dictionary (id 0 is "").
  uint32_t dict_size(int c) const { return dict_sizes_[c]; }
  // Decodes column c's dictionary (any column) into *out. kCorruption when
  // it no longer decodes (it was checked at Open).
  Status ReadDict(int c, StringTable* out) const;
  // Dictionary entries this object keeps in memory (the bounded columns'),
  // and their approximate bytes.
  size_t resident_dict_entries() const;
  size_t resident_dict_bytes() const;
  const std::vector<LateRecord>& late() const { return late_; }
  // Sequence numbers of the segments this one replaces (a compaction's
  // output); empty for a flushed segment.
  const std::vector<uint64_t>& replaces() const { return replaces_; }
  size_t profile_blocks() const { return profile_blocks_.size(); }
  // 2: columnar profile blocks, bit-packed end/elapsed/error columns;
  // 1: whole-blob profile blocks, varint columns.
  uint32_t version() const { return version_; }

  // Reads the profile blobs of a segment in row order, a block at a time.
  class ProfileCursor {
   public:
    explicit ProfileCursor(const Segment& seg) : seg_(seg) {}
    // Positions the cursor so that the next Next() gives row's blob.
    Status Seek(uint32_t row);
    // The next row's blob, valid until the next call.
    Result<std::string_view> Next();

   private:
    Status LoadBlock(size_t b);

    const Segment& seg_;
    size_t next_block_ = 0;
    uint32_t row_ = 0, block_end_ = 0;
    std::string raw_;
    Decoder blobs_;              // version 1
    ProfileBlockReader reader_;  // version 2
    std::string blob_;
  };

  // Decodes row group g: the columns selected by `columns` (ColumnBit,
  // kReadIds, kReadTraces; kColEnd is always decoded); the vectors of other columns are
  // left as they were. kCorruption naming the file and group when a chunk
  // fails its checksum or does not decode.
  Status ReadGroup(size_t g, DecodedGroup* out, uint32_t columns = kReadAll) const;
  // The group holding row.
  size_t GroupOf(uint32_t row) const;

  // Sets *row and returns true when id is in the segment.
  Result<bool> FindId(model::TxId id, uint32_t* row) const;
  // Appends the rows of trace to *rows.
  Status FindTrace(const model::TraceId& trace, std::vector<uint32_t>* rows) const;
  // The profile blob of row.
  Status ReadProfile(uint32_t row, std::string* blob) const;

  // Reads and checks everything: the id sections, every row group (all
  // columns) and every profile block (checksum, decompression, one blob per
  // row). kCorruption naming the file and the damaged part. For
  // `loupe store verify`; reads the whole file.
  Status Verify() const;

  // Drops the mapped file's pages from the process's resident set when no
  // group, profile or trace was read since the previous call (the pages stay
  // in the page cache); returns whether it did. Reads keep the pages of the
  // segments in use resident; those of segments nobody reads (a flushed hour
  // once its writes are done) stop counting in RSS. Thread-safe.
  bool ReleasePagesIfIdle() const {
    if (read_since_release_.exchange(false, std::memory_order_relaxed)) return false;
    file_->DropResidentPages();
    return true;
  }

  // Drops the mapped file's pages from the process's resident set now (a
  // reader that reads the file once, as a compaction does its inputs).
  // Thread-safe.
  void ReleasePages() const { file_->DropResidentPages(); }

  // True the first time it is called: lets a caller log damage of this
  // segment once instead of on every lookup.
  bool FirstDamageReport() const { return !damage_reported_.exchange(true); }

 private:
  struct Section {
    uint64_t offset = 0;
    uint64_t length = 0;
    uint32_t crc = 0;
  };
  enum SectionId { kIds = 0, kTraces, kIdOrder, kTraceOrder, kBloom, kNumSections };
  struct ProfileBlock {
    uint32_t first_row = 0;
    Chunk chunk;
  };

  Segment(std::string path, std::unique_ptr<RandomAccessFile> file);
  Status Load();
  // Checks chunk c and sets *out to its raw bytes: in the mapped file when
  // it is stored uncompressed, else decompressed into *scratch.
  Status ViewChunk(const Chunk& c, std::string* scratch, std::string_view* out,
                   std::string_view what) const;
  // The same, the raw bytes always copied into *out.
  Status ReadChunk(const Chunk& c, std::string* out, std::string_view what) const;
  // Checks the CRCs of the id sections once; later calls return the result.
  Status VerifySections() const;
  const char* SectionData(SectionId s) const { return base_ + sections_[s].offset; }
  model::TxId IdAt(uint32_t row) const;
  model::TraceId TraceAt(uint32_t row) const;

  const std::string path_;
  std::unique_ptr<RandomAccessFile> file_;
  const char* base_ = nullptr;  // the mapped file

  uint32_t project_ = 0;
  int64_t partition_ = 0;
  uint32_t rows_ = 0;
  uint64_t steps_ = 0;
  int64_t min_end_ = 0, max_end_ = 0;
  std::vector<std::string> dicts_[kNumDictColumns];  // empty for high-cardinality columns
  uint32_t dict_sizes_[kNumDictColumns] = {};
  Chunk dict_chunks_[kNumDictColumns];
  std::vector<LateRecord> late_;
  std::vector<uint64_t> replaces_;
  Section sections_[kNumSections];
  std::vector<Group> groups_;
  std::vector<ProfileBlock> profile_blocks_;
  uint32_t version_ = 1;

  mutable std::atomic<bool> damage_reported_{false};
  // Set by reads (ReadGroup, ReadProfile, FindTrace), cleared by ReleasePagesIfIdle.
  mutable std::atomic<bool> read_since_release_{true};
  void MarkRead() const { read_since_release_.store(true, std::memory_order_relaxed); }
  mutable std::once_flag verify_once_;
  mutable Status verify_status_;
};

// Parses the "<project>_<partition>_<sequence>" stem shared by segment and
// rollup file names (decimal; partition may be negative).
bool ParseFileStem(std::string_view stem, uint32_t* project, int64_t* partition, uint64_t* seq);

// Segment file names: "<project>_<partition>_<sequence>.seg".
std::string SegmentFileName(uint32_t project, int64_t partition, uint64_t seq);
bool ParseSegmentFileName(std::string_view name, uint32_t* project, int64_t* partition,
                          uint64_t* seq);

}  // namespace loupe::store

#endif  // LOUPE_STORE_EMBEDDED_SEGMENT_H_
