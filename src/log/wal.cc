// Wal and WalReader (wal.h); format in docs/format/wal.md.
#include "log/wal.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <utility>

#include "common/coding.h"
#include "log/crc32c.h"

namespace loupe::log {
namespace {

constexpr char kMagic[8] = {'L', 'O', 'U', 'P', 'E', 'W', 'A', 'L'};
constexpr uint32_t kVersion = 1;
// magic(8) version(4) reserved(4) segment(8) prev_end(8) masked crc32c(4)
constexpr size_t kHeaderSize = 36;
// masked crc32c(payload)(4) length(4) masked crc32c(previous 8 bytes)(4)
constexpr size_t kChunkHeaderSize = 12;

std::string EncodeHeader(uint64_t segment, uint64_t prev_end) {
  std::string h(kMagic, sizeof(kMagic));
  PutFixed32(&h, kVersion);
  PutFixed32(&h, 0);
  PutFixed64(&h, segment);
  PutFixed64(&h, prev_end);
  PutFixed32(&h, crc32c::Mask(crc32c::Value(h)));
  return h;
}

bool ParseHeader(std::string_view data, uint64_t* segment, uint64_t* prev_end) {
  if (data.size() < kHeaderSize) return false;
  if (std::string_view(data.data(), 8) != std::string_view(kMagic, 8)) return false;
  if (crc32c::Unmask(DecodeFixed32(data.data() + 32)) != crc32c::Value(data.data(), 32)) {
    return false;
  }
  if (DecodeFixed32(data.data() + 8) != kVersion) return false;
  *segment = DecodeFixed64(data.data() + 16);
  *prev_end = DecodeFixed64(data.data() + 24);
  return true;
}

// A valid chunk at off that ends at or before limit: sets *payload and *next.
bool ChunkAt(std::string_view data, uint64_t off, uint64_t limit, std::string_view* payload,
             uint64_t* next) {
  if (off + kChunkHeaderSize > limit) return false;
  const char* h = data.data() + off;
  if (crc32c::Unmask(DecodeFixed32(h + 8)) != crc32c::Value(h, 8)) return false;
  uint32_t len = DecodeFixed32(h + 4);
  if (len == 0 || off + kChunkHeaderSize + len > limit) return false;
  const char* p = h + kChunkHeaderSize;
  if (crc32c::Unmask(DecodeFixed32(h)) != crc32c::Value(p, len)) return false;
  *payload = std::string_view(p, len);
  *next = off + kChunkHeaderSize + len;
  return true;
}

// Whether a valid chunk starts anywhere in (off, limit). A torn commit is
// always the last thing in a segment (the next commit is written only after
// this one is durable), so damage followed by a valid chunk is corruption.
bool ValidChunkAfter(std::string_view data, uint64_t off, uint64_t limit) {
  std::string_view payload;
  uint64_t next;
  for (uint64_t o = off + 1; o + kChunkHeaderSize <= limit; ++o) {
    if (ChunkAt(data, o, limit, &payload, &next)) return true;
  }
  return false;
}

// Scans the chunks of a segment from the header to limit. Returns the end
// of the valid prefix in *valid_end and whether damage was found after it
// that is followed by valid data (*middle_damage).
void ScanSegment(std::string_view data, uint64_t limit, uint64_t* valid_end, bool* middle_damage) {
  uint64_t off = kHeaderSize;
  std::string_view payload;
  uint64_t next;
  while (off < limit && ChunkAt(data, off, limit, &payload, &next)) off = next;
  *valid_end = off;
  *middle_damage = off < limit && ValidChunkAfter(data, off, limit);
}

Result<std::vector<uint64_t>> ListSegments(Env* env, const std::string& dir) {
  auto names = env->GetChildren(dir);
  if (!names.ok()) return names.status();
  std::vector<uint64_t> out;
  for (const std::string& n : *names) {
    uint64_t seg;
    if (ParseWalSegmentName(n, &seg)) out.push_back(seg);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string SegmentPath(const std::string& dir, uint64_t segment) {
  return dir + "/" + WalSegmentName(segment);
}

}  // namespace

std::string WalSegmentName(uint64_t segment) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%020llu.wal", static_cast<unsigned long long>(segment));
  return buf;
}

bool ParseWalSegmentName(std::string_view name, uint64_t* segment) {
  if (name.size() != 24 || name.substr(20) != ".wal") return false;
  uint64_t v = 0;
  for (char c : name.substr(0, 20)) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *segment = v;
  return true;
}

// ---- Wal ----

struct Wal::Writer {
  explicit Writer(std::string_view r) : record(r) {}
  std::string_view record;
  bool done = false;
  Status status;
  WalPosition pos;
  std::condition_variable cv;
};

Wal::Wal(const WalOptions& options) : options_(options), env_(options.env) {}

Wal::~Wal() { Close(); }

Result<std::unique_ptr<Wal>> Wal::Open(const WalOptions& options) {
  if (options.dir.empty()) return Status::InvalidArgument("WalOptions.dir is empty");
  std::unique_ptr<Wal> wal(new Wal(options));
  Status s = wal->Recover();
  if (!s.ok()) return s.Annotate("opening WAL in " + options.dir);
  return wal;
}

Status Wal::Recover() {
  LOUPE_RETURN_IF_ERROR(env_->CreateDir(options_.dir));
  auto segments = ListSegments(env_, options_.dir);
  if (!segments.ok()) return segments.status();
  if (!segments->empty()) {
    const uint64_t last = segments->back();
    const std::string path = SegmentPath(options_.dir, last);
    auto data = ReadFileToString(env_, path);
    if (!data.ok()) return data.status();
    uint64_t seg, prev_end;
    if (!ParseHeader(*data, &seg, &prev_end) || seg != last) {
      if (data->size() > kHeaderSize) {
        return Status::Corruption(path + ": bad segment header");
      }
      // Created but its header never became durable: no record can be in it.
      LOUPE_RETURN_IF_ERROR(env_->DeleteFile(path));
      segment_ = last - 1;
      offset_ = 0;
      if (segments->size() > 1) {
        // The previous segment's valid end is what the new one must record.
        const std::string prev_path = SegmentPath(options_.dir, (*segments)[segments->size() - 2]);
        auto prev = ReadFileToString(env_, prev_path);
        if (!prev.ok()) return prev.status();
        bool damaged;
        ScanSegment(*prev, prev->size(), &offset_, &damaged);
        if (damaged) return Status::Corruption(prev_path + ": damaged before its end");
        segment_ = (*segments)[segments->size() - 2];
      }
    } else {
      bool damaged;
      ScanSegment(*data, data->size(), &offset_, &damaged);
      if (damaged) {
        return Status::Corruption(path + ": damaged at offset " + std::to_string(offset_) +
                                  ", followed by valid records");
      }
      segment_ = last;
    }
  }
  broken_ = segment_ != 0;  // never append to a segment written by an earlier process
  Status s = StartSegment();
  std::lock_guard<std::mutex> lock(mu_);
  stats_.segment = segment_;
  return s;
}

Status Wal::StartSegment() {
  const uint64_t seg = segment_ + 1;
  const uint64_t prev_end = segment_ == 0 ? 0 : offset_;
  const std::string path = SegmentPath(options_.dir, seg);
  auto file = env_->NewWritableFile(path);
  if (!file.ok()) return file.status();
  Status s = (*file)->Append(EncodeHeader(seg, prev_end));
  if (s.ok()) s = (*file)->Flush();
  if (s.ok() && options_.sync) s = (*file)->Sync();
  if (s.ok() && options_.sync) s = env_->SyncDir(options_.dir);
  if (!s.ok()) {
    (*file)->Close();
    env_->DeleteFile(path);
    return s.Annotate("starting WAL segment " + std::to_string(seg));
  }
  if (file_ != nullptr) file_->Close();  // its data is durable or abandoned
  file_ = std::move(*file);
  segment_ = seg;
  offset_ = kHeaderSize;
  broken_ = false;
  return Status::OK();
}

Status Wal::WriteCommit(const std::vector<Writer*>& batch, WalPosition* first) {
  // Payload first, header in front of it afterwards (one buffer, one write).
  buf_.assign(kChunkHeaderSize, '\0');
  for (const Writer* w : batch) {
    PutVarint(&buf_, w->record.size());
    buf_.append(w->record);
  }
  const size_t payload = buf_.size() - kChunkHeaderSize;
  if (payload > UINT32_MAX) return Status::InvalidArgument("WAL commit larger than 4 GiB");
  const bool full = offset_ > kHeaderSize && offset_ + buf_.size() > options_.segment_bytes;
  if (file_ == nullptr || broken_ || full) {
    Status s = StartSegment();
    if (!s.ok()) {
      broken_ = true;
      return s;
    }
  }
  char* h = buf_.data();
  uint32_t crc = crc32c::Mask(crc32c::Value(h + kChunkHeaderSize, payload));
  std::memcpy(h, &crc, 4);
  auto len = static_cast<uint32_t>(payload);
  std::memcpy(h + 4, &len, 4);
  uint32_t hcrc = crc32c::Mask(crc32c::Value(h, 8));
  std::memcpy(h + 8, &hcrc, 4);

  Status s = file_->Append(buf_);
  if (s.ok()) s = file_->Flush();
  if (s.ok() && options_.sync) s = file_->Sync();
  if (!s.ok()) {
    broken_ = true;
    return s.Annotate("WAL segment " + std::to_string(segment_) + " offset " +
                      std::to_string(offset_));
  }
  *first = WalPosition{segment_, offset_, 0};
  offset_ += buf_.size();
  return Status::OK();
}

Result<WalPosition> Wal::Append(std::string_view record) {
  if (record.size() > options_.max_record_bytes) {
    return Status::InvalidArgument("WAL record of " + std::to_string(record.size()) +
                                   " bytes exceeds max_record_bytes");
  }
  Writer w(record);
  std::unique_lock<std::mutex> lock(mu_);
  if (closed_) return Status::Unavailable("WAL is closed");
  queue_.push_back(&w);
  queued_bytes_ += record.size();
  if (queue_.size() > 1) leader_cv_.notify_one();
  while (!w.done && queue_.front() != &w) w.cv.wait(lock);
  if (w.done) {
    if (!w.status.ok()) return w.status;
    return w.pos;
  }

  // This thread leads the next commit.
  if (options_.commit_delay_us > 0 && queued_bytes_ < options_.max_commit_bytes) {
    leader_cv_.wait_for(lock, std::chrono::microseconds(options_.commit_delay_us),
                        [this] { return queued_bytes_ >= options_.max_commit_bytes || closed_; });
  }
  std::vector<Writer*> batch;
  size_t bytes = 0;
  for (Writer* x : queue_) {
    if (!batch.empty() && bytes + x->record.size() > options_.max_commit_bytes) break;
    batch.push_back(x);
    bytes += x->record.size();
  }
  if (rollover_) {
    rollover_ = false;
    broken_ = broken_ || file_ == nullptr || offset_ > kHeaderSize;
  }
  lock.unlock();

  // The waiting writers are blocked, so their records stay valid while read here.
  WalPosition first;
  Status s = WriteCommit(batch, &first);

  lock.lock();
  if (s.ok()) {
    ++stats_.commits;
    stats_.records += batch.size();
    stats_.bytes += bytes;
  } else {
    ++stats_.failed_commits;
  }
  stats_.segment = segment_;
  for (size_t i = 0; i < batch.size(); ++i) {
    Writer* x = queue_.front();
    queue_.pop_front();
    queued_bytes_ -= x->record.size();
    x->status = s;
    x->pos = WalPosition{first.segment, first.offset, static_cast<uint32_t>(i)};
    x->done = true;
    if (x != &w) x->cv.notify_one();
  }
  if (!queue_.empty()) {
    queue_.front()->cv.notify_one();
  } else {
    idle_cv_.notify_all();
  }
  if (!s.ok()) return s;
  return w.pos;
}

void Wal::Rollover() {
  std::lock_guard<std::mutex> lock(mu_);
  rollover_ = true;
}

uint64_t Wal::RolloverForCheckpoint() {
  std::lock_guard<std::mutex> lock(mu_);
  // Mirrors the leader's decision in Append: an empty, healthy segment is kept.
  const bool keep = file_ != nullptr && !broken_ && offset_ <= kHeaderSize;
  rollover_ = true;
  return keep ? segment_ : segment_ + 1;
}

Result<WalPosition> Wal::Checkpoint(std::string_view record) {
  Rollover();
  auto pos = Append(record);
  if (!pos.ok()) return pos;
  Status s = DeleteSegmentsBefore(pos->segment);
  if (!s.ok()) return s.Annotate("deleting WAL segments before checkpoint");
  return pos;
}

Status Wal::DeleteSegmentsBefore(uint64_t segment) {
  uint64_t current;
  {
    std::lock_guard<std::mutex> lock(mu_);
    current = stats_.segment;
  }
  auto segments = ListSegments(env_, options_.dir);
  if (!segments.ok()) return segments.status();
  bool deleted = false;
  for (uint64_t seg : *segments) {
    if (seg >= segment || seg >= current) break;
    LOUPE_RETURN_IF_ERROR(env_->DeleteFile(SegmentPath(options_.dir, seg)));
    deleted = true;
  }
  if (deleted && options_.sync) return env_->SyncDir(options_.dir);
  return Status::OK();
}

Status Wal::Close() {
  std::unique_lock<std::mutex> lock(mu_);
  if (closed_ && file_ == nullptr) return Status::OK();
  closed_ = true;
  leader_cv_.notify_all();
  idle_cv_.wait(lock, [this] { return queue_.empty(); });
  Status s;
  if (file_ != nullptr) {
    s = file_->Close();
    file_.reset();
  }
  return s;
}

WalStats Wal::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

// ---- WalReader ----

WalReader::WalReader(Env* env, std::string dir, std::vector<uint64_t> segments, WalPosition from)
    : env_(env), dir_(std::move(dir)), segments_(std::move(segments)), from_(from) {}

Result<std::unique_ptr<WalReader>> WalReader::Open(Env* env, const std::string& dir,
                                                   WalPosition from) {
  auto all = ListSegments(env, dir);
  if (!all.ok()) return all.status().Annotate("opening WAL reader");
  std::vector<uint64_t> segments;
  for (uint64_t s : *all) {
    if (s >= from.segment) segments.push_back(s);
  }
  return std::unique_ptr<WalReader>(new WalReader(env, dir, std::move(segments), from));
}

bool WalReader::LoadSegment() {
  if (next_segment_ >= segments_.size()) return false;
  const bool last = next_segment_ + 1 == segments_.size();
  segment_ = segments_[next_segment_++];
  const std::string path = SegmentPath(dir_, segment_);
  // Mapped rather than read: a replay reads each segment once, and copying
  // it into a fresh buffer (zeroed and faulted in) was a third of the
  // replaying thread's time.
  data_ = {};
  owned_.clear();
  file_.reset();
  auto file = env_->NewRandomAccessFile(path);
  if (!file.ok()) {
    status_ = file.status().Annotate("reading WAL");
    return false;
  }
  file_ = std::move(*file);
  if (file_->MappedData() != nullptr) {
    data_ = std::string_view(file_->MappedData(), file_->Size());
  } else {
    file_.reset();
    auto data = ReadFileToString(env_, path);
    if (!data.ok()) {
      status_ = data.status().Annotate("reading WAL");
      return false;
    }
    owned_ = std::move(*data);
    data_ = owned_;
  }
  uint64_t seg, prev_end;
  if (!ParseHeader(data_, &seg, &prev_end) || seg != segment_) {
    if (last && data_.size() <= kHeaderSize) {
      // Created by a writer that crashed before its header was durable.
      stats_.torn_tail = true;
      stats_.torn_bytes += data_.size();
      return false;
    }
    status_ = Status::Corruption(path + ": bad segment header");
    return false;
  }
  ++stats_.segments;
  limit_ = data_.size();
  is_last_ = last;
  if (!last) {
    // The next segment says where this one's valid data ends: anything after
    // it belongs to a commit that failed or was torn, and was never acknowledged.
    const std::string next_path = SegmentPath(dir_, segments_[next_segment_]);
    auto next = env_->NewSequentialFile(next_path);
    std::string scratch(kHeaderSize, '\0');
    std::string_view head;
    uint64_t next_seg, next_prev_end;
    if (!next.ok() || !(*next)->Read(kHeaderSize, &head, scratch.data()).ok() ||
        !ParseHeader(head, &next_seg, &next_prev_end)) {
      if (next_segment_ + 1 != segments_.size()) {
        status_ = Status::Corruption(next_path + ": bad segment header");
        return false;
      }
      is_last_ = true;  // the next one is a torn creation: this one holds the tail
    } else {
      if (next_prev_end > data_.size() || next_prev_end < kHeaderSize) {
        status_ = Status::Corruption(path + ": shorter (" + std::to_string(data_.size()) +
                                     " bytes) than its successor records (" +
                                     std::to_string(next_prev_end) + ")");
        return false;
      }
      limit_ = next_prev_end;
      stats_.abandoned_bytes += data_.size() - limit_;
    }
  }
  next_off_ = kHeaderSize;
  chunk_ = {};
  return true;
}

bool WalReader::Next(std::string_view* record, WalPosition* pos) {
  if (!status_.ok()) return false;
  for (;;) {
    if (!loaded_) {
      if (!LoadSegment()) return false;
      loaded_ = true;
    }
    if (!chunk_.empty()) {
      Decoder d(chunk_);
      std::string_view r = d.String();
      if (!d.ok()) {
        status_ =
            Status::Corruption(SegmentPath(dir_, segment_) + ": malformed record in chunk at " +
                               std::to_string(chunk_off_));
        return false;
      }
      chunk_.remove_prefix(chunk_.size() - d.remaining());
      WalPosition p{segment_, chunk_off_, index_++};
      if (p < from_) continue;
      *record = r;
      *pos = p;
      ++stats_.records;
      return true;
    }
    if (next_off_ >= limit_) {
      loaded_ = false;
      continue;
    }
    std::string_view payload;
    uint64_t end;
    if (ChunkAt(data_, next_off_, limit_, &payload, &end)) {
      chunk_off_ = next_off_;
      next_off_ = end;
      chunk_ = payload;
      index_ = 0;
      if (WalPosition{segment_, chunk_off_, UINT32_MAX} < from_) chunk_ = {};
      continue;
    }
    if (is_last_ && !ValidChunkAfter(data_, next_off_, limit_)) {
      stats_.torn_tail = true;
      stats_.torn_bytes += limit_ - next_off_;
      loaded_ = false;
      next_segment_ = segments_.size();
      return false;
    }
    status_ = Status::Corruption(SegmentPath(dir_, segment_) + ": checksum mismatch at offset " +
                                 std::to_string(next_off_) +
                                 (is_last_ ? " followed by valid records" : " in durable data"));
    return false;
  }
}

}  // namespace loupe::log
