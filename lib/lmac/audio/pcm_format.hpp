// The sample format of a stream of PCM bytes, as stored in its file.
#pragma once

#include <cstdint>
#include <string>

namespace lmac {

enum class SampleKind : uint8_t { Unsigned = 0, Signed = 1, Float = 2 };

struct PcmFormat {
  uint16_t bits = 16;     // 8, 16, 24 or 32
  uint16_t channels = 1;  // 1..8 (raw/WAV/AIFF), more through libsndfile
  uint32_t rate = 44100;  // frames per second
  SampleKind kind = SampleKind::Signed;
  bool big_endian = false;  // byte order of a sample in the file

  int bytes_per_sample() const { return bits / 8; }
  int frame_bytes() const { return bytes_per_sample() * channels; }
  bool operator==(const PcmFormat&) const = default;

  // "s16le 2ch 44100Hz"
  std::string describe() const;
  // Throws unless bits is 8/16/24/32, channels >= 1, and float is 32-bit.
  void validate() const;
};

// Parses the --format spec of raw PCM: "<s|u|f><bits><le|be>[:channels[:rate]]",
// e.g. "s16le:2:44100", "u8:1:8000", "f32be:1".
PcmFormat parse_raw_format(const std::string& spec);

}  // namespace lmac
