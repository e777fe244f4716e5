#include "lmac/models/detail/audio_models.hpp"
#include "lmac/common/error.hpp"
#include "lmac/common/hash.hpp"
#include "lmac/models/model_registry.hpp"

namespace lmac {
namespace {

// Versions of the mixing codec's arithmetic: part of the fingerprints, so a stream made
// by another version is refused before decoding.
constexpr char kAudioId[] = "lmac audio v1";
constexpr char kMixId[] = "lmac mix v1";

// The audio model's stages adapt through a chunk, so longer chunks code smaller: against
// 4096 frames (FLAC's block size, the default until 2026-12-07) the `dev` set is 3.6 %
// smaller and `devspeech` 1.8 %, twice as long only 0.3 % and 0.04 % more (docs/DESIGN.md,
// "Chunk size"). A chunk decodes on one thread (its encoder's trials run side by
// side), so a file shorter than a chunk restores on one. A mix takes as many frames in whole segments of its
// language model's context (file_codec rounds them); its decoder runs the language
// model at a batch of the file's chunks, so a chunk stays mixed only where it saves
// enough (CodecOptions::mixed_min_saving_per_mille).
constexpr size_t kAudioChunkFrames = 65536;

class AudioModel final : public CodecModel {
 public:
  std::string name() const override { return "audio"; }
  uint64_t fingerprint() const override { return hash64(kAudioId, sizeof kAudioId - 1); }
  bool has_subword() const override { return false; }
  std::vector<int32_t> tokenize(std::string_view) const override { fail("the audio model has no tokenizer"); }
  std::string detokenize(std::span<const int32_t>) const override { fail("the audio model has no tokenizer"); }
  size_t max_tokens() const override { return SIZE_MAX; }
  size_t preferred_chunk_frames() const override { return kAudioChunkFrames; }
  std::unique_ptr<Predictor> predictor(TokenMode, int) const override {
    fail("the audio model has no symbol predictor");
  }
  bool parallel_predictors() const override { return true; }
  AudioMixing audio_mixing() const override { return AudioMixing::AudioOnly; }
};

class MixedModel final : public CodecModel {
 public:
  explicit MixedModel(std::shared_ptr<const CodecModel> lm) : lm_(std::move(lm)) {}
  std::string name() const override { return "mix:" + lm_->name(); }
  uint64_t fingerprint() const override {
    const uint64_t parts[2] = {hash64(kMixId, sizeof kMixId - 1), lm_->fingerprint()};
    return hash64(parts, sizeof parts);
  }
  bool has_subword() const override { return false; }
  std::vector<int32_t> tokenize(std::string_view) const override { fail("mixing codes char tokens only"); }
  std::string detokenize(std::span<const int32_t>) const override { fail("mixing codes char tokens only"); }
  size_t max_tokens() const override { return lm_->max_tokens(); }
  size_t preferred_chunk_frames() const override { return kAudioChunkFrames; }
  std::unique_ptr<Predictor> predictor(TokenMode, int threads) const override {
    return lm_->predictor(TokenMode::Char, threads);
  }
  bool parallel_predictors() const override { return lm_->parallel_predictors(); }
  int max_auto_batch() const override { return lm_->max_auto_batch(); }
  uint64_t parameter_count() const override { return lm_->parameter_count(); }
  AudioMixing audio_mixing() const override { return AudioMixing::WithLanguageModel; }

 private:
  std::shared_ptr<const CodecModel> lm_;
};

}  // namespace

std::unique_ptr<CodecModel> make_audio_model() { return std::make_unique<AudioModel>(); }

std::unique_ptr<CodecModel> make_mixed_model(std::shared_ptr<const CodecModel> language_model) {
  if (language_model->audio_mixing() != AudioMixing::None) fail("mix: needs a language model, not another mix");
  return std::make_unique<MixedModel>(std::move(language_model));
}

}  // namespace lmac
