#include "server/store_verify.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <vector>

#include "ingest/ingest_log.h"
#include "log/wal.h"
#include "model/span.h"
#include "store/embedded/embedded_store.h"
#include "store/tsdb/time_series_store.h"
#include "wire/otlp_json.h"
#include "wire/otlp_metrics_json.h"
#include "wire/otlp_metrics_proto.h"
#include "wire/otlp_proto.h"

namespace loupe::server {
namespace {

std::string Bytes(uint64_t n) {
  char buf[32];
  if (n >= (1u << 20)) {
    std::snprintf(buf, sizeof(buf), "%.1f MiB", static_cast<double>(n) / (1 << 20));
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f KiB", static_cast<double>(n) / 1024);
  }
  return buf;
}

// Decodes a logged request's OTLP body; returns its span count (0 for a
// metrics request, whose data points go to *points when not null).
Result<size_t> DecodeBody(const ingest::LoggedRequest& req, uint64_t* points = nullptr) {
  if (ingest::IsMetricsFormat(req.format)) {
    model::MetricBatch metrics;
    Status s;
    if (req.format == ingest::RequestFormat::kOtlpMetricsJson) {
      std::string text(req.body);
      s = wire::DecodeMetricsJson(&text, {}, &metrics);
    } else {
      s = wire::DecodeMetricsProto(req.body, {}, &metrics);
    }
    if (!s.ok()) return s;
    if (points != nullptr) *points += metrics.points.size();
    return size_t{0};
  }
  model::SpanBatch batch;
  Status s;
  if (req.format == ingest::RequestFormat::kOtlpJson) {
    std::string text(req.body);
    s = wire::DecodeTracesJson(&text, {}, &batch);
  } else {
    s = wire::DecodeTracesProto(req.body, {}, &batch);
  }
  if (!s.ok()) return s;
  return batch.spans.size();
}

void VerifyLog(Env* env, const std::string& dir, VerifyReport* r) {
  if (!env->FileExists(dir)) {
    r->text += "ingest log  " + dir + ": not present\n";
    return;
  }
  uint64_t from = 0;
  const std::string ckpt = dir + "/" + std::string(ingest::kCheckpointFile);
  if (env->FileExists(ckpt)) {
    auto data = ReadFileToString(env, ckpt);
    std::vector<ingest::LoggedRequest> pending;
    Status s = data.ok() ? ingest::DecodeCheckpoint(*data, &from, &pending) : data.status();
    if (!s.ok()) {
      ++r->problems;
      r->text += "  DAMAGED " + std::string(ingest::kCheckpointFile) + ": " + s.ToString() + "\n";
    } else {
      uint64_t spans = 0;
      for (const auto& p : pending) {
        auto n = DecodeBody(p);
        if (!n.ok()) {
          ++r->problems;
          r->text += "  DAMAGED checkpoint request: " + n.status().ToString() + "\n";
        } else {
          spans += *n;
        }
      }
      r->checkpoint_requests = pending.size();
      r->text += "  ok      " + std::string(ingest::kCheckpointFile) + ": replay starts at segment " +
                 std::to_string(from) + "; " + std::to_string(spans) + " pending spans\n";
    }
  }
  auto reader = log::WalReader::Open(env, dir, log::WalPosition{from, 0, 0});
  if (!reader.ok()) {
    ++r->problems;
    r->text += "  DAMAGED " + dir + ": " + reader.status().ToString() + "\n";
    return;
  }
  std::string_view rec;
  log::WalPosition pos;
  uint64_t spans = 0, points = 0, bad = 0;
  while ((*reader)->Next(&rec, &pos)) {
    ingest::LoggedRequest req;
    Status s = ingest::DecodeLogRecord(rec, &req);
    Result<size_t> n = s.ok() ? DecodeBody(req, &points) : Result<size_t>(s);
    ++r->log_records;
    r->log_bytes += rec.size();
    if (!n.ok()) {
      if (bad++ < 10) {
        r->text += "  DAMAGED record at " + log::WalSegmentName(pos.segment) + " offset " +
                   std::to_string(pos.offset) + ": " + n.status().ToString() + "\n";
      }
      ++r->problems;
    } else {
      spans += *n;
    }
  }
  const auto& st = (*reader)->stats();
  if (!(*reader)->status().ok()) {
    ++r->problems;
    r->text += "  DAMAGED " + (*reader)->status().ToString() + "\n";
  }
  std::string head =
      "ingest log  " + dir + ": " + std::to_string(st.segments) + " segments, " +
      std::to_string(r->log_records) + " requests (" + std::to_string(spans) + " spans, " +
      std::to_string(points) + " metric points, " + Bytes(r->log_bytes) + ") to replay" +
      (st.torn_tail
           ? ", torn tail of " + std::to_string(st.torn_bytes) + " bytes (cut at the next start)"
           : "") +
      "\n";
  r->text += head;
}

void VerifyTsdb(Env* env, const std::string& dir, VerifyReport* r) {
  if (!env->FileExists(dir)) {
    r->text += "time-series store  " + dir + ": not present\n";
    return;
  }
  auto checks = tsdb::Verify(env, dir);
  if (!checks.ok()) {
    ++r->problems;
    r->text += "time-series store  " + dir + ": " + checks.status().ToString() + "\n";
    return;
  }
  uint64_t series = 0;
  for (const tsdb::BlockCheck& c : *checks) {
    if (!c.status.ok()) {
      ++r->problems;
      r->text += "  DAMAGED " + c.file + ": " + c.status.ToString() + "\n";
      continue;
    }
    ++r->tsdb_blocks;
    r->tsdb_samples += c.samples;
    series += c.series;
  }
  r->text += "time-series store  " + dir + ": " + std::to_string(r->tsdb_blocks) + " blocks ok, " +
             std::to_string(series) + " series (summed over blocks), " +
             std::to_string(r->tsdb_samples) + " samples or aggregate buckets\n";
}

}  // namespace

VerifyReport VerifyDataDir(Env* env, const std::string& data_dir) {
  VerifyReport r;
  store::EmbeddedStore::FilesReport files =
      store::EmbeddedStore::VerifyFiles(env, data_dir + "/store");
  r.segments = files.segments;
  r.segment_bytes = files.segment_bytes;
  r.transactions = files.transactions;
  r.rollup_files = files.rollup_files;
  r.rollup_bytes = files.rollup_bytes;
  r.rollup_cells = files.rollup_cells;
  r.problems += files.problems;
  r.text += files.text;
  VerifyLog(env, data_dir + "/wal", &r);
  VerifyTsdb(env, data_dir + "/tsdb", &r);
  r.text += r.problems == 0 ? "result: ok\n"
                            : "result: " + std::to_string(r.problems) + " problem(s) found\n";
  return r;
}

int RunStoreCommand(int argc, char** argv) {
  const char* usage =
      "Usage: loupe store verify DATA_DIR\n\n"
      "Checks a data directory: every segment in DATA_DIR/store in full (checksums,\n"
      "decoding of every column and profile), the ingest log in DATA_DIR/wal\n"
      "(checkpoint, every record) and the time-series store's blocks in\n"
      "DATA_DIR/tsdb. Exit code 0 when all is well, 1 when something is\n"
      "damaged (listed), 2 on usage errors. Only reads; safe next to a running server.\n";
  if (argc != 2 || std::string(argv[0]) != "verify") {
    std::fputs(usage, argc == 0 ? stdout : stderr);
    return 2;
  }
  VerifyReport r = VerifyDataDir(Env::Default(), argv[1]);
  std::fputs(r.text.c_str(), stdout);
  return r.problems == 0 ? 0 : 1;
}

}  // namespace loupe::server
