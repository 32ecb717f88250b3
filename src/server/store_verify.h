// `loupe store verify DIR`: checks a data directory without opening it for
// writing — every segment of DIR/store in full (Segment::Verify) and the
// ingest log of DIR/wal (checkpoint file, every record and the OTLP request
// in it) and every block of the time-series store in DIR/tsdb (tsdb::Verify)
// — and reports what it finds, a line per file.
//
// Safe to run next to a running server (it only reads, and takes no lock),
// though files the server writes meanwhile may show as incomplete.
#ifndef LOUPE_SERVER_STORE_VERIFY_H_
#define LOUPE_SERVER_STORE_VERIFY_H_

#include <cstdint>
#include <string>

#include "common/env.h"

namespace loupe::server {

struct VerifyReport {
  uint64_t segments = 0, segment_bytes = 0, transactions = 0;
  uint64_t rollup_files = 0, rollup_bytes = 0, rollup_cells = 0;
  uint64_t log_records = 0, log_bytes = 0, checkpoint_requests = 0;
  uint64_t tsdb_blocks = 0, tsdb_samples = 0;  // blocks that passed, their samples
  uint64_t problems = 0;  // damaged files or records
  std::string text;       // the human-readable report
};

VerifyReport VerifyDataDir(Env* env, const std::string& data_dir);

// The `loupe store ...` command line; returns the process exit code (0 all
// good, 1 problems found, 2 usage).
int RunStoreCommand(int argc_rest, char** argv_rest);

}  // namespace loupe::server

#endif  // LOUPE_SERVER_STORE_VERIFY_H_
