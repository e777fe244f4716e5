// Runs every compressor on the same chunks of a dataset and measures it: real rate
// (every byte counted), the paper's accounting, bits per sample, speed.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lmac/codec/model.hpp"
#include "lmac/eval/dataset.hpp"
#include "lmac/serial/options.hpp"

namespace lmac {

struct EvalOptions {
  std::vector<std::string> compressors;  // "lm" and baseline names
  const CodecModel* model = nullptr;     // for "lm"
  uint64_t model_parameters = 0;         // for the model-size-adjusted rate
  SerialOptions serial;
  TokenMode tokenization = TokenMode::Subword;
  bool verify = true;       // decode every chunk and compare
  bool whole_files = true;  // also run each compressor unchunked
  int threads = 1, batch = 16;
  std::function<void(const std::string& label, size_t done, size_t total)> progress;
};

struct FileResult {
  uint64_t raw = 0, compressed = 0;
};

struct CompressorResult {
  std::string name, settings;
  uint64_t raw_bytes = 0, samples = 0, chunks = 0;
  uint64_t compressed_bytes = 0;        // chunked, every byte (headers, residual bits, checksums)
  double paper_bytes = 0;               // paper accounting: headers once; LM: tokens x 8/7, no residual
  uint64_t header_bytes = 0;            // per-chunk overhead of the format (classical)
  uint64_t residual_bytes = 0;          // LM: the dropped bits, stored
  uint64_t model_bytes = 0;             // parameters x 2 (the paper's model-size adjustment)
  uint64_t tokens = 0;                  // LM: tokens coded
  std::optional<uint64_t> whole_bytes;  // unchunked
  double compress_seconds = 0, decompress_seconds = 0;
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

std::vector<CompressorResult> evaluate(const Dataset& data, const EvalOptions& options);

}  // namespace lmac
