#include "lmac/mixing/least_squares.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "lmac/common/simd_level.hpp"
#include "lmac/common/static_dispatch.hpp"

namespace lmac::mixing {
namespace {

// The prior weighs as much as this many samples of the current mean input power, plus
// a constant so that silence still has a well-posed fit.
constexpr double kPriorSamples = 2.0;

// The stage's element-wise loops, four doubles at a time where AVX2 is and eight where
// AVX-512 is (lmac's SIMD level, common/simd_level). Each element is computed as the scalar loop computes it,
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

// The chains of one Cholesky column: acc[i] -= col[k * stride + i] * col[k * stride] for
// k = 0 .. depth-1 in order, for i in [0, n).
void column_chains_scalar(double* acc, const double* col, size_t stride, size_t depth, size_t n) {
  for (size_t i = 0; i < n; ++i)
    for (size_t k = 0; k < depth; ++k) acc[i] -= col[k * stride + i] * col[k * stride];
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

// NV vectors of chains held in registers through all of k: each k costs one multiply
// and one subtraction per vector, and the chains wait on no memory. `lane` points at
// the group's first element in row 0 (col + offset); the multiplier is col[k * stride].
template <size_t NV>
__attribute__((target("avx2"))) void column_group_avx2(double* acc, const double* col, const double* lane,
                                                       size_t stride, size_t depth) {
  __m256d a[NV];
  for (size_t v = 0; v < NV; ++v) a[v] = _mm256_loadu_pd(acc + 4 * v);
  for (size_t k = 0; k < depth; ++k) {
    const __m256d m = _mm256_set1_pd(col[k * stride]);
    const double* row = lane + k * stride;
    for (size_t v = 0; v < NV; ++v) a[v] = _mm256_sub_pd(a[v], _mm256_mul_pd(_mm256_loadu_pd(row + 4 * v), m));
  }
  for (size_t v = 0; v < NV; ++v) _mm256_storeu_pd(acc + 4 * v, a[v]);
}

// Reads and writes up to 3 elements past n: the stage pads its rows for that (the
// extra lanes are computed and never used).
__attribute__((target("avx2"))) void column_chains_avx2(double* acc, const double* col, size_t stride, size_t depth,
                                                        size_t n) {
  constexpr size_t kGroup = 32;  // 8 vectors: 8 registers of chains, room for the rest
  for (size_t g = 0; g < n; g += kGroup) {
    const size_t vectors = (std::min(kGroup, n - g) + 3) / 4;
    double* a = acc + g;
    const double* lane = col + g;
    with_count<8>(vectors, [&](auto nv) { column_group_avx2<decltype(nv)::value>(a, col, lane, stride, depth); });
  }
}

// The same 8 at a time where AVX-512 is: tails by the AVX2 loops.
__attribute__((target("avx512f"))) void sub_scaled_avx512(double* y, const double* x, double a, size_t n) {
  const __m512d va = _mm512_set1_pd(a);
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm512_storeu_pd(y + i, _mm512_sub_pd(_mm512_loadu_pd(y + i), _mm512_mul_pd(_mm512_loadu_pd(x + i), va)));
  sub_scaled_avx2(y + i, x + i, a, n - i);
}

__attribute__((target("avx512f"))) void decay_add_avx512(double* y, const double* x, double f, double a, size_t n) {
  const __m512d vf = _mm512_set1_pd(f), va = _mm512_set1_pd(a);
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm512_storeu_pd(
        y + i, _mm512_add_pd(_mm512_mul_pd(vf, _mm512_loadu_pd(y + i)), _mm512_mul_pd(va, _mm512_loadu_pd(x + i))));
  decay_add_avx2(y + i, x + i, f, a, n - i);
}

template <size_t NV>
__attribute__((target("avx512f"))) void column_group_avx512(double* acc, const double* col, const double* lane,
                                                            size_t stride, size_t depth) {
  __m512d a[NV];
  for (size_t v = 0; v < NV; ++v) a[v] = _mm512_loadu_pd(acc + 8 * v);
  for (size_t k = 0; k < depth; ++k) {
    const __m512d m = _mm512_set1_pd(col[k * stride]);
    const double* row = lane + k * stride;
    for (size_t v = 0; v < NV; ++v) a[v] = _mm512_sub_pd(a[v], _mm512_mul_pd(_mm512_loadu_pd(row + 8 * v), m));
  }
  for (size_t v = 0; v < NV; ++v) _mm512_storeu_pd(acc + 8 * v, a[v]);
}

// Reads and writes up to 7 elements past n (the rows' padding).
__attribute__((target("avx512f"))) void column_chains_avx512(double* acc, const double* col, size_t stride,
                                                             size_t depth, size_t n) {
  constexpr size_t kGroup = 32;  // 4 vectors of chains
  for (size_t g = 0; g < n; g += kGroup) {
    const size_t vectors = (std::min(kGroup, n - g) + 7) / 8;
    double* a = acc + g;
    const double* lane = col + g;
    with_count<4>(vectors, [&](auto nv) { column_group_avx512<decltype(nv)::value>(a, col, lane, stride, depth); });
  }
}
#endif

struct ElementOps {
  void (*sub_scaled)(double*, const double*, double, size_t);
  void (*decay_add)(double*, const double*, double, double, size_t);
  void (*column_chains)(double*, const double*, size_t, size_t, size_t);
};

ElementOps element_ops() {
#if defined(__x86_64__)
  if (have_avx512()) return {sub_scaled_avx512, decay_add_avx512, column_chains_avx512};
  if (have_avx2()) return {sub_scaled_avx2, decay_add_avx2, column_chains_avx2};
#endif
  return {sub_scaled_scalar, decay_add_scalar, column_chains_scalar};
}

}  // namespace

LeastSquaresStage::LeastSquaresStage(size_t inputs, double forget)
    : n_(inputs),
      stride_(inputs + kPad),
      forget_(forget),
      cov_(inputs * stride_, 0.0),
      xty_(inputs, 0.0),
      w_(inputs, 0.0),
      chol_(inputs * stride_, 0.0),
      tmp_(stride_, 0.0) {
  if (n_ > 0) w_[n_ - 1] = 1.0;
}

double LeastSquaresStage::predict(std::span<const double> in) const {
  double sum = 0.0;
  for (size_t k = 0; k < n_; ++k) sum += w_[k] * in[k];
  return sum;
}

void LeastSquaresStage::update(std::span<const double> in, double value) {
  const ElementOps ops = element_ops();
  for (size_t j = 0; j < n_; ++j) {
    ops.decay_add(&cov_[j * stride_ + j], &in[j], forget_, in[j], n_ - j);  // forget * c + in[j] * in[i], i >= j
    xty_[j] = forget_ * xty_[j] + in[j] * value;
  }
  samples_ = forget_ * samples_ + 1.0;
  if (++since_fit_ == kRefitInterval) {
    since_fit_ = 0;
    refit();
  }
}

// Solves (cov + reg I) w = xty + reg prior by Cholesky; keeps the old weights when the
// system is not positive definite (it always is unless a sum overflowed). The factor is
// made column by column: the entries of column j (its diagonal first) are independent
// chains over k that run side by side, each still the sum of docs/ARITHMETIC.md §6.3
// in its order (k ascending), so the bits are the same. chol_ holds L transposed:
// chol_[k * stride + i] = L[i][k].
void LeastSquaresStage::refit() {
  const ElementOps ops = element_ops();
  const size_t s = stride_;
  double trace = 0.0;
  for (size_t i = 0; i < n_; ++i) trace += cov_[i * s + i];
  const double reg = kPriorSamples * (trace / static_cast<double>(n_) / samples_ + 1.0);
  double* lt = chol_.data();
  double* col = tmp_.data();
  for (size_t j = 0; j < n_; ++j) {
    for (size_t i = j; i < n_; ++i) col[i] = cov_[j * s + i];
    col[j] += reg;
    ops.column_chains(col + j, lt + j, s, j, n_ - j);
    const double diag = col[j];
    if (!(diag > 0.0 && std::isfinite(diag))) return;
    const double root = std::sqrt(diag);
    lt[j * s + j] = root;
    for (size_t i = j + 1; i < n_; ++i) lt[j * s + i] = col[i] / root;
  }
  for (size_t i = 0; i < n_; ++i) col[i] = xty_[i];  // forward: L y = xty + reg prior
  col[n_ - 1] += reg;
  for (size_t k = 0; k < n_; ++k) {
    col[k] /= lt[k * s + k];
    ops.sub_scaled(col + k + 1, &lt[k * s + k + 1], col[k], n_ - k - 1);
  }
  for (size_t i = n_; i-- > 0;) {  // back: L^T w = y
    double sum = col[i];
    for (size_t k = i + 1; k < n_; ++k) sum -= lt[i * s + k] * w_[k];
    w_[i] = sum / lt[i * s + i];
  }
}

}  // namespace lmac::mixing
