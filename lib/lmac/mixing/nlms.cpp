#include "lmac/mixing/nlms.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "lmac/common/error.hpp"

namespace lmac::mixing {
namespace {

// The sum of a[k] * b[k] for k < n (n a multiple of 8) in lanes k mod 8, each from +0
// with k ascending, then ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)). The lanes
// are independent chains, so the loop runs them side by side.
double dot8(const double* a, const double* b, size_t n) {
  std::array<double, 8> lane{};
  for (size_t k = 0; k < n; k += 8)
    for (size_t l = 0; l < 8; ++l) lane[l] += a[k + l] * b[k + l];
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

}  // namespace

NlmsStage::NlmsStage(size_t taps, double rate)
    : n_(taps), rate_(rate), w_(taps, 0.0), hist_(2 * taps, 0.0), head_(taps) {
  if (taps == 0 || taps % 8 != 0) fail("NLMS stage: taps must be a positive multiple of 8");
}

double NlmsStage::predict() {
  const double* h = &hist_[head_];
  pred_ = dot8(w_.data(), h, n_);
  power_ = dot8(h, h, n_);
  return pred_;
}

void NlmsStage::update(double value) {
  const double* h = &hist_[head_];
  // The error's square in the denominator bounds the step when an error far larger than
  // the history's power arrives (a plosive, an onset): the weights then move by at most
  // rate / sqrt(2 (power + 1)) times the history, not by rate x error / power times it,
  // which made the next predictions wild once the spike entered the history.
  const double err = value - pred_;
  const double step = (rate_ * err) / ((power_ + 1.0) + 0.5 * (err * err));
  for (size_t k = 0; k < n_; ++k) w_[k] += step * h[k];
  // The window slides down one place; at the bottom, its newest n - 1 values are copied
  // to the top half first (once every n values, so a push costs O(1) on average).
  if (head_ == 0) {
    const auto keep = static_cast<std::ptrdiff_t>(n_ - 1);
    std::copy(hist_.begin(), hist_.begin() + keep, hist_.begin() + keep + 2);
    head_ = n_ + 1;
  }
  hist_[--head_] = value;
}

void StageWeight::update(double error_sign) {
  constexpr double kKeep = 15.0 / 16, kStep = 1.0 / 128, kFloor = 1.0 / 65536;
  const double g = error_sign * pred_;
  mean_square_ = kKeep * mean_square_ + (1.0 / 16) * (g * g);
  w_ = w_ + (kStep * g) / (std::sqrt(mean_square_) + kFloor);
  // Never negative (a stage is followed or ignored, not inverted); not a number gives 0.
  w_ = w_ > 0 ? w_ : 0.0;
}

}  // namespace lmac::mixing
