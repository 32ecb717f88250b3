#include "ingest/ingest_log.h"

#include <cstring>
#include <utility>

#include "common/coding.h"
#include "log/crc32c.h"

namespace loupe::ingest {
namespace {

constexpr char kCheckpointMagic[8] = {'L', 'O', 'U', 'P', 'E', 'C', 'K', 'P'};
constexpr uint32_t kCheckpointVersion = 1;

bool ValidFormat(uint8_t f) {
  return f >= static_cast<uint8_t>(RequestFormat::kOtlpProto) &&
         f <= static_cast<uint8_t>(RequestFormat::kOtlpMetricsJson);
}

std::string CheckpointPath(const std::string& dir) {
  return dir + "/" + std::string(kCheckpointFile);
}

}  // namespace

std::string EncodeLogRecord(const LoggedRequest& r) {
  std::string out;
  out.reserve(r.body.size() + 8);
  out.push_back(static_cast<char>(r.format));
  PutVarint(&out, r.project);
  out.append(r.body);
  return out;
}

Status DecodeLogRecord(std::string_view record, LoggedRequest* out) {
  Decoder d(record);
  const uint8_t format = d.Byte();
  const uint32_t project = d.Varint32();
  if (!d.ok() || !ValidFormat(format)) {
    return Status::Corruption("ingest log record with a bad header");
  }
  out->format = static_cast<RequestFormat>(format);
  out->project = project;
  out->body = record.substr(record.size() - d.remaining());
  return Status::OK();
}

std::string EncodeCheckpoint(uint64_t segment, const std::vector<LoggedRequest>& pending) {
  std::string out(kCheckpointMagic, sizeof(kCheckpointMagic));
  PutFixed32(&out, kCheckpointVersion);
  PutFixed64(&out, segment);
  PutFixed32(&out, static_cast<uint32_t>(pending.size()));
  for (const LoggedRequest& r : pending) {
    out.push_back(static_cast<char>(r.format));
    PutVarint(&out, r.project);
    PutString(&out, r.body);
  }
  PutFixed32(&out, crc32c::Mask(crc32c::Value(out)));
  return out;
}

Status DecodeCheckpoint(std::string_view data, uint64_t* segment,
                        std::vector<LoggedRequest>* pending) {
  if (data.size() < sizeof(kCheckpointMagic) + 20 ||
      std::memcmp(data.data(), kCheckpointMagic, sizeof(kCheckpointMagic)) != 0) {
    return Status::Corruption("not a Loupe ingest checkpoint (bad magic or size)");
  }
  const std::string_view body = data.substr(0, data.size() - 4);
  const uint32_t stored = DecodeFixed32(data.data() + data.size() - 4);
  if (crc32c::Unmask(stored) != crc32c::Value(body)) {
    return Status::Corruption("ingest checkpoint checksum mismatch");
  }
  Decoder d(body.substr(sizeof(kCheckpointMagic)));
  const uint32_t version = d.Fixed32();
  if (version != kCheckpointVersion) {
    return Status::Corruption("ingest checkpoint version " + std::to_string(version) +
                              " is not supported");
  }
  *segment = d.Fixed64();
  const uint32_t n = d.Fixed32();
  pending->clear();
  for (uint32_t i = 0; i < n && d.ok(); ++i) {
    LoggedRequest r;
    const uint8_t format = d.Byte();
    r.project = d.Varint32();
    r.body = d.String();
    if (!ValidFormat(format)) return Status::Corruption("ingest checkpoint entry bad format");
    r.format = static_cast<RequestFormat>(format);
    pending->push_back(r);
  }
  if (!d.ok() || !d.done()) return Status::Corruption("ingest checkpoint truncated entries");
  return Status::OK();
}

IngestLog::IngestLog(IngestLogOptions options, std::unique_ptr<log::Wal> wal)
    : options_(std::move(options)), wal_(std::move(wal)) {}

IngestLog::~IngestLog() { Close(); }

Result<std::unique_ptr<IngestLog>> IngestLog::Open(const IngestLogOptions& options,
                                                   const ReplayFn& replay,
                                                   IngestReplayStats* stats) {
  IngestReplayStats local;
  if (stats == nullptr) stats = &local;
  *stats = IngestReplayStats{};
  Env* env = options.env;
  LOUPE_RETURN_IF_ERROR(env->CreateDir(options.dir));

  // 1. The checkpoint: where replay starts and the spans pending at that point.
  uint64_t from_segment = 0;
  const std::string ckpt_path = CheckpointPath(options.dir);
  if (env->FileExists(ckpt_path)) {
    auto data = ReadFileToString(env, ckpt_path);
    if (!data.ok()) return data.status().Annotate("reading " + ckpt_path);
    std::vector<LoggedRequest> pending;
    Status s = DecodeCheckpoint(*data, &from_segment, &pending);
    if (!s.ok()) return s.Annotate(ckpt_path);
    stats->checkpoint_segment = from_segment;
    for (const LoggedRequest& r : pending) {
      LOUPE_RETURN_IF_ERROR(replay(r));
      ++stats->checkpoint_requests;
      stats->bytes += r.body.size();
    }
  }

  // 2. The records after it.
  {
    auto reader = log::WalReader::Open(env, options.dir, log::WalPosition{from_segment, 0, 0});
    if (!reader.ok()) return reader.status().Annotate("opening ingest log " + options.dir);
    std::string_view record;
    log::WalPosition pos;
    while ((*reader)->Next(&record, &pos)) {
      LoggedRequest r;
      Status s = DecodeLogRecord(record, &r);
      if (!s.ok()) {
        return s.Annotate(options.dir + "/" + log::WalSegmentName(pos.segment) + " offset " +
                          std::to_string(pos.offset));
      }
      LOUPE_RETURN_IF_ERROR(replay(r));
      ++stats->records;
      stats->bytes += r.body.size();
    }
    if (!(*reader)->status().ok()) return (*reader)->status();
    stats->torn_tail = (*reader)->stats().torn_tail;
    stats->torn_bytes = (*reader)->stats().torn_bytes;
  }

  // 3. Open for appending (a new segment) and drop segments a crash during the
  // last checkpoint left behind.
  log::WalOptions wo;
  wo.env = env;
  wo.dir = options.dir;
  wo.sync = options.sync;
  wo.commit_delay_us = options.commit_delay_us;
  wo.segment_bytes = options.segment_bytes;
  auto wal = log::Wal::Open(wo);
  if (!wal.ok()) return wal.status().Annotate("opening ingest log " + options.dir);
  if (from_segment > 0) {
    Status s = (*wal)->DeleteSegmentsBefore(from_segment);
    if (!s.ok()) return s.Annotate("deleting checkpointed ingest log segments");
  }
  return std::unique_ptr<IngestLog>(new IngestLog(options, std::move(*wal)));
}

Status IngestLog::Append(const LoggedRequest& request) {
  std::string record = EncodeLogRecord(request);
  auto pos = wal_->Append(record);
  if (!pos.ok()) return pos.status();
  since_checkpoint_.fetch_add(request.body.size(), std::memory_order_relaxed);
  return Status::OK();
}

uint64_t IngestLog::BeginCheckpoint() {
  since_checkpoint_.store(0);
  return wal_->RolloverForCheckpoint();
}

Status IngestLog::CommitCheckpoint(uint64_t segment, const std::vector<LoggedRequest>& pending) {
  Status s = WriteFileAtomically(options_.env, CheckpointPath(options_.dir),
                                 EncodeCheckpoint(segment, pending));
  if (!s.ok()) return s.Annotate("writing ingest checkpoint");
  s = wal_->DeleteSegmentsBefore(segment);
  if (!s.ok()) return s.Annotate("deleting checkpointed ingest log segments");
  return Status::OK();
}

Status IngestLog::Close() { return wal_ ? wal_->Close() : Status::OK(); }

}  // namespace loupe::ingest
