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
  if (o.count == 0) return;
  elapsed_max_us = count == 0 ? o.elapsed_max_us : std::max(elapsed_max_us, o.elapsed_max_us);
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

size_t RollupKeyHash::operator()(const RollupKey& k) const noexcept {
  uint64_t h = static_cast<uint64_t>(k.bucket_us) * 0x9E3779B97F4A7C15ull;
  h ^= (uint64_t{k.service} << 42) ^ (uint64_t{k.instance} << 21) ^ k.endpoint;
  h *= 0xBF58476D1CE4E5B9ull;
  return static_cast<size_t>(h ^ (h >> 31));
}

void RollupBuilder::Add(int64_t end_us, int64_t elapsed_us, bool error,
                        const model::Summary& summary, uint32_t service, uint32_t instance,
                        uint32_t endpoint, std::string_view user) {
  RollupKey k{FloorTo(end_us, kRollupSecondUs), service, instance, endpoint};
  auto [sec, new_sec] = seconds_.try_emplace(k);
  const size_t sec_bins = sec->second.hist.size();
  sec->second.Add(elapsed_us, error, summary);
  k.bucket_us = FloorTo(end_us, kRollupFiveMinutesUs);
  auto [min5, new_min5] = minutes5_.try_emplace(k);
  const size_t min5_bins = min5->second.hist.size();
  min5->second.Add(elapsed_us, error, summary);
  bytes_ += (new_sec ? kCellBytes : 0) + (new_min5 ? kCellBytes : 0) +
            (sec->second.hist.size() - sec_bins + min5->second.hist.size() - min5_bins) *
                sizeof(HistBin);
  if (!user.empty()) {
    auto [u, added] = users_.try_emplace(UsersKey{FloorTo(end_us, kRollupHourUs), service},
                                         kUsersHllPrecision);
    if (added) bytes_ += kSketchBytes;
    u->second.Add(user);
  }
}

void RollupBuilder::Merge(const RollupBuilder& other) {
  for (RollupResolution r : {RollupResolution::kSecond, RollupResolution::kFiveMinutes}) {
    CellMap& into = mutable_cells(r);
    for (const auto& [k, st] : other.cells(r)) {
      auto [it, added] = into.try_emplace(k);
      const size_t bins = it->second.hist.size();
      it->second.Merge(st, st.hist);
      bytes_ += (added ? kCellBytes : 0) + (it->second.hist.size() - bins) * sizeof(HistBin);
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
  for (const auto& [k, st] : b.cells(r)) {
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
