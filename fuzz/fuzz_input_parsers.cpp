// Feeds arbitrary bytes to the other parsers of untrusted input: GGUF (with tokenizer
// loading when it parses), WAV/AIFF and libsndfile. None may crash or over-allocate.
#include <cstddef>
#include <cstdint>

#include "lmac/audio/audio_file.hpp"
#include "lmac/lm/gguf.hpp"
#include "lmac/lm/tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lmac::ByteSpan bytes(data, size);
  try {
    auto f = lmac::GgufFile::parse(bytes);
    if (f->find("tokenizer.ggml.model")) lmac::Tokenizer::from_gguf(*f);
  } catch (const lmac::Error&) {
  }
  try {
    lmac::AudioFile a = lmac::parse_audio(bytes, std::nullopt);
    (void)lmac::serialize_audio(a);
  } catch (const lmac::Error&) {
  }
  return 0;
}
