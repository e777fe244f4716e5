// Sample bytes <-> 7-bit symbols plus one residual bit per symbol, and chunking on
// frame boundaries. Pure functions of (format, options, bytes); exactly invertible.
#pragma once

#include <string>
#include <vector>

#include "lmac/audio/pcm_format.hpp"
#include "lmac/common/bytes.hpp"
#include "lmac/serial/options.hpp"

namespace lmac {

struct Serialized {
  std::string symbols;            // one char in 0..127 per sample byte
  std::vector<uint8_t> residual;  // the dropped bit of each symbol (0 or 1)
};

// Order in which the samples of a chunk of `frames` frames are serialized: entry k is
// the index (in file order, frame * channels + channel) of the k-th serialized sample.
// In every layout, a channel's samples come in time order and channel 0's sample of a
// frame comes before the other channels' samples of that frame.
std::vector<size_t> sample_order(const SerialOptions& options, size_t frames, size_t channels);

// `chunk` must hold whole frames of `format`.
Serialized serialize(const PcmFormat& format, const SerialOptions& options, ByteSpan chunk);

// Inverse of serialize; throws FormatError when the sizes do not fit the format.
Bytes deserialize(const PcmFormat& format, const SerialOptions& options, std::string_view symbols,
                  std::span<const uint8_t> residual);

struct ChunkRange {
  size_t offset;
  size_t size;
};

// Splits `total_bytes` of PCM into chunks of `chunk_bytes` (a multiple of the frame
// size, else an Error names the multiple needed); the last chunk may be shorter.
std::vector<ChunkRange> split_chunks(size_t total_bytes, int frame_bytes, size_t chunk_bytes);

}  // namespace lmac
