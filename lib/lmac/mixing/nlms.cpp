#include "lmac/mixing/nlms.hpp"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "lmac/common/error.hpp"
#include "lmac/common/simd_level.hpp"

namespace lmac::mixing {
namespace {

// The stage's loops at lmac's SIMD level (common/simd_level): each lane and element is
// computed as the scalar loop computes it, a multiply and then an addition, never fused
// (the build contracts nothing), so every level gives the same bits.

// ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)): the fixed tree over 8 lanes.
double tree8(const double* lane) {
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

// The prediction w . h and the power h . h (n a multiple of 8): each the sum of a[k] * b[k]
// in lanes k mod 8, each lane from +0 with k ascending, then tree8. The lanes are
// independent chains, so the loop runs them side by side.
void dots_scalar(const double* w, const double* h, size_t n, double& pred, double& power) {
  std::array<double, 8> p{}, q{};
  for (size_t k = 0; k < n; k += 8)
    for (size_t l = 0; l < 8; ++l) p[l] += w[k + l] * h[k + l], q[l] += h[k + l] * h[k + l];
  pred = tree8(p.data());
  power = tree8(q.data());
}

// w[k] = w[k] + step * h[k]
void step_scalar(double* w, const double* h, double step, size_t n) {
  for (size_t k = 0; k < n; ++k) w[k] += step * h[k];
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) void dots_avx2(const double* w, const double* h, size_t n, double& pred,
                                               double& power) {
  __m256d p0 = _mm256_setzero_pd(), p1 = p0, q0 = p0, q1 = p0;
  for (size_t k = 0; k < n; k += 8) {
    const __m256d h0 = _mm256_loadu_pd(h + k), h1 = _mm256_loadu_pd(h + k + 4);
    p0 = _mm256_add_pd(p0, _mm256_mul_pd(_mm256_loadu_pd(w + k), h0));
    p1 = _mm256_add_pd(p1, _mm256_mul_pd(_mm256_loadu_pd(w + k + 4), h1));
    q0 = _mm256_add_pd(q0, _mm256_mul_pd(h0, h0));
    q1 = _mm256_add_pd(q1, _mm256_mul_pd(h1, h1));
  }
  alignas(32) double lanes[8];
  _mm256_store_pd(lanes, p0), _mm256_store_pd(lanes + 4, p1);
  pred = tree8(lanes);
  _mm256_store_pd(lanes, q0), _mm256_store_pd(lanes + 4, q1);
  power = tree8(lanes);
}

__attribute__((target("avx2"))) void step_avx2(double* w, const double* h, double step, size_t n) {
  const __m256d s = _mm256_set1_pd(step);
  for (size_t k = 0; k < n; k += 4)
    _mm256_storeu_pd(w + k, _mm256_add_pd(_mm256_loadu_pd(w + k), _mm256_mul_pd(s, _mm256_loadu_pd(h + k))));
}
#endif

struct StageOps {
  void (*dots)(const double*, const double*, size_t, double&, double&);
  void (*step)(double*, const double*, double, size_t);
};

StageOps stage_ops() {
#if defined(__x86_64__)
  if (have_avx2()) return {dots_avx2, step_avx2};
#endif
  return {dots_scalar, step_scalar};
}

}  // namespace

NlmsStage::NlmsStage(size_t taps, double rate)
    : n_(taps), rate_(rate), w_(taps, 0.0), hist_(2 * taps, 0.0), head_(taps) {
  if (taps == 0 || taps % 8 != 0) fail("NLMS stage: taps must be a positive multiple of 8");
}

double NlmsStage::predict() {
  stage_ops().dots(w_.data(), &hist_[head_], n_, pred_, power_);
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
  stage_ops().step(w_.data(), h, step, n_);
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
