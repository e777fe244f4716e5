#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "lmac/coding/arithmetic_coder.hpp"
#include "lmac/coding/context_model.hpp"
#include "lmac/coding/freq_table.hpp"
#include "lmac/coding/residual_coder.hpp"
#include "lmac/common/det_math.hpp"
#include "lmac/common/error.hpp"

namespace lmac {
namespace {

TEST(ArithmeticCoder, RoundTripSkewedAndLargeAlphabets) {
  std::mt19937 rng(7);
  for (uint32_t alphabet : {2u, 128u, 32000u, 262144u}) {
    std::vector<float> logits(alphabet);
    for (auto& l : logits) l = std::normal_distribution<float>(0, 4)(rng);
    FreqTable t;
    freq_from_logits(logits, 30, t);
    std::discrete_distribution<uint32_t> pick(t.freq.begin(), t.freq.end());
    std::vector<uint32_t> syms(2000);
    for (auto& s : syms) s = pick(rng);
    syms[0] = 0;  // a floor-1 symbol may be rare: include the extremes
    syms[1] = alphabet - 1;
    ArithmeticEncoder enc;
    for (uint32_t s : syms) enc.encode(t.cum_below(s), t.freq[s], t.total);
    Bytes coded = enc.finish();
    ArithmeticDecoder dec(coded);
    for (uint32_t s : syms) {
      uint32_t cum = 0;
      uint32_t got = t.find(dec.target(t.total), &cum);
      ASSERT_EQ(got, s);
      dec.consume(cum, t.freq[got], t.total);
    }
  }
}

TEST(ArithmeticCoder, OverheadBelowPointOnePercentOfTheModelsIdeal) {
  // Ideal = sum of -log2 p under the model's own (float) probabilities, so the loss of
  // turning them into integer frequencies with a floor of 1 is counted too.
  for (auto [alphabet, slope] : std::vector<std::pair<size_t, float>>{{256, 0.08f}, {32000, 0.5f}}) {
    std::mt19937 rng(3);
    std::vector<float> logits(alphabet);
    for (size_t i = 0; i < alphabet; ++i) logits[i] = -slope * static_cast<float>(i);
    FreqTable t;
    freq_from_logits(logits, alphabet <= 4096 ? 24 : 30, t);
    std::vector<double> p(alphabet);
    double z = 0;
    for (size_t i = 0; i < alphabet; ++i) z += p[i] = std::exp(static_cast<double>(logits[i]));
    std::discrete_distribution<uint32_t> pick(p.begin(), p.end());
    std::vector<uint32_t> cum(alphabet + 1, 0);
    for (size_t i = 0; i < alphabet; ++i) cum[i + 1] = cum[i] + t.freq[i];
    ArithmeticEncoder enc;
    double ideal = 0;
    for (int i = 0; i < 1000000; ++i) {
      uint32_t s = pick(rng);
      ideal -= std::log2(p[s] / z);
      enc.encode(cum[s], t.freq[s], t.total);
    }
    double bits = 8.0 * static_cast<double>(enc.finish().size());
    EXPECT_LT(bits, ideal * 1.001) << alphabet;
  }
}

// bits() tracks the cost of what was coded so far, -log2 of the product of the coded
// probabilities (totals of at most 2^16 lose little to rounding), within 2 bits at every
// step, and the finished stream's size with it.
TEST(ArithmeticCoder, BitsSoFarTrackTheCodedCost) {
  std::mt19937 rng(5);
  ArithmeticEncoder enc;
  double cost = 0;
  for (int i = 0; i < 20000; ++i) {
    const uint32_t total = 1u << (4 + rng() % 13);  // up to 2^16, as the audio model codes
    const uint32_t freq = 1 + rng() % (i % 3 == 0 ? total : std::max(1u, total / 64));
    const uint32_t cum = rng() % (total - freq + 1);
    enc.encode(cum, freq, total);
    cost -= std::log2(static_cast<double>(freq) / total);
    ASSERT_NEAR(static_cast<double>(enc.bits()), cost, 2.0) << i;
  }
  const uint64_t before = enc.bits();
  const double size = 8.0 * static_cast<double>(enc.finish().size());
  EXPECT_GE(size, static_cast<double>(before) - 2);
  EXPECT_LE(size, static_cast<double>(before) + 10);
}

TEST(FreqTable, DeterministicExpAndFloor) {
  EXPECT_EQ(det_exp(0.0f), 1.0f);
  EXPECT_EQ(det_exp(-100.0f), det_exp(-87.0f));
  for (float x = -80.0f; x <= 0.0f; x += 0.37f) EXPECT_NEAR(det_exp(x) / std::exp(x), 1.0, 2e-6) << x;
  std::vector<float> logits = {0.0f, -1000.0f, 5.0f};
  FreqTable t;
  freq_from_logits(logits, 16, t);
  EXPECT_EQ(t.freq[1], 1u);
  EXPECT_GT(t.freq[2], t.freq[0]);
  EXPECT_LE(t.total, 1u << 16);
}

// locate and interval skip whole blocks of symbols by their sums: they must give a plain
// scan's symbol and start for every target, at sizes around the block's and across it.
TEST(FreqTable, LocateAndIntervalAgreeWithAPlainScan) {
  std::mt19937 rng(8);
  for (size_t n : {1, 2, 63, 64, 65, 127, 128, 129, 300, 32000}) {
    FreqTable t;
    t.freq.resize(n);
    for (auto& f : t.freq) f = 1 + (rng() % 4 == 0 ? rng() % 5000 : rng() % 3);
    t.recompute_total();
    std::vector<uint32_t> start(n + 1, 0);
    for (size_t i = 0; i < n; ++i) start[i + 1] = start[i] + t.freq[i];
    for (size_t s = 0; s < n; s += std::max<size_t>(1, n / 97)) {
      ASSERT_EQ(t.interval(static_cast<uint32_t>(s)).cum, start[s]) << n << " " << s;
      for (uint32_t target : {start[s], start[s + 1] - 1}) {
        int32_t symbol = -1;
        const Interval got = t.locate(target, &symbol);
        ASSERT_EQ(symbol, static_cast<int32_t>(s)) << n << " target " << target;
        ASSERT_EQ(got.cum, start[s]);
        ASSERT_EQ(got.freq, t.freq[s]);
      }
    }
    int32_t symbol = -1;
    EXPECT_THROW(t.locate(t.total, &symbol), Error);
  }
}

TEST(FreqTable, VectorExpIsBitIdenticalToScalar) {
  std::mt19937 rng(4);
  std::vector<float> x(1003);
  for (auto& v : x) v = std::uniform_real_distribution<float>(-120.0f, 100.0f)(rng);
  x[0] = -0.0f;
  x[1] = -87.0f;
  x[2] = 88.0f;
  std::vector<float> y = x;
  det_exp_shifted(y.data(), y.size(), 3.5f);
  for (size_t i = 0; i < x.size(); ++i) {
    float want = det_exp(x[i] - 3.5f);
    uint32_t a, b;
    std::memcpy(&a, &want, 4);
    std::memcpy(&b, &y[i], 4);
    ASSERT_EQ(a, b) << x[i];
  }
}

TEST(ResidualCoder, RoundTripAndNeverMuchLargerThanRaw) {
  std::mt19937 rng(11);
  for (int bps : {1, 2, 3, 4}) {
    for (double p1 : {0.0, 0.02, 0.5, 0.97}) {
      std::vector<uint8_t> bits(1000 + static_cast<size_t>(bps) * 7);
      for (auto& b : bits) b = std::bernoulli_distribution(p1)(rng);
      CodedResidual c = encode_residual(bits, bps);
      EXPECT_LE(c.bytes.size(), (bits.size() + 7) / 8);
      EXPECT_EQ(decode_residual(c, bits.size(), bps), bits);
    }
  }
  EXPECT_TRUE(encode_residual({}, 2).bytes.empty());
}

TEST(Order2Predictor, BatchInvariant) {
  // The same sequence fed alone or interleaved with another gives the same tables.
  Order2Predictor a, b;
  std::string text = "abracadabra abracadabra";
  std::vector<FreqTable> ta(1), tb(2);
  std::vector<Feed> one = {{0, kStartOfSequence}};
  std::vector<Feed> two = {{5, kStartOfSequence}, {9, kStartOfSequence}};
  for (size_t i = 0; i <= text.size(); ++i) {
    a.feed(one, ta);
    b.feed(two, tb);
    EXPECT_EQ(ta[0].freq, tb[0].freq);
    if (i == text.size()) break;
    one = {{0, text[i]}};
    two = {{5, text[i]}, {9, 'z'}};
  }
}

}  // namespace
}  // namespace lmac
