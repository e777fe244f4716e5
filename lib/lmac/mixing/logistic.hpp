// Probabilities in the logistic domain, in integers only (docs/ARITHMETIC.md, "Mixing
// codec"): a probability is P(bit = 1) in 1/65536 (1..65535), a logit ("stretch") is
// ln(p / (1 - p)) in 1/256. The tables are built once from IEEE operations, so every
// machine holds the same ones; everything after that is integer arithmetic.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

namespace lmac::mixing {

constexpr int32_t kProbOne = 1 << 16;
constexpr int32_t kLogitLimit = 2880;  // |logit| <= 11.25: the extremes of a 16-bit probability

// P(1) in 1/65536 for a logit in 1/256 (clamped to the limit).
int32_t squash(int32_t logit);
// The logit (1/256) of a probability in 1/65536 (1..65535): the inverse of squash.
int32_t stretch(int32_t p16);

// PAQ-style logistic mixing: p = squash(sum w_i x_i) over stretched inputs, one weight
// vector per context, each trained online toward the coded bit.
template <int kInputs>
class Mixer {
 public:
  Mixer(int contexts, std::span<const int32_t, kInputs> initial_weights);
  // Mixes the inputs (logits) in weight set `context`; remembers them for update().
  int32_t mix(int context, std::span<const int32_t, kInputs> inputs);
  // The logit of the last mix (within the limit): mix() is its squash.
  int32_t logit() const { return last_logit_; }
  // Moves the last used weights toward `bit` by `rate` (larger learns faster).
  void update(int bit, int rate);

 private:
  std::array<int32_t, kInputs> last_{};
  int32_t* weights_ = nullptr;  // of the last mix
  int32_t last_p_ = kProbOne / 2, last_logit_ = 0;
  std::array<int32_t, size_t{64} * kInputs> storage_{};  // up to 64 contexts
};

// Secondary estimation (PAQ's APM): refines a probability by what actually followed
// similar probabilities in the same context, interpolating between 33 logit buckets.
// A bucket learns fast at first and settles to a rate of 1/61 (its count of updates
// sets the step), so the many contexts of a large refiner still learn within a chunk.
class Refiner {
 public:
  explicit Refiner(int contexts);  // 1 to 4096
  int32_t refine(int context, int32_t p16) { return refine_logit(context, stretch(p16)); }
  // The same for a probability given by its logit (within the limit).
  int32_t refine_logit(int context, int32_t logit);
  void update(int bit);

 private:
  static constexpr int kBuckets = 33;
  std::vector<int32_t> table_;
  std::vector<uint8_t> count_;  // updates each bucket has had, from kStartCount to kMaxCount
  int index_ = 0;
  int32_t weight_ = 0;  // of the upper bucket, in 1/4096
};

// Bayesian choice between two predictors of the same bits: their probabilities averaged
// with the posterior weight of each, per context, so the result codes within about a bit
// per context of the better one.
class ExpertSwitch {
 public:
  explicit ExpertSwitch(int contexts);
  int32_t mix(int context, int32_t p_a, int32_t p_b);
  void update(int bit);

 private:
  std::array<int32_t, 64> weight_b_{};  // posterior of b, 1/65536
  int context_ = 0;
  int32_t p_a_ = 0, p_b_ = 0;
};

}  // namespace lmac::mixing
