// Segment writer and reader (segment.h); format in docs/format/segment.md.
#include "store/embedded/segment.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <numeric>

#include "common/coding.h"
#include "common/hash.h"
#include "store/embedded/crc32c.h"
#include "store/embedded/packed_ints.h"

namespace loupe::store {
namespace {

constexpr char kHeaderMagic[8] = {'L', 'O', 'U', 'P', 'E', 'S', 'E', 'G'};
constexpr uint64_t kTrailerMagic = 0x31444e45'50554f4cull;  // "LOUPEND1" little-endian
// Header version: 1 = profile blocks of whole blobs and varint columns;
// 2 = columnar profile blocks and bit-packed end, elapsed and error columns.
// The meta block's version is 1, or kVersionReplaces, in both.
constexpr uint32_t kVersion = 1;
constexpr uint32_t kVersionColumnar = 2;

// Columns bit-packed in version 2 (packed_ints.h): what the X-View reads.
bool IsPackedColumn(int c) { return c == kColEnd || c == kColElapsed || c == kColError; }
// Meta version of a compacted segment: the meta block ends with the sequence
// numbers of the segments it replaces.
constexpr uint32_t kVersionReplaces = 2;
// Meta version 3 (written since 2026-12-07): the replaced list is always
// there (maybe empty), and late records end with the transaction's
// dropped_steps total and its rollup cell (docs/format/segment.md).
constexpr uint32_t kVersionLateCells = 3;
constexpr size_t kHeaderSize = 16;
constexpr size_t kTrailerSize = 24;

// ---- Bloom filter: 512-bit blocks, all probes of a key in one cache line ----
constexpr int kBloomProbes = 6;

void BloomBuild(const std::vector<model::TxId>& ids, int bits_per_key, std::string* out) {
  uint64_t bits = std::max<uint64_t>(512, static_cast<uint64_t>(ids.size()) * bits_per_key);
  uint32_t blocks = static_cast<uint32_t>((bits + 511) / 512);
  out->assign(4 + static_cast<size_t>(blocks) * 64, '\0');
  std::memcpy(out->data(), &blocks, 4);
  auto* words = reinterpret_cast<unsigned char*>(out->data() + 4);
  for (model::TxId id : ids) {
    uint64_t h = Mix64(id ^ 0x5bd1e9955bd1e995ull);
    uint64_t block = ((h >> 32) * blocks) >> 32;
    uint64_t h2 = Mix64(h);
    for (int i = 0; i < kBloomProbes; ++i) {
      uint32_t bit = (h2 >> (9 * i)) & 511;
      words[block * 64 + bit / 8] |= static_cast<unsigned char>(1u << (bit % 8));
    }
  }
}

bool BloomMayContain(std::string_view filter, model::TxId id) {
  if (filter.size() < 4) return true;
  uint32_t blocks = DecodeFixed32(filter.data());
  if (blocks == 0 || filter.size() < 4 + static_cast<size_t>(blocks) * 64) return true;
  const auto* words = reinterpret_cast<const unsigned char*>(filter.data() + 4);
  uint64_t h = Mix64(id ^ 0x5bd1e9955bd1e995ull);
  uint64_t block = ((h >> 32) * blocks) >> 32;
  uint64_t h2 = Mix64(h);
  for (int i = 0; i < kBloomProbes; ++i) {
    uint32_t bit = (h2 >> (9 * i)) & 511;
    if ((words[block * 64 + bit / 8] & (1u << (bit % 8))) == 0) return false;
  }
  return true;
}

void PutChunk(std::string* out, const Segment::Chunk& c) {
  PutVarint(out, c.offset);
  PutVarint(out, c.length);
  PutVarint(out, c.raw_length);
  PutFixed32(out, c.crc);
  out->push_back(static_cast<char>(c.codec));
}

bool GetChunk(Decoder* d, Segment::Chunk* c) {
  c->offset = d->Varint();
  c->length = d->Varint32();
  c->raw_length = d->Varint32();
  c->crc = d->Fixed32();
  uint8_t codec = d->Byte();
  if (codec > static_cast<uint8_t>(Compression::kZstd)) return false;
  c->codec = static_cast<Compression>(codec);
  return d->ok();
}

void PutSummaryDelta(std::string* out, const model::Summary& s) {
  PutVarint(out, s.sql_count);
  PutZigZag(out, s.sql_us);
  PutVarint(out, s.fetch_count);
  PutZigZag(out, s.fetch_us);
  PutVarint(out, s.external_count);
  PutZigZag(out, s.external_us);
}

void GetSummaryDelta(Decoder* d, model::Summary* s) {
  s->sql_count = d->Varint32();
  s->sql_us = d->ZigZag();
  s->fetch_count = d->Varint32();
  s->fetch_us = d->ZigZag();
  s->external_count = d->Varint32();
  s->external_us = d->ZigZag();
}

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

// ---- SegmentWriter ----

// Chunks are appended to buf_ and written out whenever it passes
// kWriteBufferBytes, so a compaction of a whole hour (~800 MB) never holds
// the file in memory: offsets are written_ + the position in buf_.
constexpr size_t kWriteBufferBytes = 4 << 20;

SegmentWriter::SegmentWriter(Env* env, std::string path, const SegmentOptions& options,
                             uint32_t project, int64_t partition)
    : env_(env),
      path_(std::move(path)),
      tmp_(path_ + ".tmp"),
      options_(options),
      project_(project),
      partition_(partition),
      per_group_(std::max<uint32_t>(1, options.rows_per_group)) {}

SegmentWriter::~SegmentWriter() {
  if (file_) {
    file_->Close();
    file_.reset();
  }
  if (!finished_ && started_) env_->DeleteFile(tmp_);
}

Result<std::unique_ptr<SegmentWriter>> SegmentWriter::Create(Env* env, const std::string& path,
                                                             const SegmentOptions& options,
                                                             uint32_t project, int64_t partition) {
  std::unique_ptr<SegmentWriter> w(new SegmentWriter(env, path, options, project, partition));
  auto file = env->NewWritableFile(w->tmp_);
  if (!file.ok()) return file.status().Annotate("writing segment " + path);
  w->file_ = std::move(*file);
  w->started_ = true;
  w->buf_.append(kHeaderMagic, 8);
  if (options.version != kVersion && options.version != kVersionColumnar) {
    return Status::InvalidArgument("SegmentOptions::version must be 1 or 2");
  }
  PutFixed32(&w->buf_, options.version);
  PutFixed32(&w->buf_, 0);
  return w;
}

uint64_t SegmentWriter::Offset() const { return written_ + buf_.size(); }

Segment::Chunk SegmentWriter::AddChunk(std::string_view raw, Compression codec) {
  Segment::Chunk c;
  c.codec = Compress(codec, options_.zstd_level, raw, &scratch_);
  c.offset = Offset();
  c.length = static_cast<uint32_t>(scratch_.size());
  c.raw_length = static_cast<uint32_t>(raw.size());
  c.crc = crc32c::Mask(crc32c::Value(scratch_));
  buf_.append(scratch_);
  return c;
}

Status SegmentWriter::MaybeWrite(bool force) {
  if (!status_.ok()) return status_;
  if (buf_.empty() || (!force && buf_.size() < kWriteBufferBytes)) return Status::OK();
  status_ = file_->Append(buf_);
  written_ += buf_.size();
  buf_.clear();
  return status_;
}

Status SegmentWriter::Add(const SegmentRow& r) {
  if (!status_.ok()) return status_;
  if (rows_ > 0 && r.end_us < last_end_) {
    return Status::InvalidArgument("SegmentWriter::Add: rows out of end-time order");
  }
  if (group_rows_ == 0) group_min_end_ = r.end_us;
  if (rows_ == 0) min_end_ = r.end_us;
  const int64_t prev = group_rows_ == 0 ? r.end_us : last_end_;
  if (options_.version >= kVersionColumnar) {
    packed_[kColEnd].push_back(r.end_us - prev);
    packed_[kColElapsed].push_back(r.end_us - r.start_us);
    packed_[kColError].push_back(r.error ? 1 : 0);
  } else {
    PutZigZag(&cols_[kColEnd], r.end_us - prev);
    PutZigZag(&cols_[kColElapsed], r.end_us - r.start_us);
    PutVarint(&cols_[kColError], r.error ? 1 : 0);
  }
  last_end_ = r.end_us;
  PutZigZag(&cols_[kColStatus], r.status);
  for (int c = 0; c < kNumDictColumns; ++c) PutVarint(&cols_[kColDictFirst + c], r.dict[c]);
  PutVarint(&cols_[kColSqlCount], r.summary.sql_count);
  PutZigZag(&cols_[kColSqlUs], r.summary.sql_us);
  PutVarint(&cols_[kColFetchCount], r.summary.fetch_count);
  PutZigZag(&cols_[kColFetchUs], r.summary.fetch_us);
  PutVarint(&cols_[kColExternalCount], r.summary.external_count);
  PutZigZag(&cols_[kColExternalUs], r.summary.external_us);
  PutZigZag(&cols_[kColCpuUs], r.summary.cpu_us);
  ids_.push_back(r.id);
  traces_.push_back(r.trace);
  steps_ += r.steps;
  ++rows_;
  ++group_rows_;
  if (options_.version >= kVersionColumnar) {
    Status s = columnar_block_.Add(r.profile);
    if (!s.ok()) {
      status_ = s.Annotate("writing segment " + path_);
      return status_;
    }
    if (columnar_block_.raw_bytes() >= options_.profile_block_bytes) FlushBlock();
  } else {
    PutString(&block_, r.profile);
    if (block_.size() >= options_.profile_block_bytes) FlushBlock();
  }
  if (group_rows_ == per_group_) FlushGroup();
  return MaybeWrite(false);
}

void SegmentWriter::FlushGroup() {
  if (group_rows_ == 0) return;
  PutVarint(&groups_meta_, group_rows_);
  PutZigZag(&groups_meta_, group_min_end_);
  PutVarint(&groups_meta_, static_cast<uint64_t>(last_end_ - group_min_end_));
  for (int c = 0; c < kNumColumns; ++c) {
    Compression codec = options_.column_compression;
    if (options_.version >= kVersionColumnar && IsPackedColumn(c)) {
      EncodePacked(packed_[c].data(), packed_[c].size(), &cols_[c]);
      packed_[c].clear();
      codec = Compression::kNone;  // decoded straight from the mapped file
    }
    Segment::Chunk ch = AddChunk(cols_[c], codec);
    sizes_.columns[c] += ch.length;
    PutChunk(&groups_meta_, ch);
    cols_[c].clear();
  }
  ++groups_;
  group_rows_ = 0;
}

void SegmentWriter::FlushBlock() {
  if (rows_ == block_first_) return;
  PutVarint(&blocks_meta_, block_first_);
  Segment::Chunk ch;
  if (options_.version >= kVersionColumnar) {
    // The streams are compressed one by one inside the block.
    block_.clear();
    columnar_block_.Finish(options_.profile_compression, options_.zstd_level, &block_);
    ch = AddChunk(block_, Compression::kNone);
  } else {
    ch = AddChunk(block_, options_.profile_compression);
  }
  sizes_.profiles += ch.length;
  PutChunk(&blocks_meta_, ch);
  ++blocks_;
  block_.clear();
  block_first_ = rows_;
}

Status SegmentWriter::Finish(const std::vector<std::string> (&dicts)[kNumDictColumns],
                             const std::vector<LateRecord>& late,
                             const std::vector<uint64_t>& replaces, SegmentSizes* sizes) {
  return Finish(
      [&](int c, std::string* out) {
        PutVarint(out, dicts[c].size());
        for (const std::string& s : dicts[c]) PutString(out, s);
      },
      late, replaces, sizes);
}

Status SegmentWriter::Finish(const DictSerializer& dicts, const std::vector<LateRecord>& late,
                             const std::vector<uint64_t>& replaces, SegmentSizes* sizes) {
  if (!status_.ok()) return status_;
  FlushGroup();
  FlushBlock();
  const auto n = static_cast<uint32_t>(rows_);
  std::string meta;
  const uint32_t meta_version = options_.late_cells ? kVersionLateCells
                                : replaces.empty()  ? kVersion
                                                    : kVersionReplaces;
  PutFixed32(&meta, meta_version);
  PutVarint(&meta, project_);
  PutZigZag(&meta, partition_);
  PutVarint(&meta, n);
  uint64_t steps = steps_;
  for (const LateRecord& l : late) steps += l.steps;
  PutVarint(&meta, steps);
  PutZigZag(&meta, n ? min_end_ : 0);
  PutZigZag(&meta, n ? last_end_ : 0);

  // Dictionaries.
  std::string buf;
  for (int c = 0; c < kNumDictColumns; ++c) {
    buf.clear();
    dicts(c, &buf);
    Segment::Chunk ch = AddChunk(buf, Compression::kZstd);
    sizes_.dicts += ch.length;
    PutChunk(&meta, ch);
  }
  // A compaction's user and client-IP dictionaries are MiBs: write them out
  // and free their buffers before the id sections are built.
  std::string().swap(buf);
  std::string().swap(scratch_);
  if (Status s = MaybeWrite(true); !s.ok()) return s.Annotate("writing segment " + path_);
  std::string().swap(buf_);
  // Late steps.
  buf.clear();
  PutVarint(&buf, late.size());
  for (const LateRecord& l : late) {
    PutFixed64(&buf, l.tx);
    PutSummaryDelta(&buf, l.delta);
    PutVarint(&buf, l.steps);
    PutString(&buf, l.blob);
    if (meta_version < kVersionLateCells) continue;
    PutVarint(&buf, l.dropped_steps);
    buf.push_back(l.has_cell ? 1 : 0);
    if (l.has_cell) {
      PutZigZag(&buf, l.end_us);
      for (uint32_t id : l.cell) PutVarint(&buf, id);
    }
  }
  PutChunk(&meta, AddChunk(buf, Compression::kZstd));

  // Id sections.
  std::string section;
  section.reserve(static_cast<size_t>(n) * 16);
  auto put_section = [&](std::string_view data) {
    PutVarint(&meta, Offset());
    PutVarint(&meta, data.size());
    PutFixed32(&meta, crc32c::Mask(crc32c::Value(data)));
    // Straight to the file: buffered, the sections of a compacted hour (~33
    // bytes a row) were all held at once.
    if (MaybeWrite(true).ok()) {
      status_ = file_->Append(data);
      written_ += data.size();
    }
    sizes_.ids += data.size();
  };
  for (uint32_t i = 0; i < n; ++i) PutFixed64(&section, ids_[i]);
  put_section(section);
  section.clear();
  for (const model::TraceId& t : traces_) {
    section.append(reinterpret_cast<const char*>(t.data()), 16);
  }
  put_section(section);
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return ids_[a] < ids_[b]; });
  section.clear();
  for (uint32_t r : order) PutFixed32(&section, r);
  put_section(section);
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(),
            [&](uint32_t a, uint32_t b) { return traces_[a] < traces_[b]; });
  section.clear();
  for (uint32_t r : order) PutFixed32(&section, r);
  put_section(section);
  BloomBuild(ids_, options_.bloom_bits_per_key, &section);
  put_section(section);
  if (!status_.ok()) return status_.Annotate("writing segment " + path_);

  PutVarint(&meta, groups_);
  meta.append(groups_meta_);
  PutVarint(&meta, blocks_);
  meta.append(blocks_meta_);
  if (meta_version >= kVersionReplaces) {
    PutVarint(&meta, replaces.size());
    for (uint64_t seq : replaces) PutVarint(&meta, seq);
  }

  const uint64_t meta_offset = Offset();
  buf_.append(meta);
  sizes_.meta = meta.size();
  PutFixed64(&buf_, meta_offset);
  PutFixed32(&buf_, static_cast<uint32_t>(meta.size()));
  PutFixed32(&buf_, crc32c::Mask(crc32c::Value(meta)));
  PutFixed64(&buf_, kTrailerMagic);
  sizes_.file = Offset();
  std::copy_n(columnar_block_.stored_bytes(), profile_block::kNumStreams, sizes_.profile_streams);

  Status s = MaybeWrite(true);
  if (s.ok()) s = file_->Sync();
  Status c = file_->Close();
  file_.reset();
  if (s.ok()) s = c;
  if (s.ok()) s = env_->RenameFile(tmp_, path_);
  if (s.ok()) {
    finished_ = true;
    auto slash = path_.rfind('/');
    s = env_->SyncDir(slash == std::string::npos ? "." : path_.substr(0, slash));
  }
  status_ = s;
  if (!s.ok()) return s.Annotate("writing segment " + path_);
  if (sizes) *sizes = sizes_;
  return Status::OK();
}

Status WriteSegment(Env* env, const std::string& path, const SegmentOptions& options,
                    uint32_t project, int64_t partition,
                    const std::vector<std::string> (&dicts)[kNumDictColumns],
                    std::vector<SegmentRow>* rows_in, const std::vector<LateRecord>& late,
                    SegmentSizes* sizes) {
  std::vector<SegmentRow>& rows = *rows_in;
  std::stable_sort(rows.begin(), rows.end(),
                   [](const SegmentRow& a, const SegmentRow& b) { return a.end_us < b.end_us; });
  auto w = SegmentWriter::Create(env, path, options, project, partition);
  if (!w.ok()) return w.status();
  for (const SegmentRow& r : rows) LOUPE_RETURN_IF_ERROR((*w)->Add(r));
  return (*w)->Finish(dicts, late, {}, sizes);
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
