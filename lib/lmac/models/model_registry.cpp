#include "lmac/models/model_registry.hpp"

#include "lmac/common/error.hpp"
#include "lmac/models/detail/audio_models.hpp"
#include "lmac/models/detail/llama_codec_model.hpp"

namespace lmac {

std::unique_ptr<CodecModel> load_model(const std::string& spec) {
  if (spec == "builtin:order2") return make_builtin_order2();
  if (spec.rfind("builtin:", 0) == 0) fail("unknown built-in model '" + spec + "' (builtin:order2)");
  if (spec == "audio") return make_audio_model();
  if (spec.rfind("mix:", 0) == 0) return make_mixed_model(load_model(spec.substr(4)));
  return load_llama_codec_model(spec);
}

}  // namespace lmac
