// lmac's own math (revision 4): det_exp at every SIMD level with non-finite and edge
// inputs, frequency tables at every level, float-to-half rounding against F16C (one
// value and rows at every level), the
// double functions behind RoPE against libm, and the RoPE table against golden bits.
#include <gtest/gtest.h>
#include <immintrin.h>

#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "lmac/coding/freq_table.hpp"
#include "lmac/common/det_math.hpp"
#include "lmac/common/hash.hpp"
#include "lmac/common/simd_level.hpp"
#include "lmac/lm/ggml_types.hpp"
#include "lmac/lm/rope_table.hpp"

namespace lmac {
namespace {

uint32_t bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

// Runs f at SIMD level `level`, then restores the best level.
template <typename F>
auto at_level(int level, F&& f) {
  set_cpu_simd_level(level);
  auto r = f();
  set_cpu_simd_level(2);
  return r;
}

std::vector<float> edge_inputs() {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> x = {0.0f,     -0.0f,   nan,     -nan,    inf,      -inf,        FLT_TRUE_MIN, -FLT_TRUE_MIN,
                          1e-40f,   -1e-40f, FLT_MIN, -87.0f,  88.0f,    -87.00001f,  -86.99999f,   87.99999f,
                          88.0001f, 1e30f,   -1e30f,  FLT_MAX, -FLT_MAX, 0.34657359f, -0.34657359f, 0.5f};
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) x.push_back(std::uniform_real_distribution<float>(-130.0f, 100.0f)(rng));
  for (int i = 0; i < 200; ++i) {  // arbitrary bit patterns: NaN payloads, subnormals, huge values
    const uint32_t b = static_cast<uint32_t>(rng());
    float f;
    std::memcpy(&f, &b, 4);
    x.push_back(f);
  }
  return x;
}

TEST(DetMath, ExpIsIdenticalAtEverySimdLevelForEdgeAndNonFiniteInput) {
  const std::vector<float> x = edge_inputs();
  for (float shift : {0.0f, 3.5f, -2.25f}) {
    std::vector<uint32_t> want;
    want.reserve(x.size());
    for (float v : x) want.push_back(bits(det_exp(v - shift)));
    for (int level : {0, 1, 2}) {
      std::vector<float> y = at_level(level, [&] {
        std::vector<float> t = x;
        det_exp_shifted(t.data(), t.size(), shift);
        return t;
      });
      for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(bits(y[i]), want[i]) << "level " << level << " x " << x[i];
      // From one array into another (the frequency tables' form), from an odd offset.
      std::vector<float> z = at_level(level, [&] {
        std::vector<float> out(x.size() - 3);
        det_exp_shifted(x.data() + 3, out.data(), out.size(), shift);
        return out;
      });
      for (size_t i = 0; i < z.size(); ++i)
        ASSERT_EQ(bits(z[i]), want[i + 3]) << "level " << level << " x " << x[i + 3];
    }
  }
  // NaN and -inf go to the low clamp, +inf to the high one: defined values, never UB.
  EXPECT_EQ(bits(det_exp(std::numeric_limits<float>::quiet_NaN())), bits(det_exp(-87.0f)));
  EXPECT_EQ(bits(det_exp(-std::numeric_limits<float>::infinity())), bits(det_exp(-87.0f)));
  EXPECT_EQ(bits(det_exp(std::numeric_limits<float>::infinity())), bits(det_exp(88.0f)));
  EXPECT_EQ(det_exp(0.0f), 1.0f);
  EXPECT_EQ(bits(det_exp(-0.0f)), bits(det_exp(0.0f)));  // a maximum of -0 or +0: the same e (§4)
}

// Frequency tables for logits of many sizes, with and without non-finite values (NaN
// right after the largest logit too), and
// with a largest logit of zero met as -0 and +0 (the vector maximum may take either
// sign; the exponentials must not tell) and logits far below it (the -87 cut).
TEST(DetMath, FrequencyTablesAreIdenticalAtEverySimdLevel) {
  std::mt19937 rng(3);
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (size_t n : {1, 2, 7, 8, 9, 15, 128, 1001, 32000}) {
    for (int variant = 0; variant < 8; ++variant) {
      std::vector<float> logits(n);
      for (auto& l : logits) l = std::normal_distribution<float>(0.0f, 6.0f)(rng);
      if (variant == 1) logits[n / 2] = nan;
      if (variant == 2) logits[n - 1] = -inf;
      if (variant == 3) logits[0] = inf;
      if (variant == 4) std::fill(logits.begin(), logits.end(), nan);
      if (variant == 7) {  // NaN after the largest logit, at every distance a vector lane could hold
        logits[0] = 60.0f;
        for (size_t i = 1; i < n && i <= 64; ++i) logits[i] = nan;
      }
      if (variant == 5 || variant == 6) {  // all at or below zero, zeros of both signs, some past the cut
        for (auto& l : logits) l = -std::fabs(l) * 4.0f;
        logits[0] = variant == 5 ? -0.0f : 0.0f;
        logits[n - 1] = variant == 5 ? 0.0f : -0.0f;
        logits[n / 2] = -0.0f;
      }
      const int total_bits = n <= 4096 ? 24 : 30;
      FreqTable want = at_level(0, [&] {
        FreqTable t;
        freq_from_logits(logits, total_bits, t);
        return t;
      });
      uint64_t sum = 0;
      for (uint32_t f : want.freq) {
        ASSERT_GE(f, 1u);
        sum += f;
      }
      ASSERT_EQ(sum, want.total);
      ASSERT_LE(want.total, 1u << total_bits);
      for (int level : {1, 2}) {
        FreqTable got = at_level(level, [&] {
          FreqTable t;
          freq_from_logits(logits, total_bits, t);
          return t;
        });
        ASSERT_EQ(got.freq, want.freq) << "n " << n << " variant " << variant << " level " << level;
        ASSERT_EQ(got.total, want.total);
      }
    }
  }
}

__attribute__((target("f16c"))) uint16_t f16c_round(float f) {
  return static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
}

TEST(DetMath, FloatToHalfRoundsToNearestEvenLikeF16c) {
  if (simd_level() < 1) GTEST_SKIP() << "no F16C on this CPU";
  auto check = [](float f) {
    const uint16_t want = f16c_round(f), got = fp32_to_fp16(f);
    if (std::isnan(f))
      ASSERT_TRUE(std::isnan(fp16_to_fp32(got))) << f;
    else
      ASSERT_EQ(got, want) << f << " bits " << std::hex << bits(f);
  };
  // Every half value and the midpoints around it (ties to even), the overflow edge,
  // subnormal halves and the smallest float magnitudes.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = fp16_to_fp32(static_cast<uint16_t>(h));
    check(f);
    check(std::nextafter(f, 0.0f));
    check(std::nextafter(f, std::copysign(INFINITY, f)));
    if ((h & 0x7C00) != 0x7C00) {
      const float next = fp16_to_fp32(static_cast<uint16_t>(h + 1));
      if (!std::isnan(next)) check(f + (next - f) * 0.5f);
    }
  }
  for (float f : {65504.0f, 65519.99f, 65520.0f, 1e-8f, 2.98e-8f, 2.9802322e-8f, 5.96e-8f, FLT_TRUE_MIN, 1e30f})
    check(f), check(-f);
  std::mt19937 rng(5);
  for (int i = 0; i < 1000000; ++i) {
    const uint32_t b = static_cast<uint32_t>(rng());
    float f;
    std::memcpy(&f, &b, 4);
    check(f);
  }
}

// The KV cache stores rows through the vector conversion: the scalar function's bits at
// every SIMD level (the test above pins the scalar one to F16C), odd lengths for tails.
TEST(DetMath, FloatToHalfRowsAreIdenticalAtEverySimdLevel) {
  std::vector<float> x = edge_inputs();
  for (uint32_t h = 0; h < 0x10000; h += 7) {
    const float f = fp16_to_fp32(static_cast<uint16_t>(h));
    x.push_back(f);
    x.push_back(std::nextafter(f, 0.0f));
  }
  std::mt19937 rng(6);
  for (int i = 0; i < 100000; ++i) {
    const uint32_t b = static_cast<uint32_t>(rng());
    float f;
    std::memcpy(&f, &b, 4);
    x.push_back(f);
  }
  x.resize(x.size() | 1);
  for (int level : {0, 1, 2}) {
    std::vector<uint16_t> y = at_level(level, [&] {
      std::vector<uint16_t> t(x.size());
      fp32_to_fp16(x.data(), t.data(), x.size());
      return t;
    });
    for (size_t i = 0; i < x.size(); ++i) {
      if (std::isnan(x[i]))
        ASSERT_TRUE(std::isnan(fp16_to_fp32(y[i]))) << "level " << level;
      else
        ASSERT_EQ(y[i], fp32_to_fp16(x[i])) << "level " << level << " x " << x[i];
    }
  }
}

TEST(DetMath, DoubleFunctionsMatchLibmClosely) {
  std::mt19937_64 rng(11);
  for (int i = 0; i < 200000; ++i) {
    const double x = std::uniform_real_distribution<double>(0.0, 140000.0)(rng);
    double s = 0, c = 0;
    det_sincos(x, &s, &c);
    ASSERT_NEAR(s, std::sin(x), 2e-15) << x;
    ASSERT_NEAR(c, std::cos(x), 2e-15) << x;
  }
  for (double x : {0.0, 1e-300, 0.7853981633974483, 1.5707963267948966, 3.141592653589793, 131072.0}) {
    double s = 0, c = 0;
    det_sincos(x, &s, &c);
    EXPECT_NEAR(s, std::sin(x), 2e-15) << x;
    EXPECT_NEAR(c, std::cos(x), 2e-15) << x;
  }
  for (double b : {1.0, 1.5, 2.0, 10000.0, 500000.0, 1e6, 1e9, 0.001})
    EXPECT_NEAR(det_log2(b), std::log2(b), 1e-14) << b;
  for (int i = 0; i < 100000; ++i) {
    const double y = std::uniform_real_distribution<double>(-60.0, 60.0)(rng);
    ASSERT_NEAR(det_exp2(y) / std::exp2(y), 1.0, 4e-16) << y;
  }
}

// The RoPE tables of the shapes lmac supports, at positions up to 131,072, held
// bit for bit against tests/golden/rope_tables.txt (LMAC_UPDATE_GOLDEN=1 rewrites it,
// which is an arithmetic revision change).
struct RopeCase {
  const char* name;
  float base;
  uint32_t rot;
  bool factors;
};
const RopeCase kRopeCases[] = {
    {"tinyllama-15m", 10000.0f, 48, false}, {"llama2-7b", 10000.0f, 128, false},
    {"llama3.2-1b", 500000.0f, 64, true},   {"mistral-7b-v0.2", 1000000.0f, 128, false},
    {"smollm-135m", 10000.0f, 64, false},
};
const size_t kRopePositions[] = {0, 1, 2, 3, 15, 16, 100, 1023, 2047, 4096, 65535, 131071, 131072};

// Llama-3-style divisors: 1 for the fast pairs, growing to 8 for the slow ones (exact floats).
std::vector<float> rope_factors(uint32_t rot) {
  std::vector<float> f(rot / 2);
  for (size_t i = 0; i < f.size(); ++i) f[i] = std::min(8.0f, 1.0f + 0.25f * static_cast<float>(i < 8 ? 0 : i - 8));
  return f;
}

std::string rope_golden_text() {
  std::ostringstream out;
  for (const RopeCase& c : kRopeCases) {
    const std::vector<float> factors = rope_factors(c.rot);
    const RopeSpec spec{c.base, c.rot, c.factors ? factors.data() : nullptr};
    std::vector<float> row(c.rot);
    for (size_t p : kRopePositions) {
      rope_table_rows(spec, p, 1, row.data());
      out << c.name << ' ' << p;
      for (float v : row) out << ' ' << std::hex << bits(v) << std::dec;
      out << '\n';
    }
    // Every 61st position up to 131,072, as one hash: the table in between.
    Hasher h;
    for (size_t p = 0; p <= 131072; p += 61) {
      rope_table_rows(spec, p, 1, row.data());
      h.update(row.data(), row.size() * sizeof(float));
    }
    out << c.name << " xxh3-every-61st " << std::hex << h.digest() << std::dec << '\n';
  }
  return out.str();
}

TEST(DetMath, RopeTablesMatchGoldenBits) {
  const std::string path = std::string(LMAC_GOLDEN_DIR) + "/rope_tables.txt";
  const std::string got = rope_golden_text();
  if (std::getenv("LMAC_UPDATE_GOLDEN") != nullptr) std::ofstream(path) << got;
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  std::stringstream want;
  want << in.rdbuf();
  EXPECT_EQ(got, want.str()) << "the RoPE table changed: that is a new arithmetic revision";
}

TEST(DetMath, RopeTableIsCloseToTheExactAngles) {
  const RopeCase c = kRopeCases[2];
  const std::vector<float> factors = rope_factors(c.rot);
  std::vector<float> row(c.rot);
  for (size_t p : kRopePositions) {
    rope_table_rows({c.base, c.rot, factors.data()}, p, 1, row.data());
    for (size_t i = 0; i < c.rot / 2; ++i) {
      const double theta = static_cast<double>(p) *
                           std::pow(static_cast<double>(c.base), -2.0 * static_cast<double>(i) / c.rot) / factors[i];
      EXPECT_NEAR(row[2 * i], std::cos(theta), 1e-7 + 1e-13 * static_cast<double>(p)) << p << " " << i;
      EXPECT_NEAR(row[2 * i + 1], std::sin(theta), 1e-7 + 1e-13 * static_cast<double>(p)) << p << " " << i;
    }
  }
}

}  // namespace
}  // namespace lmac
