// SegmentWriter and WriteSegment (segment_builder.h); format in
// docs/format/segment.md.
#include "store/embedded/segment_builder.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "common/coding.h"
#include "log/crc32c.h"
#include "store/embedded/packed_ints.h"
#include "store/embedded/segment_format.h"

namespace loupe::store {

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

}  // namespace loupe::store
