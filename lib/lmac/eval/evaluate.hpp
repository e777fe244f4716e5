// Runs every compressor on the same chunks of a dataset and measures it: real rate
// (every byte counted), the paper's accounting, bits per sample, speed.
//
// The work splits into measuring (a compressor on some chunks, or on some whole files)
// and summarizing (every chunk's figures into one result). Figures are integers, so a
// result is the same whichever process measured which chunk, in whatever order: the
// distributed run (eval/run.hpp) and a resumed one give the single-process answer.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "lmac/codec/model.hpp"
#include "lmac/eval/dataset.hpp"
#include "lmac/serial/options.hpp"

namespace lmac {

struct EvalOptions {
  std::vector<std::string> compressors;     // "lm", "audio", "mix" and baseline names
  const CodecModel* model = nullptr;        // for "lm": the language model alone (the paper's experiment)
  const CodecModel* audio_model = nullptr;  // for "audio": the audio model alone
  const CodecModel* mix_model = nullptr;    // for "mix": the two mixed
  uint64_t model_parameters = 0;            // for the model-size-adjusted rate
  SerialOptions serial;
  TokenMode tokenization = TokenMode::Subword;
  bool verify = true;          // decode every chunk and compare
  bool whole_files = true;     // also run each compressor unchunked
  bool exhaustive = false;     // audio, mix: the encoder searches the audio model's stages at every width
  int threads = 1, batch = 0;  // batch 0: the codec's choice (CodecOptions)
  std::function<void(const std::string& label, size_t done, size_t total)> progress;
};

// What one compressor made of one chunk.
struct ChunkFigures {
  uint64_t compressed = 0;  // bytes, every one counted (as stored)
  uint64_t coded_tokens =
      0;                  // lm: bytes of arithmetic-coded tokens (the paper's accounting); audio, mix: all coded bytes
  uint64_t residual = 0;  // lm: bytes of the dropped bits
  uint64_t tokens = 0;    // lm: tokens coded
  bool operator==(const ChunkFigures&) const = default;
};

struct Measured {
  std::vector<ChunkFigures> chunks;  // in the order of the chunk indices asked for
  double compress_seconds = 0, decompress_seconds = 0;
};

// Whether `compressor` is one of lmac's own codecs ("lm", "audio", "mix"): measured by
// coding chunks with a CodecModel.
bool is_model_row(const std::string& compressor);
// Whether `compressor` has a whole-file run: every one but `lm`, whose context bounds a
// chunk (the paper's experiment). The audio model and the mix code a whole input as one
// chunk, the mix's language model starting afresh at each segment its context holds.
bool has_whole_run(const std::string& compressor);

// Chunks measured (and recorded in a checkpoint) together: for a model row its batch
// (when the codec chooses, the most it may choose: a GPU needs many chunks at once),
// for the classical compressors 64.
size_t work_unit(const std::string& compressor, const EvalOptions& options);

// Why `compressor` cannot run on this dataset ("" when it can).
std::string skip_reason(const Dataset& data, const std::string& compressor);
// Runs `compressor` on chunks `indices` of the dataset (verifying each when asked;
// a chunk that does not come back throws). progress(label, done, indices.size()).
Measured measure_chunks(const Dataset& data, const std::string& compressor, std::span<const size_t> indices,
                        const EvalOptions& options);

// The unchunked inputs: for each file with chunks, in order, the bytes they cover.
struct WholeInput {
  size_t file = 0;
  size_t first_chunk = 0;  // its chunks are data.chunks[first_chunk, first_chunk + chunks)
  size_t chunks = 0;       // a model row's whole run costs about as much as they do
  uint64_t bytes = 0;
};
std::vector<WholeInput> whole_input_sizes(const Dataset& data);
size_t whole_count(const Dataset& data);
std::vector<uint64_t> measure_whole(const Dataset& data, const std::string& compressor, std::span<const size_t> wholes,
                                    const EvalOptions& options);

struct FileResult {
  uint64_t raw = 0, compressed = 0;
};

struct CompressorResult {
  std::string name, settings;
  uint64_t raw_bytes = 0, samples = 0, chunks = 0;
  uint64_t compressed_bytes = 0;                        // chunked, every byte (headers, residual bits, checksums)
  double paper_bytes = 0;                               // paper accounting: headers once; LM: tokens x 8/7, no residual
  uint64_t header_bytes = 0;                            // per-chunk overhead of the format (classical)
  uint64_t residual_bytes = 0;                          // LM: the dropped bits, stored
  uint64_t model_bytes = 0;                             // parameters x 2 (the paper's model-size adjustment)
  uint64_t tokens = 0;                                  // LM: tokens coded
  std::optional<uint64_t> whole_bytes;                  // unchunked
  double compress_seconds = 0, decompress_seconds = 0;  // summed over the processes that worked
  bool verified = false;
  std::string skipped;  // why it did not run (e.g. FLAC and float)
  std::map<std::string, FileResult> per_file;

  double real_rate() const { return raw_bytes ? double(compressed_bytes) / double(raw_bytes) : 0; }
  double paper_rate() const { return raw_bytes ? paper_bytes / double(raw_bytes) : 0; }
  double model_adjusted_rate() const {
    return raw_bytes ? (double(compressed_bytes) + double(model_bytes)) / double(raw_bytes) : 0;
  }
  double bits_per_sample() const { return samples ? 8.0 * double(compressed_bytes) / double(samples) : 0; }
  double whole_rate() const { return whole_bytes && raw_bytes ? double(*whole_bytes) / double(raw_bytes) : 0; }
};

// One compressor's result from every chunk's figures (indexed like data.chunks) and,
// when run, every whole input's size; a skipped compressor gets only its reason.
CompressorResult summarize(const Dataset& data, const std::string& compressor, const EvalOptions& options,
                           const std::vector<ChunkFigures>& chunks, const std::optional<std::vector<uint64_t>>& wholes,
                           const Measured& timing);

// Every compressor on every chunk in this process.
std::vector<CompressorResult> evaluate(const Dataset& data, const EvalOptions& options);

}  // namespace lmac
