#include "lmac/models/detail/llama_codec_model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <optional>

#include "lmac/common/error.hpp"
#include "lmac/common/hash.hpp"
#include "lmac/common/parallel.hpp"
#include "lmac/lm/llama_model.hpp"

namespace lmac {
namespace {

// Bits of the frequency total: the floor of 1 per token costs about V / 2^bits of the
// probability mass, so large vocabularies get the coder's full 30 bits.
int total_bits_for(size_t alphabet) { return alphabet <= 4096 ? 24 : 30; }

constexpr size_t kCachedWeightBytes = size_t{32} << 20;

// Bytes of weights one forward step reads: every layer's matrices and the output head.
size_t step_weight_bytes(const LlamaModel& m) {
  size_t b = m.output().bytes();
  for (const LlamaLayer& l : m.layers())
    for (const Matrix* w : l.matrices()) b += w->bytes();
  return b;
}

// Predictor over a Llama model: subword mode codes vocabulary ids; char mode codes the
// 128 symbols, each standing for the model's token of that character, with the
// distribution renormalized over those 128 tokens (only their logits are computed).
class LlamaPredictor final : public Predictor {
 public:
  LlamaPredictor(const LlamaModel& model, TokenMode mode, int threads)
      : model_(model), session_(model, make_backend(threads)), threads_(threads) {
    if (mode == TokenMode::Char)
      for (int c = 0; c < 128; ++c) rows_.push_back(model.tokenizer().byte_token(static_cast<uint8_t>(c)));
    alphabet_ = rows_.empty() ? model.config().n_vocab : static_cast<uint32_t>(rows_.size());
  }

  uint32_t alphabet_size() const override { return alphabet_; }

  // Whole tables (the mixing codec): the logits come to the host.
  void feed(std::span<const Feed> feeds, std::span<FreqTable> out) override {
    if (feeds.size() != out.size()) fail("predictor: feed/output size mismatch");
    logits_.resize(feeds.size() * alphabet_);
    session_.forward(batch_of(feeds), rows_, logits_.data());
    const int bits = total_bits_for(alphabet_);
    parallel_for_each(threads_, feeds.size(), [&](size_t i) {
      freq_from_logits(std::span<const float>(&logits_[i * alphabet_], alphabet_), bits, out[i]);
    });
  }

  // The coders' calls: the tables are made and read where the logits are (on a GPU,
  // only the intervals, totals and targets cross).
  void feed_intervals(std::span<const Feed> feeds, std::span<const int32_t> coded, std::span<Interval> out) override {
    if (coded.size() != feeds.size() || out.size() != feeds.size()) fail("predictor: feed/output size mismatch");
    const float* logits = logits_of(feeds);
    session_.backend().intervals(logits, feeds.size(), alphabet_, total_bits_for(alphabet_), coded, out.data());
  }
  void feed_search(std::span<const Feed> feeds, const TargetFn& target, std::span<int32_t> symbols,
                   std::span<Interval> out) override {
    if (symbols.size() != feeds.size() || out.size() != feeds.size()) fail("predictor: feed/output size mismatch");
    const float* logits = logits_of(feeds);
    session_.backend().search(logits, feeds.size(), alphabet_, total_bits_for(alphabet_), target, symbols.data(),
                              out.data());
  }

  void release(uint32_t seq) override { session_.drop(seq); }

  // A tenth of the free memory stays free: the allocator's rounding, the staging
  // buffers, and what other programs take meanwhile.
  size_t capacity(size_t positions, size_t per_call) const override {
    const std::optional<size_t> free = session_.backend().free_memory();
    if (!free) return SIZE_MAX;
    return *free / 10 * 9 / std::max<size_t>(1, session_.sequence_bytes(positions, per_call, alphabet_));
  }

 private:
  // The feeds' logits in the backend's memory: on the host in this predictor's own
  // buffer (kept for its life: a codec makes a predictor per group of chunks, and
  // fresh pages per call cost more than the work on them), else left on the device.
  const float* logits_of(std::span<const Feed> feeds) {
    if (!session_.backend().host_memory()) return session_.forward_kept(batch_of(feeds), rows_);
    logits_.resize(std::max(logits_.size(), feeds.size() * alphabet_));
    session_.forward(batch_of(feeds), rows_, logits_.data());
    return logits_.data();
  }

  // The model's tokens for the feeds (a new sequence starts with BOS).
  const std::vector<BatchToken>& batch_of(std::span<const Feed> feeds) {
    batch_.resize(feeds.size());
    for (size_t i = 0; i < feeds.size(); ++i) {
      const Feed& f = feeds[i];
      if (f.symbol == kStartOfSequence) {
        session_.drop(f.seq);
        batch_[i] = {f.seq, model_.tokenizer().bos()};
      } else {
        if (f.symbol < 0 || static_cast<uint32_t>(f.symbol) >= alphabet_) fail("predictor: symbol out of range");
        batch_[i] = {f.seq, rows_.empty() ? f.symbol : rows_[static_cast<size_t>(f.symbol)]};
      }
    }
    return batch_;
  }

  const LlamaModel& model_;
  LlamaSession session_;
  int threads_;
  std::vector<int32_t> rows_;
  uint32_t alphabet_;
  std::vector<float> logits_;
  std::vector<BatchToken> batch_;
};

class LlamaCodecModel final : public CodecModel {
 public:
  explicit LlamaCodecModel(std::unique_ptr<LlamaModel> m) : model_(std::move(m)) {
    // The codec's own version is part of the identity: a change to how logits become
    // frequencies must not decode old files silently wrong.
    const char kCodec[] = "lmac llama codec v1 (30-bit totals)";
    uint64_t parts[2] = {model_->fingerprint(), hash64(kCodec, sizeof kCodec - 1)};
    fingerprint_ = hash64(parts, sizeof parts);
  }
  std::string name() const override { return model_->config().name; }
  uint64_t fingerprint() const override { return fingerprint_; }
  bool has_subword() const override { return true; }
  std::vector<int32_t> tokenize(std::string_view text) const override { return model_->tokenizer().encode(text); }
  std::string detokenize(std::span<const int32_t> t) const override { return model_->tokenizer().decode(t, false); }
  size_t max_tokens() const override { return model_->config().n_ctx - 1; }
  std::unique_ptr<Predictor> predictor(TokenMode mode, int threads) const override {
    return std::make_unique<LlamaPredictor>(*model_, mode, threads);
  }
  // On the CPU, a model whose weights stay in the caches costs little more when each
  // thread reads them for its own sequences; a larger one is read once per step for the
  // whole batch, threads splitting each operation.
  bool parallel_predictors() const override {
    return selected_device().starts_with("cpu") && step_weight_bytes(*model_) <= kCachedWeightBytes;
  }
  int max_auto_batch() const override { return selected_device().starts_with("cpu") ? kHostBatch : kDeviceBatch; }
  uint64_t parameter_count() const override { return model_->parameter_count(); }

 private:
  std::unique_ptr<LlamaModel> model_;
  uint64_t fingerprint_;
};

}  // namespace

std::unique_ptr<CodecModel> load_llama_codec_model(const std::string& path) {
  return std::make_unique<LlamaCodecModel>(LlamaModel::load(path));
}

}  // namespace lmac
