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
// Thread-safety: WriteRollupFile is a pure function of its inputs. A
// RollupFile is immutable after Open; its methods may be called concurrently.
#ifndef LOUPE_STORE_EMBEDDED_ROLLUP_FILE_H_
#define LOUPE_STORE_EMBEDDED_ROLLUP_FILE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
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
