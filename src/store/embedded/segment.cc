// Segment reader (segment.h); format in docs/format/segment.md. The writer
// is in segment_builder.cc.
#include "store/embedded/segment.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <numeric>

#include "common/coding.h"
#include "common/hash.h"
#include "log/crc32c.h"
#include "store/embedded/packed_ints.h"
#include "store/embedded/segment_format.h"

namespace loupe::store {
namespace {

// Decodes exactly n varints that use all of `in`, handing each to
// fn(row, value) (fused into the caller's loop: no intermediate array);
// false when `in` holds fewer values, more bytes or a varint over 10 bytes.
// A column of n bytes can only hold one-byte values (the error column
// always): it is widened without decoding. Otherwise one- to three-byte
// values (end deltas, elapsed times, dictionary ids) take unrolled paths.
template <typename Fn>
bool ForEachVarint(std::string_view in, uint32_t n, Fn&& fn) {
  const auto* p = reinterpret_cast<const uint8_t*>(in.data());
  if (in.size() == n) {
    uint8_t high = 0;
    for (uint32_t i = 0; i < n; ++i) {
      high |= p[i];
      fn(i, uint64_t{p[i]});
    }
    return (high & 0x80) == 0;
  }
  const auto* end = p + in.size();
  uint32_t i = 0;
  while (i < n && end - p >= 10) {
    const uint64_t b0 = p[0];
    if (b0 < 0x80) {
      fn(i++, b0);
      p += 1;
      continue;
    }
    const uint64_t b1 = p[1];
    if (b1 < 0x80) {
      fn(i++, (b0 & 0x7f) | b1 << 7);
      p += 2;
      continue;
    }
    const uint64_t b2 = p[2];
    uint64_t v = (b0 & 0x7f) | (b1 & 0x7f) << 7 | (b2 & 0x7f) << 14;
    p += 3;
    if (b2 >= 0x80) {
      uint64_t b;
      int shift = 21;
      do {
        b = *p++;
        v |= (b & 0x7f) << shift;
        shift += 7;
      } while (b >= 0x80 && shift < 70);
      if (b >= 0x80) return false;
    }
    fn(i++, v);
  }
  for (; i < n; ++i) {
    uint64_t v;
    if (!GetVarint(&p, end, &v)) return false;
    fn(i, v);
  }
  return p == end;
}

}  // namespace

std::string SegmentFileName(uint32_t project, int64_t partition, uint64_t seq) {
  char buf[80];
  std::snprintf(buf, sizeof(buf), "%" PRIu32 "_%" PRId64 "_%06" PRIu64 ".seg", project, partition,
                seq);
  return buf;
}

bool ParseFileStem(std::string_view stem, uint32_t* project, int64_t* partition, uint64_t* seq) {
  std::string s(stem);
  unsigned long long p, q;
  long long k;
  int used = 0;
  if (std::sscanf(s.c_str(), "%llu_%lld_%llu%n", &p, &k, &q, &used) != 3) return false;
  if (static_cast<size_t>(used) != s.size() || p > UINT32_MAX) return false;
  *project = static_cast<uint32_t>(p);
  *partition = k;
  *seq = q;
  return true;
}

bool ParseSegmentFileName(std::string_view name, uint32_t* project, int64_t* partition,
                          uint64_t* seq) {
  if (name.size() < 10 || name.substr(name.size() - 4) != ".seg") return false;
  return ParseFileStem(name.substr(0, name.size() - 4), project, partition, seq);
}

// ---- Segment ----

Segment::Segment(std::string path, std::unique_ptr<RandomAccessFile> file)
    : path_(std::move(path)), file_(std::move(file)) {}

Result<std::unique_ptr<Segment>> Segment::Open(Env* env, const std::string& path) {
  auto file = env->NewRandomAccessFile(path);
  if (!file.ok()) return file.status();
  std::unique_ptr<Segment> seg(new Segment(path, std::move(*file)));
  Status s = seg->Load();
  if (!s.ok()) return s;
  return seg;
}

Status Segment::Load() {
  base_ = file_->MappedData();
  const uint64_t size = file_->Size();
  auto bad = [this](std::string_view why) {
    return Status::Corruption(path_ + ": " + std::string(why));
  };
  if (base_ == nullptr && size > 0)
    return Status::InvalidArgument(path_ + ": Env did not map the file");
  if (size < kHeaderSize + kTrailerSize) return bad("too short for a segment");
  if (std::memcmp(base_, kHeaderMagic, 8) != 0) return bad("bad header magic");
  version_ = DecodeFixed32(base_ + 8);
  if (version_ != kVersion && version_ != kVersionColumnar) {
    return bad("unsupported segment version");
  }
  const char* t = base_ + size - kTrailerSize;
  if (DecodeFixed64(t + 16) != kTrailerMagic) return bad("bad trailer magic (truncated file?)");
  const uint64_t meta_offset = DecodeFixed64(t);
  const uint32_t meta_len = DecodeFixed32(t + 8);
  if (meta_offset < kHeaderSize || meta_offset + meta_len > size - kTrailerSize) {
    return bad("meta block out of bounds");
  }
  if (crc32c::Unmask(DecodeFixed32(t + 12)) != crc32c::Value(base_ + meta_offset, meta_len)) {
    return bad("meta block checksum mismatch");
  }
  const uint64_t data_end = meta_offset;
  Decoder d(std::string_view(base_ + meta_offset, meta_len));
  const uint32_t meta_version = d.Fixed32();
  if (meta_version != kVersion && meta_version != kVersionReplaces &&
      meta_version != kVersionLateCells) {
    return bad("unsupported meta version");
  }
  uint64_t project = d.Varint();
  partition_ = d.ZigZag();
  rows_ = d.Varint32();
  steps_ = d.Varint();
  min_end_ = d.ZigZag();
  max_end_ = d.ZigZag();
  if (!d.ok() || project > UINT32_MAX) return bad("malformed meta block");
  project_ = static_cast<uint32_t>(project);
  auto chunk_ok = [&](const Chunk& c) { return c.offset + c.length <= data_end; };

  std::string buf;
  for (int c = 0; c < kNumDictColumns; ++c) {
    Chunk& ch = dict_chunks_[c];
    if (!GetChunk(&d, &ch) || !chunk_ok(ch)) return bad("malformed meta block");
    LOUPE_RETURN_IF_ERROR(ReadChunk(ch, &buf, "dictionary"));
    Decoder dd(buf);
    uint64_t count = dd.Varint();
    if (count == 0 || count > buf.size()) return bad("malformed dictionary");
    // Every dictionary is checked here; the high-cardinality ones are then
    // dropped (ReadDict decodes them again when a read needs them).
    const bool keep = !IsHighCardinality(c);
    if (keep) dicts_[c].reserve(count);
    for (uint64_t i = 0; i < count; ++i) {
      std::string_view v = dd.String();
      if (keep) dicts_[c].emplace_back(v);
    }
    if (!dd.ok()) return bad("malformed dictionary");
    dict_sizes_[c] = static_cast<uint32_t>(count);
  }
  Chunk late;
  if (!GetChunk(&d, &late) || !chunk_ok(late)) return bad("malformed meta block");
  LOUPE_RETURN_IF_ERROR(ReadChunk(late, &buf, "late steps"));
  {
    Decoder ld(buf);
    uint64_t count = ld.Varint();
    if (count > buf.size()) return bad("malformed late steps");
    for (uint64_t i = 0; i < count; ++i) {
      LateRecord& l = late_.emplace_back();
      l.tx = ld.Fixed64();
      GetSummaryDelta(&ld, &l.delta);
      l.steps = ld.Varint32();
      l.blob = ld.String();
      if (meta_version >= kVersionLateCells) {
        l.dropped_steps = ld.Varint32();
        l.has_cell = ld.Byte() != 0;
        if (l.has_cell) {
          l.end_us = ld.ZigZag();
          for (int c = 0; c < 3; ++c) {
            l.cell[c] = ld.Varint32();
            if (l.cell[c] >= dicts_[c].size()) return bad("malformed late steps");
          }
        }
      }
    }
    if (!ld.ok()) return bad("malformed late steps");
  }
  for (Section& s : sections_) {
    s.offset = d.Varint();
    s.length = d.Varint();
    s.crc = d.Fixed32();
    if (!d.ok() || s.offset + s.length > data_end) return bad("malformed meta block");
  }
  if (sections_[kIds].length != uint64_t{rows_} * 8 ||
      sections_[kTraces].length != uint64_t{rows_} * 16 ||
      sections_[kIdOrder].length != uint64_t{rows_} * 4 ||
      sections_[kTraceOrder].length != uint64_t{rows_} * 4) {
    return bad("id sections do not match the row count");
  }
  uint64_t ngroups = d.Varint();
  if (!d.ok() || ngroups > rows_) return bad("malformed meta block");
  groups_.resize(ngroups);
  uint32_t next_row = 0;
  for (Group& g : groups_) {
    g.first_row = next_row;
    g.rows = d.Varint32();
    g.min_end = d.ZigZag();
    g.max_end = g.min_end + static_cast<int64_t>(d.Varint());
    for (Chunk& c : g.columns) {
      if (!GetChunk(&d, &c) || !chunk_ok(c)) return bad("malformed meta block");
    }
    next_row += g.rows;
    if (g.rows == 0 || next_row > rows_) return bad("row groups do not match the row count");
  }
  if (next_row != rows_) return bad("row groups do not match the row count");
  uint64_t nblocks = d.Varint();
  if (!d.ok() || nblocks > rows_) return bad("malformed meta block");
  profile_blocks_.resize(nblocks);
  for (ProfileBlock& b : profile_blocks_) {
    b.first_row = d.Varint32();
    if (!GetChunk(&d, &b.chunk) || !chunk_ok(b.chunk)) return bad("malformed meta block");
  }
  if (meta_version >= kVersionReplaces) {
    uint64_t count = d.Varint();
    if (!d.ok() || count > meta_len) return bad("malformed meta block");
    for (uint64_t i = 0; i < count; ++i) replaces_.push_back(d.Varint());
    if (!d.ok()) return bad("malformed meta block");
  }
  if (!d.done()) return bad("trailing bytes in meta block");
  return Status::OK();
}

int64_t StringTable::Find(std::string_view s) const noexcept {
  for (size_t i = 0; i + 1 < ends_.size(); ++i) {
    if (ends_[i + 1] - ends_[i] == s.size() &&
        std::memcmp(data_.data() + ends_[i], s.data(), s.size()) == 0) {
      return static_cast<int64_t>(i);
    }
  }
  return -1;
}

Status Segment::ReadDict(int c, StringTable* out) const {
  out->Clear();
  std::string scratch;
  std::string_view raw;
  LOUPE_RETURN_IF_ERROR(ViewChunk(dict_chunks_[c], &scratch, &raw, "dictionary"));
  Decoder dd(raw);
  const uint64_t count = dd.Varint();
  for (uint64_t i = 0; i < count && dd.ok(); ++i) out->Add(dd.String());
  if (!dd.ok() || out->size() != dict_sizes_[c]) {
    out->Clear();
    return Status::Corruption(path_ + ": malformed dictionary");
  }
  return Status::OK();
}

size_t Segment::resident_dict_entries() const {
  size_t n = 0;
  for (const auto& d : dicts_) n += d.size();
  return n;
}

size_t Segment::resident_dict_bytes() const {
  size_t n = 0;
  for (const auto& d : dicts_) {
    n += d.capacity() * sizeof(std::string);
    for (const std::string& s : d) n += s.capacity() > 15 ? s.capacity() + 1 : 0;
  }
  return n;
}

Status Segment::ReadChunk(const Chunk& c, std::string* out, std::string_view what) const {
  std::string_view raw;
  LOUPE_RETURN_IF_ERROR(ViewChunk(c, out, &raw, what));
  if (raw.data() != out->data()) out->assign(raw);
  return Status::OK();
}

Status Segment::ViewChunk(const Chunk& c, std::string* scratch, std::string_view* out,
                          std::string_view what) const {
  std::string_view stored(base_ + c.offset, c.length);
  auto where = [&] {
    return path_ + ": " + std::string(what) + " chunk at offset " + std::to_string(c.offset);
  };
  if (crc32c::Unmask(c.crc) != crc32c::Value(stored)) {
    return Status::Corruption(where() + ": checksum mismatch");
  }
  if (c.codec == Compression::kNone) {
    if (c.length != c.raw_length) return Status::Corruption(where() + ": wrong length");
    *out = stored;
    return Status::OK();
  }
  Status s = Uncompress(c.codec, stored, c.raw_length, scratch);
  if (!s.ok()) return s.Annotate(where());
  *out = *scratch;
  return Status::OK();
}

Status Segment::VerifySections() const {
  std::call_once(verify_once_, [this] {
    static const char* const kNames[kNumSections] = {"ids", "trace ids", "id order", "trace order",
                                                     "bloom filter"};
    for (int s = 0; s < kNumSections; ++s) {
      const Section& sec = sections_[s];
      if (crc32c::Unmask(sec.crc) != crc32c::Value(base_ + sec.offset, sec.length)) {
        verify_status_ =
            Status::Corruption(path_ + ": " + kNames[s] + " section: checksum mismatch");
        return;
      }
    }
    const char* order = SectionData(kIdOrder);
    const char* torder = SectionData(kTraceOrder);
    for (uint32_t i = 0; i < rows_; ++i) {
      if (DecodeFixed32(order + 4 * i) >= rows_ || DecodeFixed32(torder + 4 * i) >= rows_) {
        verify_status_ = Status::Corruption(path_ + ": row order out of range");
        return;
      }
    }
  });
  return verify_status_;
}

model::TxId Segment::IdAt(uint32_t row) const { return DecodeFixed64(SectionData(kIds) + 8 * row); }

model::TraceId Segment::TraceAt(uint32_t row) const {
  model::TraceId t;
  std::memcpy(t.data(), SectionData(kTraces) + 16 * row, 16);
  return t;
}

size_t Segment::GroupOf(uint32_t row) const {
  auto it = std::upper_bound(groups_.begin(), groups_.end(), row,
                             [](uint32_t r, const Group& g) { return r < g.first_row; });
  return static_cast<size_t>(it - groups_.begin()) - 1;
}

Status Segment::ReadGroup(size_t gi, DecodedGroup* out, uint32_t want) const {
  MarkRead();
  if (want & (kReadIds | kReadTraces | kMapIds)) LOUPE_RETURN_IF_ERROR(VerifySections());
  const Group& g = groups_[gi];
  out->first_row = g.first_row;
  out->rows = g.rows;
  const uint32_t n = g.rows;
  thread_local std::string scratch;
  auto undecodable = [&](int c) {
    return Status::Corruption(path_ + ": group " + std::to_string(gi) + " column " +
                              std::to_string(c) + " does not decode");
  };
  // Decodes varint column c (if wanted), handing each value to fn(row, value).
  auto column = [&](int c, auto&& fn) -> Status {
    if (c != kColEnd && (want & ColumnBit(c)) == 0) return Status::OK();
    std::string_view raw;
    LOUPE_RETURN_IF_ERROR(ViewChunk(g.columns[c], &scratch, &raw, "column"));
    return ForEachVarint(raw, n, fn) ? Status::OK() : undecodable(c);
  };
  // The same for a bit-packed column (version 2): fn(row, signed value).
  auto packed = [&](int c, auto&& fn) -> Status {
    if (c != kColEnd && (want & ColumnBit(c)) == 0) return Status::OK();
    std::string_view raw;
    LOUPE_RETURN_IF_ERROR(ViewChunk(g.columns[c], &scratch, &raw, "column"));
    return DecodePacked(raw, n, fn) ? Status::OK() : undecodable(c);
  };
  // Only the wanted vectors are sized: a projected scan must not touch
  // (and page in) the others.
  auto summary_wanted = [&] {
    for (int c = kColSqlCount; c <= kColCpuUs; ++c) {
      if (want & ColumnBit(c)) return true;
    }
    return false;
  };
  out->end.resize(n);
  if (want & ColumnBit(kColElapsed)) out->elapsed.resize(n);
  if (want & ColumnBit(kColStatus)) out->status.resize(n);
  if (want & ColumnBit(kColError)) out->error.resize(n);
  if (summary_wanted()) out->summary.resize(n);
  int64_t prev = g.min_end;
  if (version_ >= kVersionColumnar) {
    LOUPE_RETURN_IF_ERROR(packed(kColEnd, [&](uint32_t i, int64_t v) {
      prev += v;
      out->end[i] = prev;
    }));
    LOUPE_RETURN_IF_ERROR(packed(kColElapsed, [&](uint32_t i, int64_t v) { out->elapsed[i] = v; }));
    LOUPE_RETURN_IF_ERROR(
        packed(kColError, [&](uint32_t i, int64_t v) { out->error[i] = v != 0; }));
  } else {
    LOUPE_RETURN_IF_ERROR(column(kColEnd, [&](uint32_t i, uint64_t v) {
      prev += UnZigZag(v);
      out->end[i] = prev;
    }));
    LOUPE_RETURN_IF_ERROR(
        column(kColElapsed, [&](uint32_t i, uint64_t v) { out->elapsed[i] = UnZigZag(v); }));
    LOUPE_RETURN_IF_ERROR(
        column(kColError, [&](uint32_t i, uint64_t v) { out->error[i] = v != 0; }));
  }
  LOUPE_RETURN_IF_ERROR(column(kColStatus, [&](uint32_t i, uint64_t v) {
    out->status[i] = static_cast<int32_t>(UnZigZag(v));
  }));
  for (int c = 0; c < kNumDictColumns; ++c) {
    std::vector<uint32_t>& d = out->dict[c];
    if (want & ColumnBit(kColDictFirst + c)) d.resize(n);
    const uint64_t limit = dict_sizes_[c];
    bool bad = false;
    LOUPE_RETURN_IF_ERROR(column(kColDictFirst + c, [&](uint32_t i, uint64_t v) {
      bad |= v >= limit;
      d[i] = v < limit ? static_cast<uint32_t>(v) : 0;
    }));
    if (bad) return Status::Corruption(path_ + ": dictionary id out of range");
  }
  auto& sm = out->summary;
  auto u32 = [](uint64_t v) { return static_cast<uint32_t>(v); };
  LOUPE_RETURN_IF_ERROR(
      column(kColSqlCount, [&](uint32_t i, uint64_t v) { sm[i].sql_count = u32(v); }));
  LOUPE_RETURN_IF_ERROR(
      column(kColSqlUs, [&](uint32_t i, uint64_t v) { sm[i].sql_us = UnZigZag(v); }));
  LOUPE_RETURN_IF_ERROR(
      column(kColFetchCount, [&](uint32_t i, uint64_t v) { sm[i].fetch_count = u32(v); }));
  LOUPE_RETURN_IF_ERROR(
      column(kColFetchUs, [&](uint32_t i, uint64_t v) { sm[i].fetch_us = UnZigZag(v); }));
  LOUPE_RETURN_IF_ERROR(
      column(kColExternalCount, [&](uint32_t i, uint64_t v) { sm[i].external_count = u32(v); }));
  LOUPE_RETURN_IF_ERROR(
      column(kColExternalUs, [&](uint32_t i, uint64_t v) { sm[i].external_us = UnZigZag(v); }));
  LOUPE_RETURN_IF_ERROR(
      column(kColCpuUs, [&](uint32_t i, uint64_t v) { sm[i].cpu_us = UnZigZag(v); }));
  if (want & kMapIds) out->mapped_ids = SectionData(kIds) + 8 * uint64_t{g.first_row};
  if (want & kReadIds) {
    out->id.resize(n);
    std::memcpy(out->id.data(), SectionData(kIds) + 8 * uint64_t{g.first_row}, 8 * size_t{n});
  }
  if (want & kReadTraces) {
    out->trace.resize(n);
    std::memcpy(out->trace.data(), SectionData(kTraces) + 16 * uint64_t{g.first_row},
                16 * size_t{n});
  }
  return Status::OK();
}

Result<bool> Segment::FindId(model::TxId id, uint32_t* row) const {
  if (rows_ == 0) return false;
  const Section& bloom = sections_[kBloom];
  if (!BloomMayContain(std::string_view(base_ + bloom.offset, bloom.length), id)) return false;
  LOUPE_RETURN_IF_ERROR(VerifySections());
  const char* order = SectionData(kIdOrder);
  uint32_t lo = 0, hi = rows_;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (IdAt(DecodeFixed32(order + 4 * mid)) < id) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo < rows_) {
    uint32_t r = DecodeFixed32(order + 4 * lo);
    if (IdAt(r) == id) {
      *row = r;
      return true;
    }
  }
  return false;
}

Status Segment::FindTrace(const model::TraceId& trace, std::vector<uint32_t>* rows) const {
  MarkRead();
  if (rows_ == 0) return Status::OK();
  LOUPE_RETURN_IF_ERROR(VerifySections());
  const char* order = SectionData(kTraceOrder);
  uint32_t lo = 0, hi = rows_;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (TraceAt(DecodeFixed32(order + 4 * mid)) < trace) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  for (; lo < rows_; ++lo) {
    uint32_t r = DecodeFixed32(order + 4 * lo);
    if (TraceAt(r) != trace) break;
    rows->push_back(r);
  }
  return Status::OK();
}

Status Segment::ReadProfile(uint32_t row, std::string* blob) const {
  MarkRead();
  ProfileCursor c(*this);
  LOUPE_RETURN_IF_ERROR(c.Seek(row));
  Result<std::string_view> b = c.Next();
  if (!b.ok()) return b.status();
  blob->assign(*b);
  return Status::OK();
}

Status Segment::ProfileCursor::LoadBlock(size_t b) {
  seg_.MarkRead();
  const std::vector<ProfileBlock>& blocks = seg_.profile_blocks_;
  row_ = blocks[b].first_row;
  block_end_ = b + 1 < blocks.size() ? blocks[b + 1].first_row : seg_.rows_;
  next_block_ = b + 1;
  auto bad = [&](const Status& s) {
    return Status::Corruption(seg_.path_ + ": profile block " + std::to_string(b) + ": " +
                              s.message());
  };
  if (block_end_ < row_) return bad(Status::Corruption("rows out of order"));
  LOUPE_RETURN_IF_ERROR(seg_.ReadChunk(blocks[b].chunk, &raw_, "profile"));
  if (seg_.version_ >= kVersionColumnar) {
    Status s = reader_.Open(raw_);
    if (!s.ok()) return bad(s);
    if (reader_.rows() != block_end_ - row_) {
      return bad(Status::Corruption("row count does not match the meta block"));
    }
  } else {
    blobs_ = Decoder(raw_);
  }
  return Status::OK();
}

Status Segment::ProfileCursor::Seek(uint32_t row) {
  const std::vector<ProfileBlock>& blocks = seg_.profile_blocks_;
  auto it = std::upper_bound(blocks.begin(), blocks.end(), row,
                             [](uint32_t r, const ProfileBlock& b) { return r < b.first_row; });
  if (it == blocks.begin() || row >= seg_.rows_) {
    return Status::Corruption(seg_.path_ + ": no profile block for row " + std::to_string(row));
  }
  LOUPE_RETURN_IF_ERROR(LoadBlock(static_cast<size_t>(it - blocks.begin()) - 1));
  while (row_ < row) {
    if (seg_.version_ >= kVersionColumnar) {
      Status s = reader_.Next(nullptr);
      if (!s.ok()) return Status::Corruption(seg_.path_ + ": " + s.message());
    } else {
      blobs_.String();
    }
    ++row_;
  }
  return Status::OK();
}

Result<std::string_view> Segment::ProfileCursor::Next() {
  while (row_ >= block_end_) {
    if (next_block_ >= seg_.profile_blocks_.size()) {
      return Status::Corruption(seg_.path_ + ": fewer profiles than rows");
    }
    LOUPE_RETURN_IF_ERROR(LoadBlock(next_block_));
  }
  ++row_;
  if (seg_.version_ >= kVersionColumnar) {
    Status s = reader_.Next(&blob_);
    if (s.ok() && row_ == block_end_) s = reader_.CheckDone();
    if (!s.ok()) return Status::Corruption(seg_.path_ + ": " + s.message());
    return std::string_view(blob_);
  }
  std::string_view blob = blobs_.String();
  if (!blobs_.ok() || (row_ == block_end_ && !blobs_.done())) {
    return Status::Corruption(seg_.path_ + ": profile block does not decode");
  }
  return blob;
}

Status Segment::Verify() const {
  LOUPE_RETURN_IF_ERROR(VerifySections());
  DecodedGroup g;
  for (size_t i = 0; i < groups_.size(); ++i) LOUPE_RETURN_IF_ERROR(ReadGroup(i, &g, kReadAll));
  ProfileCursor c(*this);
  for (uint32_t r = 0; r < rows_; ++r) {
    Result<std::string_view> b = c.Next();
    if (!b.ok()) return b.status();
  }
  return Status::OK();
}

}  // namespace loupe::store
