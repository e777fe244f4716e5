#include "lmac/audio/audio_file.hpp"

#include <cstring>

namespace lmac {

const char* container_name(Container c) {
  switch (c) {
    case Container::Raw:
      return "raw";
    case Container::Wav:
      return "wav";
    case Container::Aiff:
      return "aiff";
    case Container::Decoded:
      return "decoded";
  }
  return "?";
}

AudioFile parse_audio(ByteSpan file, const std::optional<PcmFormat>& raw_format) {
  if (raw_format) return parse_raw(file, *raw_format);
  auto starts = [&](const char* tag, size_t at) {
    return file.size() >= at + 4 && std::memcmp(file.data() + at, tag, 4) == 0;
  };
  if ((starts("RIFF", 0) || starts("RF64", 0) || starts("BW64", 0)) && starts("WAVE", 8)) {
    try {
      return parse_wav(file);
    } catch (const ForeignWavEncoding&) {
      return decode_with_sndfile(file);  // µ-law, A-law, ADPCM...: their samples, as a WAV
    }
  }
  if (starts("FORM", 0) && (starts("AIFF", 8) || starts("AIFC", 8))) return parse_aiff(file);
  if (starts("RIFF", 0) || starts("FORM", 0)) fail_format("unsupported RIFF/FORM file type");
  return decode_with_sndfile(file);
}

Bytes serialize_audio(const AudioFile& audio) {
  Bytes out;
  if (audio.container == Container::Decoded) {  // a WAV of the samples; the trailer holds its LIST/INFO tags
    out = make_wav_header(audio.format, audio.data.size(), audio.trailer.size());
    out.insert(out.end(), audio.data.begin(), audio.data.end());
    if (audio.data.size() % 2) out.push_back(0);
    out.insert(out.end(), audio.trailer.begin(), audio.trailer.end());
    return out;
  }
  out.reserve(audio.header.size() + audio.data.size() + audio.trailer.size());
  out.insert(out.end(), audio.header.begin(), audio.header.end());
  out.insert(out.end(), audio.data.begin(), audio.data.end());
  out.insert(out.end(), audio.trailer.begin(), audio.trailer.end());
  return out;
}

AudioFile parse_raw(ByteSpan file, const PcmFormat& format) {
  format.validate();
  AudioFile a;
  a.container = Container::Raw;
  a.format = format;
  size_t fb = static_cast<size_t>(format.frame_bytes());
  size_t whole = file.size() / fb * fb;
  a.data.assign(file.begin(), file.begin() + static_cast<ptrdiff_t>(whole));
  // A trailing partial frame is kept verbatim so the file still round-trips exactly.
  a.trailer.assign(file.begin() + static_cast<ptrdiff_t>(whole), file.end());
  return a;
}

}  // namespace lmac
