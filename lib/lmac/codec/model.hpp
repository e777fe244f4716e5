// What the codec needs from a model: an identity, a tokenizer, and predictors.
// Implemented by the built-in context model and by Llama models (lm/).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lmac/coding/predictor.hpp"
#include "lmac/coding/token_mode.hpp"

namespace lmac {

// How a model codes a chunk: tokens with a predictor (a language model or the built-in
// context model), or every bit with the audio model, alone or mixed with a language
// model's 128-symbol distribution (docs/ARITHMETIC.md, "Mixing codec").
enum class AudioMixing : uint8_t {
  None = 0,
  AudioOnly = 1,
  WithLanguageModel = 2,
};

// Chunks per predictor call when the codec chooses (CodecOptions::batch 0): kHostBatch
// where the model runs in the host's memory (more were not faster on the CPU); on a
// device, as many as its free memory holds (Predictor::capacity), up to kDeviceBatch.
constexpr int kHostBatch = 16, kDeviceBatch = 256;

class CodecModel {
 public:
  virtual ~CodecModel() = default;
  // Name as written in .lmac headers ("builtin:order2", the GGUF general.name).
  virtual std::string name() const = 0;
  // Hash of everything that shapes the probabilities (weights, tokenizer, code version).
  virtual uint64_t fingerprint() const = 0;
  virtual bool has_subword() const = 0;
  // Subword tokens of `text` (no BOS); detokenize must invert it exactly or the codec
  // falls back to char mode for that chunk.
  virtual std::vector<int32_t> tokenize(std::string_view text) const = 0;
  virtual std::string detokenize(std::span<const int32_t> tokens) const = 0;
  // Largest number of tokens one chunk may have (the context minus BOS).
  virtual size_t max_tokens() const = 0;
  // Frames per chunk when none is asked for, for a model that no context bounds; 0: the
  // 2048-byte default (docs/DESIGN.md, "Chunks").
  virtual size_t preferred_chunk_frames() const { return 0; }
  // A predictor over the mode's alphabet. threads: threads it may use inside one call.
  virtual std::unique_ptr<Predictor> predictor(TokenMode mode, int threads) const = 0;
  // Whether several one-thread predictors may run at once, each on its own group of
  // chunks, with groups cut small enough that every thread has one (cheap models: a
  // decode step then never waits for another thread). Otherwise the codec uses one
  // predictor and gives it all the threads (a GPU; a model too large to be read once per
  // step and thread). Bits do not depend on the choice (batch invariance).
  virtual bool parallel_predictors() const = 0;
  // The most chunks the codec's own choice of batch puts in one predictor call.
  virtual int max_auto_batch() const { return kHostBatch; }
  // Parameters of the model (for the paper's model-size-adjusted rate); 0 if none.
  virtual uint64_t parameter_count() const { return 0; }
  // None: chunks are coded as tokens. Otherwise every bit with the audio model, and with
  // WithLanguageModel, predictor(TokenMode::Char) gives the symbol distributions to mix.
  virtual AudioMixing audio_mixing() const { return AudioMixing::None; }
};

// The built-in order-2 context model.
std::unique_ptr<CodecModel> make_builtin_order2();

}  // namespace lmac
