#include "lmac/lm/llama_codec_model.hpp"

#include "lmac/common/error.hpp"

namespace lmac {

std::unique_ptr<CodecModel> load_llama_codec_model(const std::string& path) {
  fail("cannot load '" + path + "': GGUF models are not supported by this build yet");
}

}  // namespace lmac
