// A normalized-LMS stage of the audio model's cascade (docs/ARITHMETIC.md §6.3): it
// predicts the next value of a signal (the residual of the stages before it) from that
// signal's last `taps` values (the long stage's reach back far enough to hold a voice's
// pitch period) and moves its weights along the error, scaled by the inverse power of
// those values. Every
// operation is an IEEE double operation in a fixed order (sums in 8 lanes, k mod 8,
// then a fixed tree), so encoder and decoder on any machine walk the same weights.
#pragma once

#include <cstddef>
#include <vector>

namespace lmac::mixing {

class NlmsStage {
 public:
  // taps: a multiple of 8; rate: the step relative to the power of the last `taps` values.
  NlmsStage(size_t taps, double rate);

  // The prediction of the next value of the signal.
  double predict();
  // Takes the value that followed the last predict(): moves the weights, then the history.
  void update(double value);

 private:
  size_t n_;
  double rate_;
  std::vector<double> w_;
  std::vector<double> hist_;  // 2n values: the last n, newest first, from hist_[head_]
  size_t head_;
  double pred_ = 0.0, power_ = 0.0;  // of the last predict()
};

// The weight of one NLMS stage's prediction in the cascade's sum (revision 10): a stage
// whose predictions stop paying (noise between words, a pitch the long stage no longer
// holds) is turned down until they pay again, instead of adding its miss to every
// sample. It learns from the sign of the cascade's unrounded error, with a step
// normalized by the running mean square of its gradient (AdaGrad-like, as sac's stage
// mixer), so it moves at the same pace whatever the sound's level.
class StageWeight {
 public:
  // The weighted prediction; remembers the stage's prediction for update().
  double weigh(double prediction) {
    pred_ = prediction;
    return w_ * prediction;
  }
  double weighted() const { return w_ * pred_; }
  // error_sign: the sign (-1, 0, 1) of what the cascade's weighted sum missed.
  void update(double error_sign);

 private:
  double w_ = 1.0, mean_square_ = 0.0, pred_ = 0.0;
};

}  // namespace lmac::mixing
