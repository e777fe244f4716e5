#include "lmac/mixing/audio_chunk_coder.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <functional>
#include <optional>
#include <utility>

#include "lmac/coding/arithmetic_coder.hpp"
#include "lmac/common/error.hpp"
#include "lmac/common/parallel.hpp"
#include "lmac/mixing/logistic.hpp"
#include "lmac/mixing/sample_predictor.hpp"
#include "lmac/mixing/value_distribution.hpp"

namespace lmac::mixing {
namespace {

// The audio chain mixes the audio model, its wide twin, the second opinion (the stages'
// prediction before the sign-sign stage and the bias) and a bias (weights 0.75, 0.25, 0,
// 0 in 1/65536), in two mixers whose logits are averaged; the mixed chain mixes the audio
// chain's probability, the audio model, the language model and a bias (1, 0, 0, 0).
constexpr std::array<int32_t, 4> kAudioWeights = {49152, 16384, 0, 0};
constexpr std::array<int32_t, 4> kMixedWeights = {65536, 0, 0, 0};
constexpr int kMixerRate = 6;
// Where the split of a bit's interval lies from the prediction, in quarters of the mean
// absolute error, in kSplitBuckets buckets: the shape of the errors' distribution, which
// the logistic only approximates, is learned per bucket.
constexpr int kSplitBuckets = 32;
constexpr int kSplitSteps = 4;
constexpr int32_t kMinP = 16;  // coded probabilities stay in [16, 65520] / 65536
constexpr int kWideFactor = 4;
constexpr int kBias = 256;
// The encoder compares the mixed coding with the audio model's alone after 512, 1024,
// 2048, ... bytes (AudioChunkEncoder::pays). Tuned on the `dev` set: against mixing every
// chunk whole, 0.04 % larger at 8 bits and 0.005 % at 16, with 1.5x and 13x less time.
constexpr size_t kFirstCheckpoint = 512;

}  // namespace

// The probability of every bit of a chunk, given the bits before it: shared by the
// encoder and the decoder, so both walk exactly the same states.
class ChunkBitModel {
 public:
  ChunkBitModel(const ChunkShape& shape, std::vector<ChannelParams> params)
      : shape_(shape),
        predictor_(std::move(params), shape.channel.size() / static_cast<size_t>(shape.channels) + 1, shape.bits),
        audio_mixer_(64, std::span<const int32_t, 4>(kAudioWeights)),
        split_mixer_(kSplitBuckets, std::span<const int32_t, 4>(kAudioWeights)),
        split_refiner_(kSplitBuckets * 16),
        mixed_mixer_(64, std::span<const int32_t, 4>(kMixedWeights)),
        mixed_refiner_(64),
        switch_(64),
        bit_(shape.bits) {}

  bool done() const { return sample_ >= shape_.channel.size(); }

  // The next bit is one of the channel's wasted low bits: 0, and costs nothing.
  bool free_bit() const { return bit_ >= coded_bits_; }

  // Before each byte: the language model's table for its symbol (or none).
  void begin_byte(const FreqTable* lm) {
    if (bit_ == shape_.bits) start_sample();
    lm_ = lm != nullptr;
    if (!lm_) return;
    if (lm->freq.size() != 128) fail("mixing needs a distribution over the 128 symbols");
    for (size_t s = 0; s < 128; ++s) tree_[128 + s] = lm->freq[s];
    for (size_t i = 127; i >= 1; --i) tree_[i] = tree_[2 * i] + tree_[2 * i + 1];
    node_ = 1;
  }

  // P(next bit = 1) in 1/65536, within [kMinP, 65536 - kMinP].
  int32_t p1() {
    const int b = coded_bits_ - 1 - bit_;                                        // bit of the value seen by the model
    const int in_byte = bit_ % 8;                                                // 0..6 symbol bits, 7 the dropped bit
    const int32_t narrow = stretch(narrow_->p1()), wide = stretch(wide_->p1());  // stretch clamps to [1, 65535]
    const int rel =
        std::clamp(b + 1 - static_cast<int>(std::bit_width(static_cast<uint64_t>(guess_.mae16 >> 4))) + 6, 0, 15);
    const int ctx = rel * 4 + std::min(bit_ / 8, 3);
    const std::array<int32_t, 4> audio_in{narrow, wide, stretch(second_->p1()), kBias};
    const int split = split_bucket();
    audio_mixer_.mix(ctx, audio_in);
    split_mixer_.mix(split, audio_in);
    const int32_t logit = (audio_mixer_.logit() + split_mixer_.logit()) >> 1;  // the mean, rounded down
    const int32_t p_mixers = squash(logit);
    const int32_t p_audio =
        std::clamp((p_mixers + 3 * split_refiner_.refine_logit(split * 16 + rel, logit)) / 4, kMinP, kProbOne - kMinP);
    if (!lm_) return p_audio;
    int32_t lm = 0;
    if (in_byte < 7) {
      const uint64_t all = tree_[static_cast<size_t>(node_)];
      const uint64_t ones = tree_[2 * static_cast<size_t>(node_) + 1];
      if (all) lm = stretch(static_cast<int32_t>((ones << 16) / all));
    }
    const int32_t p_mixed =
        refined(mixed_mixer_, mixed_refiner_, ctx, std::array<int32_t, 4>{stretch(p_audio), narrow, lm, kBias});
    return std::clamp(switch_.mix(rel, p_audio, p_mixed), kMinP, kProbOne - kMinP);
  }

  // After each bit, coded or free (a free bit is 0).
  void update(int bit) {
    if (lm_ && bit_ % 8 < 7) node_ = 2 * node_ + bit;
    if (free_bit()) {
      ++bit_;
    } else {
      audio_mixer_.update(bit, kMixerRate);
      split_mixer_.update(bit, kMixerRate);
      split_refiner_.update(bit);
      if (lm_) {
        mixed_mixer_.update(bit, kMixerRate);
        mixed_refiner_.update(bit);
        switch_.update(bit);
      }
      narrow_->take(bit);
      wide_->take(bit);
      second_->take(bit);
      value_ = value_ * 2 + bit;
      ++bit_;
      if (bit_ == coded_bits_) predictor_.update(value_ - (int64_t{1} << (coded_bits_ - 1)));
    }
    if (bit_ == shape_.bits) ++sample_;
  }

 private:
  static int32_t refined(auto& mixer, Refiner& refiner, int ctx, const auto& in) {
    const int32_t p = mixer.mix(ctx, in);
    return std::clamp((p + 3 * refiner.refine(ctx, p)) / 4, kMinP, kProbOne - kMinP);
  }

  // The bucket of where the next bit splits the values still possible, from the
  // prediction in steps of a quarter of the mean absolute error (the middle bucket holds
  // the splits less than a quarter from it either way).
  int split_bucket() const {
    const int64_t d16 = 16 * narrow_->split() - 8 - guess_.mu16;
    return static_cast<int>(
        std::clamp<int64_t>(d16 * kSplitSteps / guess_.mae16 + kSplitBuckets / 2, 0, kSplitBuckets - 1));
  }

  void start_sample() {
    const int channel = shape_.channel[sample_];
    coded_bits_ = shape_.bits - predictor_.wasted(channel);
    guess_ = predictor_.predict(channel);
    const int64_t lo = -(int64_t{1} << (coded_bits_ - 1));
    narrow_.emplace(lo, coded_bits_, guess_.mu16, guess_.mae16);
    wide_.emplace(lo, coded_bits_, guess_.mu16, guess_.mae16 * kWideFactor);
    second_.emplace(lo, coded_bits_, guess_.base_mu16, guess_.base_mae16);
    bit_ = 0;
    value_ = 0;
  }

  const ChunkShape shape_;
  int coded_bits_ = 0;  // of the current sample: its width less the channel's wasted bits
  SamplePredictor predictor_;
  Mixer<4> audio_mixer_, split_mixer_;
  Refiner split_refiner_;
  Mixer<4> mixed_mixer_;
  Refiner mixed_refiner_;
  ExpertSwitch switch_;
  SamplePredictor::Guess guess_{};
  std::optional<BitNarrowing> narrow_, wide_, second_;
  size_t sample_ = 0;
  int bit_;  // bits of the current sample done; `bits` when the next byte starts one
  int64_t value_ = 0;
  bool lm_ = false;
  std::array<uint64_t, 256> tree_{};
  int node_ = 1;
};

namespace {

void check_shape(const ChunkShape& s) {
  if (s.bits != 8 && s.bits != 16 && s.bits != 24 && s.bits != 32) fail("audio model: 8, 16, 24 or 32-bit samples");
  if (s.channels < 1 || s.channels > 255) fail("audio model: 1 to 255 channels");
  for (uint8_t c : s.channel)
    if (c >= s.channels) fail("audio model: a sample names a channel the format lacks");
}

// Raw bits of the parameters, at probability 1/2 each, most significant first.
void put_bits(ArithmeticEncoder& enc, uint32_t v, int n) {
  for (int i = n - 1; i >= 0; --i) enc.encode((v >> i) & 1, 1, 2);
}

uint32_t get_bits(ArithmeticDecoder& dec, int n) {
  uint32_t v = 0;
  for (int i = 0; i < n; ++i) {
    const uint32_t bit = dec.target(2) ? 1u : 0u;
    dec.consume(bit, 1, 2);
    v = v << 1 | bit;
  }
  return v;
}

void put_params(ArithmeticEncoder& enc, const ChannelParams& p) {
  put_bits(enc, static_cast<uint32_t>(p.wasted), 5);
  const auto orders = lpc_orders();
  const auto it = std::find(orders.begin(), orders.end(), p.order);
  put_bits(enc, static_cast<uint32_t>(it - orders.begin()), 4);
  if (p.order > 0) {
    put_bits(enc, static_cast<uint32_t>(p.precision - 1), 4);
    put_bits(enc, static_cast<uint32_t>(p.shift), 4);
    for (int32_t c : p.coefs) put_bits(enc, static_cast<uint32_t>(c + (1 << (p.precision - 1))), p.precision);
  }
  put_bits(enc, static_cast<uint32_t>(p.initial_scale), 7);
  put_bits(enc, static_cast<uint32_t>(p.adaptive), 2);
  put_bits(enc, static_cast<uint32_t>(p.cascade), 2);
  if (p.cascade > 0) {
    put_bits(enc, p.weighted_stages ? 1 : 0, 1);
    put_bits(enc, p.long_reach ? 1 : 0, 1);
  }
  put_bits(enc, p.context_bias ? 1 : 0, 1);
}

ChannelParams get_params(ArithmeticDecoder& dec) {
  ChannelParams p;
  p.wasted = static_cast<int>(get_bits(dec, 5));
  const auto orders = lpc_orders();
  const uint32_t index = get_bits(dec, 4);
  if (index >= orders.size()) fail_format("audio model parameters name an unknown predictor order");
  p.order = orders[index];
  if (p.order > 0) {
    p.precision = static_cast<int>(get_bits(dec, 4)) + 1;
    if (p.precision < 2) fail_format("audio model parameters have a coefficient precision below 2 bits");
    p.shift = static_cast<int>(get_bits(dec, 4));
    for (int j = 0; j < p.order; ++j)
      p.coefs.push_back(static_cast<int32_t>(get_bits(dec, p.precision)) - (1 << (p.precision - 1)));
  }
  p.initial_scale = static_cast<int>(get_bits(dec, 7));
  p.adaptive = static_cast<int>(get_bits(dec, 2));
  if (p.adaptive >= kAdaptiveCodes) fail_format("audio model parameters name an unknown least-squares stage");
  p.cascade = static_cast<int>(get_bits(dec, 2));
  if (p.cascade > 0) {
    p.weighted_stages = get_bits(dec, 1) != 0;
    p.long_reach = get_bits(dec, 1) != 0;
  }
  p.context_bias = get_bits(dec, 1) != 0;
  return p;
}

// Each channel's samples (in time order) from the serialized bytes.
std::vector<std::vector<int64_t>> channel_samples(const ChunkShape& s, std::span<const uint8_t> bytes) {
  const size_t bps = static_cast<size_t>(s.bits / 8);
  std::vector<std::vector<int64_t>> out(static_cast<size_t>(s.channels));
  for (size_t k = 0; k < s.channel.size(); ++k) {
    int64_t u = 0;
    for (size_t j = 0; j < bps; ++j) u = u << 8 | bytes[k * bps + j];
    out[s.channel[k]].push_back(u - (int64_t{1} << (s.bits - 1)));
  }
  return out;
}

// Codes one byte of the chunk, bit by bit from the top.
void encode_byte(ChunkBitModel& model, ArithmeticEncoder& enc, uint8_t byte) {
  for (int i = 7; i >= 0; --i) {
    const int bit = (byte >> i) & 1;
    if (model.free_bit()) {
      model.update(0);
      continue;
    }
    const uint32_t p = static_cast<uint32_t>(model.p1());
    enc.encode(bit ? 0 : p, bit ? p : kProbOne - p, kProbOne);
    model.update(bit);
  }
}

struct Choice {
  std::vector<ChannelParams> params;
  Bytes alone;                  // the chunk coded by the audio model alone with them
  std::vector<uint64_t> costs;  // costs[k]: the bits of that coding after k bytes
};

// The chunk coded by the audio model alone with these parameters: them, then its bits.
void code_alone(const ChunkShape& shape, std::span<const uint8_t> bytes, Choice& c) {
  ArithmeticEncoder enc;
  for (const auto& p : c.params) put_params(enc, p);
  ChunkBitModel model(shape, c.params);
  c.costs.clear();
  c.costs.reserve(bytes.size() + 1);
  c.costs.push_back(enc.bits());
  for (uint8_t byte : bytes) {
    model.begin_byte(nullptr);
    encode_byte(model, enc, byte);
    c.costs.push_back(enc.bits());
  }
  c.alone = enc.finish();
}

// Codes the chunk with best.params changed by each of `changes` on every channel, the
// codings side by side on up to `threads` threads, and keeps the first smallest where it
// is smaller than `best`: as a loop in order that keeps a coding only where it is
// smaller than the best so far, since each change sets whole fields (none depends on
// another's outcome).
void keep_smallest(const ChunkShape& shape, std::span<const uint8_t> bytes, Choice& best,
                   const std::vector<std::function<void(ChannelParams&)>>& changes, int threads) {
  std::vector<Choice> tried(changes.size(), Choice{best.params, {}, {}});
  int64_t least = best.costs.empty() ? INT64_MAX : static_cast<int64_t>(best.alone.size());  // empty: none coded yet
  const size_t k = first_least(threads, changes.size(), least, [&](size_t i, const std::atomic<int64_t>&) {
    for (auto& p : tried[i].params) changes[i](p);
    code_alone(shape, bytes, tried[i]);
    return static_cast<int64_t>(tried[i].alone.size());
  });
  if (k < tried.size()) best = std::move(tried[k]);
}

// Each channel's parameters by choose_params; then the context bias on every channel or
// on none, whichever codes the chunk smaller (the estimate choose_params goes by cannot
// judge it: at 8 bits it rates the context bias a quarter worse where it codes 5% smaller).
// At 8 bits, where the estimate also misjudges the adaptive stages and coding a chunk is
// cheap, the stages are chosen by coding as well: adaptive 0..3 on every channel, then
// cascade codes 1..3 with weighted stages and with summed ones, then the long reach (on
// long chunks), then the context bias switched again, each kept where smaller (on the
// `dev` set 2.0 % smaller than estimating them, for 1.25x the time; at 16 bits 0.15 % for
// 2.6x, so there they are estimated unless the search is exhaustive). Trials run on up
// to `threads` threads; the choice does not depend on how many.
Choice choose(const ChunkShape& shape, std::span<const uint8_t> bytes, StageSearch search, int threads) {
  check_shape(shape);
  if (bytes.size() != shape.channel.size() * static_cast<size_t>(shape.bits / 8))
    fail("audio model: byte count does not match the samples");
  const bool by_coding = shape.bits == 8 || search == StageSearch::Exhaustive;
  Choice best;
  best.params = choose_params(channel_samples(shape, bytes), shape.bits, !by_coding, threads);
  keep_smallest(shape, bytes, best, {[](ChannelParams&) {}, [](ChannelParams& p) { p.context_bias = true; }}, threads);
  if (!by_coding) return best;
  std::vector<std::function<void(ChannelParams&)>> changes;
  for (int adaptive = 1; adaptive < kAdaptiveCodes; ++adaptive)
    changes.emplace_back([adaptive](ChannelParams& p) { p.adaptive = adaptive; });
  keep_smallest(shape, bytes, best, std::exchange(changes, {}), threads);
  for (const bool weighted : {true, false})  // choose_params left the cascade off (code 0)
    for (int code = 1; code < kCascadeCodes; ++code)
      changes.emplace_back([code, weighted](ChannelParams& p) { p.cascade = code, p.weighted_stages = weighted; });
  keep_smallest(shape, bytes, best, std::exchange(changes, {}), threads);
  if (shape.channel.size() >= kLongReachMinSamples * static_cast<size_t>(shape.channels))
    keep_smallest(shape, bytes, best, {reach_long}, threads);
  keep_smallest(shape, bytes, best, {[](ChannelParams& p) { p.context_bias = !p.context_bias; }}, threads);
  return best;
}

}  // namespace

bool mixing_saves(uint64_t mixed, uint64_t alone, uint32_t min_saving_per_mille) {
  return mixed * 1000 < alone * (1000 - std::min<uint64_t>(min_saving_per_mille, 1000));
}

Bytes encode_audio_alone(const ChunkShape& shape, std::span<const uint8_t> bytes, StageSearch search, int threads) {
  return choose(shape, bytes, search, threads).alone;
}

struct AudioChunkEncoder::Coder {
  ArithmeticEncoder enc;
};
struct AudioChunkDecoder::Coder {
  explicit Coder(ByteSpan b) : dec(b) {}
  ArithmeticDecoder dec;
};

AudioChunkEncoder::AudioChunkEncoder(const ChunkShape& shape, std::span<const uint8_t> bytes, StageSearch search,
                                     uint32_t min_saving_per_mille, int threads)
    : bytes_(bytes), min_saving_per_mille_(min_saving_per_mille), coder_(std::make_unique<Coder>()) {
  Choice choice = choose(shape, bytes, search, threads);
  alone_ = std::move(choice.alone);
  alone_costs_ = std::move(choice.costs);
  for (const auto& p : choice.params) put_params(coder_->enc, p);
  model_ = std::make_unique<ChunkBitModel>(shape, std::move(choice.params));
}

AudioChunkEncoder::~AudioChunkEncoder() = default;

bool AudioChunkEncoder::done() const { return next_ >= bytes_.size(); }

void AudioChunkEncoder::encode_next(const FreqTable* lm) {
  if (done()) fail("audio model: no bytes left to code");
  model_->begin_byte(lm);
  encode_byte(*model_, coder_->enc, bytes_[next_++]);
  if (pays_ && next_ % kFirstCheckpoint == 0 && std::has_single_bit(next_ / kFirstCheckpoint))
    pays_ = mixing_saves(coder_->enc.bits(), alone_costs_[next_], min_saving_per_mille_);
}

Bytes AudioChunkEncoder::finish() { return coder_->enc.finish(); }

AudioChunkDecoder::AudioChunkDecoder(const ChunkShape& shape, ByteSpan coded) : coder_(std::make_unique<Coder>(coded)) {
  check_shape(shape);
  std::vector<ChannelParams> params;
  params.reserve(static_cast<size_t>(shape.channels));
  for (int c = 0; c < shape.channels; ++c) params.push_back(get_params(coder_->dec));
  model_ = std::make_unique<ChunkBitModel>(shape, std::move(params));
}

AudioChunkDecoder::~AudioChunkDecoder() = default;

uint8_t AudioChunkDecoder::decode_next(const FreqTable* lm) {
  if (model_->done()) fail_format("audio model: more bytes asked for than the chunk holds");
  model_->begin_byte(lm);
  uint32_t byte = 0;
  for (int i = 0; i < 8; ++i) {
    if (model_->free_bit()) {
      model_->update(0);
      byte <<= 1;
      continue;
    }
    const uint32_t p = static_cast<uint32_t>(model_->p1());
    const int bit = coder_->dec.target(kProbOne) < p ? 1 : 0;
    coder_->dec.consume(bit ? 0 : p, bit ? p : kProbOne - p, kProbOne);
    model_->update(bit);
    byte = byte << 1 | static_cast<uint32_t>(bit);
  }
  return static_cast<uint8_t>(byte);
}

void AudioChunkDecoder::check_end() const {
  if (coder_->dec.overrun_bits() > 64) fail_format("audio-coded chunk is truncated");
}

}  // namespace lmac::mixing
