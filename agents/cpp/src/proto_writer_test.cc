#include "proto_writer.h"

#include <gtest/gtest.h>

#include "testing/otlp_reader.h"

namespace loupe::internal {
namespace {

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int v : b) s.push_back(static_cast<char>(v));
  return s;
}

TEST(ProtoWriter, VarintsMatchHandComputedBytes) {
  ProtoWriter w;
  w.UInt64Field(1, 150);  // the protobuf documentation's example: 08 96 01
  EXPECT_EQ(w.data(), Bytes({0x08, 0x96, 0x01}));
  w.Clear();
  w.UInt64Field(2, 0);
  EXPECT_EQ(w.data(), Bytes({0x10, 0x00}));
  w.Clear();
  w.Int64Field(3, -1);  // ten bytes
  EXPECT_EQ(w.data(), Bytes({0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}));
  w.Clear();
  w.UInt64Field(16, 1);  // field 16 needs a two-byte tag
  EXPECT_EQ(w.data(), Bytes({0x80, 0x01, 0x01}));
}

TEST(ProtoWriter, FixedAndStrings) {
  ProtoWriter w;
  w.Fixed64Field(7, 0x0102030405060708ull);
  EXPECT_EQ(w.data(), Bytes({0x39, 8, 7, 6, 5, 4, 3, 2, 1}));
  w.Clear();
  w.Fixed32Field(16, 0x301);
  EXPECT_EQ(w.data(), Bytes({0x85, 0x01, 0x01, 0x03, 0x00, 0x00}));
  w.Clear();
  w.StringField(2, "testing");  // 12 07 74 65 73 74 69 6e 67
  EXPECT_EQ(w.data(), Bytes({0x12, 0x07, 't', 'e', 's', 't', 'i', 'n', 'g'}));
}

TEST(ProtoWriter, NestedMessageLengthsAnySize) {
  // Every body size around the one/two/three-byte length boundaries.
  for (size_t n : {0, 1, 126, 127, 128, 129, 16383, 16384, 16385, 300000}) {
    ProtoWriter w;
    const ProtoWriter::Mark outer = w.BeginMessage(1);
    const ProtoWriter::Mark inner = w.BeginMessage(2, /*expect_large=*/n % 2 == 0);
    w.StringField(3, std::string(n, 'x'));
    w.EndMessage(inner);
    w.UInt64Field(4, 9);
    w.EndMessage(outer);

    std::vector<testing::PbField> top, mid, leaf;
    ASSERT_TRUE(testing::ParsePb(w.data(), &top)) << n;
    ASSERT_EQ(top.size(), 1u);
    ASSERT_TRUE(testing::ParsePb(top[0].bytes, &mid)) << n;
    ASSERT_EQ(mid.size(), 2u);
    EXPECT_EQ(mid[1].number, 4u);
    EXPECT_EQ(mid[1].value, 9u);
    ASSERT_TRUE(testing::ParsePb(mid[0].bytes, &leaf));
    ASSERT_EQ(leaf.size(), 1u);
    EXPECT_EQ(leaf[0].bytes.size(), n);
  }
}

TEST(ProtoWriter, TwoBytePlaceholderAnySize) {
  // A placeholder of two bytes whose length needs one, two or three.
  for (size_t n : {0, 1, 125, 126, 127, 128, 16381, 16382, 16383, 16384, 300000}) {
    ProtoWriter w;
    const ProtoWriter::Mark m = w.BeginMessage(1, /*expect_large=*/true);
    w.StringField(2, std::string(n, 'y'));
    w.EndMessage(m);
    w.UInt64Field(3, 7);
    std::vector<testing::PbField> top, inner;
    ASSERT_TRUE(testing::ParsePb(w.data(), &top)) << n;
    ASSERT_EQ(top.size(), 2u) << n;
    EXPECT_EQ(top[1].value, 7u);
    ASSERT_TRUE(testing::ParsePb(top[0].bytes, &inner)) << n;
    ASSERT_EQ(inner.size(), 1u);
    EXPECT_EQ(inner[0].bytes, std::string(n, 'y'));
    // The minimal varint: one byte for bodies under 128, two under 16384.
    const size_t body = ProtoWriter::LenFieldSize(2, n);
    EXPECT_EQ(w.size(), 1 + ProtoWriter::VarintSize(body) + body + 2) << n;
  }
}

TEST(ProtoWriter, HeadroomAndPrepend) {
  ProtoWriter w;
  w.UInt64Field(1, 1);  // forgotten by Clear
  w.Clear(16);
  w.StringField(2, "body");
  ProtoWriter head;
  head.LenHeader(5, w.size());
  w.Prepend(head.data());
  EXPECT_EQ(w.data(), Bytes({0x2a, 6, 0x12, 4, 'b', 'o', 'd', 'y'}));
  EXPECT_EQ(w.Release(), Bytes({0x2a, 6, 0x12, 4, 'b', 'o', 'd', 'y'}));
}

TEST(ProtoWriter, SizesMatchWhatIsWritten) {
  for (uint64_t v : {0ull, 127ull, 128ull, 16383ull, 16384ull, ~0ull}) {
    ProtoWriter w;
    w.Varint(v);
    EXPECT_EQ(w.size(), ProtoWriter::VarintSize(v)) << v;
  }
  for (uint32_t f : {1u, 15u, 16u, 2047u, 2048u}) {
    ProtoWriter w;
    w.StringField(f, "abc");
    EXPECT_EQ(w.size(), ProtoWriter::LenFieldSize(f, 3)) << f;
  }
}

}  // namespace
}  // namespace loupe::internal
