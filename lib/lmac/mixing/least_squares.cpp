#include "lmac/mixing/least_squares.hpp"

#include <immintrin.h>

#include <cmath>

#include "lmac/common/simd_level.hpp"

namespace lmac::mixing {
namespace {

// The prior weighs as much as this many samples of the current mean input power, plus
// a constant so that silence still has a well-posed fit.
constexpr double kPriorSamples = 2.0;

// The stage's element-wise loops, four elements at a time where AVX2 is (lmac's SIMD
// level, common/simd_level). Each element is computed as the scalar loop computes it,
// a multiply and then a subtraction or addition, never fused (the build contracts
// nothing), so every level gives the same bits.

// y[i] = y[i] - x[i] * a
void sub_scaled_scalar(double* y, const double* x, double a, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] -= x[i] * a;
}

// y[i] = f * y[i] + a * x[i]
void decay_add_scalar(double* y, const double* x, double f, double a, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = f * y[i] + a * x[i];
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) void sub_scaled_avx2(double* y, const double* x, double a, size_t n) {
  const __m256d va = _mm256_set1_pd(a);
  size_t i = 0;
  for (; i + 4 <= n; i += 4)
    _mm256_storeu_pd(y + i, _mm256_sub_pd(_mm256_loadu_pd(y + i), _mm256_mul_pd(_mm256_loadu_pd(x + i), va)));
  sub_scaled_scalar(y + i, x + i, a, n - i);
}

__attribute__((target("avx2"))) void decay_add_avx2(double* y, const double* x, double f, double a, size_t n) {
  const __m256d vf = _mm256_set1_pd(f), va = _mm256_set1_pd(a);
  size_t i = 0;
  for (; i + 4 <= n; i += 4)
    _mm256_storeu_pd(
        y + i, _mm256_add_pd(_mm256_mul_pd(vf, _mm256_loadu_pd(y + i)), _mm256_mul_pd(va, _mm256_loadu_pd(x + i))));
  decay_add_scalar(y + i, x + i, f, a, n - i);
}
#endif

struct ElementOps {
  void (*sub_scaled)(double*, const double*, double, size_t);
  void (*decay_add)(double*, const double*, double, double, size_t);
};

ElementOps element_ops() {
#if defined(__x86_64__)
  if (have_avx2()) return {sub_scaled_avx2, decay_add_avx2};
#endif
  return {sub_scaled_scalar, decay_add_scalar};
}

}  // namespace

LeastSquaresStage::LeastSquaresStage(size_t inputs, double forget)
    : n_(inputs),
      forget_(forget),
      cov_(inputs * inputs, 0.0),
      xty_(inputs, 0.0),
      w_(inputs, 0.0),
      chol_(inputs * inputs, 0.0),
      tmp_(inputs, 0.0) {
  if (n_ > 0) w_[n_ - 1] = 1.0;
}

double LeastSquaresStage::predict(std::span<const double> in) const {
  double sum = 0.0;
  for (size_t k = 0; k < n_; ++k) sum += w_[k] * in[k];
  return sum;
}

void LeastSquaresStage::update(std::span<const double> in, double value) {
  const ElementOps ops = element_ops();
  for (size_t i = 0; i < n_; ++i) {
    ops.decay_add(&cov_[i * n_], in.data(), forget_, in[i], i + 1);  // row i: forget * c + in[i] * in[j]
    xty_[i] = forget_ * xty_[i] + in[i] * value;
  }
  samples_ = forget_ * samples_ + 1.0;
  if (++since_fit_ == kRefitInterval) {
    since_fit_ = 0;
    refit();
  }
}

// Solves (cov + reg I) w = xty + reg prior by Cholesky; keeps the old weights when the
// system is not positive definite (it always is unless a sum overflowed). The factor is
// made column by column and the forward pass works down the columns, so the entries of
// a column are independent chains that run side by side; each is still the sum of
// docs/ARITHMETIC.md §6.3 in its order (k ascending), so the bits are the same.
// chol_ holds L transposed: chol_[k * n + i] = L[i][k].
void LeastSquaresStage::refit() {
  const ElementOps ops = element_ops();
  double trace = 0.0;
  for (size_t i = 0; i < n_; ++i) trace += cov_[i * n_ + i];
  const double reg = kPriorSamples * (trace / static_cast<double>(n_) / samples_ + 1.0);
  double* lt = chol_.data();
  double* col = tmp_.data();
  for (size_t j = 0; j < n_; ++j) {
    double diag = cov_[j * n_ + j] + reg;
    for (size_t k = 0; k < j; ++k) diag -= lt[k * n_ + j] * lt[k * n_ + j];
    if (!(diag > 0.0 && std::isfinite(diag))) return;
    diag = std::sqrt(diag);
    lt[j * n_ + j] = diag;
    for (size_t i = j + 1; i < n_; ++i) col[i] = cov_[i * n_ + j];
    for (size_t k = 0; k < j; ++k) ops.sub_scaled(col + j + 1, &lt[k * n_ + j + 1], lt[k * n_ + j], n_ - j - 1);
    for (size_t i = j + 1; i < n_; ++i) lt[j * n_ + i] = col[i] / diag;
  }
  for (size_t i = 0; i < n_; ++i) col[i] = xty_[i];  // forward: L y = xty + reg prior
  col[n_ - 1] += reg;
  for (size_t k = 0; k < n_; ++k) {
    col[k] /= lt[k * n_ + k];
    ops.sub_scaled(col + k + 1, &lt[k * n_ + k + 1], col[k], n_ - k - 1);
  }
  for (size_t i = n_; i-- > 0;) {  // back: L^T w = y
    double sum = col[i];
    for (size_t k = i + 1; k < n_; ++k) sum -= lt[i * n_ + k] * w_[k];
    w_[i] = sum / lt[i * n_ + i];
  }
}

}  // namespace lmac::mixing
