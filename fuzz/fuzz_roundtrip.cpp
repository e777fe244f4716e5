// Round trips of arbitrary audio: the input bytes choose a PCM format, serialization
// options, a chunk size, a tokenization and a model (the built-in one, a tiny random
// Llama, the audio model, or the two mixed), the rest are the samples; compress then
// decompress must give the file back byte for byte, and compressing on the scalar path
// must give the same stream. The fuzz build checks no checksum, so a wrong decode is
// caught here by the comparison alone.
#include <unistd.h>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>

#include "gguf_writer.hpp"
#include "lmac/codec/file_codec.hpp"
#include "lmac/common/simd_level.hpp"
#include "lmac/models/model_registry.hpp"

namespace {

// The models a round trip may use: the built-in one, a tiny random Llama, the audio
// model, and the audio model mixed with the tiny Llama.
enum class Model { Builtin, Llama, Audio, Mixed };

// The tiny Llama alone and mixed with the audio model, from one file of this process's
// own, gone once mapped: another fuzzer (CI's, or a longer campaign beside it) rewriting
// a shared file would change this one's mapped weights.
std::pair<std::unique_ptr<lmac::CodecModel>, std::unique_ptr<lmac::CodecModel>> tiny_llamas() {
  lmac::test::TinyLlamaShape shape;  // 2 layers of 64: milliseconds per chunk
  shape.type = lmac::GgmlType::Q8_0;
  const std::string path = "/tmp/lmac-fuzz-tiny-llama-" + std::to_string(::getpid()) + ".gguf";
  const lmac::Bytes b = lmac::test::make_random_llama(shape);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || std::fwrite(b.data(), 1, b.size(), f) != b.size() || std::fclose(f) != 0) __builtin_trap();
  auto models = std::make_pair(lmac::load_model(path), lmac::load_model("mix:" + path));
  std::remove(path.c_str());
  return models;
}

const lmac::CodecModel& model(Model which) {
  static const std::unique_ptr<lmac::CodecModel> builtin = lmac::make_builtin_order2();
  static const std::unique_ptr<lmac::CodecModel> audio = lmac::load_model("audio");
  static const auto tiny = tiny_llamas();
  switch (which) {
    case Model::Builtin:
      return *builtin;
    case Model::Llama:
      return *tiny.first;
    case Model::Audio:
      return *audio;
    default:
      return *tiny.second;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 6) return 0;
  using namespace lmac;
  PcmFormat f;
  static const uint16_t kBits[] = {8, 16, 24, 32};
  f.bits = kBits[data[0] & 3];
  f.channels = static_cast<uint16_t>(1 + (data[0] >> 2) % 3);
  f.kind = f.bits == 8                          ? SampleKind::Unsigned
           : (f.bits == 32 && (data[0] & 0x20)) ? SampleKind::Float
                                                : SampleKind::Signed;
  f.big_endian = (data[0] & 0x40) != 0;
  CompressOptions o;
  o.raw_format = f;
  o.serial.mapping = (data[1] & 1) ? Mapping::Mask : Mapping::Shift;
  o.serial.byte_order = (data[1] & 2) ? ByteOrder::FileOrder : ByteOrder::MsbFirst;
  o.serial.offset_binary = (data[1] & 4) != 0;
  o.serial.layout = static_cast<Layout>((data[1] >> 3) % 3);
  o.serial.block_n = 1u + (data[2] & 7);
  o.chunk_bytes = static_cast<uint32_t>(f.frame_bytes()) * (1u + data[3] % 48);
  o.codec.tokenization = (data[4] & 1) ? TokenMode::Char : TokenMode::Subword;
  o.codec.batch = 1 + (data[4] >> 1) % 4;
  o.codec.store_incompressible = (data[4] & 0x40) != 0;
  const auto which = static_cast<Model>(data[5] & 3);
  if (which == Model::Audio || which == Model::Mixed) {  // the audio model reads a sample from its top
    o.serial.mapping = Mapping::Shift;
    o.serial.byte_order = ByteOrder::MsbFirst;
  }
  const bool llama = which == Model::Llama || which == Model::Mixed;
  const ByteSpan pcm(data + 6, std::min<size_t>(size - 6, llama ? 512 : 4096));
  try {
    const Bytes packed = compress_audio(model(which), pcm, o);
    const Bytes back = decompress_audio(model(which), parse_lmac(packed), o.codec, false).file;
    if (back.size() != pcm.size() || !std::equal(back.begin(), back.end(), pcm.begin())) __builtin_trap();
    // The same stream on the scalar path (streams do not depend on the SIMD level).
    set_cpu_simd_level(0);
    const Bytes scalar = compress_audio(model(which), pcm, o);
    set_cpu_simd_level(2);
    if (scalar != packed) __builtin_trap();
  } catch (const Error& e) {
    // Only the context limit may refuse an input: anything else is a bug.
    if (std::string(e.what()).find("context") == std::string::npos) __builtin_trap();
  }
  return 0;
}
