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
// system is not positive definite (it always is unless a sum overflowed).
void LeastSquaresStage::refit() {
  double trace = 0.0;
  for (size_t i = 0; i < n_; ++i) trace += cov_[i * n_ + i];
  const double reg = kPriorSamples * (trace / static_cast<double>(n_) / samples_ + 1.0);
  for (size_t i = 0; i < n_; ++i) {
    for (size_t j = 0; j <= i; ++j) {
      double sum = cov_[i * n_ + j];
      if (i == j) sum += reg;
      for (size_t k = 0; k < j; ++k) sum -= chol_[i * n_ + k] * chol_[j * n_ + k];
      if (i != j) {
        chol_[i * n_ + j] = sum / chol_[j * n_ + j];
      } else if (sum > 0.0 && std::isfinite(sum)) {
        chol_[i * n_ + i] = std::sqrt(sum);
      } else {
        return;
      }
    }
  }
  for (size_t i = 0; i < n_; ++i) {  // forward: L y = xty + reg prior
    double sum = xty_[i];
    if (i == n_ - 1) sum += reg;
    for (size_t k = 0; k < i; ++k) sum -= chol_[i * n_ + k] * tmp_[k];
    tmp_[i] = sum / chol_[i * n_ + i];
  }
  for (size_t i = n_; i-- > 0;) {  // back: L^T w = y
    double sum = tmp_[i];
    for (size_t k = i + 1; k < n_; ++k) sum -= chol_[k * n_ + i] * w_[k];
    w_[i] = sum / chol_[i * n_ + i];
  }
}

}  // namespace lmac::mixing
