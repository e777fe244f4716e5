// Models by name: what a .lmac header or -m names, loaded as a CodecModel. Sits above
// codec/ (the interface) and lm/ (the Llama engine), so neither knows the other.
#pragma once

#include <memory>
#include <string>

#include "lmac/codec/model.hpp"

namespace lmac {

// "builtin:order2", "audio" (the audio model alone), "mix:SPEC" (the audio model mixed
// with the language model SPEC), or a path to a GGUF file. Throws with the reason when
// it cannot load.
std::unique_ptr<CodecModel> load_model(const std::string& spec);

// The audio model mixed with `language_model`'s char-mode distributions (what "mix:SPEC"
// loads); shares the language model, so one loaded model serves both lm and mix.
std::unique_ptr<CodecModel> make_mixed_model(std::shared_ptr<const CodecModel> language_model);

}  // namespace lmac
