// An audio file split into what lmac compresses (the PCM payload) and what it keeps
// verbatim (every header and trailing byte), so WAV and AIFF files are restored byte
// for byte.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "lmac/audio/pcm_format.hpp"
#include "lmac/common/bytes.hpp"

namespace lmac {

enum class Container : uint8_t {
  Raw = 0,      // headerless PCM, format given by the user
  Wav = 1,      // RIFF/WAVE, header and trailer kept verbatim
  Aiff = 2,     // FORM/AIFF or AIFC, header and trailer kept verbatim
  Decoded = 3,  // any other format, decoded by libsndfile; restored as a WAV file
};

const char* container_name(Container c);

struct AudioFile {
  Container container = Container::Raw;
  PcmFormat format;
  Bytes header;   // bytes before the sample data
  Bytes data;     // sample data, whole frames, in file byte order
  Bytes trailer;  // bytes after the sample data (pad byte, trailing chunks)

  size_t frames() const { return data.size() / static_cast<size_t>(format.frame_bytes()); }
};

// Detects the container from the bytes: WAV, AIFF/AIFC, else libsndfile. A raw format
// forces headerless PCM. Throws FormatError with the reason on malformed input.
AudioFile parse_audio(ByteSpan file, const std::optional<PcmFormat>& raw_format);

// Reassembles the file: header + data + trailer (a Decoded file becomes a WAV).
Bytes serialize_audio(const AudioFile& audio);

// Parsers per container (exposed for tests).
AudioFile parse_wav(ByteSpan file);
// A well-formed WAV whose encoding lmac does not keep byte for byte (µ-law, A-law,
// ADPCM, 64-bit float, ...): parse_audio hands it to libsndfile instead.
class ForeignWavEncoding : public FormatError {
 public:
  using FormatError::FormatError;
};
AudioFile parse_aiff(ByteSpan file);
AudioFile parse_raw(ByteSpan file, const PcmFormat& format);
AudioFile decode_with_sndfile(ByteSpan file);

// A canonical 44-byte (or WAVE_FORMAT_EXTENSIBLE) WAV header for the format and size.
// A canonical WAV header for data_bytes of samples followed by `after` bytes of further
// chunks (the RIFF size counts them).
Bytes make_wav_header(const PcmFormat& format, uint64_t data_bytes, uint64_t after = 0);

}  // namespace lmac
