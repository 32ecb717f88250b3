#include "notify/delivery_queue.h"

#include <algorithm>

#include "common/coding.h"

namespace loupe::notify {

namespace {

constexpr char kEnqueue = 'E';
constexpr char kDone = 'D';
constexpr char kSnapshot = 'S';

void PutEntry(std::string* out, const QueueEntry& e) {
  PutVarint(out, e.seq);
  PutZigZag(out, e.enqueued_ms);
}

}  // namespace

DeliveryQueue::DeliveryQueue(const DeliveryQueueOptions& options) : options_(options) {}

DeliveryQueue::~DeliveryQueue() { Close(); }

void DeliveryQueue::Close() {
  std::lock_guard<std::mutex> l(mu_);
  if (wal_) (void)wal_->Close();
  wal_.reset();
  if (lock_) (void)options_.env->UnlockFile(std::move(lock_));
}

Result<std::unique_ptr<DeliveryQueue>> DeliveryQueue::Open(const DeliveryQueueOptions& options) {
  std::unique_ptr<DeliveryQueue> q(new DeliveryQueue(options));
  Env* env = options.env;
  LOUPE_RETURN_IF_ERROR(env->CreateDir(options.dir).Annotate("notify queue"));
  Result<std::unique_ptr<FileLock>> lock = env->LockFile(options.dir + "/LOCK");
  if (!lock.ok()) return lock.status().Annotate("notify queue " + options.dir);
  q->lock_ = std::move(lock).value();
  LOUPE_RETURN_IF_ERROR(q->Replay().Annotate("replaying notify queue " + options.dir));
  log::WalOptions wo;
  wo.env = env;
  wo.dir = options.dir;
  wo.sync = options.sync;
  wo.segment_bytes = 4 << 20;
  Result<std::unique_ptr<log::Wal>> wal = log::Wal::Open(wo);
  if (!wal.ok()) return wal.status().Annotate("opening notify queue " + options.dir);
  std::lock_guard<std::mutex> l(q->mu_);
  q->wal_ = std::move(wal).value();
  return q;
}

Status DeliveryQueue::Replay() {
  Result<std::unique_ptr<log::WalReader>> reader =
      log::WalReader::Open(options_.env, options_.dir);
  if (!reader.ok()) return reader.status();
  std::lock_guard<std::mutex> l(mu_);
  std::string_view rec;
  log::WalPosition pos;
  // Entries by seq while replaying; done records may refer to any of them.
  std::map<uint64_t, QueueEntry> pending;
  auto decode_entry = [this](std::string_view payload, QueueEntry* e) {
    Result<Notification> n = DecodeNotification(payload);
    if (!n.ok()) {
      ++replay_.undecodable;
      return false;
    }
    e->notification = std::move(n).value();
    return true;
  };
  while ((*reader)->Next(&rec, &pos)) {
    ++records_since_checkpoint_;
    if (rec.empty()) return Status::Corruption("empty queue record");
    Decoder d(rec.substr(1));
    switch (rec[0]) {
      case kEnqueue: {
        QueueEntry e;
        e.seq = d.Varint();
        e.enqueued_ms = d.ZigZag();
        if (!d.ok()) return Status::Corruption("bad enqueue record");
        next_seq_ = std::max(next_seq_, e.seq + 1);
        std::string_view payload(d.pos(), d.remaining());
        if (decode_entry(payload, &e)) pending[e.seq] = std::move(e);
        break;
      }
      case kDone: {
        uint64_t seq = d.Varint();
        if (!d.ok()) return Status::Corruption("bad done record");
        pending.erase(seq);
        break;
      }
      case kSnapshot: {
        pending.clear();
        records_since_checkpoint_ = 1;
        next_seq_ = d.Varint();
        uint64_t n = d.Varint();
        if (!d.ok() || n > d.remaining()) return Status::Corruption("bad snapshot record");
        for (uint64_t i = 0; i < n; ++i) {
          QueueEntry e;
          e.seq = d.Varint();
          e.enqueued_ms = d.ZigZag();
          std::string_view payload = d.String();
          if (!d.ok()) return Status::Corruption("bad snapshot entry");
          if (decode_entry(payload, &e)) pending[e.seq] = std::move(e);
        }
        break;
      }
      default:
        return Status::Corruption("unknown queue record type");
    }
  }
  LOUPE_RETURN_IF_ERROR((*reader)->status());
  replay_.torn_tail = (*reader)->stats().torn_tail;
  for (auto& [seq, e] : pending) entries_.push_back(std::move(e));
  replay_.pending = entries_.size();
  return Status::OK();
}

Status DeliveryQueue::AppendLocked(const std::string& record) {
  if (!wal_) return Status::Unavailable("notify queue closed");
  Result<log::WalPosition> pos = wal_->Append(record);
  if (!pos.ok()) return pos.status();
  ++records_since_checkpoint_;
  return Status::OK();
}

Status DeliveryQueue::MaybeCheckpointLocked() {
  if (records_since_checkpoint_ < options_.checkpoint_every) return Status::OK();
  std::string snap(1, kSnapshot);
  PutVarint(&snap, next_seq_);
  PutVarint(&snap, entries_.size());
  std::string encoded;
  for (const QueueEntry& e : entries_) {
    PutEntry(&snap, e);
    encoded.clear();
    EncodeNotification(e.notification, &encoded);
    PutString(&snap, encoded);
  }
  // Every append holds mu_, so nothing can land between the snapshot and
  // the deletion of the segments it replaces.
  Result<log::WalPosition> pos = wal_->Checkpoint(snap);
  if (!pos.ok()) return pos.status().Annotate("notify queue snapshot");
  records_since_checkpoint_ = 1;
  return Status::OK();
}

Status DeliveryQueue::Push(const Notification& n, int64_t now_ms,
                           std::optional<QueueEntry>* dropped) {
  dropped->reset();
  std::lock_guard<std::mutex> l(mu_);
  if (entries_.size() >= options_.max_entries && !entries_.empty()) {
    std::string rec(1, kDone);
    PutVarint(&rec, entries_.front().seq);
    LOUPE_RETURN_IF_ERROR(AppendLocked(rec).Annotate("notify queue drop"));
    *dropped = std::move(entries_.front());
    entries_.pop_front();
  }
  QueueEntry e;
  e.seq = next_seq_;
  e.enqueued_ms = now_ms;
  e.notification = n;
  std::string rec(1, kEnqueue);
  PutEntry(&rec, e);
  EncodeNotification(n, &rec);
  if (rec.size() > kMaxNotificationBytes) {
    return Status::InvalidArgument("notification larger than " +
                                   std::to_string(kMaxNotificationBytes) + " bytes");
  }
  LOUPE_RETURN_IF_ERROR(AppendLocked(rec).Annotate("notify queue append"));
  ++next_seq_;
  entries_.push_back(std::move(e));
  // A failed snapshot leaves the older segments in place: nothing is lost,
  // the log is only longer; the next record tries again.
  (void)MaybeCheckpointLocked();
  return Status::OK();
}

std::optional<QueueEntry> DeliveryQueue::Front() const {
  std::lock_guard<std::mutex> l(mu_);
  if (entries_.empty()) return std::nullopt;
  return entries_.front();
}

Status DeliveryQueue::Remove(uint64_t seq) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = std::lower_bound(entries_.begin(), entries_.end(), seq,
                             [](const QueueEntry& e, uint64_t s) { return e.seq < s; });
  if (it == entries_.end() || it->seq != seq) return Status::OK();
  entries_.erase(it);
  std::string rec(1, kDone);
  PutVarint(&rec, seq);
  LOUPE_RETURN_IF_ERROR(AppendLocked(rec).Annotate("notify queue done"));
  (void)MaybeCheckpointLocked();
  return Status::OK();
}

size_t DeliveryQueue::size() const {
  std::lock_guard<std::mutex> l(mu_);
  return entries_.size();
}

}  // namespace loupe::notify
