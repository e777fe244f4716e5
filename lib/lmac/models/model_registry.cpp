#include <filesystem>

#include "lmac/common/error.hpp"
#include "lmac/models/detail/llama_codec_model.hpp"
#include "lmac/models/model_registry.hpp"

namespace lmac {

std::unique_ptr<CodecModel> load_model(const std::string& spec) {
  if (spec == "builtin:order2") return make_builtin_order2();
  if (spec.rfind("builtin:", 0) == 0) fail("unknown built-in model '" + spec + "' (builtin:order2)");
  return load_llama_codec_model(spec);
}

}  // namespace lmac
