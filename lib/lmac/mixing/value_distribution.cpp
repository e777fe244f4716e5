#include "lmac/mixing/value_distribution.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace lmac::mixing {
namespace {

// G(z) = 1 / (1 + 2^(-2z)), the logistic whose mean absolute value is 1, tabulated at
// z = (i - 6144) / 256 for i = 0..12288 as floor(2^32 G(z)), made non-decreasing.
constexpr int kHalfRange = 24;  // |z| beyond this is the table's end
constexpr int kSteps = 256;
constexpr int kEntries = 2 * kHalfRange * kSteps + 1;

std::vector<uint32_t> make_table() {
  // 2^(-r/128) for r = 0..128 from square roots (IEEE exact) and products, no libm.
  std::vector<double> frac(129);
  double q = 0.5;
  for (int k = 0; k < 7; ++k) q = std::sqrt(q);
  frac[0] = 1.0;
  for (int r = 1; r <= 128; ++r) frac[static_cast<size_t>(r)] = frac[static_cast<size_t>(r - 1)] * q;
  std::vector<uint32_t> t(kEntries);  // 32 bits hold every entry: half the cache lines of 64
  for (int i = 0; i < kEntries; ++i) {
    const int a = kHalfRange * kSteps - i;  // 2^(-2z) = 2^(a / 128)
    const int h = a >= 0 ? a / 128 : -((-a + 127) / 128);
    const int r = a - 128 * h;  // 0..127: 2^(r/128) = 2 * 2^(-(128 - r)/128)
    const double v = std::ldexp(r == 0 ? 1.0 : 2.0 * frac[static_cast<size_t>(128 - r)], h);
    const double g = std::floor(4294967296.0 / (1.0 + v));
    t[static_cast<size_t>(i)] = static_cast<uint32_t>(std::min(g, 4294967295.0));
    if (i > 0) t[static_cast<size_t>(i)] = std::max(t[static_cast<size_t>(i)], t[static_cast<size_t>(i - 1)]);
  }
  return t;
}

const std::vector<uint32_t>& table() {
  static const std::vector<uint32_t> t = make_table();
  return t;
}

}  // namespace

uint64_t value_cdf(int64_t x, int64_t mu16, int64_t mae16) {
  // z in 1/2^24: (x - 1/2 - mu) / mae, truncated toward zero.
  const int64_t d16 = 16 * x - 8 - mu16;
  constexpr int64_t kLimit = int64_t{kHalfRange} << 24;
  const int64_t z = std::clamp(d16 * (int64_t{1} << 24) / mae16, -kLimit, kLimit);
  const uint64_t pos = static_cast<uint64_t>(z + kLimit);
  const size_t i = static_cast<size_t>(pos >> 16);
  const auto& t = table();
  if (i + 1 >= t.size()) return t.back();
  return t[i] + ((uint64_t{t[i + 1] - t[i]} * (pos & 0xFFFF)) >> 16);
}

BitNarrowing::BitNarrowing(int64_t lo, int bits, int64_t mu16, int64_t mae16)
    : lo_(lo),
      mu16_(mu16),
      mae16_(mae16),
      bits_left_(bits),
      cdf_lo_(value_cdf(lo, mu16, mae16)),
      cdf_hi_(value_cdf(lo + (int64_t{1} << bits), mu16, mae16)) {}

int32_t BitNarrowing::p1() {
  if (!mid_known_) {
    cdf_mid_ = value_cdf(split(), mu16_, mae16_);
    mid_known_ = true;
  }
  const uint64_t all = cdf_hi_ - cdf_lo_;
  if (all == 0) return 1 << 15;
  return static_cast<int32_t>(((cdf_hi_ - cdf_mid_) << 16) / all);
}

void BitNarrowing::take(int bit) {
  if (!mid_known_) p1();
  if (bit) {
    lo_ = split();
    cdf_lo_ = cdf_mid_;
  } else {
    cdf_hi_ = cdf_mid_;
  }
  --bits_left_;
  mid_known_ = false;
}

}  // namespace lmac::mixing
