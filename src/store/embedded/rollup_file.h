// Rollup files of the embedded engine: the rollup cells (store/rollup.h) of
// the rows of one segment, one resolution a file, written beside it.
// Byte layout: docs/format/rollup.md.
//
//   <project>_<partition>_<seq>.r1s     one-second cells   (kept like segments)
//   <project>_<partition>_<seq>.rollup  five-minute cells and hourly user
//                                       sketches           (kept rollup_retention_days)
//
// <seq> is the sequence number of the segment the cells were computed from,
// so a segment without its two rollup files is detectable (a crash between
// the segment and its rollups, a data directory from before rollups) and its
// rollups are rebuilt from its rows.
//
// A file holds cells in blocks sorted by bucket (one-second files: one block
// per minute, so a short range reads a few blocks; five-minute files: one
// block), a dictionary of the service/instance/endpoint names the cells use
// (local ids), the user sketches, and an index; every part is checksummed.
//
// Thread-safety: WriteRollupFile is a pure function of its inputs; a
// RollupFileWriter is not thread-safe. A RollupFile is immutable after Open;
// its methods may be called concurrently.
#ifndef LOUPE_STORE_EMBEDDED_ROLLUP_FILE_H_
#define LOUPE_STORE_EMBEDDED_ROLLUP_FILE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/env.h"
#include "common/status.h"
#include "store/rollup.h"

namespace loupe::store {

// Cells of one block, decoded, with local dictionary ids in keys.
struct RollupBlock {
  std::vector<RollupKey> keys;
  std::vector<RollupCounts> counts;
  std::vector<uint32_t> hist_begin;  // cells + 1 offsets into bins
  std::vector<HistBin> bins;

  size_t size() const noexcept { return keys.size(); }
  std::span<const HistBin> hist(size_t i) const noexcept {
    return {bins.data() + hist_begin[i], hist_begin[i + 1] - hist_begin[i]};
  }
};

struct RollupBlockInfo {
  int64_t first_bucket_us = 0;
  int64_t last_bucket_us = 0;
  uint64_t offset = 0;
  uint64_t stored = 0;  // bytes on disk including the 4-byte CRC
  uint64_t raw = 0;
  uint64_t cells = 0;
  uint8_t codec = 0;
};

// Writes the cells of `b` of resolution r (and, for kFiveMinutes, its user
// sketches) to path atomically (temporary file, fsync, rename, directory
// fsync). Ids in b are named with `name`. Writes nothing and returns OK when
// there is nothing to write.
Status WriteRollupFile(Env* env, const std::string& path, uint32_t project, int64_t partition,
                       RollupResolution r, const RollupBuilder& b, const RollupNamer& name,
                       int zstd_level);

// Writes one rollup file block by block, so that a caller producing cells
// in bucket order holds only the cells not yet written: a compaction merges
// an hour's rows by end time and writes its one-second cells a minute at a
// time instead of building the hour's (measured at 200 TPS: ~130 bytes a
// transaction for one-second cells held whole). Appends go to path + ".tmp";
// Finish writes the dictionary, the user sketches (kFiveMinutes) and the
// index, fsyncs, renames to path and fsyncs the directory. The destructor
// deletes the temporary file unless Finish succeeded. Ids in the builders
// passed are named with `name`, called during WriteBlocks and Finish.
class RollupFileWriter {
 public:
  RollupFileWriter(Env* env, std::string path, uint32_t project, int64_t partition,
                   RollupResolution r, RollupNamer name, int zstd_level);
  ~RollupFileWriter();
  RollupFileWriter(const RollupFileWriter&) = delete;
  RollupFileWriter& operator=(const RollupFileWriter&) = delete;

  // Writes the blocks of b's cells of this resolution, from written_until()
  // on, that end at or before before_us (one-second files: a block holds the
  // cells of the minute from its first bucket; other resolutions: one block,
  // written by Finish). REQUIRES: b holds every cell it will ever hold with
  // a bucket below before_us, and its cells below written_until() are those
  // already written (or erased).
  Status WriteBlocks(const RollupBuilder& b, int64_t before_us);
  // Buckets below this are written: the caller may erase them from its
  // builder (RollupBuilder::EraseSeconds).
  int64_t written_until() const { return written_until_; }
  // Writes the remaining cells of b and completes the file. Leaves no file
  // and returns OK when nothing at all was written (no cells, no sketches).
  Status Finish(const RollupBuilder& b);

 private:
  uint32_t LocalId(int col, uint32_t id);
  Status AppendPart(std::string_view raw, RollupBlockInfo* info);

  Env* const env_;
  const std::string path_, tmp_;
  const uint32_t project_;
  const int64_t partition_;
  const RollupResolution resolution_;
  const RollupNamer name_;
  const int zstd_level_;
  std::unique_ptr<WritableFile> file_;  // created with the first block
  uint64_t offset_ = 0;
  bool finished_ = false;
  Status status_;
  int64_t written_until_ = INT64_MIN;
  uint64_t cells_ = 0;
  std::vector<RollupBlockInfo> blocks_;
  std::vector<std::string> dict_[3];  // local ids, 0 = ""
  std::unordered_map<uint32_t, uint32_t> local_[3];
  std::string raw_, stored_;
};

class RollupFile {
 public:
  // Reads and checks the trailer, index and dictionary; blocks and sketches
  // are read on demand. kCorruption when a checksum or structure is wrong.
  static Result<std::shared_ptr<const RollupFile>> Open(Env* env, const std::string& path);

  const std::string& path() const { return path_; }
  uint32_t project() const { return project_; }
  int64_t partition() const { return partition_; }
  RollupResolution resolution() const { return resolution_; }
  uint64_t file_size() const { return file_size_; }
  uint64_t cells() const { return cells_; }
  // Names by local id; column 0 service, 1 instance, 2 endpoint; id 0 = "".
  const std::vector<std::string>& dict(int column) const { return dict_[column]; }
  const std::vector<RollupBlockInfo>& blocks() const { return blocks_; }

  // with_hist false: the cells' sums only (every hist(i) empty).
  Status ReadBlock(size_t i, RollupBlock* out, bool with_hist = true) const;
  // The user sketches (keys with local service ids).
  Status ReadUsers(std::vector<std::pair<UsersKey, HyperLogLog>>* out) const;

 private:
  Status ReadPart(uint64_t offset, uint64_t stored, uint64_t raw, uint8_t codec,
                  std::string* out) const;

  std::string path_;
  std::unique_ptr<RandomAccessFile> file_;
  uint64_t file_size_ = 0;
  uint32_t project_ = 0;
  int64_t partition_ = 0;
  RollupResolution resolution_ = RollupResolution::kSecond;
  uint64_t cells_ = 0;
  std::vector<std::string> dict_[3];
  std::vector<RollupBlockInfo> blocks_;
  RollupBlockInfo users_;  // stored == 0: none
};

// "<project>_<partition>_<seq>.r1s" / ".rollup".
std::string RollupFileName(uint32_t project, int64_t partition, uint64_t seq, RollupResolution r);
bool ParseRollupFileName(std::string_view name, uint32_t* project, int64_t* partition,
                         uint64_t* seq, RollupResolution* r);

}  // namespace loupe::store

#endif  // LOUPE_STORE_EMBEDDED_ROLLUP_FILE_H_
