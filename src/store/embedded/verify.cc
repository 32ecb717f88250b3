// Checks of the engine's files for `loupe store verify` (embedded_store.h,
// EmbeddedStore::VerifyFiles): every segment in full (Segment::Verify) and
// every rollup file's blocks and user sketches, without opening the store.
#include <algorithm>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "common/hll.h"
#include "log/wal.h"
#include "store/embedded/embedded_store.h"
#include "store/embedded/rollup_file.h"
#include "store/embedded/segment.h"

namespace loupe::store {
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

}  // namespace

EmbeddedStore::FilesReport EmbeddedStore::VerifyFiles(Env* env, const std::string& dir) {
  using FilesReport = EmbeddedStore::FilesReport;
  FilesReport report;
  FilesReport* r = &report;
  auto children = env->GetChildren(dir);
  if (!children.ok()) {
    r->text += "store  " + dir + ": not present (" + children.status().message() + ")\n";
    return report;
  }
  std::vector<std::string> names(children->begin(), children->end());
  std::sort(names.begin(), names.end());
  std::set<uint32_t> projects;
  std::set<std::pair<uint32_t, int64_t>> partitions;
  std::string lines;
  std::string rollup_lines;
  for (const std::string& name : names) {
    uint32_t project;
    int64_t partition;
    uint64_t seq;
    RollupResolution res;
    if (ParseRollupFileName(name, &project, &partition, &seq, &res)) {
      // Every block and the user sketches, checksums and structure.
      const std::string path = dir + "/" + name;
      auto f = RollupFile::Open(env, path);
      Status s = f.status();
      RollupBlock block;
      for (size_t b = 0; s.ok() && b < (*f)->blocks().size(); ++b) s = (*f)->ReadBlock(b, &block);
      std::vector<std::pair<UsersKey, HyperLogLog>> users;
      if (s.ok()) s = (*f)->ReadUsers(&users);
      ++r->rollup_files;
      auto size = env->GetFileSize(path);
      if (size.ok()) r->rollup_bytes += *size;
      if (!s.ok()) {
        // Derived data: the engine rebuilds a segment's missing rollup
        // files from its rows (docs/format/rollup.md), so deleting a damaged
        // one repairs it while the segment is still kept.
        ++r->problems;
        rollup_lines += "  DAMAGED " + name + ": " + s.ToString() +
                        " (while its .seg is kept, delete it: the store rebuilds it at the next start)\n";
        continue;
      }
      r->rollup_cells += (*f)->cells();
      continue;
    }
    if (!ParseSegmentFileName(name, &project, &partition, &seq)) continue;
    const std::string path = dir + "/" + name;
    auto seg = Segment::Open(env, path);
    Status s = seg.ok() ? (*seg)->Verify() : seg.status();
    ++r->segments;
    auto size = env->GetFileSize(path);
    if (size.ok()) r->segment_bytes += *size;
    if (!s.ok()) {
      ++r->problems;
      lines += "  DAMAGED " + name + ": " + s.ToString() + "\n";
      continue;
    }
    projects.insert(project);
    partitions.insert({project, partition});
    r->transactions += (*seg)->rows();
    lines += "  ok      " + name + "  project " + std::to_string(project) + "  " +
             std::to_string((*seg)->rows()) + " transactions, " +
             std::to_string((*seg)->steps()) + " steps, " + Bytes(size.ok() ? *size : 0) + "\n";
  }
  r->text += "store  " + dir + ": " + std::to_string(r->segments) + " segments, " +
             std::to_string(projects.size()) + " projects, " + std::to_string(partitions.size()) +
             " partitions, " + std::to_string(r->transactions) + " transactions, " +
             Bytes(r->segment_bytes) + "\n" + lines;
  r->text += "rollups  " + std::to_string(r->rollup_files) + " files, " +
             std::to_string(r->rollup_cells) + " cells, " + Bytes(r->rollup_bytes) + "\n" +
             rollup_lines;
  // The event journal: every record of every segment must read back (a
  // torn tail of the newest segment is a crash's normal leftover).
  const std::string events_dir = dir + "/events";
  if (env->FileExists(events_dir)) {
    auto reader = log::WalReader::Open(env, events_dir);
    if (!reader.ok()) {
      ++r->problems;
      r->text += "events  " + events_dir + ": DAMAGED: " + reader.status().ToString() + "\n";
    } else {
      std::string_view record;
      log::WalPosition pos;
      while ((*reader)->Next(&record, &pos)) {
      }
      const log::WalReadStats& st = (*reader)->stats();
      r->events_records = st.records;
      if (!(*reader)->status().ok()) {
        ++r->problems;
        r->text += "events  " + events_dir + ": DAMAGED: " + (*reader)->status().ToString() + "\n";
      } else {
        r->text += "events  " + events_dir + ": " + std::to_string(st.segments) + " segments, " +
                   std::to_string(st.records) + " records" +
                   (st.torn_tail ? " (a torn tail, cut at the next open)" : "") + "\n";
      }
    }
  }
  return report;
}

}  // namespace loupe::store
