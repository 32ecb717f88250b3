// EventJournal (event_journal.h); record layout in docs/format/events.md.
#include "store/embedded/event_journal.h"

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <string_view>

#include "common/coding.h"
#include "common/logging.h"
#include "log/crc32c.h"

namespace loupe::store {
namespace {

constexpr char kEventsRecord = 'E';  // a batch of events
constexpr char kMarkRecord = 'M';    // a Sync: what came before is durable
constexpr const char* kIndexFile = "segments.idx";
constexpr int64_t kMicrosPerDay = int64_t{86'400} * 1'000'000;
constexpr size_t kMaxString = 64 << 10;  // longer strings are corruption

int64_t DayOf(int64_t us) { return us >= 0 ? us / kMicrosPerDay : (us + 1) / kMicrosPerDay - 1; }

// Level and type words are stored as text and mapped back to model's static
// strings; a word this build does not know makes the event unreadable (it is
// skipped, not misfiled).
const char* InternLevel(std::string_view s) {
  for (const char* l : {model::kLevelNormal, model::kLevelWarning, model::kLevelFatal}) {
    if (s == l) return l;
  }
  return nullptr;
}

const char* InternType(std::string_view s) {
  for (const char* t : model::kEventTypes) {
    if (s == t) return t;
  }
  return nullptr;
}

void EncodeEvent(ProjectId project, const model::Event& e, std::string* out) {
  PutVarint(out, project);
  PutZigZag(out, e.time_us);
  PutZigZag(out, e.count);
  PutFixed64(out, e.tx_id);
  PutString(out, e.level);
  PutString(out, e.type);
  PutString(out, e.message);
  PutString(out, e.service);
  PutString(out, e.instance);
  PutString(out, e.endpoint);
}

// Calls fn(project, event) for each event of an 'E' record; false on bytes
// that do not decode. Events of unknown level or type are skipped.
template <typename Fn>
bool DecodeEvents(std::string_view record, Fn&& fn) {
  Decoder d(record.substr(1));
  const uint64_t n = d.Varint();
  if (!d.ok() || n > record.size()) return false;
  model::Event e;
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t project = d.Varint();
    e.time_us = d.ZigZag();
    e.count = d.ZigZag();
    e.tx_id = d.Fixed64();
    std::string_view level = d.String(), type = d.String(), message = d.String(),
                     service = d.String(), instance = d.String(), endpoint = d.String();
    if (!d.ok() || project > UINT32_MAX) return false;
    for (std::string_view s : {message, service, instance, endpoint}) {
      if (s.size() > kMaxString) return false;
    }
    e.level = InternLevel(level);
    e.type = InternType(type);
    if (e.level == nullptr || e.type == nullptr) continue;
    e.message.assign(message);
    e.service.assign(service);
    e.instance.assign(instance);
    e.endpoint.assign(endpoint);
    fn(static_cast<ProjectId>(project), e);
  }
  return d.done();
}

bool Matches(const model::Event& e, const EventFilter& f, int64_t not_before_us) {
  if (e.time_us < f.from_us || e.time_us >= f.to_us || e.time_us < not_before_us) return false;
  if (!f.level.empty() && f.level != e.level) return false;
  if (!f.type.empty() && f.type != e.type) return false;
  if (!f.service.empty() && f.service != e.service) return false;
  return true;
}

// Reads every record of one segment in order: fn(record).
template <typename Fn>
Status ReadSegment(Env* env, const std::string& dir, uint64_t segment, Fn&& fn) {
  auto reader = log::WalReader::Open(env, dir, log::WalPosition{segment, 0, 0});
  if (!reader.ok()) return reader.status();
  std::string_view record;
  log::WalPosition pos;
  while ((*reader)->Next(&record, &pos)) {
    if (pos.segment != segment) return Status::OK();
    fn(record);
  }
  // The reader may have gone on into the next segment and failed there;
  // that is the next segment's problem (the log names the file in errors).
  const Status& s = (*reader)->status();
  if (!s.ok() && s.message().find(log::WalSegmentName(segment)) == std::string::npos) {
    return Status::OK();
  }
  return s;
}

}  // namespace

EventJournal::EventJournal(const EventJournalOptions& options)
    : options_(options), env_(options.env) {}

EventJournal::~EventJournal() { Close(); }

Result<std::unique_ptr<EventJournal>> EventJournal::Open(const EventJournalOptions& options) {
  if (options.dir.empty()) return Status::InvalidArgument("EventJournalOptions.dir is empty");
  std::unique_ptr<EventJournal> j(new EventJournal(options));
  LOUPE_RETURN_IF_ERROR(j->Load());
  j->writer_ = std::thread([p = j.get()] { p->WriterLoop(); });
  return j;
}

Status EventJournal::Load() {
  const std::string& dir = options_.dir;
  LOUPE_RETURN_IF_ERROR(env_->CreateDir(dir));
  // Closed segments from the index; a line that does not check is ignored
  // (its segment is read instead).
  std::map<uint64_t, SegmentInfo> indexed;
  if (env_->FileExists(dir + "/" + kIndexFile)) {
    auto text = ReadFileToString(env_, dir + "/" + kIndexFile);
    if (!text.ok()) return text.status();
    size_t b = 0;
    while (b < text->size()) {
      size_t e = text->find('\n', b);
      if (e == std::string::npos) break;
      const std::string line = text->substr(b, e - b);
      b = e + 1;
      unsigned long long seg, events, bytes;
      long long min_us, max_us;
      unsigned crc;
      int used = 0;
      if (std::sscanf(line.c_str(), "%llu %lld %lld %llu %llu %n", &seg, &min_us, &max_us,
                      &events, &bytes, &used) != 5 ||
          std::sscanf(line.c_str() + used, "%x", &crc) != 1 ||
          crc32c::Value(std::string_view(line).substr(0, used)) != crc) {
        continue;
      }
      indexed[seg] = SegmentInfo{min_us, max_us, events, bytes};
    }
  }
  auto names = env_->GetChildren(dir);
  if (!names.ok()) return names.status();
  std::vector<uint64_t> on_disk;
  for (const std::string& name : *names) {
    uint64_t seg;
    if (log::ParseWalSegmentName(name, &seg)) on_disk.push_back(seg);
  }
  std::sort(on_disk.begin(), on_disk.end());
  for (uint64_t seg : on_disk) {
    auto it = indexed.find(seg);
    if (it != indexed.end()) {
      segments_[seg] = it->second;
      continue;
    }
    SegmentInfo info;
    auto size = env_->GetFileSize(dir + "/" + log::WalSegmentName(seg));
    info.bytes = size.ok() ? *size : 0;
    Status s = ReadSegment(env_, dir, seg, [&](std::string_view r) {
      if (r.empty() || r[0] != kEventsRecord) return;
      DecodeEvents(r, [&](ProjectId, const model::Event& e) {
        info.min_us = std::min(info.min_us, e.time_us);
        info.max_us = std::max(info.max_us, e.time_us);
        ++info.events;
      });
    });
    if (!s.ok()) LogError("events: reading " + log::WalSegmentName(seg) + ": " + s.ToString());
    segments_[seg] = info;
  }
  // The replay keys: events after the second-to-last mark, newest segment first.
  int marks = 0;
  for (auto it = segments_.rbegin(); it != segments_.rend() && marks < 2; ++it) {
    std::vector<std::string> records;
    Status s = ReadSegment(env_, dir, it->first,
                           [&](std::string_view r) { records.emplace_back(r); });
    if (!s.ok()) LogError("events: reading " + log::WalSegmentName(it->first) + ": " + s.ToString());
    for (auto r = records.rbegin(); r != records.rend() && marks < 2; ++r) {
      if (r->empty()) continue;
      if ((*r)[0] == kMarkRecord) {
        ++marks;
      } else if ((*r)[0] == kEventsRecord) {
        DecodeEvents(*r, [&](ProjectId p, const model::Event& e) {
          if (e.tx_id != 0) replay_keys_.emplace(p, e.tx_id, e.type);
        });
      }
    }
  }
  log::WalOptions wo;
  wo.env = env_;
  wo.dir = dir;
  wo.sync = options_.sync;
  wo.segment_bytes = options_.segment_bytes;
  auto wal = log::Wal::Open(wo);
  if (!wal.ok() && wal.status().code() == Status::Code::kCorruption && !segments_.empty()) {
    // The newest segment is damaged inside, not merely torn: keep it aside
    // for inspection and go on with the others.
    const std::string name = log::WalSegmentName(segments_.rbegin()->first);
    LogError("events: " + wal.status().ToString() + "; moving " + name + " to " + name +
             ".damaged");
    LOUPE_RETURN_IF_ERROR(env_->RenameFile(dir + "/" + name, dir + "/" + name + ".damaged"));
    segments_.erase(std::prev(segments_.end()));
    wal = log::Wal::Open(wo);
  }
  if (!wal.ok()) return wal.status();
  wal_ = std::move(*wal);
  for (const auto& [seg, info] : segments_) {
    stats_.bytes += info.bytes;
  }
  stats_.segments = segments_.size();
  if (indexed.size() != segments_.size()) {
    // Segments read above (the last one before a restart) are closed now.
    Status s = WriteIndexLocked();
    if (!s.ok()) LogError("events: writing the segment index: " + s.ToString());
  }
  return Status::OK();
}

Status EventJournal::Append(ProjectId project, std::span<const model::Event> events) {
  std::lock_guard<std::mutex> l(mu_);
  if (closing_) return Status::Unavailable("the event journal is closed");
  if (queue_.size() + events.size() > options_.max_queued) {
    stats_.refused += events.size();
    return Status::ResourceExhausted("the event journal's queue is full (" +
                                     std::to_string(options_.max_queued) +
                                     " events): the disk is failing or too slow");
  }
  bool queued = false;
  for (const model::Event& e : events) {
    if (!replay_keys_.empty() && e.tx_id != 0 &&
        replay_keys_.count(ReplayKey{project, e.tx_id, e.type}) > 0) {
      ++stats_.replay_duplicates;
      continue;
    }
    queue_.push_back(Queued{next_seq_++, project, e});
    queued = true;
  }
  if (queued) work_cv_.notify_one();
  return Status::OK();
}

void EventJournal::WriterLoop() {
  int64_t backoff_ms = 100;
  for (;;) {
    {
      std::unique_lock<std::mutex> l(mu_);
      work_cv_.wait(l, [this] { return !queue_.empty() || closing_; });
      if (queue_.empty()) break;  // closing with nothing left
    }
    // A commit excludes Scan, which then sees each event either queued or
    // on disk, never both or neither.
    std::unique_lock<std::shared_mutex> commit(commit_mu_);
    std::unique_lock<std::mutex> l(mu_);
    inflight_.swap(queue_);
    const int64_t day = DayOf(options_.clock->NowMicros());
    const bool new_day = open_day_ != INT64_MIN && day != open_day_;
    l.unlock();
    std::string record(1, kEventsRecord);
    PutVarint(&record, inflight_.size());
    for (const Queued& q : inflight_) EncodeEvent(q.project, q.event, &record);
    if (new_day) wal_->Rollover();
    Result<log::WalPosition> pos = wal_->Append(record);
    l.lock();
    if (!pos.ok()) {
      // Nothing of the batch counts as written: it goes back to the front
      // of the queue and is retried (a reader may see both copies of a
      // commit that failed after its write; events tolerate that).
      ++stats_.write_errors;
      ++failed_commits_;
      writer_error_ = pos.status();
      LogError("events: writing " + std::to_string(inflight_.size()) +
               " events: " + pos.status().ToString());
      inflight_.insert(inflight_.end(), std::make_move_iterator(queue_.begin()),
                       std::make_move_iterator(queue_.end()));
      queue_.swap(inflight_);
      inflight_.clear();
      durable_cv_.notify_all();
      commit.unlock();
      if (closing_) break;
      work_cv_.wait_for(l, std::chrono::milliseconds(backoff_ms), [this] { return closing_; });
      backoff_ms = std::min<int64_t>(backoff_ms * 2, 5'000);
      continue;
    }
    backoff_ms = 100;
    writer_error_ = Status::OK();
    if (pos->segment != open_segment_) {
      const uint64_t closed = open_segment_;
      open_segment_ = pos->segment;
      open_day_ = day;
      ++stats_.segments;
      if (closed != 0) {
        Status s = WriteIndexLocked();  // the previous segment is closed now
        if (!s.ok()) LogError("events: writing the segment index: " + s.ToString());
      }
    }
    SegmentInfo& info = segments_[pos->segment];
    for (const Queued& q : inflight_) {
      info.min_us = std::min(info.min_us, q.event.time_us);
      info.max_us = std::max(info.max_us, q.event.time_us);
    }
    info.events += inflight_.size();
    info.bytes += record.size();
    stats_.bytes += record.size();
    stats_.events += inflight_.size();
    durable_seq_ = inflight_.back().seq;
    inflight_.clear();
    durable_cv_.notify_all();
  }
}

Status EventJournal::WriteIndexLocked() {
  std::string text;
  for (const auto& [seg, info] : segments_) {
    if (seg == open_segment_) continue;  // still growing; read at Open
    char line[160];
    int n = std::snprintf(line, sizeof(line), "%" PRIu64 " %" PRId64 " %" PRId64 " %" PRIu64
                          " %" PRIu64 " ",
                          seg, info.min_us, info.max_us, info.events, info.bytes);
    text.append(line, static_cast<size_t>(n));
    std::snprintf(line, sizeof(line), "%08x\n",
                  crc32c::Value(std::string_view(text).substr(text.size() - n)));
    text.append(line);
  }
  return WriteFileAtomically(env_, options_.dir + "/" + kIndexFile, text);
}

Status EventJournal::WaitDurable() {
  std::unique_lock<std::mutex> l(mu_);
  const uint64_t target = next_seq_ - 1;
  const uint64_t failed_before = failed_commits_;
  durable_cv_.wait(l, [&] {
    return durable_seq_ >= target || failed_commits_ != failed_before || closing_;
  });
  if (durable_seq_ < target) {
    return writer_error_.ok() ? Status::Unavailable("the event journal is closed") : writer_error_;
  }
  return Status::OK();
}

Status EventJournal::Sync() {
  LOUPE_RETURN_IF_ERROR(WaitDurable());
  // After the events it covers; concurrent events may land on either side,
  // which only widens what the next Open treats as replayable.
  Result<log::WalPosition> mark = wal_->Append(std::string(1, kMarkRecord));
  if (!mark.ok()) return mark.status();
  std::lock_guard<std::mutex> l(mu_);
  replay_keys_.clear();
  return Status::OK();
}

Status EventJournal::Scan(ProjectId project, const EventFilter& filter, int64_t not_before_us,
                          const EventVisitor& visit) const {
  // Newest first: the queue (not yet written), then the segments that
  // overlap, newest first. No commit runs meanwhile (commit_mu_).
  std::shared_lock<std::shared_mutex> commit(commit_mu_);
  std::vector<model::Event> tail;
  std::vector<uint64_t> segs;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const Queued& q : queue_) {
      if (q.project == project && Matches(q.event, filter, not_before_us)) {
        tail.push_back(q.event);
      }
    }
    for (auto it = segments_.rbegin(); it != segments_.rend(); ++it) {
      const SegmentInfo& info = it->second;
      if (info.events == 0 || info.max_us < filter.from_us || info.max_us < not_before_us ||
          info.min_us >= filter.to_us) {
        continue;
      }
      segs.push_back(it->first);
    }
  }
  for (auto it = tail.rbegin(); it != tail.rend(); ++it) {
    if (!visit(*it)) return Status::OK();
  }
  for (uint64_t seg : segs) {
    std::vector<model::Event> found;
    Status s = ReadSegment(env_, options_.dir, seg, [&](std::string_view r) {
      if (r.empty() || r[0] != kEventsRecord) return;
      DecodeEvents(r, [&](ProjectId p, const model::Event& e) {
        if (p == project && Matches(e, filter, not_before_us)) found.push_back(e);
      });
    });
    if (!s.ok()) {
      // A damaged segment loses what follows the damage, not the query:
      // `loupe store verify` names it.
      if (s.code() != Status::Code::kCorruption) {
        return s.Annotate("reading events segment " + log::WalSegmentName(seg));
      }
      corrupt_reads_.fetch_add(1, std::memory_order_relaxed);
      LogError("events: " + s.ToString());
    }
    for (auto it = found.rbegin(); it != found.rend(); ++it) {
      if (!visit(*it)) return Status::OK();
    }
  }
  return Status::OK();
}

Status EventJournal::DropBefore(int64_t cutoff_us) {
  std::unique_lock<std::shared_mutex> commit(commit_mu_);  // no Scan reads what goes
  std::lock_guard<std::mutex> l(mu_);
  if (segments_.empty()) return Status::OK();
  // The oldest segment to keep: the first that is open or has an event at
  // or after the cutoff (segments are in time order, give or take agents'
  // clocks, so the prefix before it goes).
  uint64_t keep_from = segments_.rbegin()->first + 1;
  for (const auto& [seg, info] : segments_) {
    if (seg == open_segment_ || (info.events > 0 && info.max_us >= cutoff_us)) {
      keep_from = seg;
      break;
    }
  }
  if (keep_from == segments_.begin()->first) return Status::OK();
  LOUPE_RETURN_IF_ERROR(wal_->DeleteSegmentsBefore(keep_from));
  for (auto it = segments_.begin(); it != segments_.end() && it->first < keep_from;) {
    stats_.bytes -= std::min(stats_.bytes, it->second.bytes);
    --stats_.segments;
    it = segments_.erase(it);
  }
  return WriteIndexLocked();
}

Status EventJournal::Close() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (closing_ && !writer_.joinable()) return Status::OK();
    closing_ = true;
  }
  work_cv_.notify_all();
  durable_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  Status s;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!queue_.empty()) {
      s = Status::IoError(std::to_string(queue_.size()) +
                          " events were not written: " + writer_error_.ToString());
    }
  }
  if (wal_) {
    Status c = wal_->Close();
    if (s.ok()) s = c;
  }
  return s;
}

EventJournalStats EventJournal::stats() const {
  std::lock_guard<std::mutex> l(mu_);
  EventJournalStats s = stats_;
  s.corrupt_reads = corrupt_reads_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace loupe::store
