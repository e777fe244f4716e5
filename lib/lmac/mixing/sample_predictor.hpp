// The audio model's prediction of each sample of a chunk (docs/ARITHMETIC.md, "Mixing
// codec"): per channel, a forward-adaptive linear predictor whose quantized
// coefficients the encoder chooses and stores (as FLAC); optionally a backward-adaptive
// least-squares stage that starts from that prediction and follows the sound as it
// changes within the chunk; optionally a cascade of normalized-LMS stages on its
// residual, a long one that reaches back a pitch period (256 values, or, chosen per
// channel, 1024) and short ones that follow what it leaves, their predictions summed or
// (chosen per channel) each weighted by how it has paid; then a sign-sign LMS stage on
// the residual that also sees the first channel's residual of the same frame
// (inter-channel prediction), then a running bias: one for the channel, or (chosen per
// channel) one per context of the signs of the last two errors plus one per direction
// the prediction moves from the last value. Every chunk starts from the same state, so
// chunks stay independent.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "lmac/mixing/least_squares.hpp"
#include "lmac/mixing/nlms.hpp"

namespace lmac::mixing {

constexpr int kMaxLpcOrder = 32;

// The linear predictor orders a stream can name (by index, 4 bits).
std::span<const int> lpc_orders();

// What the encoder stores per channel.
struct ChannelParams {
  int wasted = 0;     // low bits that are 0 in every sample (0..31); the model sees value >> wasted
  int order = 0;      // 0..32
  int precision = 0;  // bits per coefficient (2..16) when order > 0
  int shift = 0;      // coefficients are in 1/2^shift (0..15)
  std::vector<int32_t> coefs;
  int initial_scale = 0;  // 0..127: the mean absolute error starts at 2^(initial_scale / 4)
  int adaptive = 0;       // 0: no least-squares stage; 1..3: with the forget factor least_squares_forget(adaptive)
  int cascade = 0;        // NLMS stages on the least-squares residual: cascade_stages(cascade)
  // With a cascade: each stage's prediction weighted by a StageWeight rather than summed
  // (the encoder tries both: weights that learn from the error's sign lose the rare large
  // pulses of a pulse train, and of 8-bit sound whose residuals are mostly 0).
  bool weighted_stages = true;
  // With a cascade: its long stage reaches back 1024 values instead of 256 (a low
  // voice's pitch period at 44.1-48 kHz, the decay of a drum; too slow to train on short
  // chunks or 8 kHz speech, hence a choice).
  bool long_reach = false;
  bool context_bias = false;  // the bias by context rather than one for the channel
};

// The least-squares stage's forget factor for a stored `adaptive` code (1..3): slower
// for sound whose spectrum changes slowly at its sample rate, faster for speech.
double least_squares_forget(int adaptive);
constexpr int kAdaptiveCodes = 4;  // codes 0..3 (all a 2-bit field holds)

// An NLMS stage of a cascade: its taps and its step.
struct CascadeStage {
  size_t taps;
  double rate;
};
// The NLMS stages a stored `cascade` code (0..3) names, in the order they run, each on
// the residual of the ones before it: none; the long stage that reaches back a pitch
// period (further with long_reach); then short ones that follow what changes faster.
std::vector<CascadeStage> cascade_stages(int cascade, bool long_reach);
constexpr int kCascadeCodes = 4;  // codes 0..3 (a 2-bit field)
// Encoder only: the long reach is tried on a channel of at least this many samples. In
// fewer its 1024 weights do not learn enough to pay for the trial (on 4096-frame chunks
// it saved 0.003 % of speech for 1.2-1.5x the compression time).
constexpr size_t kLongReachMinSamples = 8192;
// Encoder only: the change the encoder tries for the long reach, on the best cascade
// found or, where it found none, on the long stage alone.
void reach_long(ChannelParams& p);

// Encoder only: each channel's parameters (channels[c]: channel c's samples in time
// order, of `bits`-bit width) that code it in the fewest estimated bits; a channel after
// the first is estimated with channel 0 beside it, as its stages see it. The choice is a
// pure function of the samples. It leaves context_bias off: the estimate cannot judge it
// (the chunk coder tries both). With `estimate_stages` false it also leaves the adaptive
// stages off (adaptive 0, no cascade), for a caller that tries them by coding. Trials
// run on up to `threads` threads; the choice does not depend on how many.
std::vector<ChannelParams> choose_params(std::span<const std::vector<int64_t>> channels, int bits,
                                         bool estimate_stages = true, int threads = 1);

// The starting mean absolute error, in 1/16, of an initial scale code.
int64_t initial_mae16(int initial_scale);

class SamplePredictor {
 public:
  // frames: frames in the chunk; bits: sample width (for the first sample's spread).
  // Values are seen as value >> wasted of their channel.
  SamplePredictor(std::vector<ChannelParams> params, size_t frames, int bits);

  struct Guess {
    int64_t mu16;   // predicted value, in 1/16
    int64_t mae16;  // expected absolute error, in 1/16 (>= 8)
    // A second opinion: base, the prediction before the sign-sign stage and the bias,
    // with its own expected absolute error (both in 1/16).
    int64_t base_mu16, base_mae16;
  };
  // The prediction for the next sample of `channel` (each channel's samples come in
  // time order; channel c > 0 comes after channel 0 of the same frame).
  Guess predict(int channel);
  // The actual value of the sample just predicted.
  void update(int64_t value);
  // Low bits of `channel` that are 0 in every sample (the model sees value >> wasted).
  int wasted(int channel) const { return ch_[static_cast<size_t>(channel)].params.wasted; }

  // Encoder only, for estimating a later channel: the residual of base (the linear,
  // least-squares and NLMS predictions) of `channel`'s last sample; and, in place of
  // predict(0) and update(), channel 0's next value and that residual as a run with its
  // parameters made them (what a later channel's stages read of it).
  int64_t last_residual(int channel) const { return ch_[static_cast<size_t>(channel)].r.back(); }
  void take_first(int64_t value, int64_t residual);

 private:
  struct Channel {
    ChannelParams params;
    std::vector<int64_t> x;  // samples so far
    std::vector<int64_t> r;  // residual of base (the linear, least-squares and NLMS predictions), per frame
    std::vector<int32_t> lms;
    std::unique_ptr<LeastSquaresStage> ls;
    std::vector<NlmsStage> nlms;       // the cascade, in order
    std::vector<StageWeight> weights;  // of each stage's prediction in the cascade's sum
    int64_t bias16 = 0, mae16 = 0, base_mae16 = 0;
    // The context bias, in 1/16: by the signs of the last two errors (each -, 0, +) and
    // by the direction of the prediction from the last value; their sum is the bias.
    std::array<int64_t, 9> sign_bias{};
    std::array<int64_t, 3> slope_bias{};
    int last_sign = 1, sign_before = 1;  // sign + 1 of the last two errors
    size_t sign_ctx = 4, slope_ctx = 1;  // of the sample just predicted
  };
  // The bias added to the prediction of channel c's next sample, whose prediction
  // (before the bias) is `prediction` (t > 0); remembers the contexts it used, which
  // update_bias then moves.
  int64_t bias16(Channel& c, int64_t prediction);
  void update_bias(Channel& c, int64_t error16);
  // After sample t > 0 of a channel with NLMS stages: each stage and its weight learn.
  void update_cascade(Channel& c, int64_t value);
  // The stages' inputs for the next sample of channel `ch`, into ls_in_ and in_.
  void gather_least_squares_inputs(const Channel& c, int ch);
  void gather_inputs(const Channel& c, int ch);

  std::vector<Channel> ch_;
  int bits_;
  int current_ = 0;
  int64_t pred1_ = 0;  // linear
  // pred1_ or the least-squares prediction: what the first NLMS stage's signal is the residual of
  int64_t adapted_ = 0;
  std::vector<int64_t> before_;  // per NLMS stage: the prediction its signal is the residual of
  int64_t base_ = 0;             // adapted_, plus the NLMS stages' predictions
  int64_t pred2_ = 0;            // sign-sign LMS
  std::vector<int64_t> in_;      // LMS inputs of the sample just predicted
  std::vector<double> ls_in_;    // least-squares inputs of the sample just predicted
  Guess guess_{};
};

}  // namespace lmac::mixing
