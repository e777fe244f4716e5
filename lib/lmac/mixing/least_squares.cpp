#include "lmac/mixing/least_squares.hpp"

#include <cmath>
#include <cstdint>
#include <vector>

#include "lmac/common/simd_level.hpp"

namespace lmac::mixing {
namespace {

// The prior weighs as much as this many samples of the current mean input power, plus
// a constant so that silence still has a well-posed fit.
constexpr double kPriorSamples = 2.0;

// The stage's arrays, for the loops below.
struct Arrays {
  size_t n;
  size_t stride;  // of lt and work: n rounded up to whole blocks of 8
  double* cov;
  double* xty;
  double* w;
  double* lt;    // the Cholesky factor, transposed: lt[k * stride + i] = L[i][k]
  double* col;   // the forward solution
  double* work;  // work[j * stride + i]: entry (i, j), i >= j, of the factor as its sum stands
};

// The loops are the same IEEE operations in the same order at every SIMD level: each
// element is its own chain (no reduction runs across elements, and -ffp-contract=off
// keeps multiplies and adds apart), so a wider instruction only takes more elements at
// once. They are inlined into one clone per level (below), compiled for its vectors.
[[gnu::always_inline]] inline void accumulate(const Arrays& a, double forget, const double* in, double value) {
  const size_t n = a.n;
  for (size_t i = 0; i < n; ++i) {
    double* row = &a.cov[i * n];
    const double x = in[i];
    for (size_t j = 0; j <= i; ++j) row[j] = forget * row[j] + x * in[j];
    a.xty[i] = forget * a.xty[i] + x * value;
  }
}

// Solves (cov + reg I) w = xty + reg prior by Cholesky; false (the weights untouched)
// when the system is not positive definite (it always is unless a sum overflowed). The
// factor is made right-looking: once column k of L is known, every entry still to come
// takes its k-th product at once (`work` holds them, column by column). Each entry is
// still the sum of docs/ARITHMETIC.md §6.3 in its order (k ascending), so the bits are
// those of computing one entry at a time; but the products of one step are independent,
// so they run side by side, where the entry-at-a-time order waited on each sum.
[[gnu::always_inline]] inline bool solve(const Arrays& a, double reg) {
  const size_t n = a.n, p = a.stride;
  double* lt = a.lt;
  double* col = a.col;
  double* work = a.work;
  for (size_t j = 0; j < n; ++j) {
    for (size_t i = j; i < n; ++i) work[j * p + i] = a.cov[i * n + j];
    work[j * p + j] += reg;
  }
  for (size_t k = 0; k < n; ++k) {
    double diag = work[k * p + k];
    if (!(diag > 0.0 && std::isfinite(diag))) return false;
    diag = std::sqrt(diag);
    double* lk = &lt[k * p];
    lk[k] = diag;
    for (size_t i = k + 1; i < n; ++i) lk[i] = work[k * p + i] / diag;
    // Whole blocks of 8 from the one holding entry j: the entries before j in that block,
    // and the padding after n, are scratch nothing reads (lk is 0 or L there).
    for (size_t j = k + 1; j < n; ++j) {
      const double ljk = lk[j];
      double* wj = &work[j * p];
      for (size_t b = j & ~size_t{7}; b < p; b += 8)
        for (size_t l = 0; l < 8; ++l) wj[b + l] -= lk[b + l] * ljk;
    }
  }
  for (size_t i = 0; i < n; ++i) col[i] = a.xty[i];  // forward: L y = xty + reg prior
  col[n - 1] += reg;
  for (size_t k = 0; k < n; ++k) {
    col[k] /= lt[k * p + k];
    const double yk = col[k];
    const double* lk = &lt[k * p];
    for (size_t i = k + 1; i < n; ++i) col[i] -= lk[i] * yk;
  }
  for (size_t i = n; i-- > 0;) {  // back: L^T w = y
    double sum = col[i];
    for (size_t k = i + 1; k < n; ++k) sum -= lt[i * p + k] * a.w[k];
    a.w[i] = sum / lt[i * p + i];
  }
  return true;
}

__attribute__((target("avx512f"))) void accumulate_avx512(const Arrays& a, double forget, const double* in,
                                                          double value) {
  accumulate(a, forget, in, value);
}
__attribute__((target("avx2"))) void accumulate_avx2(const Arrays& a, double forget, const double* in, double value) {
  accumulate(a, forget, in, value);
}
void accumulate_baseline(const Arrays& a, double forget, const double* in, double value) {
  accumulate(a, forget, in, value);
}

__attribute__((target("avx512f"))) bool solve_avx512(const Arrays& a, double reg) { return solve(a, reg); }
__attribute__((target("avx2"))) bool solve_avx2(const Arrays& a, double reg) { return solve(a, reg); }
bool solve_baseline(const Arrays& a, double reg) { return solve(a, reg); }

// The first element of v (which has 8 to spare) on a 64-byte boundary: the blocks of 8
// then never straddle two cache lines.
double* cache_line(std::vector<double>& v) {
  const auto at = reinterpret_cast<uintptr_t>(v.data());
  return v.data() + ((64 - at % 64) % 64) / sizeof(double);
}

}  // namespace

LeastSquaresStage::LeastSquaresStage(size_t inputs, double forget)
    : n_(inputs),
      forget_(forget),
      cov_(inputs * inputs, 0.0),
      xty_(inputs, 0.0),
      w_(inputs, 0.0),
      stride_((inputs + 7) & ~size_t{7}),
      chol_(inputs * stride_ + 8, 0.0),
      tmp_(inputs, 0.0),
      work_(inputs * stride_ + 8, 0.0),
      level_(simd_level()) {
  if (n_ > 0) w_[n_ - 1] = 1.0;
}

double LeastSquaresStage::predict(std::span<const double> in) const {
  double sum = 0.0;
  for (size_t k = 0; k < n_; ++k) sum += w_[k] * in[k];
  return sum;
}

void LeastSquaresStage::update(std::span<const double> in, double value) {
  const Arrays a{n_, stride_, cov_.data(), xty_.data(), w_.data(), cache_line(chol_), tmp_.data(), cache_line(work_)};
  if (level_ >= 2)
    accumulate_avx512(a, forget_, in.data(), value);
  else if (level_ == 1)
    accumulate_avx2(a, forget_, in.data(), value);
  else
    accumulate_baseline(a, forget_, in.data(), value);
  samples_ = forget_ * samples_ + 1.0;
  if (++since_fit_ == kRefitInterval) {
    since_fit_ = 0;
    refit();
  }
}

void LeastSquaresStage::refit() {
  if (n_ == 0) return;
  double trace = 0.0;
  for (size_t i = 0; i < n_; ++i) trace += cov_[i * n_ + i];
  const double reg = kPriorSamples * (trace / static_cast<double>(n_) / samples_ + 1.0);
  const Arrays a{n_, stride_, cov_.data(), xty_.data(), w_.data(), cache_line(chol_), tmp_.data(), cache_line(work_)};
  if (level_ >= 2)
    solve_avx512(a, reg);
  else if (level_ == 1)
    solve_avx2(a, reg);
  else
    solve_baseline(a, reg);
}

}  // namespace lmac::mixing
