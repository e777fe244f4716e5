// Models by name: what a .lmac header or -m names, loaded as a CodecModel. Sits above
// codec/ (the interface) and lm/ (the Llama engine), so neither knows the other.
#pragma once

#include <memory>
#include <string>

#include "lmac/codec/model.hpp"

namespace lmac {

// "builtin:order2", or a path to a GGUF file. Throws with the reason when it cannot load.
std::unique_ptr<CodecModel> load_model(const std::string& spec);

}  // namespace lmac
