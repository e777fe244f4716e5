#include "lmac/mixing/nlms.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "lmac/common/error.hpp"
#include "lmac/common/simd_level.hpp"

namespace lmac::mixing {
namespace {

// The sums of w[k] * h[k] and of h[k] * h[k] for k < n (n a multiple of 8), each in lanes
// k mod 8, each lane from +0 with k ascending, then ((l0 + l1) + (l2 + l3)) + ((l4 + l5)
// + (l6 + l7)). The 16 lanes are independent chains, so the loop runs them side by
// side; a wider instruction only takes more lanes at once (-ffp-contract=off keeps the
// multiplies and adds apart), so every SIMD level gives the same bits.
struct Dots {
  double wh, hh;
};

[[gnu::always_inline]] inline double tree8(const std::array<double, 8>& l) {
  return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

[[gnu::always_inline]] inline Dots dots8(const double* w, const double* h, size_t n) {
  std::array<double, 8> wh{}, hh{};
  for (size_t k = 0; k < n; k += 8)
    for (size_t l = 0; l < 8; ++l) {
      wh[l] += w[k + l] * h[k + l];
      hh[l] += h[k + l] * h[k + l];
    }
  return {tree8(wh), tree8(hh)};
}

// w[k] += step * h[k]: element by element.
[[gnu::always_inline]] inline void step_weights(double* w, const double* h, size_t n, double step) {
  for (size_t k = 0; k < n; ++k) w[k] += step * h[k];
}

__attribute__((target("avx512f"))) Dots dots8_avx512(const double* w, const double* h, size_t n) {
  return dots8(w, h, n);
}
__attribute__((target("avx2"))) Dots dots8_avx2(const double* w, const double* h, size_t n) { return dots8(w, h, n); }
Dots dots8_baseline(const double* w, const double* h, size_t n) { return dots8(w, h, n); }

__attribute__((target("avx512f"))) void step_weights_avx512(double* w, const double* h, size_t n, double step) {
  step_weights(w, h, n, step);
}
__attribute__((target("avx2"))) void step_weights_avx2(double* w, const double* h, size_t n, double step) {
  step_weights(w, h, n, step);
}
void step_weights_baseline(double* w, const double* h, size_t n, double step) { step_weights(w, h, n, step); }

}  // namespace

NlmsStage::NlmsStage(size_t taps, double rate)
    : n_(taps), rate_(rate), w_(taps, 0.0), hist_(2 * taps, 0.0), head_(taps), level_(simd_level()) {
  if (taps == 0 || taps % 8 != 0) fail("NLMS stage: taps must be a positive multiple of 8");
}

double NlmsStage::predict() {
  const double* h = &hist_[head_];
  const Dots d = level_ >= 2   ? dots8_avx512(w_.data(), h, n_)
                 : level_ == 1 ? dots8_avx2(w_.data(), h, n_)
                               : dots8_baseline(w_.data(), h, n_);
  pred_ = d.wh;
  power_ = d.hh;
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
  if (level_ >= 2)
    step_weights_avx512(w_.data(), h, n_, step);
  else if (level_ == 1)
    step_weights_avx2(w_.data(), h, n_, step);
  else
    step_weights_baseline(w_.data(), h, n_, step);
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
