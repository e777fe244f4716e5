// The audio model's backward-adaptive stage (docs/ARITHMETIC.md §6.3): an exponentially
// weighted least-squares fit of the next value from the inputs of the samples before it,
// pulled toward a prior (1 on the last input, the stored linear prediction; 0 elsewhere)
// with the weight of a few samples, so that it starts as the stored predictor and tracks
// the sound as it changes. Every operation is an IEEE double operation in a fixed order,
// so encoder and decoder on any machine walk the same weights.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace lmac::mixing {

class LeastSquaresStage {
 public:
  // inputs: the length of every input vector; forget: the weight of the last sample
  // relative to the next (0 < forget < 1).
  LeastSquaresStage(size_t inputs, double forget);

  // The weighted sum of `in` (inputs() values), in input order.
  double predict(std::span<const double> in) const;
  // Takes the value that followed `in`; refits the weights every kRefitInterval values.
  void update(std::span<const double> in, double value);

  size_t inputs() const { return n_; }
  static constexpr int kRefitInterval = 8;

 private:
  void refit();

  // Rows are padded by kPad elements that stay 0: the vector code reads whole vectors
  // past a row's last element.
  static constexpr size_t kPad = 7;

  size_t n_;
  size_t stride_;  // n + kPad: the row stride of cov_ and chol_
  double forget_;
  std::vector<double> cov_;  // upper triangle, row-major: the weighted sum of in * in^T
  std::vector<double> xty_;  // the weighted sum of in * value
  std::vector<double> w_;
  std::vector<double> chol_;  // the Cholesky factor, transposed (column k of L is row k here)
  std::vector<double> tmp_;   // a column being factored, then the forward solution
  double samples_ = 0;        // the weighted count of samples taken
  int since_fit_ = 0;
};

}  // namespace lmac::mixing
