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
    const size_t outer = w.BeginMessage(1);
    const size_t inner = w.BeginMessage(2);
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

}  // namespace
}  // namespace loupe::internal
