#include "lmac/mixing/sample_predictor.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>

#include "lmac/common/error.hpp"
#include "lmac/common/parallel.hpp"

namespace lmac::mixing {
namespace {

constexpr size_t kOwnTaps = 16;    // LMS inputs: the channel's last residuals
constexpr size_t kCrossTaps = 2;   // and, for channels > 0, channel 0's of this frame and the last
constexpr int32_t kLmsStep = 192;  // sign-sign step, in 1/65536
constexpr int32_t kLmsLimit = 1 << 18;
constexpr size_t kShortlist = 4;          // parameter sets the encoder runs the predictor on
constexpr size_t kLeastSquaresTaps = 32;  // least-squares inputs: the channel's last values

int64_t sign(int64_t v) { return (v > 0) - (v < 0); }

// A mean absolute error (in 1/16, at least 8) after an error of error16 (in 1/16): it
// moves a sixteenth of the way toward |error16|.
int64_t follow_mae16(int64_t mae16, int64_t error16) {
  return std::max<int64_t>(8, mae16 + (((error16 < 0 ? -error16 : error16) - mae16) >> 4));
}

// The linear prediction of sample t from the ones before it: fixed low-order
// extrapolation until `order` samples exist, then the stored coefficients.
int64_t linear_prediction(const ChannelParams& p, std::span<const int64_t> x, size_t t) {
  if (t == 0 || p.order == 0) return 0;
  if (t < static_cast<size_t>(p.order)) return t == 1 ? x[0] : 2 * x[t - 1] - x[t - 2];
  int64_t sum = 0;
  for (int j = 0; j < p.order; ++j) sum += int64_t{p.coefs[static_cast<size_t>(j)]} * x[t - 1 - static_cast<size_t>(j)];
  return sum >> p.shift;
}

// Bits a partitioned Rice code would spend on these residuals: the encoder's yardstick.
uint64_t rice_bits(std::span<const int64_t> r) {
  uint64_t total = 0;
  for (size_t start = 0; start < r.size(); start += 256) {
    const size_t end = std::min(r.size(), start + 256);
    uint64_t best = UINT64_MAX;
    for (int k = 0; k < 32; ++k) {
      uint64_t bits = 0;
      for (size_t i = start; i < end; ++i) {
        const uint64_t u = r[i] >= 0 ? static_cast<uint64_t>(r[i]) << 1 : (static_cast<uint64_t>(-r[i]) << 1) - 1;
        bits += (u >> k) + 1 + static_cast<uint64_t>(k);
      }
      best = std::min(best, bits);
      if (bits > best) break;
    }
    total += best + 5;
  }
  return total;
}

// Windows the encoder tries, as powers of the Welch window 1 - u^2 (no libm): 0 is the
// rectangle; higher powers taper more, which tonal signals with little noise need (their
// spectral peaks leak through the Welch window's sidelobes).
constexpr std::array<int, 3> kWindowPowers = {1, 0, 2};

// Levinson-Durbin on an autocorrelation windowed by (1 - u^2)^power: coefficient sets
// for orders 1..max.
std::vector<std::vector<double>> lpc_sets(std::span<const int64_t> x, int max_order, int power) {
  const size_t n = x.size();
  std::vector<double> w(n);
  const double half = (static_cast<double>(n) + 1.0) / 2.0, mid = (static_cast<double>(n) - 1.0) / 2.0;
  for (size_t i = 0; i < n; ++i) {
    const double u = (static_cast<double>(i) - mid) / half;
    double f = 1.0;
    for (int e = 0; e < power; ++e) f *= 1.0 - u * u;
    w[i] = static_cast<double>(x[i]) * f;
  }
  std::vector<double> r(static_cast<size_t>(max_order) + 1, 0.0);
  for (int lag = 0; lag <= max_order; ++lag)
    for (size_t i = static_cast<size_t>(lag); i < n; ++i)
      r[static_cast<size_t>(lag)] += w[i] * w[i - static_cast<size_t>(lag)];
  std::vector<std::vector<double>> sets(static_cast<size_t>(max_order) + 1);
  if (r[0] <= 0) return sets;
  r[0] *= 1.0 + 1e-9;
  std::vector<double> a(static_cast<size_t>(max_order) + 1, 0.0), prev;
  double err = r[0];
  for (int i = 1; i <= max_order && err > 0; ++i) {
    double acc = r[static_cast<size_t>(i)];
    for (int j = 1; j < i; ++j) acc -= a[static_cast<size_t>(j)] * r[static_cast<size_t>(i - j)];
    const double k = acc / err;
    prev = a;
    a[static_cast<size_t>(i)] = k;
    for (int j = 1; j < i; ++j)
      a[static_cast<size_t>(j)] = prev[static_cast<size_t>(j)] - k * prev[static_cast<size_t>(i - j)];
    err *= 1.0 - k * k;
    sets[static_cast<size_t>(i)].assign(a.begin() + 1, a.begin() + i + 1);
  }
  return sets;
}

ChannelParams quantize(const std::vector<double>& a, int precision) {
  ChannelParams p;
  double cmax = 0;
  for (double v : a) cmax = std::max(cmax, std::fabs(v));
  if (a.empty() || !(cmax > 0)) return p;
  int e = 0;
  (void)std::frexp(cmax, &e);  // cmax < 2^e
  p.order = static_cast<int>(a.size());
  p.precision = precision;
  p.shift = std::clamp(precision - 1 - e, 0, 15);
  const double lim = std::ldexp(1.0, precision - 1);
  double carry = 0;
  for (double v : a) {
    const double s = std::ldexp(v, p.shift) + carry;
    const double q = std::clamp(std::nearbyint(s), -lim, lim - 1);
    carry = s - q;
    p.coefs.push_back(static_cast<int32_t>(q));
  }
  return p;
}

std::vector<int64_t> linear_residual(const ChannelParams& p, std::span<const int64_t> x) {
  std::vector<int64_t> r(x.size());
  for (size_t t = 0; t < x.size(); ++t) r[t] = x[t] - linear_prediction(p, x, t);
  return r;
}

int side_bits(const ChannelParams& p) {
  return 4 + 7 + 2 + 2 + (p.cascade > 0 ? 2 : 0) + (p.order ? 8 + p.order * p.precision : 0);
}

}  // namespace

std::span<const int> lpc_orders() {
  static constexpr std::array<int, 11> kOrders = {0, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32};
  return kOrders;
}

double least_squares_forget(int adaptive) {
  if (adaptive < 1 || adaptive >= kAdaptiveCodes)
    fail("audio model: no least-squares stage has code " + std::to_string(adaptive));
  static constexpr std::array<double, kAdaptiveCodes> kForget = {0.0, 0.998, 0.995, 0.999};
  return kForget[static_cast<size_t>(adaptive)];
}

std::vector<CascadeStage> cascade_stages(int cascade, bool long_reach) {
  static constexpr std::array<CascadeStage, 3> kStages = {{{256, 1.0 / 32}, {64, 1.0 / 16}, {8, 1.0 / 16}}};
  // The step is relative to the power of the whole history, so four times the taps take
  // twice the step: each weight then moves half as far as in the 256-tap stage.
  static constexpr CascadeStage kLongReach = {1024, 1.0 / 16};
  if (cascade < 0 || cascade >= kCascadeCodes) fail("audio model: no NLMS cascade has code " + std::to_string(cascade));
  std::vector<CascadeStage> stages(kStages.begin(), kStages.begin() + cascade);
  if (long_reach && cascade > 0) stages[0] = kLongReach;
  return stages;
}

void reach_long(ChannelParams& p) {
  // Where no cascade paid, the long stage alone: a pitch period beyond 256 values leaves
  // the short reach nothing to hold, so the estimate may have found none worth it.
  p.cascade = std::max(p.cascade, 1);
  p.long_reach = true;
}

int64_t initial_mae16(int initial_scale) {
  static constexpr int64_t kQuarterPowers[4] = {65536, 77936, 92682, 110218};  // 2^(j/4) in 1/65536
  return std::max<int64_t>(8, ((int64_t{16} << (initial_scale >> 2)) * kQuarterPowers[initial_scale & 3]) >> 16);
}

namespace {

// The initial scale code nearest the mean absolute residual of samples 1..32.
int initial_scale_for(std::span<const int64_t> r) {
  int64_t sum = 0, count = 0;
  for (size_t t = 1; t < r.size() && t <= 32; ++t, ++count) sum += r[t] < 0 ? -r[t] : r[t];
  const int64_t target = count ? 16 * sum / count : 16;
  int k = 0;
  for (int c = 1; c < 128; ++c) {
    const int64_t d = initial_mae16(c) - target, dk = initial_mae16(k) - target;
    if ((d < 0 ? -d : d) < (dk < 0 ? -dk : dk)) k = c;
  }
  return k;
}

// log2(v) in 1/256 for v >= 1: the exponent and a linear mantissa (integers only).
int64_t log2_256(int64_t v) {
  const int e = static_cast<int>(std::bit_width(static_cast<uint64_t>(v))) - 1;
  const int64_t frac = e >= 8 ? (v >> (e - 8)) - 256 : (v << (8 - e)) - 256;
  return int64_t{256} * e + frac;
}

// Channel 0 as a later channel's estimate sees it: its parameters, and per frame its
// value (shifted by its wasted bits) and residual of base, from one run of its predictor.
// A later channel's stages take channel 0's value and residual of the same frame as
// inputs (inter-channel prediction), so its estimate runs beside them, frame by frame;
// estimated alone, a channel that follows channel 0 closely looked half again as costly
// as it codes, and its stages were misjudged.
struct FirstChannel {
  ChannelParams params;
  std::vector<int64_t> x, r;
};

FirstChannel first_channel(const ChannelParams& p, std::span<const int64_t> samples, int bits) {
  FirstChannel first{p, std::vector<int64_t>(samples.size()), std::vector<int64_t>(samples.size())};
  SamplePredictor predictor({p}, samples.size(), bits);
  for (size_t t = 0; t < samples.size(); ++t) {
    first.x[t] = samples[t] >> p.wasted;
    predictor.predict(0);
    predictor.update(first.x[t]);
    first.r[t] = predictor.last_residual(0);
  }
  return first;
}

// Bits (in 1/256) that the predictor with these parameters would spend on the channel,
// as a Laplace code of its own guesses: log2 of the spread plus |error| / (spread ln 2),
// parameters included (channel 0 beside it, when given, is not counted). The sum only
// grows, so a run stops once it passes `bound` (the best so far, which other runs may
// lower meanwhile): it has lost, and the choice is the same as if it had run to the end.
int64_t predicted_cost(const ChannelParams& p, std::span<const int64_t> x, int bits, const std::atomic<int64_t>& bound,
                       const FirstChannel* first) {
  std::vector<ChannelParams> params;
  if (first) params.push_back(first->params);
  params.push_back(p);
  SamplePredictor predictor(std::move(params), x.size(), bits);
  const int channel = first ? 1 : 0;
  int64_t cost = int64_t{256} * side_bits(p);
  for (size_t t = 0; t < x.size(); ++t) {
    if (cost > bound.load(std::memory_order_relaxed)) return cost;
    if (first && t < first->x.size()) predictor.take_first(first->x[t], first->r[t]);
    const auto g = predictor.predict(channel);
    const int64_t e16 = 16 * x[t] - g.mu16, error16 = e16 < 0 ? -e16 : e16;
    // 369 / 256 = 1 / ln 2; at most 64 bits a sample (the model's table ends at 24 spreads).
    cost += log2_256(g.mae16) + std::min(369 * error16 / g.mae16, int64_t{369} * 64);
    predictor.update(x[t]);
  }
  return cost;
}

// The parameters that code one channel's samples in the fewest estimated bits (see
// choose_params in the header); `first`: channel 0, for a later channel.
ChannelParams choose_channel(std::span<const int64_t> samples, int bits, bool estimate_stages,
                             const FirstChannel* first, int threads) {
  uint64_t any = 0;
  for (int64_t v : samples) any |= static_cast<uint64_t>(v);
  int wasted = 0;
  while (wasted < bits - 1 && any != 0 && !((any >> wasted) & 1)) ++wasted;
  std::vector<int64_t> x(samples.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = samples[i] >> wasted;
  const int max_order = static_cast<int>(std::min<size_t>(kMaxLpcOrder, x.size() / 4));
  // Every window, order and precision, estimated by a partitioned Rice code of the
  // linear residuals (cheap); the kShortlist best are then run through the predictor
  // itself, whose adaptive stages change which linear predictor codes best.
  struct Candidate {
    uint64_t rice = 0;
    ChannelParams p;
  };
  std::vector<std::vector<std::vector<double>>> sets(kWindowPowers.size());
  parallel_tasks(threads, sets.size(), [&](size_t w) { sets[w] = lpc_sets(x, max_order, kWindowPowers[w]); });
  std::vector<Candidate> candidates;
  candidates.push_back({0, {}});
  for (const auto& set : sets)
    for (int order : lpc_orders()) {
      if (order == 0 || order > max_order || set[static_cast<size_t>(order)].empty()) continue;
      for (int precision : {9, 12, 15})
        if (ChannelParams p = quantize(set[static_cast<size_t>(order)], precision); p.order != 0)
          candidates.push_back({0, std::move(p)});
    }
  parallel_tasks(threads, candidates.size(), [&](size_t k) {
    const ChannelParams& p = candidates[k].p;
    candidates[k].rice = rice_bits(linear_residual(p, x)) + static_cast<uint64_t>(side_bits(p));
  });
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) { return a.rice < b.rice; });
  candidates.resize(std::min(candidates.size(), kShortlist));
  std::vector<ChannelParams> trials;
  for (auto& c : candidates) {
    c.p.wasted = wasted;
    c.p.initial_scale = initial_scale_for(linear_residual(c.p, x));
    trials.push_back(std::move(c.p));
  }
  // Each group of trials runs side by side and keeps the first cheapest (first_least),
  // as a loop in order that keeps a trial only where it is cheaper than the best so far.
  ChannelParams best;
  int64_t best_cost = INT64_MAX;
  const auto keep_cheapest = [&](std::vector<ChannelParams> group) {
    const size_t k = first_least(threads, group.size(), best_cost, [&](size_t i, const std::atomic<int64_t>& bound) {
      return predicted_cost(group[i], x, bits, bound, first);
    });
    if (k < group.size()) best = std::move(group[k]);
  };
  keep_cheapest(std::move(trials));
  if (!estimate_stages) return best;
  // The adaptive stages follow sound that changes within the chunk, and the NLMS stages
  // a pitch and what it leaves; they cost a short chunk more than they gain while they
  // learn, so they are tried on the best choice, one field after the other: each code of
  // a field on the best so far, keeping the cheapest. A field's codes do not depend on
  // each other (each sets the whole field), so they are one group.
  const auto changed = [&](auto&& change) {
    ChannelParams p = best;
    change(p);
    return p;
  };
  std::vector<ChannelParams> group;
  for (int code = 1; code < kAdaptiveCodes; ++code)
    group.push_back(changed([&](ChannelParams& p) { p.adaptive = code; }));
  keep_cheapest(std::exchange(group, {}));
  for (const bool weighted : {true, false})
    for (int code = 1; code < kCascadeCodes; ++code)
      group.push_back(changed([&](ChannelParams& p) { p.cascade = code, p.weighted_stages = weighted; }));
  keep_cheapest(std::exchange(group, {}));
  if (x.size() >= kLongReachMinSamples) keep_cheapest({changed(reach_long)});
  return best;
}

}  // namespace

std::vector<ChannelParams> choose_params(std::span<const std::vector<int64_t>> channels, int bits, bool estimate_stages,
                                         int threads) {
  std::vector<ChannelParams> out;
  if (channels.empty()) return out;
  out.reserve(channels.size());
  out.push_back(choose_channel(channels[0], bits, estimate_stages, nullptr, threads));
  if (channels.size() == 1) return out;
  const FirstChannel first = first_channel(out[0], channels[0], bits);
  for (size_t c = 1; c < channels.size(); ++c)
    out.push_back(choose_channel(channels[c], bits, estimate_stages, &first, threads));
  return out;
}

SamplePredictor::SamplePredictor(std::vector<ChannelParams> params, size_t frames, int bits)
    : bits_(bits), in_(kOwnTaps + kCrossTaps, 0) {
  for (auto& p : params) {
    Channel c;
    if (p.wasted >= bits) fail_format("audio model parameters drop every bit of the samples");
    c.params = std::move(p);
    c.x.reserve(frames);
    c.r.reserve(frames);
    c.lms.assign(kOwnTaps + kCrossTaps, 0);
    if (c.params.adaptive != 0) {
      // own values, channel 0's of this frame and the last (channels > 0), the linear prediction
      const size_t inputs = kLeastSquaresTaps + (ch_.empty() ? 0 : 2) + 1;
      c.ls = std::make_unique<LeastSquaresStage>(inputs, least_squares_forget(c.params.adaptive));
    }
    for (const CascadeStage& stage : cascade_stages(c.params.cascade, c.params.long_reach))
      c.nlms.emplace_back(stage.taps, stage.rate);
    if (c.params.weighted_stages) c.weights.resize(c.nlms.size());
    c.mae16 = c.base_mae16 = initial_mae16(c.params.initial_scale);
    ch_.push_back(std::move(c));
  }
  if (ch_.empty()) fail("audio model: no channels");
}

void SamplePredictor::gather_least_squares_inputs(const Channel& c, int ch) {
  const size_t t = c.x.size();
  ls_in_.assign(c.ls->inputs(), 0.0);
  for (size_t k = 0; k < kLeastSquaresTaps && k < t; ++k) ls_in_[k] = static_cast<double>(c.x[t - 1 - k]);
  const auto& x0 = ch_[0].x;
  if (ch > 0) {
    if (t < x0.size()) ls_in_[kLeastSquaresTaps] = static_cast<double>(x0[t]);
    if (t >= 1 && t - 1 < x0.size()) ls_in_[kLeastSquaresTaps + 1] = static_cast<double>(x0[t - 1]);
  }
  ls_in_.back() = static_cast<double>(pred1_);
}

void SamplePredictor::gather_inputs(const Channel& c, int ch) {
  const size_t f = c.r.size();  // this frame; channel 0 has coded it already
  for (size_t k = 0; k < kOwnTaps; ++k) in_[k] = f > k ? c.r[f - 1 - k] : 0;
  const auto& r0 = ch_[0].r;
  for (size_t back = 0; back < kCrossTaps; ++back)
    in_[kOwnTaps + back] = ch > 0 && f < r0.size() && f >= back ? r0[f - back] : 0;
}

namespace {

// The nearest integer to v within [lo, hi] (a value that is not a number gives lo).
int64_t round_within(double v, int64_t lo, int64_t hi) {
  const double dlo = static_cast<double>(lo), dhi = static_cast<double>(hi);
  const double clamped = v >= dlo ? (v <= dhi ? v : dhi) : dlo;
  return static_cast<int64_t>(std::floor(clamped + 0.5));
}

}  // namespace

SamplePredictor::Guess SamplePredictor::predict(int channel) {
  current_ = channel;
  Channel& c = ch_[static_cast<size_t>(channel)];
  const size_t t = c.x.size();
  // Kept within the values the channel can hold, so no sum below can overflow whatever
  // coefficients a (hostile) stream names.
  const int n = bits_ - c.params.wasted;
  const int64_t lo = -(int64_t{1} << (n - 1)), hi = (int64_t{1} << (n - 1)) - 1;
  // Nothing to go on for the first sample: channel 0's sample of this frame, or mid-scale.
  pred1_ = t > 0 ? std::clamp(linear_prediction(c.params, c.x, t), lo, hi)
                 : (channel > 0 && !ch_[0].x.empty() ? ch_[0].x[0] : 0);
  adapted_ = pred1_;
  if (c.ls) {
    gather_least_squares_inputs(c, channel);
    if (t > 0) adapted_ = round_within(c.ls->predict(ls_in_), lo, hi);
  }
  base_ = adapted_;
  before_.resize(c.nlms.size());
  if (t > 0)
    for (size_t i = 0; i < c.nlms.size(); ++i) {
      before_[i] = base_;
      const double stage = c.nlms[i].predict();
      const double weighted = c.weights.empty() ? stage : c.weights[i].weigh(stage);
      base_ = std::clamp(base_ + round_within(weighted, lo - hi, hi - lo), lo, hi);
    }
  gather_inputs(c, channel);
  if (t == 0) {
    pred2_ = 0;
    const int64_t spread = std::max(c.mae16, int64_t{16} << std::max(0, n - 4));
    guess_ = {16 * base_, spread, 16 * base_, spread};
    return guess_;
  }
  int64_t dot = 0;
  for (size_t k = 0; k < in_.size(); ++k) dot += int64_t{c.lms[k]} * in_[k];
  pred2_ = dot >> 16;
  guess_ = {std::clamp(16 * (base_ + pred2_) + bias16(c, base_ + pred2_), 16 * lo, 16 * hi), c.mae16, 16 * base_,
            c.base_mae16};
  return guess_;
}

int64_t SamplePredictor::bias16(Channel& c, int64_t prediction) {
  if (!c.params.context_bias) return c.bias16;
  c.sign_ctx = 3 * static_cast<size_t>(c.last_sign) + static_cast<size_t>(c.sign_before);
  c.slope_ctx = static_cast<size_t>(sign(prediction - c.x.back()) + 1);
  return c.sign_bias[c.sign_ctx] + c.slope_bias[c.slope_ctx];
}

// error16: the residual after the sign-sign stage, in 1/16. The two context biases learn
// as an additive model, each toward what the other leaves, from an error held within one
// mean absolute error of the channel's bias so that a transient does not throw them off.
void SamplePredictor::update_bias(Channel& c, int64_t error16) {
  c.bias16 += (error16 - c.bias16) >> 5;
  if (!c.params.context_bias) return;
  const int64_t held = std::clamp(error16, c.bias16 - c.mae16, c.bias16 + c.mae16);
  int64_t& by_sign = c.sign_bias[c.sign_ctx];
  int64_t& by_slope = c.slope_bias[c.slope_ctx];
  const int64_t sign_old = by_sign;
  by_sign += (held - by_slope - by_sign) >> 5;
  by_slope += (held - sign_old - by_slope) >> 5;
}

void SamplePredictor::update(int64_t value) {
  Channel& c = ch_[static_cast<size_t>(current_)];
  const int64_t r = value - base_;
  const int64_t e2 = sign(r - pred2_);
  if (e2 != 0)
    for (size_t k = 0; k < in_.size(); ++k)
      c.lms[k] =
          std::clamp<int32_t>(c.lms[k] + static_cast<int32_t>(e2 * sign(in_[k])) * kLmsStep, -kLmsLimit, kLmsLimit);
  const int64_t e16 = 16 * value - guess_.mu16;
  if (!c.x.empty()) {
    update_bias(c, 16 * (r - pred2_));
    c.sign_before = c.last_sign;
    c.last_sign = static_cast<int>(sign(e16) + 1);
    c.mae16 = follow_mae16(c.mae16, e16);
    c.base_mae16 = follow_mae16(c.base_mae16, 16 * r);
  }
  if (c.ls) c.ls->update(ls_in_, static_cast<double>(value));
  if (!c.x.empty() && !c.nlms.empty()) update_cascade(c, value);
  c.x.push_back(value);
  c.r.push_back(r);
}

void SamplePredictor::update_cascade(Channel& c, int64_t value) {
  for (size_t i = 0; i < c.nlms.size(); ++i) c.nlms[i].update(static_cast<double>(value - before_[i]));
  if (c.weights.empty()) return;
  double sum = 0.0;
  for (const auto& w : c.weights) sum += w.weighted();
  // The sign of what the unrounded sum missed: at 8 bits the rounded one's is mostly
  // rounding, which walked the weights at random (`dev` 8-bit whole files, measured at
  // step 2^-8: 15.25 % against 15.00 % with the unrounded sum's).
  const double miss = static_cast<double>(value - adapted_) - sum;
  const double error_sign = (miss > 0) - (miss < 0);
  for (auto& w : c.weights) w.update(error_sign);
}

void SamplePredictor::take_first(int64_t value, int64_t residual) {
  ch_[0].x.push_back(value);
  ch_[0].r.push_back(residual);
}

}  // namespace lmac::mixing
