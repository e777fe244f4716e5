// The audio model ("audio") as a CodecModel: the codec then codes every bit of a chunk
// (docs/ARITHMETIC.md, "Mixing codec"). Its mix with a language model is in
// model_registry.hpp.
#pragma once

#include <memory>

#include "lmac/codec/model.hpp"

namespace lmac {

std::unique_ptr<CodecModel> make_audio_model();

}  // namespace lmac
