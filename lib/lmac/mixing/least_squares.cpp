#include "lmac/mixing/least_squares.hpp"

#include <cmath>

namespace lmac::mixing {
namespace {

// The prior weighs as much as this many samples of the current mean input power, plus
// a constant so that silence still has a well-posed fit.
constexpr double kPriorSamples = 2.0;

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
  for (size_t i = 0; i < n_; ++i) {
    double* row = &cov_[i * n_];
    for (size_t j = 0; j <= i; ++j) row[j] = forget_ * row[j] + in[i] * in[j];
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
    for (size_t k = 0; k < j; ++k) {
      const double ljk = lt[k * n_ + j];
      const double* lk = &lt[k * n_];
      for (size_t i = j + 1; i < n_; ++i) col[i] -= lk[i] * ljk;
    }
    for (size_t i = j + 1; i < n_; ++i) lt[j * n_ + i] = col[i] / diag;
  }
  for (size_t i = 0; i < n_; ++i) col[i] = xty_[i];  // forward: L y = xty + reg prior
  col[n_ - 1] += reg;
  for (size_t k = 0; k < n_; ++k) {
    col[k] /= lt[k * n_ + k];
    const double yk = col[k];
    const double* lk = &lt[k * n_];
    for (size_t i = k + 1; i < n_; ++i) col[i] -= lk[i] * yk;
  }
  for (size_t i = n_; i-- > 0;) {  // back: L^T w = y
    double sum = col[i];
    for (size_t k = i + 1; k < n_; ++k) sum -= lt[i * n_ + k] * w_[k];
    w_[i] = sum / lt[i * n_ + i];
  }
}

}  // namespace lmac::mixing
