#include "lmac/coding/freq_table.hpp"

#include <algorithm>
#include <cstring>

#include "lmac/common/det_math.hpp"
#include "lmac/common/error.hpp"

namespace lmac {

uint32_t FreqTable::cum_below(uint32_t s) const {
  uint32_t c = 0;
  for (uint32_t i = 0; i < s; ++i) c += freq[i];
  return c;
}

uint32_t FreqTable::find(uint32_t target, uint32_t* cum) const {
  uint32_t c = 0;
  const uint32_t n = static_cast<uint32_t>(freq.size());
  for (uint32_t i = 0; i < n; ++i) {
    if (target < c + freq[i]) {
      *cum = c;
      return i;
    }
    c += freq[i];
  }
  fail("frequency table: target out of range");
}

void FreqTable::recompute_total() {
  uint64_t t = 0;
  for (uint32_t f : freq) t += f;
  if (t > UINT32_MAX) fail("frequency table: total overflows");
  total = static_cast<uint32_t>(t);
}

void freq_from_logits(std::span<const float> logits, int total_bits, FreqTable& out) {
  const size_t n = logits.size();
  if (n == 0 || total_bits > 30 || (1ull << total_bits) < 2 * n) fail("frequency table: bad size");
  float mx = logits[0];
  for (float l : logits) mx = std::max(mx, l);  // NaN-free by contract of the model
  out.freq.resize(n);
  // e_i into freq's storage as float, then sum in 8 fixed lanes: the order is part of
  // the format, whatever SIMD width the compiler picks.
  std::vector<float> e(n);
  // Below e^-87 a token's share is far under one count: exactly 0 keeps the sum clean.
  for (size_t i = 0; i < n; ++i) e[i] = logits[i] - mx > -87.0f ? det_exp(logits[i] - mx) : 0.0f;
  double lanes[8] = {};
  for (size_t i = 0; i < n; ++i) lanes[i & 7] += e[i];
  const double sum = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
  const double budget = static_cast<double>((1ull << total_bits) - n);
  const double scale = budget / sum;
  uint64_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    uint32_t f = 1 + static_cast<uint32_t>(static_cast<double>(e[i]) * scale);
    out.freq[i] = f;
    total += f;
  }
  out.total = static_cast<uint32_t>(total);
}

}  // namespace lmac
