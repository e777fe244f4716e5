// A Llama GGUF model as a CodecModel: tokenizer + deterministic forward pass.
#pragma once

#include <memory>
#include <string>

#include "lmac/codec/model.hpp"

namespace lmac {

std::unique_ptr<CodecModel> load_llama_codec_model(const std::string& path);

}  // namespace lmac
