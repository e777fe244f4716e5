// How a chunk's symbols become the tokens the model predicts (recorded per chunk).
#pragma once

#include <cstdint>

namespace lmac {

enum class TokenMode : uint8_t {
  Char = 0,     // one token per 7-bit symbol; the alphabet is the 128 symbols
  Subword = 1,  // the model's own tokenizer; the alphabet is its vocabulary
  // (2 is a stored chunk in a record's mode byte)
  Audio = 3,  // every bit by the audio model alone (no tokens)
  Mixed = 4,  // every bit by the audio model mixed with the LM's char distribution
};

// Whether chunks of this mode are coded bit by bit by the audio model (no tokens).
constexpr bool codes_bits(TokenMode m) { return m == TokenMode::Audio || m == TokenMode::Mixed; }

}  // namespace lmac
