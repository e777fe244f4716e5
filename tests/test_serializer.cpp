#include <gtest/gtest.h>

#include "lmac/serial/serializer.hpp"
#include "test_support.hpp"

namespace lmac {
namespace {

PcmFormat fmt_of(int bits, int channels, SampleKind kind = SampleKind::Signed, bool be = false) {
  PcmFormat f;
  f.bits = static_cast<uint16_t>(bits);
  f.channels = static_cast<uint16_t>(channels);
  f.kind = bits == 8 && kind == SampleKind::Signed ? SampleKind::Unsigned : kind;
  f.big_endian = be;
  return f;
}

std::string sym(std::initializer_list<int> v) {
  std::string s;
  for (int x : v) s.push_back(static_cast<char>(x));
  return s;
}

// The original plan's own test vectors (test_mask_functions), one per bit depth, with
// the defaults: most significant byte first, offset binary, shift mapping.
TEST(SerializerGolden, PlanVectorsShift) {
  struct Case {
    int bits;
    Bytes data;
    std::string symbols;
    std::vector<uint8_t> residual;
  };
  const std::vector<Case> cases = {
      {8, {0x00, 0x7F, 0x80, 0xFF}, sym({0x00, 0x3F, 0x40, 0x7F}), {0, 1, 0, 1}},
      {16,
       {0x00, 0x00, 0x7F, 0x7F, 0x80, 0x80, 0xFF, 0xFF},
       sym({0x40, 0x00, 0x7F, 0x3F, 0x00, 0x40, 0x3F, 0x7F}),
       {0, 0, 1, 1, 0, 0, 1, 1}},
      {24,
       {0x00, 0x00, 0x00, 0x7F, 0x7F, 0x7F, 0x80, 0x80, 0x80, 0xFF, 0xFF, 0xFF},
       sym({0x40, 0x00, 0x00, 0x7F, 0x3F, 0x3F, 0x00, 0x40, 0x40, 0x3F, 0x7F, 0x7F}),
       {0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1}},
      {32,
       {0, 0, 0, 0, 0x7F, 0x7F, 0x7F, 0x7F, 0x80, 0x80, 0x80, 0x80, 0xFF, 0xFF, 0xFF, 0xFF},
       sym({0x40, 0, 0, 0, 0x7F, 0x3F, 0x3F, 0x3F, 0x00, 0x40, 0x40, 0x40, 0x3F, 0x7F, 0x7F, 0x7F}),
       {0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1}},
  };
  for (const auto& c : cases) {
    PcmFormat f = fmt_of(c.bits, 1);
    Serialized s = serialize(f, SerialOptions{}, c.data);
    EXPECT_EQ(s.symbols, c.symbols) << c.bits;
    EXPECT_EQ(s.residual, c.residual) << c.bits;
    EXPECT_EQ(deserialize(f, SerialOptions{}, s.symbols, s.residual), c.data);
  }
}

TEST(SerializerGolden, MaskMappingAndFileOrder) {
  PcmFormat f = fmt_of(16, 1);
  SerialOptions o;
  o.mapping = Mapping::Mask;
  Bytes data = {0x00, 0x00, 0x7F, 0x7F, 0x80, 0x80, 0xFF, 0xFF};
  Serialized s = serialize(f, o, data);
  EXPECT_EQ(s.symbols, sym({0x00, 0x00, 0x7F, 0x7F, 0x00, 0x00, 0x7F, 0x7F}));
  EXPECT_EQ(s.residual, (std::vector<uint8_t>{1, 0, 1, 0, 0, 1, 0, 1}));
  o.byte_order = ByteOrder::FileOrder;
  o.offset_binary = false;
  o.mapping = Mapping::Shift;
  s = serialize(f, o, data);
  EXPECT_EQ(s.symbols, sym({0x00, 0x00, 0x3F, 0x3F, 0x40, 0x40, 0x7F, 0x7F}));
}

TEST(SerializerGolden, Layouts) {
  PcmFormat f = fmt_of(8, 2);
  f.kind = SampleKind::Unsigned;
  Bytes data = {2, 4, 6, 8, 10, 12, 14, 16, 18, 20};  // frames (L,R): (2,4) (6,8) ...
  auto order = [&](Layout l, uint32_t n) {
    SerialOptions o;
    o.layout = l;
    o.block_n = n;
    Serialized s = serialize(f, o, data);
    std::vector<int> v;
    for (char c : s.symbols) v.push_back(c * 2);
    EXPECT_EQ(deserialize(f, o, s.symbols, s.residual), data);
    return v;
  };
  EXPECT_EQ(order(Layout::Interleaved, 1), (std::vector<int>{2, 4, 6, 8, 10, 12, 14, 16, 18, 20}));
  EXPECT_EQ(order(Layout::Blocked, 2), (std::vector<int>{2, 6, 4, 8, 10, 14, 12, 16, 18, 20}));
  EXPECT_EQ(order(Layout::Planar, 1), (std::vector<int>{2, 6, 10, 14, 18, 4, 8, 12, 16, 20}));
}

TEST(Chunking, RefusesNonMultipleAndKeepsPartial) {
  EXPECT_THROW(split_chunks(100, 6, 2048), Error);
  try {
    split_chunks(100, 6, 2048);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("multiple of the frame size 6"), std::string::npos);
  }
  auto r = split_chunks(100, 4, 48);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[2].offset, 96u);
  EXPECT_EQ(r[2].size, 4u);
  EXPECT_TRUE(split_chunks(0, 4, 48).empty());
}

TEST(Serializer, ExhaustiveRoundTrip) {
  for (int bits : {8, 16, 24, 32})
    for (int ch : {1, 2, 6})
      for (SampleKind kind : {SampleKind::Signed, SampleKind::Float})
        for (bool be : {false, true})
          for (Mapping m : {Mapping::Shift, Mapping::Mask})
            for (auto [layout, n] : std::vector<std::pair<Layout, uint32_t>>{
                     {Layout::Interleaved, 1}, {Layout::Blocked, 1}, {Layout::Blocked, 4}, {Layout::Planar, 1}}) {
              if (kind == SampleKind::Float && bits != 32) continue;
              PcmFormat f = fmt_of(bits, ch, kind, be);
              SerialOptions o;
              o.mapping = m;
              o.layout = layout;
              o.block_n = n;
              Bytes data = test::make_pcm(f, 37, test::Content::WhiteNoise, static_cast<uint32_t>(bits * ch));
              Serialized s = serialize(f, o, data);
              for (char c : s.symbols) ASSERT_LT(static_cast<unsigned char>(c), 128u);
              ASSERT_EQ(deserialize(f, o, s.symbols, s.residual), data);
            }
}

}  // namespace
}  // namespace lmac
