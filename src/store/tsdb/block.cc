#include "store/tsdb/block.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <unordered_map>

#include "common/coding.h"
#include "log/crc32c.h"
#include "store/tsdb/chunk.h"

namespace loupe::tsdb {

namespace {

constexpr char kMagic[4] = {'L', 'T', 'S', 'B'};
constexpr char kFooterMagic[4] = {'L', 'T', 'S', 'E'};
constexpr uint8_t kVersion = 1;
constexpr size_t kHeaderSize = 32;
constexpr size_t kFooterSize = 16;

void PutHeader(const BlockHeader& h, std::string* out) {
  out->append(kMagic, 4);
  out->push_back(static_cast<char>(kVersion));
  out->push_back(static_cast<char>(h.kind));
  out->append(2, '\0');
  PutFixed32(out, h.project);
  PutFixed32(out, 0);
  PutFixed64(out, static_cast<uint64_t>(h.start_ms));
  PutFixed64(out, static_cast<uint64_t>(h.window_ms));
}

// Collects the strings of every series into a table and writes the index
// region: symbols, then one record per series (docs/format/tsdb.md).
class IndexWriter {
 public:
  uint32_t Sym(const std::string& s) {
    auto [it, added] = ids_.emplace(s, static_cast<uint32_t>(syms_.size()));
    if (added) syms_.push_back(&it->first);
    return it->second;
  }
  void AddSeries(const SeriesRef& info, uint32_t n0, uint32_t n1, int64_t min_ms,
                 int64_t max_ms, uint64_t offset, uint64_t len) {
    PutVarint(&records_, info.id);
    PutVarint(&records_, Sym(*info.metric));
    PutVarint(&records_, static_cast<uint8_t>(info.kind));
    PutVarint(&records_, info.labels->size());
    for (const auto& [k, v] : *info.labels) {
      PutVarint(&records_, Sym(k));
      PutVarint(&records_, Sym(v));
    }
    PutVarint(&records_, n0);
    PutVarint(&records_, n1);
    PutZigZag(&records_, min_ms);
    PutVarint(&records_, static_cast<uint64_t>(max_ms - min_ms));
    PutVarint(&records_, offset);
    PutVarint(&records_, len);
    ++count_;
  }
  void Finish(std::string* out) {
    const uint64_t index_offset = out->size();
    PutVarint(out, syms_.size());
    for (const std::string* s : syms_) PutString(out, *s);
    PutVarint(out, count_);
    out->append(records_);
    PutFixed64(out, index_offset);
    PutFixed32(out, crc32c::Mask(crc32c::Value(*out)));
    out->append(kFooterMagic, 4);
  }

 private:
  std::unordered_map<std::string, uint32_t> ids_;
  std::vector<const std::string*> syms_;
  std::string records_;
  uint64_t count_ = 0;
};

// The first byte of an aggregate column that repeats column (byte & 0x7f).
constexpr uint8_t kRefMode = 0x80;

bool SameBits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

void PutColumn(std::string* out, const std::string& bytes) {
  PutVarint(out, bytes.size());
  out->append(bytes);
}

}  // namespace

std::string EncodeRawBlock(const BlockHeader& header, std::span<const RawSeriesData> series) {
  std::string out;
  PutHeader(header, &out);
  IndexWriter index;
  std::string col;
  for (const RawSeriesData& s : series) {
    const uint64_t offset = out.size();
    col.clear();
    EncodeTimestamps(s.time, &col);
    PutColumn(&out, col);
    EncodeValues(s.value, &out);
    index.AddSeries(s.ref, static_cast<uint32_t>(s.time.size()), 0, s.time.front(),
                    s.time.back(), offset, out.size() - offset);
  }
  index.Finish(&out);
  return out;
}

std::string EncodeAggBlock(const BlockHeader& header, std::span<const AggSeriesData> series) {
  std::string out;
  PutHeader(header, &out);
  IndexWriter index;
  std::string col;
  for (const AggSeriesData& s : series) {
    const uint64_t offset = out.size();
    for (const AggColumns& c : s.res) {
      col.clear();
      EncodeTimestamps(c.time, &col);
      PutColumn(&out, col);
      for (int i = 0; i < AggColumns::kColumns; ++i) {
        // A column equal to an earlier one (a counter's min and first, max
        // and last; everything of a constant gauge) is stored as a one-byte
        // reference: it cut the aggregates of bench/tsdb_benchmark's host
        // day by a third.
        col.clear();
        for (int j = 0; j < i && col.empty(); ++j) {
          if (SameBits(*c.column(i), *c.column(j))) col.push_back(static_cast<char>(kRefMode | j));
        }
        if (col.empty()) EncodeValues(*c.column(i), &col);
        PutColumn(&out, col);
      }
    }
    const AggColumns& m1 = s.res[0];
    index.AddSeries(s.ref, static_cast<uint32_t>(s.res[0].time.size()),
                    static_cast<uint32_t>(s.res[1].time.size()), m1.time.front(), m1.time.back(),
                    offset, out.size() - offset);
  }
  index.Finish(&out);
  return out;
}

void Downsample(std::span<const int64_t> time, std::span<const double> value, AggSeriesData* out) {
  // A cumulative counter that goes down was reset and counted v since.
  const bool counter = out->ref.kind == SeriesKind::kCounter;
  for (int r = 0; r < 2; ++r) {
    const int64_t res = kAggResolutionsMs[r];
    AggColumns& c = out->res[r];
    c.clear();
    for (size_t i = 0; i < time.size(); ++i) {
      // Floor division: a bucket is [k·res, (k+1)·res), negative times too.
      int64_t b = time[i] / res * res;
      if (b > time[i]) b -= res;
      const double v = value[i];
      if (c.time.empty() || c.time.back() != b) {
        c.time.push_back(b);
        c.min.push_back(v);
        c.max.push_back(v);
        c.sum.push_back(v);
        c.count.push_back(1);
        c.last.push_back(v);
        c.first.push_back(v);
        c.inc.push_back(0);
      } else {
        if (counter) c.inc.back() += v >= c.last.back() ? v - c.last.back() : v;
        c.min.back() = std::min(c.min.back(), v);
        c.max.back() = std::max(c.max.back(), v);
        c.sum.back() += v;
        c.count.back() += 1;
        c.last.back() = v;
      }
    }
  }
}

Result<std::unique_ptr<Block>> Block::Open(Env* env, const std::string& path,
                                           std::vector<BlockSeriesInfo>* infos) {
  auto fail = [&path](const std::string& what) {
    return Status::Corruption("block " + path + ": " + what);
  };
  std::unique_ptr<Block> b(new Block());
  b->path_ = path;
  auto file = env->NewRandomAccessFile(path);
  if (!file.ok()) return file.status();
  b->file_ = std::move(file.value());
  b->size_ = b->file_->Size();
  if (b->file_->MappedData() != nullptr) {
    b->data_ = std::string_view(b->file_->MappedData(), b->size_);
  } else {
    b->owned_.resize(b->size_);
    std::string_view got;
    LOUPE_RETURN_IF_ERROR(b->file_->Read(0, b->size_, &got, b->owned_.data()));
    if (got.size() != b->size_) return fail("short read");
    if (got.data() != b->owned_.data()) b->owned_.assign(got);
    b->data_ = b->owned_;
  }
  const std::string_view d = b->data_;
  if (d.size() < kHeaderSize + kFooterSize) return fail("too short");
  if (d.compare(0, 4, std::string_view(kMagic, 4)) != 0) return fail("bad magic");
  if (d.compare(d.size() - 4, 4, std::string_view(kFooterMagic, 4)) != 0) {
    return fail("bad footer magic (truncated?)");
  }
  const uint32_t stored = crc32c::Unmask(DecodeFixed32(d.data() + d.size() - 8));
  if (crc32c::Value(d.data(), d.size() - 8) != stored) return fail("checksum mismatch");
  if (static_cast<uint8_t>(d[4]) != kVersion) return fail("unknown version");
  const auto kind = static_cast<uint8_t>(d[5]);
  if (kind > 2) return fail("unknown kind");
  b->header_.kind = static_cast<BlockKind>(kind);
  b->header_.project = DecodeFixed32(d.data() + 8);
  b->header_.start_ms = static_cast<int64_t>(DecodeFixed64(d.data() + 16));
  b->header_.window_ms = static_cast<int64_t>(DecodeFixed64(d.data() + 24));
  const uint64_t index_offset = DecodeFixed64(d.data() + d.size() - kFooterSize);
  if (index_offset < kHeaderSize || index_offset > d.size() - kFooterSize) {
    return fail("bad index offset");
  }
  Decoder dec(d.substr(index_offset, d.size() - kFooterSize - index_offset));
  const uint64_t nsyms = dec.Varint();
  if (!dec.ok() || nsyms > dec.remaining()) return fail("bad symbol count");
  std::vector<std::string_view> syms(nsyms);
  for (auto& s : syms) s = dec.String();
  const uint64_t nseries = dec.Varint();
  if (!dec.ok() || nseries > dec.remaining()) return fail("bad series count");
  auto sym = [&](uint64_t i, bool* ok) -> std::string_view {
    if (i >= syms.size()) {
      *ok = false;
      return {};
    }
    return syms[i];
  };
  b->entries_.resize(nseries);
  if (infos != nullptr) infos->assign(nseries, BlockSeriesInfo{});
  for (uint64_t i = 0; i < nseries; ++i) {
    Entry& e = b->entries_[i];
    bool ok = true;
    e.id = dec.Varint32();
    const std::string_view metric = sym(dec.Varint(), &ok);
    const uint64_t skind = dec.Varint();
    const uint64_t nlabels = dec.Varint();
    if (!dec.ok() || skind > 2 || nlabels > dec.remaining()) return fail("bad series record");
    if (infos != nullptr) {
      BlockSeriesInfo& info = (*infos)[i];
      info.id = e.id;
      info.metric = std::string(metric);
      info.kind = static_cast<SeriesKind>(skind);
      info.labels.resize(nlabels);
      for (auto& [k, v] : info.labels) {
        k = std::string(sym(dec.Varint(), &ok));
        v = std::string(sym(dec.Varint(), &ok));
      }
    } else {
      for (uint64_t j = 0; j < 2 * nlabels; ++j) sym(dec.Varint(), &ok);
    }
    e.n[0] = dec.Varint32();
    e.n[1] = dec.Varint32();
    e.min_ms = dec.ZigZag();
    e.max_ms = e.min_ms + static_cast<int64_t>(dec.Varint());
    e.offset = dec.Varint();
    e.len = dec.Varint();
    if (!dec.ok() || !ok) return fail("bad series record");
    if (e.offset < kHeaderSize || e.offset > index_offset || e.len > index_offset - e.offset) {
      return fail("series payload out of range");
    }
  }
  if (!dec.done()) return fail("trailing bytes in index");
  return b;
}

void Block::Remap(std::span<const uint32_t> ids) {
  for (size_t i = 0; i < entries_.size() && i < ids.size(); ++i) entries_[i].id = ids[i];
  std::sort(entries_.begin(), entries_.end(),
            [](const Entry& a, const Entry& b) { return a.id < b.id; });
}

const Block::Entry* Block::Find(uint32_t id) const noexcept {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), id,
                             [](const Entry& e, uint32_t v) { return e.id < v; });
  return it == entries_.end() || it->id != id ? nullptr : &*it;
}

bool Block::ReadRaw(const Entry& e, std::vector<int64_t>* time, std::vector<double>* value) const {
  Decoder dec(data_.substr(e.offset, e.len));
  const std::string_view ts = dec.String();
  if (!dec.ok()) return false;
  if (!DecodeTimestamps(ts, e.n[0], time)) return false;
  return DecodeValues(dec.Bytes(dec.remaining()), e.n[0], value);
}

bool Block::ReadAgg(const Entry& e, int res, uint8_t mask, AggColumns* out) const {
  Decoder dec(data_.substr(e.offset, e.len));
  for (int r = 0; r < 2; ++r) {
    const bool want = r == res;
    const std::string_view ts = dec.String();
    if (!dec.ok()) return false;
    if (want && !DecodeTimestamps(ts, e.n[r], &out->time)) return false;
    // A referenced column is decoded even when not asked for.
    std::string_view bytes[AggColumns::kColumns];
    for (int c = 0; c < AggColumns::kColumns; ++c) {
      bytes[c] = dec.String();
      if (!dec.ok()) return false;
    }
    if (!want) continue;
    uint8_t need = mask;
    for (int c = AggColumns::kColumns - 1; c >= 0; --c) {
      if ((need & (1u << c)) == 0 || bytes[c].size() != 1) continue;
      const auto b = static_cast<uint8_t>(bytes[c][0]);
      if ((b & kRefMode) == 0) continue;
      if ((b & 0x7f) >= c) return false;
      need |= static_cast<uint8_t>(1u << (b & 0x7f));
    }
    for (int c = 0; c < AggColumns::kColumns; ++c) {
      std::vector<double>* col = out->column(c);
      if ((need & (1u << c)) == 0) {
        col->clear();
      } else if (bytes[c].size() == 1 && (static_cast<uint8_t>(bytes[c][0]) & kRefMode) != 0) {
        *col = *out->column(static_cast<uint8_t>(bytes[c][0]) & 0x7f);
      } else if (!DecodeValues(bytes[c], e.n[r], col)) {
        return false;
      }
    }
    if (want) return true;
  }
  return false;
}

std::string BlockFileName(BlockKind kind, int64_t start_ms) {
  const char* prefix = kind == BlockKind::kRaw ? "raw-" : kind == BlockKind::kAggregate ? "agg-" : "day-";
  return prefix + std::to_string(start_ms) + ".tsb";
}

bool ParseBlockFileName(std::string_view name, BlockKind* kind, int64_t* start_ms) {
  constexpr std::string_view kExt = ".tsb";
  if (name.size() <= 4 + kExt.size() || !name.ends_with(kExt)) return false;
  if (name.starts_with("raw-")) {
    *kind = BlockKind::kRaw;
  } else if (name.starts_with("agg-")) {
    *kind = BlockKind::kAggregate;
  } else if (name.starts_with("day-")) {
    *kind = BlockKind::kDayAggregate;
  } else {
    return false;
  }
  const std::string_view num = name.substr(4, name.size() - 4 - kExt.size());
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), *start_ms);
  return ec == std::errc() && p == num.data() + num.size();
}

}  // namespace loupe::tsdb
