// Internals shared by the files of TimeSeriesStore (time_series_store.cc,
// head_append.cc, query.cc): the head's per-series chunks and windows, and
// the per-project state. Not a public contract.
#ifndef LOUPE_STORE_TSDB_TSDB_INTERNAL_H_
#define LOUPE_STORE_TSDB_TSDB_INTERNAL_H_

#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "store/tsdb/block.h"
#include "store/tsdb/chunk.h"
#include "store/tsdb/series_index.h"
#include "store/tsdb/time_series_store.h"

namespace loupe::tsdb {

// One series' samples of one head window, compressed as they arrive.
struct HeadChunk {
  BitWriter time_bits;
  BitWriter value_bits;
  TimestampEncoder time_enc;
  XorEncoder value_enc;
  uint32_t n = 0;
  int64_t min_ms = 0;
  int64_t max_ms = 0;

  void Append(int64_t t, double v) noexcept {
    time_enc.Append(t, &time_bits);
    value_enc.Append(v, &value_bits);
    if (n == 0) min_ms = t;
    max_ms = t;
    ++n;
  }
  size_t MemoryBytes() const noexcept {
    return sizeof(*this) + time_bits.MemoryBytes() + value_bits.MemoryBytes();
  }
};

// Decodes a head chunk's samples; false if its bits do not decode.
bool DecodeHeadChunk(const std::string& time_bytes, const std::string& value_bytes, uint32_t n,
                     std::vector<int64_t>* time, std::vector<double>* value);

struct TimeSeriesStore::Window {
  int64_t start_ms = 0;
  std::vector<std::unique_ptr<HeadChunk>> chunks;  // by series id; null = no samples
  uint64_t version = 0;          // bumped by every Append that adds a sample
  uint64_t flushed_version = 0;  // the version the raw block on disk holds
  bool sealing = false;          // Maintain is sealing it: Appends to it are dropped
};

struct TimeSeriesStore::Project {
  ProjectId id = 0;
  std::string dir;
  mutable std::shared_mutex mu;
  SeriesIndex index;                                     // GUARDED_BY(mu)
  std::vector<int64_t> last_ms;                          // by series id; GUARDED_BY(mu)
  std::map<int64_t, std::unique_ptr<Window>> head;       // by window start; GUARDED_BY(mu)
  std::map<int64_t, std::shared_ptr<const Block>> raw;   // GUARDED_BY(mu)
  std::map<int64_t, std::shared_ptr<const Block>> agg;   // GUARDED_BY(mu)
};

// The aggregate block (window or day) covering the window starting at w, or null.
inline const Block* AggCovering(const std::map<int64_t, std::shared_ptr<const Block>>& agg,
                                int64_t w) noexcept {
  auto it = agg.upper_bound(w);
  if (it == agg.begin()) return nullptr;
  --it;
  const BlockHeader& h = it->second->header();
  return w < h.start_ms + h.window_ms ? it->second.get() : nullptr;
}

// Start of the window holding t (floor division, negative times too).
inline int64_t WindowStart(int64_t t, int64_t window_ms) noexcept {
  int64_t s = t / window_ms * window_ms;
  if (s > t) s -= window_ms;
  return s;
}

}  // namespace loupe::tsdb

#endif  // LOUPE_STORE_TSDB_TSDB_INTERNAL_H_
