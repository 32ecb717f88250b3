#include "store/embedded/segment.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/coding.h"
#include "store/embedded/compression.h"
#include "store/embedded/segment_builder.h"
#include "store/embedded/synthetic_workload.h"
#include "store/profile_codec.h"

namespace loupe::store {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kT0 = 1'700'000'000'000'000;

// Transactions turned into segment rows with local dictionaries, as a flush does.
struct Input {
  std::vector<model::Transaction> txs;
  std::vector<std::string> dicts[kNumDictColumns];
  std::vector<std::string> profiles;
  std::vector<SegmentRow> rows;

  void Build() {
    std::unordered_map<std::string, uint32_t> index[kNumDictColumns];
    for (int c = 0; c < kNumDictColumns; ++c) {
      dicts[c] = {""};
      index[c][""] = 0;
    }
    profiles.resize(txs.size());
    rows.clear();
    for (size_t i = 0; i < txs.size(); ++i) {
      const model::Transaction& tx = txs[i];
      EncodeProfile(tx, &profiles[i]);
      SegmentRow& r = rows.emplace_back();
      r.id = tx.id;
      r.trace = tx.trace_id;
      r.start_us = tx.start_us;
      r.end_us = tx.end_us;
      r.status = tx.status;
      r.error = tx.error;
      r.summary = tx.summary;
      r.steps = static_cast<uint32_t>(tx.steps.size());
      r.profile = profiles[i];
      const std::string* vals[kNumDictColumns] = {&tx.service,   &tx.instance,  &tx.endpoint,
                                                  &tx.user,      &tx.client_ip, &tx.http_method,
                                                  &tx.error_type};
      for (int c = 0; c < kNumDictColumns; ++c) {
        auto [it, added] = index[c].emplace(*vals[c], static_cast<uint32_t>(dicts[c].size()));
        if (added) dicts[c].push_back(*vals[c]);
        r.dict[c] = it->second;
      }
    }
  }
};

class SegmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loupe_segment_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string dir_;
};

Input Workload(size_t n, uint64_t seed = 7) {
  SyntheticWorkload::Options o;
  o.seed = seed;
  SyntheticWorkload w(o, kT0);
  Input in;
  for (size_t i = 0; i < n; ++i) in.txs.push_back(w.Next());
  // Arrival order is not end order: shuffle a little.
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i + 1 < n; i += 3) {
    if (rng() % 2) std::swap(in.txs[i], in.txs[i + 1]);
  }
  in.Build();
  return in;
}

TEST(CodingTest, VarintsRoundTripAcrossTheirRange) {
  std::string buf;
  std::vector<uint64_t> vals;
  for (int shift = 0; shift < 64; ++shift) {
    for (uint64_t delta : {0ull, 1ull, 2ull}) vals.push_back((1ull << shift) - 1 + delta);
  }
  vals.push_back(UINT64_MAX);
  for (uint64_t v : vals) PutVarint(&buf, v);
  for (int64_t v : {int64_t{0}, int64_t{-1}, int64_t{1}, INT64_MIN, INT64_MAX}) PutZigZag(&buf, v);
  Decoder d(buf);
  for (uint64_t v : vals) EXPECT_EQ(d.Varint(), v);
  for (int64_t v : {int64_t{0}, int64_t{-1}, int64_t{1}, INT64_MIN, INT64_MAX}) {
    EXPECT_EQ(d.ZigZag(), v);
  }
  EXPECT_TRUE(d.ok());
  EXPECT_TRUE(d.done());
  // Every truncation fails cleanly.
  for (size_t cut = 0; cut < 10; ++cut) {
    std::string t;
    PutVarint(&t, UINT64_MAX);
    Decoder td(std::string_view(t).substr(0, cut));
    td.Varint();
    EXPECT_FALSE(td.ok());
  }
}

TEST(CompressionTest, EveryCodecRoundTrips) {
  std::string data;
  for (int i = 0; i < 10000; ++i) data += std::to_string(i % 97) + ",";
  for (Compression c : {Compression::kNone, Compression::kLz4, Compression::kZstd}) {
    std::string packed, back;
    Compression used = Compress(c, 3, data, &packed);
    EXPECT_EQ(used, c);
    ASSERT_TRUE(Uncompress(used, packed, data.size(), &back).ok());
    EXPECT_EQ(back, data);
    if (c != Compression::kNone) {
      EXPECT_FALSE(Uncompress(used, packed, data.size() + 1, &back).ok());
    }
  }
  std::string packed;
  EXPECT_EQ(Compress(Compression::kZstd, 3, "x", &packed), Compression::kNone);
}

TEST(ProfileCodecTest, ProfilesRoundTripWithParentReferences) {
  SyntheticWorkload w({}, kT0);
  for (int i = 0; i < 200; ++i) {
    model::Transaction tx = w.Next();
    tx.parent_span_id = 77;
    if (!tx.steps.empty()) tx.steps.back().parent_span_id = 12345;  // not in the profile
    if (i % 7 == 0) tx.steps.push_back(model::Step{});              // error-style step
    tx.steps.back().attributes = {{"k", "v"}};
    tx.dropped_steps = 3;
    std::string blob;
    EncodeProfile(tx, &blob);
    model::Transaction got;
    got.start_us = tx.start_us;
    ASSERT_TRUE(DecodeProfile(blob, &got));
    EXPECT_EQ(got.span_id, tx.span_id);
    EXPECT_EQ(got.parent_span_id, 77u);
    EXPECT_EQ(got.host, tx.host);
    EXPECT_EQ(got.url, tx.url);
    EXPECT_EQ(got.dropped_steps, 3u);
    ASSERT_EQ(got.steps.size(), tx.steps.size());
    for (size_t k = 0; k < tx.steps.size(); ++k) {
      const model::Step& a = got.steps[k];
      const model::Step& b = tx.steps[k];
      EXPECT_EQ(a.span_id, b.span_id);
      EXPECT_EQ(a.parent_span_id, b.parent_span_id);
      EXPECT_EQ(a.kind, b.kind);
      EXPECT_EQ(a.start_us, b.start_us);
      EXPECT_EQ(a.elapsed_us, b.elapsed_us);
      EXPECT_EQ(a.sql, b.sql);
      EXPECT_EQ(a.binds, b.binds);
      EXPECT_EQ(a.rows, b.rows);
      EXPECT_EQ(a.url, b.url);
      EXPECT_EQ(a.attributes, b.attributes);
    }
    // Every truncation is rejected, never read past the end.
    for (size_t cut = 0; cut < blob.size(); cut += 1 + blob.size() / 50) {
      model::Transaction t;
      EXPECT_FALSE(DecodeProfile(std::string_view(blob).substr(0, cut), &t));
    }
  }
}

class SegmentVersionTest : public SegmentTest, public ::testing::WithParamInterface<uint32_t> {};
INSTANTIATE_TEST_SUITE_P(Versions, SegmentVersionTest, ::testing::Values(1u, 2u));

TEST_P(SegmentVersionTest, RowsIdsTracesProfilesAndLateStepsRoundTrip) {
  Input in = Workload(20000);
  std::vector<LateRecord> late(2);
  late[0].tx = 42;
  late[0].delta.sql_count = 2;
  late[0].steps = 1;
  late[0].blob = "steps";
  late[1].tx = 43;
  SegmentOptions opts;
  opts.rows_per_group = 4096;
  opts.version = GetParam();
  opts.profile_block_bytes = 32 << 10;  // many blocks
  const std::string path = dir_ + "/" + SegmentFileName(3, 472222, 9);
  std::vector<SegmentRow> rows = in.rows;
  ASSERT_TRUE(WriteSegment(Env::Default(), path, opts, 3, 472222, in.dicts, &rows, late).ok());

  auto seg = Segment::Open(Env::Default(), path);
  ASSERT_TRUE(seg.ok()) << seg.status().ToString();
  const Segment& s = **seg;
  EXPECT_EQ(s.version(), GetParam());
  EXPECT_GT(s.profile_blocks(), 10u);
  EXPECT_EQ(s.project(), 3u);
  EXPECT_EQ(s.partition(), 472222);
  EXPECT_EQ(s.rows(), 20000u);
  EXPECT_EQ(s.groups().size(), 5u);
  ASSERT_EQ(s.late().size(), 2u);
  EXPECT_EQ(s.late()[0].tx, 42u);
  EXPECT_EQ(s.late()[0].delta.sql_count, 2u);
  EXPECT_EQ(s.late()[0].blob, "steps");

  std::map<model::TxId, const model::Transaction*> by_id;
  for (const auto& tx : in.txs) by_id[tx.id] = &tx;
  int64_t prev_end = INT64_MIN;
  size_t seen = 0;
  DecodedGroup g;
  StringTable users;
  ASSERT_TRUE(s.ReadDict(kDictUser, &users).ok());
  EXPECT_EQ(users.size(), s.dict_size(kDictUser));
  EXPECT_EQ(s.dict(kDictEndpoint).size(), s.dict_size(kDictEndpoint));
  for (size_t gi = 0; gi < s.groups().size(); ++gi) {
    ASSERT_TRUE(s.ReadGroup(gi, &g).ok());
    EXPECT_EQ(g.first_row, s.groups()[gi].first_row);
    for (uint32_t i = 0; i < g.rows; ++i) {
      ASSERT_GE(g.end[i], prev_end) << "rows are sorted by end time";
      prev_end = g.end[i];
      EXPECT_GE(g.end[i], s.groups()[gi].min_end);
      EXPECT_LE(g.end[i], s.groups()[gi].max_end);
      const model::Transaction& tx = *by_id.at(g.id[i]);
      EXPECT_EQ(g.trace[i], tx.trace_id);
      EXPECT_EQ(g.end[i], tx.end_us);
      EXPECT_EQ(g.elapsed[i], tx.end_us - tx.start_us);
      EXPECT_EQ(g.status[i], tx.status);
      EXPECT_EQ(g.error[i] != 0, tx.error);
      EXPECT_EQ(s.dict(kDictEndpoint)[g.dict[kDictEndpoint][i]], tx.endpoint);
      EXPECT_EQ(users.Get(g.dict[kDictUser][i]), tx.user);
      EXPECT_EQ(s.dict(kDictErrorType)[g.dict[kDictErrorType][i]], tx.error_type);
      EXPECT_EQ(g.summary[i].sql_count, tx.summary.sql_count);
      EXPECT_EQ(g.summary[i].external_us, tx.summary.external_us);
      EXPECT_EQ(g.summary[i].cpu_us, tx.summary.cpu_us);
      ++seen;
    }
  }
  EXPECT_EQ(seen, in.txs.size());

  // Every profile in row order through one cursor, as compaction reads them.
  std::map<model::TxId, const std::string*> profile_of;
  for (size_t k = 0; k < in.txs.size(); ++k) profile_of[in.txs[k].id] = &in.profiles[k];
  Segment::ProfileCursor cursor(s);
  for (size_t gi = 0; gi < s.groups().size(); ++gi) {
    ASSERT_TRUE(s.ReadGroup(gi, &g, kReadIds).ok());
    for (uint32_t i = 0; i < g.rows; ++i) {
      Result<std::string_view> blob = cursor.Next();
      ASSERT_TRUE(blob.ok()) << blob.status().ToString();
      ASSERT_EQ(*blob, *profile_of.at(g.id[i]));
    }
  }
  EXPECT_FALSE(cursor.Next().ok()) << "no profile past the last row";
  EXPECT_TRUE(s.Verify().ok());

  for (size_t k = 0; k < in.txs.size(); k += 97) {
    const model::Transaction& tx = in.txs[k];
    uint32_t row = 0;
    Result<bool> found = s.FindId(tx.id, &row);
    ASSERT_TRUE(found.ok());
    ASSERT_TRUE(*found);
    std::string blob;
    ASSERT_TRUE(s.ReadProfile(row, &blob).ok());
    EXPECT_EQ(blob, in.profiles[k]);
    model::Transaction got;
    got.start_us = tx.start_us;
    ASSERT_TRUE(DecodeProfile(blob, &got));
    EXPECT_EQ(got.span_id, tx.span_id);
    EXPECT_EQ(got.steps.size(), tx.steps.size());
    std::vector<uint32_t> trace_rows;
    ASSERT_TRUE(s.FindTrace(tx.trace_id, &trace_rows).ok());
    EXPECT_EQ(trace_rows, std::vector<uint32_t>{row});
  }
  int false_hits = 0;
  for (uint64_t id = 1; id <= 10000; ++id) {
    uint32_t row;
    Result<bool> found = s.FindId(id * 0x9e3779b97f4a7c15ull, &row);
    ASSERT_TRUE(found.ok());
    false_hits += *found;
  }
  EXPECT_EQ(false_hits, 0);
}

TEST_F(SegmentTest, EmptySegmentHoldsOnlyLateSteps) {
  std::vector<std::string> dicts[kNumDictColumns];
  for (auto& d : dicts) d = {""};
  std::vector<SegmentRow> rows;
  std::vector<LateRecord> late(1);
  late[0].tx = 9;
  const std::string path = dir_ + "/" + SegmentFileName(1, 0, 1);
  ASSERT_TRUE(WriteSegment(Env::Default(), path, {}, 1, 0, dicts, &rows, late).ok());
  auto seg = Segment::Open(Env::Default(), path);
  ASSERT_TRUE(seg.ok()) << seg.status().ToString();
  EXPECT_EQ((*seg)->rows(), 0u);
  EXPECT_EQ((*seg)->late().size(), 1u);
  uint32_t row;
  EXPECT_FALSE(*(*seg)->FindId(9, &row));
}

// Meta version 3: a late record keeps its transaction's dropped_steps total
// and rollup cell; files of meta versions 1 and 2 (before 2026-12-07) are
// still read, their records without a cell.
TEST_F(SegmentTest, LateRecordsKeepDroppedStepsAndTheirCellAndOldOnesStillRead) {
  std::vector<std::string> dicts[kNumDictColumns];
  for (auto& d : dicts) d = {""};
  dicts[kDictService] = {"", "shop"};
  dicts[kDictInstance] = {"", "shop-1", "shop-2"};
  dicts[kDictEndpoint] = {"", "GET /"};
  std::vector<LateRecord> late(2);
  late[0].tx = 9;
  late[0].delta.sql_count = 3;
  late[0].steps = 3;
  late[0].blob = "b";
  late[0].dropped_steps = 17;
  late[0].has_cell = true;
  late[0].end_us = -5'000'000;
  late[0].cell[0] = 1;
  late[0].cell[1] = 2;
  late[0].cell[2] = 1;
  late[1].tx = 10;
  for (bool cells : {true, false}) {
    SCOPED_TRACE(cells ? "meta version 3" : "old meta version");
    SegmentOptions opts;
    opts.late_cells = cells;
    std::vector<SegmentRow> rows;
    const std::string path = dir_ + "/" + SegmentFileName(1, 0, cells ? 1 : 2);
    ASSERT_TRUE(WriteSegment(Env::Default(), path, opts, 1, 0, dicts, &rows, late).ok());
    auto seg = Segment::Open(Env::Default(), path);
    ASSERT_TRUE(seg.ok()) << seg.status().ToString();
    ASSERT_EQ((*seg)->late().size(), 2u);
    const LateRecord& a = (*seg)->late()[0];
    EXPECT_EQ(a.tx, 9u);
    EXPECT_EQ(a.delta.sql_count, 3u);
    EXPECT_EQ(a.blob, "b");
    EXPECT_EQ(a.dropped_steps, cells ? 17u : 0u);
    EXPECT_EQ(a.has_cell, cells);
    if (cells) {
      EXPECT_EQ(a.end_us, -5'000'000);
      EXPECT_EQ(a.cell[0], 1u);
      EXPECT_EQ(a.cell[1], 2u);
      EXPECT_EQ(a.cell[2], 1u);
    }
    EXPECT_FALSE((*seg)->late()[1].has_cell);
  }
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

TEST_F(SegmentTest, DamageIsDetectedByChecksumsAndNamesTheFile) {
  Input in = Workload(3000);
  SegmentOptions opts;
  opts.rows_per_group = 1000;
  const std::string path = dir_ + "/" + SegmentFileName(1, 5, 1);
  std::vector<SegmentRow> rows = in.rows;
  ASSERT_TRUE(WriteSegment(Env::Default(), path, opts, 1, 5, in.dicts, &rows, {}).ok());
  const std::string good = ReadFile(path);
  Segment::Chunk elapsed1;
  {
    auto seg = Segment::Open(Env::Default(), path);
    ASSERT_TRUE(seg.ok());
    elapsed1 = (*seg)->groups()[1].columns[kColElapsed];
  }

  // A flipped byte in one column chunk costs that group only.
  std::string bad = good;
  bad[elapsed1.offset + elapsed1.length / 2] ^= 0x10;
  WriteFile(path, bad);
  {
    auto seg = Segment::Open(Env::Default(), path);
    ASSERT_TRUE(seg.ok());
    DecodedGroup g;
    EXPECT_TRUE((*seg)->ReadGroup(0, &g).ok());
    Status s = (*seg)->ReadGroup(1, &g);
    EXPECT_EQ(s.code(), Status::Code::kCorruption);
    EXPECT_NE(s.message().find(path), std::string::npos) << s.ToString();
    EXPECT_TRUE((*seg)->ReadGroup(2, &g).ok());
  }

  // Damage to the trailer, the meta block or a truncation fails Open.
  for (size_t pos : {good.size() - 1, good.size() - 30, good.size() / 2}) {
    bad = good;
    bad[pos] ^= 0x01;
    WriteFile(path, bad);
    auto seg = Segment::Open(Env::Default(), path);
    if (pos == good.size() / 2) {
      // Middle of the data: found when that part is read, not at open.
      if (!seg.ok()) {
        EXPECT_EQ(seg.status().code(), Status::Code::kCorruption);
      }
      continue;
    }
    ASSERT_FALSE(seg.ok()) << "flip at " << pos;
    EXPECT_EQ(seg.status().code(), Status::Code::kCorruption);
    EXPECT_NE(seg.status().message().find(path), std::string::npos);
  }
  WriteFile(path, good.substr(0, good.size() - 100));
  auto truncated = Segment::Open(Env::Default(), path);
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.status().code(), Status::Code::kCorruption);

  // Damage to the id sections is found on first use: flip a byte of the
  // first transaction id in the (uncompressed) ids section.
  bad = good;
  std::string id_bytes;
  PutFixed64(&id_bytes, in.txs[0].id);
  const size_t id_pos = good.find(id_bytes);
  ASSERT_NE(id_pos, std::string::npos);
  bad[id_pos] ^= 0x01;
  WriteFile(path, bad);
  auto seg = Segment::Open(Env::Default(), path);
  ASSERT_TRUE(seg.ok()) << seg.status().ToString();
  {
    uint32_t row;
    DecodedGroup g;
    Status s1 = (*seg)->FindId(in.txs[1].id, &row).status();
    Status s2 = (*seg)->ReadGroup(0, &g);
    EXPECT_EQ(s1.code(), Status::Code::kCorruption) << s1.ToString();
    EXPECT_EQ(s2.code(), Status::Code::kCorruption) << s2.ToString();
  }
}

// RSS of file-backed pages mapped into this process, KiB.
long RssFileKib() {
  long kib = -1;
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("RssFile:", 0) == 0) kib = std::stol(line.substr(8));
  }
  return kib;
}

// A flushed segment read once stayed resident for the process's life (RSS
// grew by every segment's size in the soak, bench/soak.sh); an idle one is
// released, one that was read since the last call is not.
TEST_F(SegmentTest, IdleSegmentPagesLeaveTheResidentSet) {
  Input in = Workload(40'000);
  std::vector<SegmentRow> rows = in.rows;
  SegmentOptions opts;
  opts.column_compression = Compression::kNone;  // a few MiB to see
  opts.profile_compression = Compression::kNone;
  const std::string path = dir_ + "/" + SegmentFileName(1, 1, 1);
  ASSERT_TRUE(WriteSegment(Env::Default(), path, opts, 1, 1, in.dicts, &rows, {}).ok());
  auto seg = Segment::Open(Env::Default(), path);
  ASSERT_TRUE(seg.ok()) << seg.status().ToString();
  const long size_kib = static_cast<long>((*seg)->file_size() >> 10);
  ASSERT_GT(size_kib, 4 << 10);
  const long before = RssFileKib();
  Segment::ProfileCursor cursor(**seg);
  ASSERT_TRUE(cursor.Seek(0).ok());
  for (uint32_t r = 0; r < (*seg)->rows(); ++r) ASSERT_TRUE(cursor.Next().ok());
  DecodedGroup g;
  for (size_t i = 0; i < (*seg)->groups().size(); ++i) ASSERT_TRUE((*seg)->ReadGroup(i, &g).ok());
  const long read = RssFileKib();
  EXPECT_GT(read, before + size_kib / 2) << "the reads map the file";
  EXPECT_FALSE((*seg)->ReleasePagesIfIdle()) << "read since the last call";
  EXPECT_TRUE((*seg)->ReleasePagesIfIdle());
  EXPECT_LT(RssFileKib(), read - size_kib / 2);
  // Still readable: the pages come back from the page cache.
  ASSERT_TRUE((*seg)->ReadGroup(0, &g).ok());
  EXPECT_EQ(g.rows, (*seg)->groups()[0].rows);
}

TEST(SegmentFileNameTest, RoundTrips) {
  uint32_t p;
  int64_t k;
  uint64_t s;
  ASSERT_TRUE(ParseSegmentFileName(SegmentFileName(7, -3, 12), &p, &k, &s));
  EXPECT_EQ(p, 7u);
  EXPECT_EQ(k, -3);
  EXPECT_EQ(s, 12u);
  EXPECT_FALSE(ParseSegmentFileName("7_3_12.seg.tmp", &p, &k, &s));
  EXPECT_FALSE(ParseSegmentFileName("7_3.seg", &p, &k, &s));
  EXPECT_FALSE(ParseSegmentFileName("LOCK", &p, &k, &s));
}

// Bytes per transaction on realistic data, lz4 against zstd. Sizes, not
// times: deterministic for the seed, so the budget is asserted.
TEST_F(SegmentTest, RealisticDataFitsTheByteBudget) {
  constexpr size_t kTxs = 200'000;  // 200 s at 1,000 TPS
  Input in = Workload(kTxs, 11);
  uint64_t spans = 0;
  for (const auto& tx : in.txs) spans += 1 + tx.steps.size();
  struct Variant {
    const char* name;
    Compression cols, profiles;
    bool columnar;  // version 2 (columnar profiles, packed columns) or 1
  };
  const Variant variants[] = {
      {"lz4/lz4", Compression::kLz4, Compression::kLz4, true},
      {"zstd/zstd", Compression::kZstd, Compression::kZstd, true},
      {"none/none", Compression::kNone, Compression::kNone, true},
      {"zstd/zstd version 1", Compression::kZstd, Compression::kZstd, false}};
  double zstd_scatter = 0, zstd_per_span = 0, profiles_columnar = 0, profiles_v1 = 0;
  for (const Variant& v : variants) {
    SegmentOptions opts;
    opts.column_compression = v.cols;
    opts.profile_compression = v.profiles;
    opts.version = v.columnar ? 2 : 1;
    const std::string path = dir_ + "/" + SegmentFileName(1, 1, 1);
    std::vector<SegmentRow> rows = in.rows;
    SegmentSizes sz;
    ASSERT_TRUE(WriteSegment(Env::Default(), path, opts, 1, 1, in.dicts, &rows, {}, &sz).ok());
    const double n = kTxs;
    const double scatter = (sz.columns[kColEnd] + sz.columns[kColElapsed] + sz.columns[kColStatus] +
                            sz.columns[kColError] + sz.columns[kColDictFirst + int{kDictEndpoint}] +
                            sz.columns[kColDictFirst + int{kDictInstance}]) /
                           n;
    uint64_t all_cols = 0;
    for (uint64_t c : sz.columns) all_cols += c;
    std::printf(
        "%-10s file %6.1f B/tx (%5.1f B/span, %.2f spans/tx) | scatter cols %.2f B/tx (end %.2f, "
        "elapsed %.2f) | all cols %.2f B/tx | ids %.2f | profiles %.2f | dicts %.3f | meta %.3f\n",
        v.name, sz.file / n, sz.file / static_cast<double>(spans), spans / n, scatter,
        sz.columns[kColEnd] / n, sz.columns[kColElapsed] / n, all_cols / n, sz.ids / n,
        sz.profiles / n, sz.dicts / n, sz.meta / n);
    if (v.cols == Compression::kZstd && v.columnar) {
      zstd_scatter = scatter;
      zstd_per_span = sz.file / static_cast<double>(spans);
      profiles_columnar = sz.profiles / n;
      static const char* const kStreams[profile_block::kFirstString] = {
          "span ids", "tx",         "parent ref", "error",     "start gap",
          "elapsed",  "bind count", "rows",       "attr count"};
      static const char* const kFields[profile_block::kNumFields] = {
          "shape",   "tx host", "tx url",   "bind",      "step url",
          "message", "stack",   "attr key", "attr value"};
      std::printf("  profile streams, B/tx:");
      for (int st = 0; st < profile_block::kNumStreams; ++st) {
        if (sz.profile_streams[st] == 0) continue;
        const int f = (st - profile_block::kFirstString) / 2;
        std::printf(" %s%s %.2f |", st < profile_block::kFirstString ? kStreams[st] : kFields[f],
                    st < profile_block::kFirstString
                        ? ""
                        : ((st - profile_block::kFirstString) % 2 == 0 ? " refs" : " literals"),
                    sz.profile_streams[st] / n);
      }
      std::printf("\n");
    }
    if (!v.columnar) profiles_v1 = sz.profiles / n;
  }
  EXPECT_LE(zstd_scatter, 6.0);
  EXPECT_LE(zstd_per_span, 40.0);
  // The columnar layout is what keeps Loupe smaller than ClickHouse's steps
  // table (docs/benchmarks.md): it must stay well ahead of whole blobs.
  EXPECT_LT(profiles_columnar, 0.75 * profiles_v1);
}

}  // namespace
}  // namespace loupe::store
