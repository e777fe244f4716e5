// Codes chunks of PCM bytes with a model (DESIGN: "The codec, chunk by chunk"):
// serialize to symbols + residual bits, tokenize, arithmetic-code each token with the
// model's distribution after BOS and the tokens before it, code the residual bits.
// Chunks are independent; they are batched through the predictor several at a time.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "lmac/audio/pcm_format.hpp"
#include "lmac/codec/model.hpp"
#include "lmac/container/lmac_format.hpp"
#include "lmac/serial/options.hpp"
#include "lmac/serial/serializer.hpp"

namespace lmac {

struct CodecOptions {
  TokenMode tokenization = TokenMode::Subword;
  int batch = 0;  // chunks advanced together per predictor call; 0: the codec's choice (kHostBatch, kDeviceBatch)
  int threads = 1;
  // Store a chunk verbatim when its coded form would not be smaller, so no file grows
  // by more than the container's fixed bytes, and code a mix's chunk by the audio model
  // alone where mixing would not be smaller (off for the paper's model-alone figures:
  // then every chunk of a mix is mixed).
  bool store_incompressible = true;
  // With store_incompressible, a mix's chunk stays mixed only where that saves at least
  // this many thousandths of the audio model's coding alone (also at the encoder's
  // checkpoints): decoding a mixed chunk runs the language model over every byte of it,
  // one byte of each chunk per call, so a long chunk that saves a few bytes would decode
  // hundreds of times slower. `lmac eval` sets 0: its mix row measures whatever the
  // language model adds.
  uint32_t mixed_min_saving_per_mille = 10;
  // The audio model's encoder codes each chunk with every adaptive stage at every sample
  // width, not only at 8 bits (mixing::StageSearch::Exhaustive): smaller, slower.
  bool exhaustive = false;
  std::function<void(size_t done, size_t total)> progress;  // optional
  // Optional: one line per run of chunks on how the codec grouped them (the batch it
  // chose, the threads), for a verbose log.
  std::function<void(const std::string& line)> note;
};

struct ChunkSpec {
  const PcmFormat* format = nullptr;
  const SerialOptions* serial = nullptr;
  // Mixed chunks: the language model starts afresh every this many bytes of a chunk
  // (StreamHeader::lm_segment_bytes); 0: it sees each chunk whole.
  size_t lm_segment = 0;
};

// Encodes every chunk of `data` given by `ranges`.
std::vector<ChunkRecord> encode_chunks(const CodecModel& model, const ChunkSpec& spec, ByteSpan data,
                                       const std::vector<ChunkRange>& ranges, const CodecOptions& options);

// Decodes the listed chunks (sizes from ranges); a chunk that fails (bad checksum,
// corrupt tokens) yields nullopt and its error in `errors`.
struct DecodedChunks {
  std::vector<std::optional<Bytes>> chunks;
  std::vector<std::string> errors;  // per chunk; empty when fine
};
DecodedChunks decode_chunks(const CodecModel& model, const ChunkSpec& spec, const std::vector<ChunkRecord>& records,
                            const std::vector<ChunkRange>& ranges, const std::vector<bool>& wanted,
                            const CodecOptions& options);

}  // namespace lmac
