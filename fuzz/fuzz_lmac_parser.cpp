// Feeds arbitrary bytes to the .lmac parser and, when they parse, to the decoder with
// the built-in model, or the audio model or the audio model mixed with the built-in one
// for a stream that names it (so hostile coded bytes and parameters reach the audio
// decoder and the mixing too): neither may crash, hang or over-allocate.
#include <cstddef>
#include <cstdint>
#include <string>

#include "lmac/codec/file_codec.hpp"
#include "lmac/models/model_registry.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto builtin = lmac::make_builtin_order2();
  static auto audio = lmac::load_model("audio");
  static auto mix = lmac::load_model("mix:builtin:order2");
  try {
    lmac::ParsedStream p = lmac::parse_lmac(lmac::ByteSpan(data, size));
    if (p.stream.header.data_bytes > (1u << 16)) return 0;  // keep each run short
    const std::string& name = p.stream.header.model_name;
    lmac::decompress_audio(name == "audio" ? *audio : name == mix->name() ? *mix : *builtin, p, {}, true);
  } catch (const lmac::Error&) {
  }
  return 0;
}
