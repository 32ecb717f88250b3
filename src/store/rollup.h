// Rollups: figures pre-aggregated at ingest, so series, endpoint statistics
// and day-long views read a few thousand cells instead of millions of rows.
//
// A cell holds, for one time bucket and one (service, instance, endpoint),
// the transaction count, errors, elapsed sum and max, SQL and external sums,
// and a log-scaled elapsed histogram with error counts per bin (percentiles;
// the hitmap is the same histogram read per time bucket). Two resolutions:
// one second and five minutes. Distinct users (user id, else client IP) are
// kept per hour and service as HyperLogLog sketches; a day is the union of
// its hours.
//
// Cells take a transaction's summary when it is appended, and the summary
// increase of its late steps when they are merged (AddLate): the late steps'
// SQL and external sums go to the cells of the transaction's end time and
// (service, instance, endpoint), with no count, so rollups and raw rows
// agree. Such a delta may sit in a cell of its own (count 0, no histogram)
// until merged with the transaction's cell (another file, another memtable).
//
// File layout of the embedded engine's rollup files: docs/format/rollup.md.
//
// Thread-safety: RollupBuilder and RollupStats are plain values; callers
// lock. The functions are pure.
#ifndef LOUPE_STORE_ROLLUP_H_
#define LOUPE_STORE_ROLLUP_H_

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/hll.h"
#include "model/transaction.h"

namespace loupe::store {

// kSecond and kFiveMinutes cells are keyed by (service, instance,
// endpoint); kMinute cells by (service, instance) only (endpoint id 0): the
// charts of a day or a month at minute steps read a dozen cells a minute
// instead of hundreds.
enum class RollupResolution : uint8_t { kSecond = 0, kFiveMinutes = 1, kMinute = 2 };
constexpr RollupResolution kRollupResolutions[] = {
    RollupResolution::kSecond, RollupResolution::kMinute, RollupResolution::kFiveMinutes};

constexpr int64_t kRollupSecondUs = 1'000'000;
constexpr int64_t kRollupMinuteUs = 60'000'000;
constexpr int64_t kRollupFiveMinutesUs = 300'000'000;
constexpr int64_t kRollupHourUs = 3'600'000'000;
constexpr int kUsersHllPrecision = 12;  // 4 KiB a sketch, ~1.6 % standard error

constexpr int64_t RollupStepUs(RollupResolution r) {
  return r == RollupResolution::kSecond   ? kRollupSecondUs
         : r == RollupResolution::kMinute ? kRollupMinuteUs
                                          : kRollupFiveMinutesUs;
}

// Elapsed histogram bins: 8 per power of two of microseconds, so a bin's
// bounds are at most 12.5 % apart and a percentile read from the bin's
// geometric middle is within ±6.1 % (sqrt(1.125) - 1) of the exact one. Bin b covers
// [BinLowerUs(b), BinLowerUs(b + 1)); elapsed < 1 µs counts as 1 µs.
constexpr int kBinsPerOctave = 8;
uint16_t ElapsedBin(int64_t elapsed_us) noexcept;
double BinLowerUs(uint16_t bin) noexcept;
double BinMidUs(uint16_t bin) noexcept;

struct HistBin {
  uint16_t bin = 0;
  uint32_t count = 0;
  uint32_t errors = 0;
  bool operator==(const HistBin&) const = default;
};

// The sums of a cell; RollupStats adds the histogram.
struct RollupCounts {
  uint64_t count = 0;
  uint64_t errors = 0;
  int64_t elapsed_sum_us = 0;
  int64_t elapsed_max_us = 0;
  uint64_t sql_count = 0;
  int64_t sql_us = 0;
  uint64_t external_count = 0;
  int64_t external_us = 0;

  void Merge(const RollupCounts& other) noexcept;
  bool operator==(const RollupCounts&) const = default;
};

struct RollupStats : RollupCounts {
  std::vector<HistBin> hist;  // ascending bin, no empty bins

  void Add(int64_t elapsed_us, bool error, const model::Summary& summary);
  void Merge(const RollupCounts& counts, std::span<const HistBin> bins);
  bool operator==(const RollupStats&) const = default;
};

// Merges bins of `from` into the ascending, duplicate-free `into`.
void MergeHist(std::span<const HistBin> from, std::vector<HistBin>* into);

// Nearest-rank percentile q (0 < q <= 1) of a histogram, in µs: the middle of
// the bin holding the rank, clamped to [min bin lower bound, max_us]. 0 when
// the histogram is empty.
double HistPercentileUs(std::span<const HistBin> hist, double q, int64_t max_us) noexcept;
// The same over a dense histogram: counts[b] is the count of bin b.
double DenseHistPercentileUs(std::span<const uint64_t> counts, double q, int64_t max_us) noexcept;

struct RollupKey {
  int64_t bucket_us = 0;                             // start of the bucket (a multiple of the step)
  uint32_t service = 0, instance = 0, endpoint = 0;  // dictionary ids of the owner
  bool operator==(const RollupKey&) const = default;
};

struct RollupKeyHash {
  size_t operator()(const RollupKey& k) const noexcept;
};

struct UsersKey {
  int64_t hour_us = 0;
  uint32_t service = 0;
  auto operator<=>(const UsersKey&) const = default;
};

// Accumulates both resolutions and the user sketches of appended
// transactions. Keys hold the owner's dictionary ids (a store's dense ids).
class RollupBuilder {
 public:
  using CellMap = std::unordered_map<RollupKey, RollupStats, RollupKeyHash>;

  RollupBuilder() = default;
  RollupBuilder(RollupBuilder&&) = default;
  RollupBuilder& operator=(RollupBuilder&&) = default;
  RollupBuilder(const RollupBuilder&) = delete;  // the bucket index points into the maps

  // user: user id, else client IP; "" adds no user.
  void Add(int64_t end_us, int64_t elapsed_us, bool error, const model::Summary& summary,
           uint32_t service, uint32_t instance, uint32_t endpoint, std::string_view user);

  // Adds the SQL/external sums of `delta` (late steps of a transaction
  // ending at end_us) to the cells of all resolutions; count, errors,
  // elapsed and histogram are untouched (a cell may be created with count 0).
  void AddLate(int64_t end_us, const model::Summary& delta, uint32_t service, uint32_t instance,
               uint32_t endpoint);

  // Adds every cell and sketch of other (same dictionary ids).
  void Merge(const RollupBuilder& other);

  const CellMap& cells(RollupResolution r) const {
    return r == RollupResolution::kSecond   ? seconds_
           : r == RollupResolution::kMinute ? minutes_
                                            : minutes5_;
  }
  const std::map<UsersKey, HyperLogLog>& users() const { return users_; }
  std::map<UsersKey, HyperLogLog>& mutable_users() { return users_; }
  bool empty() const { return seconds_.empty() && users_.empty(); }
  // Approximate memory held.
  size_t bytes() const noexcept { return bytes_; }

  // Cells of resolution r by bucket, so a range visits only its buckets
  // (map nodes are stable: the pointers stay valid while the builder lives).
  using BucketIndex = std::map<int64_t, std::vector<const CellMap::value_type*>>;
  const BucketIndex& by_bucket(RollupResolution r) const {
    return r == RollupResolution::kSecond   ? seconds_index_
           : r == RollupResolution::kMinute ? minutes_index_
                                            : minutes5_index_;
  }
  // Drops the one-second cells of buckets in [from_us, to_us].
  void EraseSeconds(int64_t from_us, int64_t to_us);

 private:
  RollupStats& Cell(RollupResolution r, const RollupKey& k, bool* added);

  CellMap seconds_, minutes_, minutes5_;
  BucketIndex seconds_index_, minutes_index_, minutes5_index_;
  std::map<UsersKey, HyperLogLog> users_;
  size_t bytes_ = 0;
};

// ---- Reading rollups through store::Store ----

// Cells whose bucket lies wholly inside [from_us, to_us) (bucket_us >= from
// and bucket_us + step <= to). String filters are exact; "" matches all.
struct RollupFilter {
  int64_t from_us = 0;
  int64_t to_us = std::numeric_limits<int64_t>::max();
  std::string service;
  std::string instance;
  std::string endpoint;
  // false: RollupRow::hist may be left empty (a store then skips decoding
  // histograms; series need only the sums).
  bool with_hist = true;
};

// One cell handed to a RollupVisitor. Ids are the store's dense ids, the
// same as TxRow's; views and the stats pointer are valid during the call.
struct RollupRow {
  int64_t bucket_us = 0;
  uint32_t service_id = 0, instance_id = 0, endpoint_id = 0;
  std::string_view service, instance, endpoint;
  const RollupCounts* counts = nullptr;
  std::span<const HistBin> hist;
};
using RollupVisitor = std::function<bool(std::span<const RollupRow>)>;

// One hour's user sketch of one service.
struct UsersRow {
  int64_t hour_us = 0;
  uint32_t service_id = 0;
  std::string_view service;
  const HyperLogLog* users = nullptr;
};
using UsersVisitor = std::function<bool(std::span<const UsersRow>)>;

// A RollupFilter resolved against one owner's dictionaries: -1 matches any
// id. A store builds it with its dictionaries' lookups; a string never seen
// means no cell can match (the store answers without visiting).
struct RollupIdFilter {
  int64_t from_us = 0;
  int64_t to_us = std::numeric_limits<int64_t>::max();
  int64_t service = -1, instance = -1, endpoint = -1;

  bool Matches(const RollupKey& k, int64_t step_us) const noexcept {
    return k.bucket_us >= from_us && k.bucket_us <= to_us - step_us &&
           (service < 0 || k.service == service) && (instance < 0 || k.instance == instance) &&
           (endpoint < 0 || k.endpoint == endpoint);
  }
  bool HourMatches(const UsersKey& k) const noexcept {
    return k.hour_us >= from_us && k.hour_us <= to_us - kRollupHourUs &&
           (service < 0 || k.service == service);
  }
};

// Names a dictionary id: column 0 service, 1 instance, 2 endpoint.
using RollupNamer = std::function<std::string_view(int column, uint32_t id)>;

// Hands the cells of `b` matching f to visit in batches. Returns false when
// visit asked to stop.
bool EmitBuilderCells(const RollupBuilder& b, RollupResolution r, const RollupIdFilter& f,
                      const RollupNamer& name, const RollupVisitor& visit);
bool EmitBuilderUsers(const RollupBuilder& b, const RollupIdFilter& f, const RollupNamer& name,
                      const UsersVisitor& visit);

}  // namespace loupe::store

#endif  // LOUPE_STORE_ROLLUP_H_
