// Rollup files: round trip, names, damage detection (rollup_file.h).
#include "store/embedded/rollup_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

namespace loupe::store {
namespace {

class RollupFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loupe_rollup_file_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // 30 minutes of cells: 3 services × 2 endpoints, one transaction a second each.
  RollupBuilder Build() {
    RollupBuilder b;
    for (int s = 0; s < 1800; ++s) {
      for (uint32_t svc = 1; svc <= 3; ++svc) {
        for (uint32_t ep = 10; ep <= 11; ++ep) {
          model::Summary sum;
          sum.sql_count = svc;
          sum.sql_us = 100 * s;
          b.Add(kStart + s * kRollupSecondUs + 5, 1000 + s * 37 % 90'000, s % 13 == 0, sum, svc,
                svc + 100, ep, "user-" + std::to_string(s % 70));
        }
      }
    }
    return b;
  }
  static std::string_view Name(int col, uint32_t id) {
    static const std::map<uint32_t, std::string> names = {
        {0, ""},      {1, "shop"},  {2, "orders"}, {3, "payment"}, {101, "s-1"},
        {102, "o-1"}, {103, "p-1"}, {10, "GET /"}, {11, "GET /x"}};
    return names.at(id);
  }

  static constexpr int64_t kStart = 1'700'000'000'000'000;
  std::string dir_;
};

TEST_F(RollupFileTest, RoundTripsCellsNamesAndSketches) {
  RollupBuilder b = Build();
  for (RollupResolution r : kRollupResolutions) {
    const std::string path = dir_ + "/" + RollupFileName(7, 472'222, 12, r);
    ASSERT_TRUE(WriteRollupFile(Env::Default(), path, 7, 472'222, r, b, &Name, 3).ok());
    auto f = RollupFile::Open(Env::Default(), path);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    EXPECT_EQ((*f)->project(), 7u);
    EXPECT_EQ((*f)->partition(), 472'222);
    EXPECT_EQ((*f)->resolution(), r);
    EXPECT_EQ((*f)->cells(), b.cells(r).size());
    // One-second files: a block a minute; five-minute files: one block.
    EXPECT_EQ((*f)->blocks().size(), r == RollupResolution::kSecond ? 30u : 1u);
    size_t cells = 0;
    RollupBlock block;
    for (size_t i = 0; i < (*f)->blocks().size(); ++i) {
      ASSERT_TRUE((*f)->ReadBlock(i, &block).ok());
      for (size_t c = 0; c < block.size(); ++c) {
        const RollupKey& lk = block.keys[c];
        EXPECT_GE(lk.bucket_us, (*f)->blocks()[i].first_bucket_us);
        EXPECT_LE(lk.bucket_us, (*f)->blocks()[i].last_bucket_us);
        // Names back to the builder's ids.
        auto id_of = [&](int col, uint32_t local) {
          const std::string& n = (*f)->dict(col)[local];
          for (uint32_t id : {0u, 1u, 2u, 3u, 101u, 102u, 103u, 10u, 11u}) {
            if (Name(col, id) == n) return id;
          }
          return ~0u;
        };
        RollupKey k{lk.bucket_us, id_of(0, lk.service), id_of(1, lk.instance),
                    id_of(2, lk.endpoint)};
        auto it = b.cells(r).find(k);
        ASSERT_NE(it, b.cells(r).end());
        RollupStats got;
        got.Merge(block.counts[c], block.hist(c));
        EXPECT_EQ(got, it->second);
        ++cells;
      }
    }
    EXPECT_EQ(cells, b.cells(r).size());
    std::vector<std::pair<UsersKey, HyperLogLog>> users;
    ASSERT_TRUE((*f)->ReadUsers(&users).ok());
    if (r != RollupResolution::kFiveMinutes) {
      EXPECT_TRUE(users.empty());
    } else {
      ASSERT_EQ(users.size(), b.users().size());
      for (const auto& [k, hll] : users) EXPECT_NEAR(hll.Estimate(), 70, 3);
    }
  }
}

TEST_F(RollupFileTest, NamesParse) {
  uint32_t p;
  int64_t k;
  uint64_t seq;
  RollupResolution r;
  ASSERT_TRUE(
      ParseRollupFileName(RollupFileName(3, -2, 99, RollupResolution::kSecond), &p, &k, &seq, &r));
  EXPECT_EQ(p, 3u);
  EXPECT_EQ(k, -2);
  EXPECT_EQ(seq, 99u);
  EXPECT_EQ(r, RollupResolution::kSecond);
  ASSERT_TRUE(ParseRollupFileName("1_472222_000004.rollup", &p, &k, &seq, &r));
  EXPECT_EQ(r, RollupResolution::kFiveMinutes);
  ASSERT_TRUE(ParseRollupFileName("1_472222_000004.r1m", &p, &k, &seq, &r));
  EXPECT_EQ(r, RollupResolution::kMinute);
  EXPECT_FALSE(ParseRollupFileName("1_472222_000004.seg", &p, &k, &seq, &r));
  EXPECT_FALSE(ParseRollupFileName("1_notarollup.rollup", &p, &k, &seq, &r));
  EXPECT_FALSE(ParseRollupFileName("1_2_3.rollup.tmp", &p, &k, &seq, &r));
}

TEST_F(RollupFileTest, EveryFlippedByteIsDetected) {
  RollupBuilder b;
  for (int s = 0; s < 200; ++s) {
    b.Add(kStart + s * kRollupSecondUs, 500 + s, s % 5 == 0, {}, 1, 101, 10, "u");
  }
  const std::string path = dir_ + "/1_1_000001.r1s";
  ASSERT_TRUE(
      WriteRollupFile(Env::Default(), path, 1, 1, RollupResolution::kSecond, b, &Name, 3).ok());
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string damaged = bytes;
    damaged[i] = static_cast<char>(damaged[i] ^ 0x20);
    const std::string bad = dir_ + "/bad.r1s";
    std::ofstream(bad, std::ios::binary) << damaged;
    auto f = RollupFile::Open(Env::Default(), bad);
    if (!f.ok()) {
      EXPECT_EQ(f.status().code(), Status::Code::kCorruption) << i;
      continue;
    }
    bool found = false;
    RollupBlock block;
    for (size_t k = 0; k < (*f)->blocks().size(); ++k) {
      Status s = (*f)->ReadBlock(k, &block);
      if (!s.ok()) {
        EXPECT_EQ(s.code(), Status::Code::kCorruption);
        found = true;
      }
    }
    EXPECT_TRUE(found) << "byte " << i << " of " << bytes.size() << " flipped undetected";
  }
}

TEST_F(RollupFileTest, NothingToWriteWritesNoFile) {
  RollupBuilder empty;
  const std::string path = dir_ + "/1_1_000002.rollup";
  ASSERT_TRUE(
      WriteRollupFile(Env::Default(), path, 1, 1, RollupResolution::kFiveMinutes, empty, &Name, 3)
          .ok());
  EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
}  // namespace loupe::store
