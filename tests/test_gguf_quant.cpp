#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "gguf_writer.hpp"
#include "lmac/lm/backend.hpp"
#include "lmac/lm/gguf.hpp"
#include "test_support.hpp"

namespace lmac {
namespace {

const std::string kData = LMAC_TEST_DATA;

TEST(Gguf, MinimalValidFileMatchesGgmlDump) {
  auto f = GgufFile::open(kData + "/gguf/minimal-valid.gguf");
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->data_offset(), 992u);
  EXPECT_EQ(f->metadata().size(), 24u);
  EXPECT_EQ(f->get("general.architecture").as_string(), "test");
  EXPECT_EQ(f->get("test.u8").as_uint(), 200u);
  EXPECT_EQ(f->get("test.i8").as_int(), -100);
  EXPECT_EQ(f->get("test.u16").as_uint(), 60000u);
  EXPECT_EQ(f->get("test.i16").as_int(), -30000);
  EXPECT_EQ(f->get("test.u32").as_uint(), 4000000000u);
  EXPECT_EQ(f->get("test.i32").as_int(), -2000000000);
  EXPECT_EQ(f->get("test.f32").as_float(), 3.25);
  EXPECT_EQ(f->get("test.bool_true").as_int(), 1);
  EXPECT_EQ(f->get("test.bool_false").as_int(), 0);
  EXPECT_EQ(f->get("test.string").as_string(), "h\xC3\xA9llo GGUF \xE2\x9C\x93");
  EXPECT_EQ(f->get("test.string_empty").as_string(), "");
  EXPECT_EQ(f->get("test.u64").as_uint(), 9223372036854775813ull);
  EXPECT_EQ(f->get("test.i64").as_int(), -4611686018427387907ll);
  EXPECT_EQ(f->get("test.f64").as_float(), 3.141592653589793);
  EXPECT_EQ(f->get("test.arr_i16").to_string(), "[-32768, 0, 32767]");
  EXPECT_EQ(f->get("test.arr_str").as_array()[3].as_string(), "\xC3\xBC\xC3\xB1\xC3\xAE");
  EXPECT_EQ(f->get("test.arr_f64").as_array()[1].as_float(), 0.0);
  EXPECT_TRUE(std::signbit(f->get("test.arr_f64").as_array()[1].as_float()));
  EXPECT_TRUE(f->get("test.arr_u64_empty").as_array().empty());
  const GgufTensor& a = f->tensor("tensor_f32");
  EXPECT_EQ(a.dims, (std::vector<uint64_t>{3, 2}));
  float v[6];
  std::memcpy(v, a.data, 24);
  EXPECT_EQ(v[3], -3.5f);
  EXPECT_EQ(v[5], 65536.0f);
  const GgufTensor& h = f->tensor("tensor_f16");
  EXPECT_EQ(h.offset, 32u);
  float hv[5];
  ggml_type_info(GgmlType::F16).dequantize(h.data, hv, 5);
  EXPECT_EQ(hv[3], 65504.0f);
  EXPECT_TRUE(std::signbit(hv[4]));
}

TEST(Gguf, MalformedFilesAreRejectedWithReasons) {
  for (const char* name : {"bad-truncated-header.gguf", "bad-tensor-offset-past-eof.gguf",
                           "bad-absurd-string-length.gguf", "bad-absurd-string-length-value.gguf"}) {
    try {
      GgufFile::open(kData + "/gguf/" + name);
      ADD_FAILURE() << name << " was accepted";
    } catch (const FormatError& e) {
      EXPECT_GT(std::strlen(e.what()), 10u) << name;
    }
  }
}

// A tensor of a type lmac cannot read is refused by name, with the types it can read.
TEST(Gguf, TensorsOfTypesLmacCannotReadAreRefusedByName) {
  for (auto [id, name] :
       {std::pair{24u, "I8 (24, integers)"}, std::pair{39u, "MXFP4 (39"}, std::pair{99u, "unknown ggml type 99"}}) {
    test::GgufWriter w;
    w.kv_string("general.architecture", "llama");
    w.tensor("blk.0.attn_q.weight", static_cast<GgmlType>(id), {256, 2}, Bytes(132));
    try {
      GgufFile::parse(w.finish());
      ADD_FAILURE() << name << " was accepted";
    } catch (const FormatError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(std::string("tensor 'blk.0.attn_q.weight' is ") + name), std::string::npos) << what;
      EXPECT_NE(what.find("IQ4_XS"), std::string::npos) << what;  // among the types it reads
    }
  }
}

TEST(Gguf, NestedArraysAreRead) {
  auto f = GgufFile::open(kData + "/gguf/nested-array.gguf");
  const GgufArray& outer = f->get("test.nested").as_array();
  ASSERT_EQ(outer.size(), 3u);
  EXPECT_EQ(outer[0].to_string(), "[1, 2, 3]");
  EXPECT_TRUE(outer[2].as_array().empty());
  EXPECT_EQ(f->get("test.after_nested").as_uint(), 42u);
}

TEST(Gguf, EveryTruncationOfAValidFileFails) {
  Bytes all = test::read_bytes(kData + "/gguf/minimal-valid.gguf");
  // Up to the last byte of the last tensor (992 + 32 + 10); the final padding is optional.
  for (size_t cut = 0; cut < 1034; cut += 7) {
    Bytes part(all.begin(), all.begin() + static_cast<ptrdiff_t>(cut));
    EXPECT_THROW(GgufFile::parse(part), FormatError) << cut;
  }
}

std::vector<float> read_f32(const std::string& path) {
  Bytes b = test::read_bytes(path);
  std::vector<float> v(b.size() / 4);
  std::memcpy(v.data(), b.data(), v.size() * 4);
  return v;
}

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

TEST(Quant, DequantizationIsBitIdenticalToGgml) {
  const std::vector<std::pair<std::string, GgmlType>> types = {
      {"f16", GgmlType::F16},       {"bf16", GgmlType::BF16},     {"q4_0", GgmlType::Q4_0},
      {"q4_1", GgmlType::Q4_1},     {"q5_0", GgmlType::Q5_0},     {"q5_1", GgmlType::Q5_1},
      {"q8_0", GgmlType::Q8_0},     {"q2_K", GgmlType::Q2_K},     {"q3_K", GgmlType::Q3_K},
      {"q4_K", GgmlType::Q4_K},     {"q5_K", GgmlType::Q5_K},     {"q6_K", GgmlType::Q6_K},
      {"iq4_nl", GgmlType::IQ4_NL}, {"iq4_xs", GgmlType::IQ4_XS}, {"iq2_xxs", GgmlType::IQ2_XXS},
      {"iq2_xs", GgmlType::IQ2_XS}, {"iq2_s", GgmlType::IQ2_S},   {"iq3_xxs", GgmlType::IQ3_XXS},
      {"iq3_s", GgmlType::IQ3_S},   {"iq1_s", GgmlType::IQ1_S},   {"iq1_m", GgmlType::IQ1_M},
      {"tq1_0", GgmlType::TQ1_0},   {"tq2_0", GgmlType::TQ2_0}};
  for (const auto& [name, type] : types) {
    Bytes q = test::read_bytes(kData + "/quant/" + name + ".bin");
    std::vector<float> want = read_f32(kData + "/quant/" + name + ".dequant.f32");
    ASSERT_EQ(want.size(), 2048u) << name;
    ASSERT_EQ(q.size(), 4 * ggml_row_bytes(type, 512)) << name;
    std::vector<float> got(2048);
    ggml_type_info(type).dequantize(q.data(), got.data(), 2048);
    for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(bits_of(got[i]), bits_of(want[i])) << name << " at " << i;
  }
}

// Random blocks (every field's every bit, grid indices over whole grids) dequantized by
// ggml, for the types whose values come from tables (testdata/quant/README.md).
TEST(Quant, RandomBlocksDequantizeBitIdenticallyToGgml) {
  for (const char* name :
       {"iq4_nl", "iq4_xs", "iq2_xxs", "iq2_xs", "iq2_s", "iq3_xxs", "iq3_s", "iq1_s", "iq1_m", "tq1_0", "tq2_0"}) {
    const GgmlTypeInfo* info = test::type_named(name);
    ASSERT_NE(info, nullptr) << name;
    Bytes q = test::read_bytes(kData + "/quant/" + name + ".random.bin");
    std::vector<float> want = read_f32(kData + "/quant/" + name + ".random.dequant.f32");
    ASSERT_EQ(q.size(), 16 * size_t{info->block_bytes}) << name;
    ASSERT_EQ(want.size(), 16 * size_t{info->block_elems}) << name;
    std::vector<float> got(want.size());
    info->dequantize(q.data(), got.data(), got.size());
    for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(bits_of(got[i]), bits_of(want[i])) << name << " at " << i;
  }
}

// The random-weight models that golden streams and conformance runs are made of have
// weights of about the size asked for in every tensor of every type: fp16 scales that
// fall below half's normal range were once flushed to zero, and whole Q6_K models
// (std 0.05, scale d = std / 2048) held only zeros without any test noticing.
TEST(Quant, GeneratedModelsHaveWeightsOfTheirSizeInEveryType) {
  for (const GgmlTypeInfo& info : ggml_types()) {
    const GgmlType type = info.type;
    for (float std : {0.05f, 0.02f}) {  // the golden models', the conformance files' (trained models' size)
      test::TinyLlamaShape shape = test::golden_shape(type);
      shape.weight_std = std;
      const Bytes bytes = test::make_random_llama(shape);
      auto file = GgufFile::parse(bytes);
      const GgufTensor* t = file->find_tensor("blk.0.ffn_down.weight");
      ASSERT_NE(t, nullptr);
      ASSERT_EQ(t->type, type) << ggml_type_info(type).name;
      std::vector<float> v(t->elements());
      ggml_type_info(type).dequantize(t->data, v.data(), v.size());
      double sum_sq = 0.0;
      for (float x : v) sum_sq += double{x} * x;
      const double rms = std::sqrt(sum_sq / static_cast<double>(v.size()));
      EXPECT_GT(rms, std / 8) << ggml_type_info(type).name << " std " << std;
      EXPECT_LT(rms, std * 8) << ggml_type_info(type).name << " std " << std;
    }
  }
}

TEST(Quant, KernelDotProductsMatchGgml) {
  // dot16 over dequantized weights and the dequantized activation agrees with ggml's
  // vec_dot to the tolerance its README gives (1e-5 relative).
  std::ifstream tsv(kData + "/quant/vec_dot.tsv");
  std::string line;
  std::getline(tsv, line);
  int checked = 0;
  while (std::getline(tsv, line)) {
    std::istringstream in(line);
    std::string type, act_type;
    int row;
    double ggml, ref;
    in >> type >> act_type >> row >> ggml >> ref;
    GgmlType t = type == "q8_0" ? GgmlType::Q8_0 : GgmlType::Q4_K;
    Bytes w = test::read_bytes(kData + "/quant/" + type + ".bin");
    std::vector<float> wf(512), af(512);
    ggml_type_info(t).dequantize(w.data() + static_cast<size_t>(row) * ggml_row_bytes(t, 512), wf.data(), 512);
    Bytes a = test::read_bytes(kData + "/quant/" + type + ".activation." + act_type + ".bin");
    if (act_type == "q8_0") {
      ggml_type_info(GgmlType::Q8_0).dequantize(a.data(), af.data(), 512);
    } else {  // q8_K: d (f32), 256 int8, 16 int16 bsums per block
      for (size_t b = 0; b < 2; ++b) {
        float d;
        std::memcpy(&d, a.data() + b * 292, 4);
        for (size_t i = 0; i < 256; ++i) af[b * 256 + i] = d * static_cast<int8_t>(a[b * 292 + 4 + i]);
      }
    }
    double got = dot16(wf.data(), af.data(), 512);
    EXPECT_NEAR(got, ref, 1e-5 * std::fabs(ref) + 1e-6) << type << " row " << row;
    EXPECT_NEAR(got, ggml, 1e-5 * std::fabs(ggml) + 1e-6) << type << " row " << row;
    ++checked;
  }
  EXPECT_EQ(checked, 8);
}

}  // namespace
}  // namespace lmac
