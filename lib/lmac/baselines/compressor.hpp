// Classical lossless compressors behind one interface, for comparison with the LM.
// Each is the real library from Debian at its strongest usual setting.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lmac/audio/pcm_format.hpp"
#include "lmac/common/bytes.hpp"

namespace lmac {

class Compressor {
 public:
  virtual ~Compressor() = default;
  virtual std::string name() const = 0;      // "gzip", "lzma2", "flac", ...
  virtual std::string settings() const = 0;  // "level 9", ...
  // Whether it can code this PCM format (FLAC: integers up to 32 bits; no float).
  virtual bool supports(const PcmFormat&) const { return true; }
  // Audio coders are told the real sample format; general-purpose ones ignore it.
  virtual Bytes compress(ByteSpan pcm, const PcmFormat& format) const = 0;
  virtual Bytes decompress(ByteSpan packed, const PcmFormat& format, size_t pcm_bytes) const = 0;
};

// gzip, lzma2, zstd19, zstd22, bzip2, brotli, flac, wavpack.
std::unique_ptr<Compressor> make_compressor(const std::string& name);
const std::vector<std::string>& baseline_names();

}  // namespace lmac
