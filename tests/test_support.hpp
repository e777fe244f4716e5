// Helpers shared by the tests: synthetic audio and file containers.
#pragma once

#include <string>
#include <vector>

#include "lmac/audio/audio_file.hpp"

namespace lmac::test {

enum class Content { Silence, Square, SineNoise, WhiteNoise, FloatSpecials };
const char* content_name(Content c);

// `frames` frames of `format` filled with `content` (file byte order).
Bytes make_pcm(const PcmFormat& format, size_t frames, Content content, uint32_t seed = 1);

// A WAV file (canonical header, optional LIST chunk after the data, odd pad handled).
Bytes make_wav(const PcmFormat& format, ByteSpan data, bool extra_chunks = false);
// An AIFF (big-endian) or AIFC 'sowt' (little-endian) file.
Bytes make_aiff(const PcmFormat& format, ByteSpan data);

std::string temp_dir();  // a fresh directory for this test process
Bytes read_bytes(const std::string& path);
void write_bytes(const std::string& path, ByteSpan data);

}  // namespace lmac::test
