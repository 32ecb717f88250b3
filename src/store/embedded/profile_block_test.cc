#include "store/embedded/profile_block.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "store/embedded/synthetic_workload.h"
#include "store/profile_codec.h"

namespace loupe::store {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000'000;

// Profiles with everything the blob can hold, in odd combinations: remote
// parents, raw parent ids, nested and overlapping steps, negative offsets,
// empty and long strings, attributes, messages, stacks, dropped steps.
std::vector<std::string> OddProfiles(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto str = [&](int max_len) {
    std::string s(rng() % (max_len + 1), '\0');
    for (char& c : s) c = static_cast<char>(rng() % 4 == 0 ? rng() : 'a' + rng() % 3);
    return s;
  };
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) {
    model::Transaction tx;
    tx.start_us = kT0;
    tx.span_id = rng() % 5 == 0 ? 0 : rng();
    tx.parent_span_id = rng() % 2 ? rng() : 0;
    tx.host = str(8);
    tx.url = str(40);
    tx.dropped_steps = rng() % 3 == 0 ? static_cast<uint32_t>(rng()) : 0;
    const size_t steps = rng() % 4 == 0 ? 0 : rng() % 40;
    for (size_t k = 0; k < steps; ++k) {
      model::Step& s = tx.steps.emplace_back();
      s.span_id = rng() % 10 == 0 ? 0 : rng();
      switch (rng() % 4) {
        case 0:
          s.parent_span_id = tx.span_id;
          break;
        case 1:
          s.parent_span_id = k > 0 ? tx.steps[rng() % k].span_id : 0;
          break;
        case 2:
          s.parent_span_id = rng();
          break;
        default:
          s.parent_span_id = 0;
      }
      s.kind =
          static_cast<model::StepKind>(rng() % (static_cast<int>(model::StepKind::kError) + 1));
      s.error = rng() % 7 == 0;
      s.start_us = kT0 + static_cast<int64_t>(rng() % 2'000'000) - 1'000'000;
      s.elapsed_us = rng() % 50 == 0 ? -static_cast<int64_t>(rng() % 100) : rng() % 5'000'000;
      s.name = str(6);
      s.sql = rng() % 2 ? str(60) : "";
      s.db_system = rng() % 2 ? "postgresql" : "";
      for (size_t b = rng() % 4; b > 0; --b) s.binds.push_back(str(5));
      s.rows = static_cast<int64_t>(rng() % 100) - 1;
      s.url = str(30);
      s.host = str(4);
      s.http_status = static_cast<int32_t>(rng() % 600) - 1;
      s.message = rng() % 5 == 0 ? str(200) : "";
      s.stack = rng() % 9 == 0 ? str(500) : "";
      for (size_t a = rng() % 3; a > 0; --a) s.attributes.emplace_back(str(4), str(9));
    }
    EncodeProfile(tx, &out.emplace_back());
  }
  return out;
}

std::vector<std::string> WorkloadProfiles(size_t n) {
  SyntheticWorkload w({}, kT0);
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) EncodeProfile(w.Next(), &out.emplace_back());
  return out;
}

std::string Encode(const std::vector<std::string>& blobs, Compression codec = Compression::kZstd) {
  ProfileBlockWriter w;
  for (const std::string& b : blobs) EXPECT_TRUE(w.Add(b).ok());
  EXPECT_EQ(w.rows(), blobs.size());
  std::string block;
  w.Finish(codec, 3, &block);
  EXPECT_EQ(w.rows(), 0u) << "Finish clears the writer";
  return block;
}

void ExpectRoundTrip(const std::vector<std::string>& blobs, Compression codec) {
  const std::string block = Encode(blobs, codec);
  ProfileBlockReader r;
  ASSERT_TRUE(r.Open(block).ok());
  ASSERT_EQ(r.rows(), blobs.size());
  std::string got;
  for (size_t i = 0; i < blobs.size(); ++i) {
    ASSERT_TRUE(r.Next(&got).ok()) << i;
    ASSERT_EQ(got, blobs[i]) << "row " << i << " comes back byte for byte";
  }
  EXPECT_TRUE(r.CheckDone().ok());
  EXPECT_EQ(r.Next(&got).code(), Status::Code::kCorruption) << "past the last row";
}

TEST(ProfileBlockTest, BlobsComeBackByteForByte) {
  for (Compression c : {Compression::kNone, Compression::kLz4, Compression::kZstd}) {
    ExpectRoundTrip(OddProfiles(500, 1), c);
    ExpectRoundTrip(WorkloadProfiles(2000), c);
  }
  ExpectRoundTrip({}, Compression::kZstd);
}

TEST(ProfileBlockTest, SkippedRowsKeepTheDictionariesInStep) {
  // Later rows refer to strings first seen in skipped rows.
  const std::vector<std::string> blobs = WorkloadProfiles(300);
  const std::string block = Encode(blobs);
  for (size_t target : {0, 1, 150, 299}) {
    ProfileBlockReader r;
    ASSERT_TRUE(r.Open(block).ok());
    for (size_t i = 0; i < target; ++i) ASSERT_TRUE(r.Next(nullptr).ok());
    std::string got;
    ASSERT_TRUE(r.Next(&got).ok());
    EXPECT_EQ(got, blobs[target]);
  }
}

TEST(ProfileBlockTest, WriterIsReusableAfterFinish) {
  const std::vector<std::string> a = WorkloadProfiles(100), b = OddProfiles(100, 2);
  ProfileBlockWriter w;
  std::string first, second;
  for (const auto& x : a) ASSERT_TRUE(w.Add(x).ok());
  w.Finish(Compression::kZstd, 3, &first);
  for (const auto& x : b) ASSERT_TRUE(w.Add(x).ok());
  w.Finish(Compression::kZstd, 3, &second);
  EXPECT_EQ(second, Encode(b)) << "nothing of the first block leaks into the second";
  ProfileBlockReader r;
  ASSERT_TRUE(r.Open(first).ok());
  std::string got;
  for (const auto& x : a) {
    ASSERT_TRUE(r.Next(&got).ok());
    EXPECT_EQ(got, x);
  }
}

TEST(ProfileBlockTest, MalformedBlobIsRejectedAndAddsNothing) {
  const std::vector<std::string> good = WorkloadProfiles(3);
  ProfileBlockWriter w;
  ASSERT_TRUE(w.Add(good[0]).ok());
  const size_t before = w.raw_bytes();
  for (size_t cut = 0; cut < good[1].size(); cut += 3) {
    EXPECT_FALSE(w.Add(std::string_view(good[1]).substr(0, cut)).ok()) << cut;
  }
  EXPECT_FALSE(w.Add(good[1] + "x").ok()) << "trailing bytes";
  // A parent reference to a later step.
  model::Transaction tx;
  tx.span_id = 5;
  tx.steps.resize(2);
  tx.steps[0].span_id = 6;
  tx.steps[1].span_id = 7;
  std::string blob;
  EncodeProfile(tx, &blob);
  // Step 0's parent reference is the varint right after its span id.
  const size_t ref_at = 8 + 8 + 1 + 1 + 1 + 1 + 8;
  ASSERT_EQ(blob[ref_at], 0);  // raw parent (0)
  std::string forward = blob;
  forward[ref_at] = 3;  // step 1 of the list: not before step 0
  forward.erase(ref_at + 1, 8);
  EXPECT_FALSE(w.Add(forward).ok());
  EXPECT_EQ(w.rows(), 1u);
  EXPECT_EQ(w.raw_bytes(), before);
  ASSERT_TRUE(w.Add(good[2]).ok());
  std::string block;
  w.Finish(Compression::kZstd, 3, &block);
  ProfileBlockReader r;
  ASSERT_TRUE(r.Open(block).ok());
  std::string got;
  ASSERT_TRUE(r.Next(&got).ok());
  EXPECT_EQ(got, good[0]);
  ASSERT_TRUE(r.Next(&got).ok());
  EXPECT_EQ(got, good[2]);
}

// Damaged blocks (the segment's CRC normally catches these first) give
// kCorruption or other blobs, never a crash or a huge allocation.
TEST(ProfileBlockTest, DamagedBlocksFailCleanly) {
  const std::string block = Encode(OddProfiles(40, 3), Compression::kNone);
  std::mt19937_64 rng(4);
  int failures = 0;
  auto read_all = [&](const std::string& b) {
    ProfileBlockReader r;
    if (!r.Open(b).ok()) return false;
    std::string got;
    for (uint32_t i = 0; i < r.rows(); ++i) {
      if (!r.Next(&got).ok()) return false;
    }
    return r.CheckDone().ok();
  };
  for (size_t cut = 0; cut < block.size(); cut += 7) {
    EXPECT_FALSE(read_all(block.substr(0, cut))) << "truncated at " << cut;
  }
  for (int i = 0; i < 3000; ++i) {
    std::string bad = block;
    bad[rng() % bad.size()] ^= static_cast<char>(1 << (rng() % 8));
    failures += !read_all(bad);
  }
  EXPECT_GT(failures, 0);
  // A header asking for more than a block can hold.
  std::string huge;
  huge.push_back(static_cast<char>(profile_block::kLayout));
  PutVarint(&huge, 1);
  PutVarint(&huge, profile_block::kNumStreams);
  for (int s = 0; s < profile_block::kNumStreams; ++s) {
    PutVarint(&huge, uint64_t{1} << 40);
    PutVarint(&huge, 0);
    huge.push_back(0);
  }
  ProfileBlockReader r;
  EXPECT_EQ(r.Open(huge).code(), Status::Code::kCorruption);
}

}  // namespace
}  // namespace loupe::store
