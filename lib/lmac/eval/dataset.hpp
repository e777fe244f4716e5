// The evaluation dataset: audio folders read recursively, converted to one bit depth
// and channel handling, cut into the chunks every compressor sees.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lmac/audio/pcm_format.hpp"
#include "lmac/common/bytes.hpp"

namespace lmac {

enum class ChannelMode { First, Interleave, Blocked, Mixdown };

struct DatasetOptions {
  std::vector<std::string> dirs;
  int bit_depth = 8;
  ChannelMode channels = ChannelMode::Interleave;
  uint32_t block_n = 1;  // for ChannelMode::Blocked
  uint32_t chunk_bytes = 2048;
  uint64_t num_chunks = 0;  // 0: all
  bool random = false;      // else sequential in sorted file order (the paper's)
  uint64_t seed = 0;
  bool drop_partial = false;  // the paper drops each file's last partial chunk
};

// One converted file: its PCM at the target depth (8-bit unsigned = offset binary,
// 16/24/32-bit signed little-endian).
struct DatasetFile {
  std::string path;
  PcmFormat format;
  Bytes pcm;
};

struct DatasetChunk {
  size_t file;    // index into files
  size_t offset;  // within the file's pcm
  size_t size;
};

struct Dataset {
  std::vector<DatasetFile> files;
  std::vector<DatasetChunk> chunks;
  std::vector<std::pair<std::string, std::string>> skipped;  // path, reason
  uint64_t file_list_hash = 0;
  ByteSpan chunk_bytes(const DatasetChunk& c) const { return ByteSpan(files[c.file].pcm).subspan(c.offset, c.size); }
  uint64_t chunked_bytes() const {  // what the chunks cover
    uint64_t n = 0;
    for (const DatasetChunk& c : chunks) n += c.size;
    return n;
  }
};

// Throws when no folder exists or nothing readable is found; lists unreadable files.
Dataset load_dataset(const DatasetOptions& options);

// Bit-depth and channel conversion of decoded samples (exposed for tests).
// Reducing keeps the high bits (16 -> 8 is the paper's high byte in offset binary),
// increasing shifts left.
DatasetFile convert_audio(const std::string& path, const PcmFormat& format, ByteSpan pcm, const DatasetOptions& o);

ChannelMode parse_channel_mode(const std::string& s, uint32_t* block_n);

}  // namespace lmac
