#include "lmac/mixing/logistic.hpp"

#include <algorithm>
#include <vector>

#include "lmac/common/det_math.hpp"
#include "lmac/common/error.hpp"

namespace lmac::mixing {
namespace {

struct Tables {
  std::vector<int32_t> squash;   // logit + limit -> p16
  std::vector<int16_t> stretch;  // p16 -> logit

  // The squash index of a logit within the limits (widened first: it may be negative).
  static size_t at(int32_t logit) { return static_cast<size_t>(int64_t{logit} + kLogitLimit); }

  Tables() : squash(2 * kLogitLimit + 1), stretch(kProbOne) {
    for (int32_t t = -kLogitLimit; t <= kLogitLimit; ++t) {
      const float e = det_exp(static_cast<float>(-t) / 256.0f);
      const float p = std::floor(65536.0f / (1.0f + e) + 0.5f);
      squash[at(t)] = std::clamp(static_cast<int32_t>(p), 1, kProbOne - 1);
    }
    // stretch(p) = the smallest logit whose squash reaches p (monotone by construction).
    int32_t p = 0;
    for (int32_t t = -kLogitLimit; t <= kLogitLimit; ++t) {
      const int32_t v = squash[at(t)];
      for (; p <= v; ++p) stretch[static_cast<size_t>(p)] = static_cast<int16_t>(t);
    }
    for (; p < kProbOne; ++p) stretch[static_cast<size_t>(p)] = static_cast<int16_t>(kLogitLimit);
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

int32_t squash(int32_t logit) {
  logit = std::clamp(logit, -kLogitLimit, kLogitLimit);
  return tables().squash[Tables::at(logit)];
}

int32_t stretch(int32_t p16) {
  const int32_t p = std::clamp(p16, 1, kProbOne - 1);
  return tables().stretch[static_cast<size_t>(p)];
}

template <int kInputs>
Mixer<kInputs>::Mixer(int contexts, std::span<const int32_t, kInputs> initial_weights) {
  if (contexts < 1 || contexts > 64) fail("mixer: 1 to 64 contexts");
  for (int c = 0; c < contexts; ++c)
    std::copy(initial_weights.begin(), initial_weights.end(), storage_.begin() + c * kInputs);
}

template <int kInputs>
int32_t Mixer<kInputs>::mix(int context, std::span<const int32_t, kInputs> inputs) {
  weights_ = storage_.data() + context * kInputs;
  int64_t dot = 0;
  for (int i = 0; i < kInputs; ++i) {
    last_[static_cast<size_t>(i)] = inputs[static_cast<size_t>(i)];
    dot += int64_t{weights_[i]} * inputs[static_cast<size_t>(i)];
  }
  // Weights are in 1/65536; an arithmetic shift rounds toward minus infinity.
  last_logit_ = static_cast<int32_t>(std::clamp<int64_t>(dot >> 16, -kLogitLimit, kLogitLimit));
  last_p_ = squash(last_logit_);
  return last_p_;
}

template <int kInputs>
void Mixer<kInputs>::update(int bit, int rate) {
  const int64_t err = (int64_t{bit} << 16) - last_p_;  // -65535 .. 65535
  for (int i = 0; i < kInputs; ++i) {
    const int64_t step = (last_[static_cast<size_t>(i)] * err * rate) >> 14;
    weights_[i] = static_cast<int32_t>(std::clamp<int64_t>(weights_[i] + step, -(int64_t{1} << 22), int64_t{1} << 22));
  }
}

template class Mixer<3>;
template class Mixer<4>;

namespace {

// A bucket's step is 2 / (2 count + 3): it starts at kStartCount (step 2/27) and stops
// at kMaxCount (step 2/123).
constexpr uint8_t kStartCount = 12;
constexpr uint8_t kMaxCount = 60;

}  // namespace

Refiner::Refiner(int contexts) {
  if (contexts < 1 || contexts > 4096) fail("refiner: 1 to 4096 contexts");
  static const std::array<int32_t, kBuckets> row = [] {
    std::array<int32_t, kBuckets> r{};
    for (int j = 0; j < kBuckets; ++j) r[static_cast<size_t>(j)] = squash((j - 16) * kLogitLimit / 16);
    return r;
  }();
  table_.reserve(static_cast<size_t>(contexts) * kBuckets);
  for (int c = 0; c < contexts; ++c) table_.insert(table_.end(), row.begin(), row.end());
  count_.assign(table_.size(), kStartCount);
}

int32_t Refiner::refine_logit(int context, int32_t logit) {
  // Bucket j sits at logit (j - 16) * limit / 16; interpolate between the two around p.
  const int32_t pos = (logit + kLogitLimit) * 16;  // 0 .. 32 * limit
  const int32_t j = std::min(pos / kLogitLimit, kBuckets - 2);
  weight_ = ((pos - j * kLogitLimit) << 12) / kLogitLimit;  // 0..4096 toward j + 1
  index_ = context * kBuckets + j;
  const int64_t lo = table_[static_cast<size_t>(index_)], hi = table_[static_cast<size_t>(index_) + 1];
  return static_cast<int32_t>((lo * (4096 - weight_) + hi * weight_) >> 12);
}

void Refiner::update(int bit) {
  // The nearer bucket learns, as in lpaq.
  const size_t k = static_cast<size_t>(index_) + (weight_ >= 2048 ? 1 : 0);
  int32_t& t = table_[k];
  uint8_t& n = count_[k];
  const int32_t target = bit ? kProbOne - 1 : 1;
  t += static_cast<int32_t>(int64_t{target - t} * 2 / (2 * n + 3));  // toward zero
  t = std::clamp(t, 1, kProbOne - 1);
  if (n < kMaxCount) ++n;
}

ExpertSwitch::ExpertSwitch(int contexts) {
  if (contexts < 1 || contexts > 64) fail("switch: 1 to 64 contexts");
  weight_b_.fill(kProbOne / 2);
}

int32_t ExpertSwitch::mix(int context, int32_t p_a, int32_t p_b) {
  context_ = context;
  p_a_ = p_a;
  p_b_ = p_b;
  return p_a + static_cast<int32_t>((int64_t{p_b - p_a} * weight_b_[static_cast<size_t>(context)]) >> 16);
}

void ExpertSwitch::update(int bit) {
  // Bayes: the weight of b times the probability b gave the bit, renormalized.
  const int64_t like_a = bit ? p_a_ : kProbOne - p_a_, like_b = bit ? p_b_ : kProbOne - p_b_;
  int32_t& w = weight_b_[static_cast<size_t>(context_)];
  const int64_t num = int64_t{w} * like_b, den = num + int64_t{kProbOne - w} * like_a;
  w = static_cast<int32_t>(std::clamp<int64_t>((num << 16) / den, 1, kProbOne - 1));
}

}  // namespace lmac::mixing
