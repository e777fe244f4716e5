// The audio model's distribution of one sample value: a discretized logistic centred on
// the prediction, its spread set by the mean absolute error. Coded bit by bit from the
// most significant, so it answers "P(next bit = 1) given the bits so far", which is the
// ratio of two CDF differences: one table lookup per bit (docs/ARITHMETIC.md).
#pragma once

#include <cstdint>

namespace lmac::mixing {

// P(value < x) in 1/2^32 (up to a common factor) for the logistic of mean absolute error
// mae16 / 16 centred on mu16 / 16; the integer value v occupies [v - 1/2, v + 1/2).
uint64_t value_cdf(int64_t x, int64_t mu16, int64_t mae16);

// Walks the bits of one n-bit value from the top: the interval of values still possible
// and its CDF ends.
class BitNarrowing {
 public:
  // Values lie in [lo, lo + 2^bits).
  BitNarrowing(int64_t lo, int bits, int64_t mu16, int64_t mae16);
  int bits_left() const { return bits_left_; }
  // The value at which the interval splits: the next bit is 1 for values from it up.
  int64_t split() const { return lo_ + (int64_t{1} << (bits_left_ - 1)); }
  // P(next bit = 1) in 1/65536 (32768 when the interval carries no mass).
  int32_t p1();
  void take(int bit);

 private:
  int64_t lo_, mu16_, mae16_;
  int bits_left_;
  uint64_t cdf_lo_, cdf_hi_, cdf_mid_ = 0;
  bool mid_known_ = false;
};

}  // namespace lmac::mixing
