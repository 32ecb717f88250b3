#include "store/rollup.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace loupe::store {
namespace {

int64_t FloorTo(int64_t t, int64_t step) noexcept {
  int64_t q = t / step;
  if (t % step < 0) --q;
  return q * step;
}

// Bytes a new cell or sketch adds to a builder (map node, stats, one bin).
constexpr size_t kCellBytes = sizeof(RollupKey) + sizeof(RollupStats) + sizeof(HistBin) + 32;
constexpr size_t kSketchBytes = (size_t{1} << kUsersHllPrecision) + 64;

}  // namespace

uint16_t ElapsedBin(int64_t elapsed_us) noexcept {
  const auto v = static_cast<uint64_t>(std::max<int64_t>(elapsed_us, 1));
  const int e = 63 - std::countl_zero(v);
  const uint64_t m = e >= 3 ? (v >> (e - 3)) & 7 : (v << (3 - e)) & 7;
  return static_cast<uint16_t>(e * kBinsPerOctave + static_cast<int>(m));
}

double BinLowerUs(uint16_t bin) noexcept {
  const int e = bin / kBinsPerOctave;
  const int m = bin % kBinsPerOctave;
  return std::ldexp(1.0 + m / static_cast<double>(kBinsPerOctave), e);
}

double BinMidUs(uint16_t bin) noexcept {
  return std::sqrt(BinLowerUs(bin) * BinLowerUs(static_cast<uint16_t>(bin + 1)));
}

void RollupStats::Add(int64_t elapsed_us, bool error, const model::Summary& s) {
  ++count;
  errors += error;
  elapsed_sum_us += elapsed_us;
  elapsed_max_us = count == 1 ? elapsed_us : std::max(elapsed_max_us, elapsed_us);
  sql_count += s.sql_count;
  sql_us += s.sql_us;
  external_count += s.external_count;
  external_us += s.external_us;
  const uint16_t b = ElapsedBin(elapsed_us);
  auto it = std::lower_bound(hist.begin(), hist.end(), b,
                             [](const HistBin& h, uint16_t v) { return h.bin < v; });
  if (it == hist.end() || it->bin != b) it = hist.insert(it, HistBin{b, 0, 0});
  ++it->count;
  it->errors += error;
}

void RollupCounts::Merge(const RollupCounts& o) noexcept {
  // A cell of late steps alone has count 0 and sums only.
  if (o.count != 0) {
    elapsed_max_us = count == 0 ? o.elapsed_max_us : std::max(elapsed_max_us, o.elapsed_max_us);
  }
  count += o.count;
  errors += o.errors;
  elapsed_sum_us += o.elapsed_sum_us;
  sql_count += o.sql_count;
  sql_us += o.sql_us;
  external_count += o.external_count;
  external_us += o.external_us;
}

void RollupStats::Merge(const RollupCounts& counts, std::span<const HistBin> bins) {
  RollupCounts::Merge(counts);
  MergeHist(bins, &hist);
}

void MergeHist(std::span<const HistBin> from, std::vector<HistBin>* into) {
  if (from.empty()) return;
  if (into->empty()) {
    into->assign(from.begin(), from.end());
    return;
  }
  std::vector<HistBin> out;
  out.reserve(into->size() + from.size());
  size_t i = 0, j = 0;
  while (i < into->size() || j < from.size()) {
    if (j == from.size() || (i < into->size() && (*into)[i].bin < from[j].bin)) {
      out.push_back((*into)[i++]);
    } else if (i == into->size() || from[j].bin < (*into)[i].bin) {
      out.push_back(from[j++]);
    } else {
      HistBin b = (*into)[i++];
      b.count += from[j].count;
      b.errors += from[j++].errors;
      out.push_back(b);
    }
  }
  into->swap(out);
}

double HistPercentileUs(std::span<const HistBin> hist, double q, int64_t max_us) noexcept {
  uint64_t total = 0;
  for (const HistBin& b : hist) total += b.count;
  if (total == 0) return 0;
  auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total) - 1e-9));
  rank = std::clamp<uint64_t>(rank, 1, total);
  uint64_t seen = 0;
  for (const HistBin& b : hist) {
    seen += b.count;
    if (seen >= rank) {
      // The bin holding the maximum ends at the maximum.
      const double v = BinMidUs(b.bin);
      return max_us > 0 ? std::min(v, static_cast<double>(max_us)) : v;
    }
  }
  return static_cast<double>(max_us);
}

double DenseHistPercentileUs(std::span<const uint64_t> counts, double q, int64_t max_us) noexcept {
  uint64_t total = 0;
  for (uint64_t c : counts) total += c;
  if (total == 0) return 0;
  auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total) - 1e-9));
  rank = std::clamp<uint64_t>(rank, 1, total);
  uint64_t seen = 0;
  for (size_t b = 0; b < counts.size(); ++b) {
    seen += counts[b];
    if (seen >= rank) {
      const double v = BinMidUs(static_cast<uint16_t>(b));
      return max_us > 0 ? std::min(v, static_cast<double>(max_us)) : v;
    }
  }
  return static_cast<double>(max_us);
}

size_t RollupKeyHash::operator()(const RollupKey& k) const noexcept {
  uint64_t h = static_cast<uint64_t>(k.bucket_us) * 0x9E3779B97F4A7C15ull;
  h ^= (uint64_t{k.service} << 42) ^ (uint64_t{k.instance} << 21) ^ k.endpoint;
  h *= 0xBF58476D1CE4E5B9ull;
  return static_cast<size_t>(h ^ (h >> 31));
}

RollupStats& RollupBuilder::Cell(RollupResolution r, const RollupKey& k, bool* added) {
  CellMap& cells = r == RollupResolution::kSecond   ? seconds_
                   : r == RollupResolution::kMinute ? minutes_
                                                    : minutes5_;
  BucketIndex& index = r == RollupResolution::kSecond   ? seconds_index_
                       : r == RollupResolution::kMinute ? minutes_index_
                                                        : minutes5_index_;
  auto [it, fresh] = cells.try_emplace(k);
  if (fresh) {
    index[k.bucket_us].push_back(&*it);
    bytes_ += kCellBytes;
  }
  *added = fresh;
  return it->second;
}

void RollupBuilder::EraseSeconds(int64_t from_us, int64_t to_us) {
  auto first = seconds_index_.lower_bound(from_us);
  auto last = seconds_index_.upper_bound(to_us);
  for (auto it = first; it != last; ++it) {
    for (const CellMap::value_type* c : it->second) seconds_.erase(c->first);
  }
  seconds_index_.erase(first, last);
}

void RollupBuilder::Add(int64_t end_us, int64_t elapsed_us, bool error,
                        const model::Summary& summary, uint32_t service, uint32_t instance,
                        uint32_t endpoint, std::string_view user) {
  bool added;
  RollupKey k{FloorTo(end_us, kRollupSecondUs), service, instance, endpoint};
  RollupStats& sec = Cell(RollupResolution::kSecond, k, &added);
  const size_t sec_bins = sec.hist.size();
  sec.Add(elapsed_us, error, summary);
  k.bucket_us = FloorTo(end_us, kRollupFiveMinutesUs);
  RollupStats& min5 = Cell(RollupResolution::kFiveMinutes, k, &added);
  const size_t min5_bins = min5.hist.size();
  min5.Add(elapsed_us, error, summary);
  RollupStats& min1 =
      Cell(RollupResolution::kMinute,
           RollupKey{FloorTo(end_us, kRollupMinuteUs), service, instance, 0}, &added);
  const size_t min1_bins = min1.hist.size();
  min1.Add(elapsed_us, error, summary);
  bytes_ +=
      (sec.hist.size() - sec_bins + min5.hist.size() - min5_bins + min1.hist.size() - min1_bins) *
      sizeof(HistBin);
  if (!user.empty()) {
    auto [u, added] =
        users_.try_emplace(UsersKey{FloorTo(end_us, kRollupHourUs), service}, kUsersHllPrecision);
    if (added) bytes_ += kSketchBytes;
    u->second.Add(user);
  }
}

void RollupBuilder::AddLate(int64_t end_us, const model::Summary& delta, uint32_t service,
                            uint32_t instance, uint32_t endpoint) {
  const RollupKey keys[3] = {{FloorTo(end_us, kRollupSecondUs), service, instance, endpoint},
                             {FloorTo(end_us, kRollupFiveMinutesUs), service, instance, endpoint},
                             {FloorTo(end_us, kRollupMinuteUs), service, instance, 0}};
  const RollupResolution res[3] = {RollupResolution::kSecond, RollupResolution::kFiveMinutes,
                                   RollupResolution::kMinute};
  for (int i = 0; i < 3; ++i) {
    bool added;
    RollupStats& c = Cell(res[i], keys[i], &added);
    c.sql_count += delta.sql_count;
    c.sql_us += delta.sql_us;
    c.external_count += delta.external_count;
    c.external_us += delta.external_us;
  }
}

void RollupBuilder::Merge(const RollupBuilder& other) {
  for (RollupResolution r : kRollupResolutions) {
    for (const auto& [k, st] : other.cells(r)) {
      bool added;
      RollupStats& into = Cell(r, k, &added);
      const size_t bins = into.hist.size();
      into.Merge(st, st.hist);
      bytes_ += (into.hist.size() - bins) * sizeof(HistBin);
    }
  }
  for (const auto& [k, hll] : other.users()) {
    auto [it, added] = users_.try_emplace(k, hll.precision());
    if (added) bytes_ += kSketchBytes;
    it->second.Merge(hll);
  }
}

bool EmitBuilderCells(const RollupBuilder& b, RollupResolution r, const RollupIdFilter& f,
                      const RollupNamer& name, const RollupVisitor& visit) {
  constexpr size_t kBatch = 512;
  const int64_t step = RollupStepUs(r);
  std::vector<RollupRow> batch;
  batch.reserve(kBatch);
  const RollupBuilder::BucketIndex& index = b.by_bucket(r);
  const auto end = index.upper_bound(f.to_us - step);
  for (auto bucket = index.lower_bound(f.from_us); bucket != end; ++bucket) {
    for (const RollupBuilder::CellMap::value_type* cell : bucket->second) {
      const RollupKey& k = cell->first;
      const RollupStats& st = cell->second;
      if (!f.Matches(k, step)) continue;
      RollupRow& row = batch.emplace_back();
      row.bucket_us = k.bucket_us;
      row.service_id = k.service;
      row.instance_id = k.instance;
      row.endpoint_id = k.endpoint;
      row.service = name(0, k.service);
      row.instance = name(1, k.instance);
      row.endpoint = name(2, k.endpoint);
      row.counts = &st;
      row.hist = st.hist;
      if (batch.size() == kBatch) {
        if (!visit(batch)) return false;
        batch.clear();
      }
    }
  }
  return batch.empty() || visit(batch);
}

bool EmitBuilderUsers(const RollupBuilder& b, const RollupIdFilter& f, const RollupNamer& name,
                      const UsersVisitor& visit) {
  std::vector<UsersRow> rows;
  for (const auto& [k, hll] : b.users()) {
    if (!f.HourMatches(k)) continue;
    rows.push_back(UsersRow{k.hour_us, k.service, name(0, k.service), &hll});
  }
  return rows.empty() || visit(rows);
}

}  // namespace loupe::store
