// Rollup files (rollup_file.h); byte layout in docs/format/rollup.md.
#include "store/embedded/rollup_file.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <unordered_map>

#include "common/coding.h"
#include "log/crc32c.h"
#include "store/embedded/compression.h"
#include "store/embedded/segment.h"

namespace loupe::store {
namespace {

constexpr uint32_t kMagic = 0x4C525531;  // "LRU1"
constexpr uint32_t kVersion = 1;
constexpr size_t kTrailerBytes = 16;            // fixed64 index offset, fixed32 size, fixed32 magic
constexpr int64_t kSecondBlockUs = 60'000'000;  // one-second files: a block a minute

void PutPartInfo(std::string* out, const RollupBlockInfo& b) {
  PutVarint(out, b.offset);
  PutVarint(out, b.stored);
  PutVarint(out, b.raw);
  out->push_back(static_cast<char>(b.codec));
}

bool GetPartInfo(Decoder* d, RollupBlockInfo* b) {
  b->offset = d->Varint();
  b->stored = d->Varint();
  b->raw = d->Varint();
  b->codec = static_cast<uint8_t>(d->Byte());
  return d->ok() && b->codec <= static_cast<uint8_t>(Compression::kZstd);
}

}  // namespace

std::string RollupFileName(uint32_t project, int64_t partition, uint64_t seq, RollupResolution r) {
  char buf[80];
  std::snprintf(buf, sizeof(buf), "%" PRIu32 "_%" PRId64 "_%06" PRIu64 "%s", project, partition,
                seq,
                r == RollupResolution::kSecond   ? ".r1s"
                : r == RollupResolution::kMinute ? ".r1m"
                                                 : ".rollup");
  return buf;
}

bool ParseRollupFileName(std::string_view name, uint32_t* project, int64_t* partition,
                         uint64_t* seq, RollupResolution* r) {
  std::string_view stem;
  if (name.size() > 4 && name.substr(name.size() - 4) == ".r1s") {
    *r = RollupResolution::kSecond;
    stem = name.substr(0, name.size() - 4);
  } else if (name.size() > 4 && name.substr(name.size() - 4) == ".r1m") {
    *r = RollupResolution::kMinute;
    stem = name.substr(0, name.size() - 4);
  } else if (name.size() > 7 && name.substr(name.size() - 7) == ".rollup") {
    *r = RollupResolution::kFiveMinutes;
    stem = name.substr(0, name.size() - 7);
  } else {
    return false;
  }
  return ParseFileStem(stem, project, partition, seq);
}

RollupFileWriter::RollupFileWriter(Env* env, std::string path, uint32_t project, int64_t partition,
                                   RollupResolution r, RollupNamer name, int zstd_level)
    : env_(env),
      path_(std::move(path)),
      tmp_(path_ + ".tmp"),
      project_(project),
      partition_(partition),
      resolution_(r),
      name_(std::move(name)),
      zstd_level_(zstd_level) {
  for (int c = 0; c < 3; ++c) LocalId(c, 0);
}

RollupFileWriter::~RollupFileWriter() {
  if (file_ != nullptr && !finished_) {
    file_->Close();
    env_->DeleteFile(tmp_);
  }
}

uint32_t RollupFileWriter::LocalId(int col, uint32_t id) {
  if (dict_[col].empty()) {
    dict_[col].emplace_back();
    local_[col].emplace(0, 0);
  }
  auto [it, added] = local_[col].emplace(id, static_cast<uint32_t>(dict_[col].size()));
  if (added) dict_[col].emplace_back(name_(col, id));
  return it->second;
}

Status RollupFileWriter::AppendPart(std::string_view raw, RollupBlockInfo* info) {
  if (file_ == nullptr) {
    auto f = env_->NewWritableFile(tmp_);
    if (!f.ok()) return f.status();
    file_ = std::move(*f);
  }
  Compression c = Compress(Compression::kZstd, zstd_level_, raw, &stored_);
  if (c == Compression::kNone) stored_.assign(raw);
  PutFixed32(&stored_, crc32c::Mask(crc32c::Value(stored_)));
  info->offset = offset_;
  info->raw = raw.size();
  info->codec = static_cast<uint8_t>(c);
  info->stored = stored_.size();
  offset_ += stored_.size();
  return file_->Append(stored_);
}

Status RollupFileWriter::WriteBlocks(const RollupBuilder& b, int64_t before_us) {
  if (!status_.ok()) return status_;
  const RollupBuilder::BucketIndex& index = b.by_bucket(resolution_);
  const int64_t step = RollupStepUs(resolution_);
  // Minute and five-minute files: a block an hour (one per file with hourly
  // partitions); one-second files: a block a minute.
  const int64_t block_us = resolution_ == RollupResolution::kSecond ? kSecondBlockUs : INT64_MAX;
  struct Cell {
    RollupKey key;  // local ids
    const RollupStats* stats;
  };
  std::vector<Cell> sorted;
  auto it = index.lower_bound(written_until_);
  while (it != index.end()) {
    const int64_t first = it->first;
    // Blocks start at a bucket and take every cell within block_us of it;
    // a block is written once no later cell can fall into it.
    const int64_t limit = first > INT64_MAX - block_us ? INT64_MAX : first + block_us;
    if (limit > before_us) break;
    sorted.clear();
    for (; it != index.end() && it->first < limit; ++it) {
      for (const RollupBuilder::CellMap::value_type* c : it->second) {
        const RollupKey& k = c->first;
        sorted.push_back(Cell{RollupKey{k.bucket_us, LocalId(0, k.service), LocalId(1, k.instance),
                                        LocalId(2, k.endpoint)},
                              &c->second});
      }
    }
    written_until_ = limit;
    if (sorted.empty()) continue;
    std::sort(sorted.begin(), sorted.end(), [](const Cell& a, const Cell& c) {
      const RollupKey &x = a.key, &y = c.key;
      if (x.bucket_us != y.bucket_us) return x.bucket_us < y.bucket_us;
      if (x.service != y.service) return x.service < y.service;
      if (x.instance != y.instance) return x.instance < y.instance;
      return x.endpoint < y.endpoint;
    });
    raw_.clear();
    PutVarint(&raw_, sorted.size());
    int64_t prev = first;
    for (const Cell& cell : sorted) {
      const RollupKey& k = cell.key;
      const RollupStats& s = *cell.stats;
      PutVarint(&raw_, static_cast<uint64_t>((k.bucket_us - prev) / step));
      prev = k.bucket_us;
      PutVarint(&raw_, k.service);
      PutVarint(&raw_, k.instance);
      PutVarint(&raw_, k.endpoint);
      PutVarint(&raw_, s.count);
      PutVarint(&raw_, s.errors);
      PutZigZag(&raw_, s.elapsed_sum_us);
      PutZigZag(&raw_, s.elapsed_max_us);
      PutVarint(&raw_, s.sql_count);
      PutZigZag(&raw_, s.sql_us);
      PutVarint(&raw_, s.external_count);
      PutZigZag(&raw_, s.external_us);
      PutVarint(&raw_, s.hist.size());
    }
    // Histograms after all the cells: a reader that needs only the sums
    // stops before them.
    for (const Cell& cell : sorted) {
      uint16_t prev_bin = 0;
      for (const HistBin& h : cell.stats->hist) {
        PutVarint(&raw_, h.bin - prev_bin);
        prev_bin = h.bin;
        PutVarint(&raw_, h.count);
        PutVarint(&raw_, h.errors);
      }
    }
    RollupBlockInfo& info = blocks_.emplace_back();
    info.first_bucket_us = first;
    info.last_bucket_us = prev;
    info.cells = sorted.size();
    cells_ += sorted.size();
    status_ = AppendPart(raw_, &info);
    if (!status_.ok()) return status_;
  }
  return Status::OK();
}

Status RollupFileWriter::Finish(const RollupBuilder& b) {
  LOUPE_RETURN_IF_ERROR(WriteBlocks(b, INT64_MAX));
  const bool with_users = resolution_ == RollupResolution::kFiveMinutes && !b.users().empty();
  if (blocks_.empty() && !with_users) {
    finished_ = true;  // nothing to write: no file
    return Status::OK();
  }
  if (with_users) {
    for (const auto& [k, hll] : b.users()) LocalId(0, k.service);
  }
  RollupBlockInfo dict_info;
  raw_.clear();
  for (const auto& d : dict_) {
    PutVarint(&raw_, d.size());
    for (const std::string& s : d) PutString(&raw_, s);
  }
  LOUPE_RETURN_IF_ERROR(AppendPart(raw_, &dict_info));

  RollupBlockInfo users_info;
  if (with_users) {
    raw_.clear();
    PutVarint(&raw_, b.users().size());
    for (const auto& [k, hll] : b.users()) {
      PutZigZag(&raw_, k.hour_us);
      PutVarint(&raw_, LocalId(0, k.service));
      PutVarint(&raw_, static_cast<uint64_t>(hll.precision()));
      raw_.append(reinterpret_cast<const char*>(hll.registers().data()), hll.registers().size());
    }
    LOUPE_RETURN_IF_ERROR(AppendPart(raw_, &users_info));
  }

  std::string index;
  PutFixed32(&index, kVersion);
  index.push_back(static_cast<char>(resolution_));
  PutVarint(&index, project_);
  PutZigZag(&index, partition_);
  PutVarint(&index, cells_);
  PutVarint(&index, blocks_.size());
  for (const RollupBlockInfo& bi : blocks_) {
    PutZigZag(&index, bi.first_bucket_us);
    PutZigZag(&index, bi.last_bucket_us);
    PutVarint(&index, bi.cells);
    PutPartInfo(&index, bi);
  }
  PutPartInfo(&index, dict_info);
  PutPartInfo(&index, users_info);
  PutFixed32(&index, crc32c::Mask(crc32c::Value(index)));
  const auto index_size = static_cast<uint32_t>(index.size());
  PutFixed64(&index, offset_);  // the trailer
  PutFixed32(&index, index_size);
  PutFixed32(&index, kMagic);
  Status s = file_->Append(index);
  if (s.ok()) s = file_->Sync();
  Status c = file_->Close();
  if (s.ok()) s = c;
  if (s.ok()) s = env_->RenameFile(tmp_, path_);
  if (!s.ok()) return s.Annotate("writing rollup file " + path_);
  finished_ = true;
  auto slash = path_.rfind('/');
  return env_->SyncDir(slash == std::string::npos ? "." : path_.substr(0, slash));
}

Status WriteRollupFile(Env* env, const std::string& path, uint32_t project, int64_t partition,
                       RollupResolution r, const RollupBuilder& b, const RollupNamer& name,
                       int zstd_level) {
  RollupFileWriter w(env, path, project, partition, r, name, zstd_level);
  return w.Finish(b);
}

Result<std::shared_ptr<const RollupFile>> RollupFile::Open(Env* env, const std::string& path) {
  auto f = std::make_shared<RollupFile>();
  f->path_ = path;
  auto file = env->NewRandomAccessFile(path);
  if (!file.ok()) return file.status();
  f->file_ = std::move(*file);
  f->file_size_ = f->file_->Size();
  auto corrupt = [&](const char* what) { return Status::Corruption(path + ": " + what); };
  if (f->file_size_ < kTrailerBytes) return corrupt("too short for a rollup file");
  char trailer[kTrailerBytes];
  std::string_view t;
  LOUPE_RETURN_IF_ERROR(f->file_->Read(f->file_size_ - kTrailerBytes, kTrailerBytes, &t, trailer));
  if (t.size() != kTrailerBytes || DecodeFixed32(t.data() + 12) != kMagic) {
    return corrupt("bad trailer");
  }
  const uint64_t index_offset = DecodeFixed64(t.data());
  const uint32_t index_size = DecodeFixed32(t.data() + 8);
  if (index_size < 8 || index_offset + index_size + kTrailerBytes != f->file_size_) {
    return corrupt("bad index position");
  }
  std::string scratch(index_size, '\0');
  std::string_view index;
  LOUPE_RETURN_IF_ERROR(f->file_->Read(index_offset, index_size, &index, scratch.data()));
  if (index.size() != index_size || crc32c::Unmask(DecodeFixed32(index.data() + index_size - 4)) !=
                                        crc32c::Value(index.data(), index_size - 4)) {
    return corrupt("index checksum mismatch");
  }
  Decoder d(index.substr(0, index_size - 4));
  if (d.Fixed32() != kVersion) return corrupt("unsupported version");
  const uint8_t res = d.Byte();
  if (res > 2) return corrupt("unknown resolution");
  f->resolution_ = static_cast<RollupResolution>(res);
  f->project_ = d.Varint32();
  f->partition_ = d.ZigZag();
  f->cells_ = d.Varint();
  const uint64_t nblocks = d.Varint();
  if (!d.ok() || nblocks > index_size) return corrupt("malformed index");
  f->blocks_.resize(nblocks);
  for (RollupBlockInfo& b : f->blocks_) {
    b.first_bucket_us = d.ZigZag();
    b.last_bucket_us = d.ZigZag();
    b.cells = d.Varint();
    if (!GetPartInfo(&d, &b) || b.offset + b.stored > index_offset) {
      return corrupt("malformed block index");
    }
  }
  RollupBlockInfo dict;
  if (!GetPartInfo(&d, &dict) || !GetPartInfo(&d, &f->users_) ||
      dict.offset + dict.stored > index_offset ||
      f->users_.offset + f->users_.stored > index_offset) {
    return corrupt("malformed index");
  }
  std::string raw;
  LOUPE_RETURN_IF_ERROR(f->ReadPart(dict.offset, dict.stored, dict.raw, dict.codec, &raw));
  Decoder dd(raw);
  for (auto& col : f->dict_) {
    const uint64_t n = dd.Varint();
    if (!dd.ok() || n > raw.size() + 1) return corrupt("malformed dictionary");
    col.reserve(n);
    for (uint64_t i = 0; i < n && dd.ok(); ++i) col.emplace_back(dd.String());
    if (col.empty()) col.emplace_back();
  }
  if (!dd.ok()) return corrupt("malformed dictionary");
  return std::shared_ptr<const RollupFile>(std::move(f));
}

Status RollupFile::ReadPart(uint64_t offset, uint64_t stored, uint64_t raw, uint8_t codec,
                            std::string* out) const {
  if (stored < 4) return Status::Corruption(path_ + ": empty part");
  std::string scratch(stored, '\0');
  std::string_view data;
  LOUPE_RETURN_IF_ERROR(file_->Read(offset, stored, &data, scratch.data()));
  if (data.size() != stored) return Status::Corruption(path_ + ": short read");
  const std::string_view body = data.substr(0, stored - 4);
  if (crc32c::Unmask(DecodeFixed32(data.data() + stored - 4)) != crc32c::Value(body)) {
    return Status::Corruption(path_ + ": checksum mismatch at offset " + std::to_string(offset));
  }
  Status s = Uncompress(static_cast<Compression>(codec), body, raw, out);
  return s.ok() ? s : s.Annotate(path_);
}

Status RollupFile::ReadBlock(size_t i, RollupBlock* out, bool with_hist) const {
  const RollupBlockInfo& b = blocks_.at(i);
  std::string raw;
  LOUPE_RETURN_IF_ERROR(ReadPart(b.offset, b.stored, b.raw, b.codec, &raw));
  const int64_t step = RollupStepUs(resolution_);
  Decoder d(raw);
  const uint64_t n = d.Varint();
  if (!d.ok() || n != b.cells || n > raw.size()) {
    return Status::Corruption(path_ + ": block cell count");
  }
  out->keys.resize(n);
  out->counts.resize(n);
  out->hist_begin.resize(n + 1);
  out->bins.clear();
  out->hist_begin[0] = 0;
  int64_t bucket = b.first_bucket_us;
  const auto dict_ok = [&](uint32_t id, int col) { return id < dict_[col].size(); };
  for (uint64_t c = 0; c < n; ++c) {
    RollupKey& k = out->keys[c];
    bucket += static_cast<int64_t>(d.Varint()) * step;
    k.bucket_us = bucket;
    k.service = d.Varint32();
    k.instance = d.Varint32();
    k.endpoint = d.Varint32();
    RollupCounts& s = out->counts[c];
    s.count = d.Varint();
    s.errors = d.Varint();
    s.elapsed_sum_us = d.ZigZag();
    s.elapsed_max_us = d.ZigZag();
    s.sql_count = d.Varint();
    s.sql_us = d.ZigZag();
    s.external_count = d.Varint();
    s.external_us = d.ZigZag();
    const uint64_t nbins = d.Varint();
    if (!d.ok() || nbins > d.remaining() || !dict_ok(k.service, 0) || !dict_ok(k.instance, 1) ||
        !dict_ok(k.endpoint, 2)) {
      return Status::Corruption(path_ + ": malformed block");
    }
    out->hist_begin[c + 1] = out->hist_begin[c] + static_cast<uint32_t>(nbins);
  }
  if (!with_hist) {
    std::fill(out->hist_begin.begin(), out->hist_begin.end(), 0);
    return Status::OK();
  }
  out->bins.resize(out->hist_begin[n]);
  for (uint64_t c = 0; c < n; ++c) {
    uint32_t bin = 0;
    for (uint32_t h = out->hist_begin[c]; h < out->hist_begin[c + 1]; ++h) {
      bin += d.Varint32();
      HistBin& hb = out->bins[h];
      hb.bin = static_cast<uint16_t>(bin);
      hb.count = d.Varint32();
      hb.errors = d.Varint32();
    }
    if (!d.ok() || bin > UINT16_MAX) return Status::Corruption(path_ + ": malformed histogram");
  }
  if (!d.done()) return Status::Corruption(path_ + ": trailing bytes in block");
  return Status::OK();
}

Status RollupFile::ReadUsers(std::vector<std::pair<UsersKey, HyperLogLog>>* out) const {
  out->clear();
  if (users_.stored == 0) return Status::OK();
  std::string raw;
  LOUPE_RETURN_IF_ERROR(ReadPart(users_.offset, users_.stored, users_.raw, users_.codec, &raw));
  Decoder d(raw);
  const uint64_t n = d.Varint();
  if (!d.ok() || n > raw.size()) return Status::Corruption(path_ + ": malformed sketches");
  for (uint64_t i = 0; i < n; ++i) {
    UsersKey k;
    k.hour_us = d.ZigZag();
    k.service = d.Varint32();
    const uint64_t p = d.Varint();
    if (!d.ok() || k.service >= dict_[0].size() || p < HyperLogLog::kMinPrecision ||
        p > HyperLogLog::kMaxPrecision || d.remaining() < (uint64_t{1} << p)) {
      return Status::Corruption(path_ + ": malformed sketch");
    }
    HyperLogLog hll(static_cast<int>(p));
    hll.SetRegisters(d.Bytes(size_t{1} << p));
    out->emplace_back(k, std::move(hll));
  }
  if (!d.ok()) return Status::Corruption(path_ + ": malformed sketches");
  return Status::OK();
}

}  // namespace loupe::store
