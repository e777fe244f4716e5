// One chunk coded bit by bit with the audio model, alone or mixed with a language
// model's distribution of each 7-bit symbol (docs/ARITHMETIC.md, "Mixing codec").
//
// The chunk is its serialized bytes, most significant byte of each sample first with
// the shift mapping (byte = symbol << 1 | dropped bit), so the bits of a sample come in
// order from its top: each of a byte's 7 symbol bits is mixed from the audio model and
// the language model; its dropped bit comes from the audio model alone. The coded stream
// starts with the predictor's parameters.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "lmac/coding/freq_table.hpp"
#include "lmac/common/bytes.hpp"

namespace lmac::mixing {

struct ChunkShape {
  int bits = 16;                 // sample width: 8, 16, 24 or 32
  int channels = 1;              // channels in the format
  std::vector<uint8_t> channel;  // channel of each serialized sample, in order
};

class ChunkBitModel;

// How the encoder chooses the audio model's adaptive stages (any choice decodes):
// Default codes the chunk with each at 8 bits and estimates them at wider samples;
// Exhaustive codes the chunk with each at every width (smaller, slower to compress).
enum class StageSearch : uint8_t { Default, Exhaustive };

// The chunk (as for AudioChunkEncoder) coded by the audio model alone: the same bytes as
// an AudioChunkEncoder given no language model for any byte.
Bytes encode_audio_alone(const ChunkShape& shape, std::span<const uint8_t> bytes,
                         StageSearch search = StageSearch::Default, int threads = 1);

// Whether a mixed coding of `mixed` bits or bytes saves at least min_saving_per_mille
// thousandths (at most 1000) of the audio model's `alone` over the same bytes; with 0,
// whether it is smaller at all.
bool mixing_saves(uint64_t mixed, uint64_t alone, uint32_t min_saving_per_mille);

class AudioChunkEncoder {
 public:
  // bytes: shape.channel.size() samples of bits / 8 bytes each, as described above.
  // Chooses the predictor's parameters, which codes the chunk by the audio model alone,
  // trying them on up to `threads` threads (the bits do not depend on how many).
  // min_saving_per_mille: what pays() asks of the mixed coding.
  AudioChunkEncoder(const ChunkShape& shape, std::span<const uint8_t> bytes, StageSearch search = StageSearch::Default,
                    uint32_t min_saving_per_mille = 0, int threads = 1);
  ~AudioChunkEncoder();
  // Codes the next byte; lm: the language model's distribution of its symbol, or null.
  void encode_next(const FreqTable* lm);
  bool done() const;
  Bytes finish();
  // The chunk coded by the audio model alone (encode_audio_alone), found while choosing.
  const Bytes& alone() const { return alone_; }
  // Whether the mixed coding still pays: false from the first checkpoint (after 512,
  // 1024, 2048, ... bytes) at which mixing_saves says no for the bits so far
  // (ArithmeticEncoder::bits). The codec then codes the chunk by the audio model alone
  // and saves the rest of the language model's run; a pure function of the chunk and the
  // language model's tables, as every encoder choice.
  bool pays() const { return pays_; }

 private:
  std::span<const uint8_t> bytes_;
  Bytes alone_;
  std::vector<uint64_t> alone_costs_;  // bits of alone_ after each byte
  bool pays_ = true;
  uint32_t min_saving_per_mille_ = 0;
  size_t next_ = 0;
  std::unique_ptr<ChunkBitModel> model_;
  struct Coder;
  std::unique_ptr<Coder> coder_;
};

class AudioChunkDecoder {
 public:
  // Reads the predictor's parameters; throws FormatError when they are malformed.
  AudioChunkDecoder(const ChunkShape& shape, ByteSpan coded);
  ~AudioChunkDecoder();
  // Decodes the next byte (symbol << 1 | dropped bit); lm as for the encoder.
  uint8_t decode_next(const FreqTable* lm);
  // Throws FormatError when the decoder read past the end of the coded bytes.
  void check_end() const;

 private:
  std::unique_ptr<ChunkBitModel> model_;
  struct Coder;
  std::unique_ptr<Coder> coder_;
};

}  // namespace lmac::mixing
