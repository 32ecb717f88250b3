// Block files of the time-series store (docs/format/tsdb.md): immutable,
// one per project, kind and time window, self-contained (string table,
// series list, compressed columns) and covered by one CRC32C.
//
// Thread-safety: a Block is immutable after Open; its readers may be called
// concurrently.
#ifndef LOUPE_STORE_TSDB_BLOCK_H_
#define LOUPE_STORE_TSDB_BLOCK_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/env.h"
#include "common/status.h"
#include "store/tsdb/series.h"

namespace loupe::tsdb {

// kDayAggregate: the aggregate blocks of one UTC day merged into one file
// (Maintain's compaction); same payloads as kAggregate.
enum class BlockKind : uint8_t { kRaw = 0, kAggregate = 1, kDayAggregate = 2 };

inline constexpr int64_t kDayMs = 86'400'000;

// Aggregate resolutions, in the order their columns are stored.
inline constexpr int64_t kAggResolutionsMs[2] = {60'000, 3'600'000};

// One resolution's buckets of one series; a bucket's time is its start.
// Beside the five aggregates of issue 13, first and inc make a counter's
// rate exact over aggregates: inc is the increase between the bucket's own
// samples with reset detection (0 for gauges and delta counters), and the
// increase across buckets is first minus the previous bucket's last.
struct AggColumns {
  std::vector<int64_t> time;
  std::vector<double> min, max, sum, count, last, first, inc;
  static constexpr int kColumns = 7;
  // The value columns in stored order (AggColumn bit i = column i).
  std::vector<double>* column(int i) {
    std::vector<double>* cols[kColumns] = {&min, &max, &sum, &count, &last, &first, &inc};
    return cols[i];
  }
  const std::vector<double>* column(int i) const {
    return const_cast<AggColumns*>(this)->column(i);
  }
  void clear() {
    time.clear();
    for (int i = 0; i < kColumns; ++i) column(i)->clear();
  }
};

// Column mask for Block::ReadAgg.
enum AggColumn : uint8_t {
  kMin = 1,
  kMax = 2,
  kSum = 4,
  kCount = 8,
  kLast = 16,
  kFirst = 32,
  kInc = 64,
  kAllColumns = 127,
};

// Series identity as written in a block.
struct BlockSeriesInfo {
  uint32_t id = 0;
  std::string metric;
  Labels labels;
  SeriesKind kind = SeriesKind::kGauge;
};

// A series as the writers see it; the pointees outlive the Encode call.
struct SeriesRef {
  uint32_t id = 0;
  const std::string* metric = nullptr;
  const Labels* labels = nullptr;
  SeriesKind kind = SeriesKind::kGauge;
};

// What EncodeRawBlock writes for one series. REQUIRES: time ascending,
// values finite, time.size() == value.size() > 0.
struct RawSeriesData {
  SeriesRef ref;
  std::vector<int64_t> time;
  std::vector<double> value;
};

struct AggSeriesData {
  SeriesRef ref;
  AggColumns res[2];  // kAggResolutionsMs order
};

struct BlockHeader {
  BlockKind kind = BlockKind::kRaw;
  uint32_t project = 0;
  int64_t start_ms = 0;
  int64_t window_ms = 0;
};

std::string EncodeRawBlock(const BlockHeader& header, std::span<const RawSeriesData> series);
std::string EncodeAggBlock(const BlockHeader& header, std::span<const AggSeriesData> series);

// Buckets samples (ascending time) into aggregates of every resolution;
// out->ref.kind decides whether inc is computed.
void Downsample(std::span<const int64_t> time, std::span<const double> value, AggSeriesData* out);

class Block {
 public:
  struct Entry {
    uint32_t id = 0;      // the store's series id (see Remap)
    uint32_t n[2] = {};   // raw: samples, 0; aggregate: buckets per resolution
    int64_t min_ms = 0;
    int64_t max_ms = 0;
    uint64_t offset = 0;  // of the series' payload in the file
    uint64_t len = 0;
  };

  // Reads and checks the file (header, checksum, index). On success and
  // with infos non-null, fills one BlockSeriesInfo per entry, in entries()
  // order. kCorruption names the file and the failed check.
  static Result<std::unique_ptr<Block>> Open(Env* env, const std::string& path,
                                             std::vector<BlockSeriesInfo>* infos);

  const BlockHeader& header() const noexcept { return header_; }
  const std::string& path() const noexcept { return path_; }
  uint64_t size() const noexcept { return size_; }
  const std::vector<Entry>& entries() const noexcept { return entries_; }

  // Replaces entries()[i].id with ids[i] (the ids the store gave these
  // series) and re-sorts for Find. Called once, before the block is shared.
  void Remap(std::span<const uint32_t> ids);
  const Entry* Find(uint32_t id) const noexcept;

  // False when the payload does not decode (corruption after Open's checks
  // is impossible unless the file changed under us).
  bool ReadRaw(const Entry& e, std::vector<int64_t>* time, std::vector<double>* value) const;
  // res: 0 = 1 minute, 1 = 1 hour. Fills time and the columns in mask.
  bool ReadAgg(const Entry& e, int res, uint8_t mask, AggColumns* out) const;

 private:
  Block() = default;
  std::string path_;
  BlockHeader header_;
  uint64_t size_ = 0;
  std::unique_ptr<RandomAccessFile> file_;
  std::string owned_;  // the bytes when the file is not mapped
  std::string_view data_;
  std::vector<Entry> entries_;  // sorted by id after Remap
};

// The file name of a block: "raw-<start_ms>.tsb", "agg-<start_ms>.tsb" or
// "day-<start_ms>.tsb".
std::string BlockFileName(BlockKind kind, int64_t start_ms);
// Parses a block file name; false for any other name.
bool ParseBlockFileName(std::string_view name, BlockKind* kind, int64_t* start_ms);

}  // namespace loupe::tsdb

#endif  // LOUPE_STORE_TSDB_BLOCK_H_
