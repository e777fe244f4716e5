// Codes the dropped bit of every symbol: an adaptive binary model conditioned on the
// byte's position in its sample and the last bits at that position; stored raw
// (bit-packed) when that is smaller, so the cost never exceeds raw size + 1 byte.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "lmac/common/bytes.hpp"

namespace lmac {

enum class ResidualMode : uint8_t { Packed = 0, Modeled = 1 };

struct CodedResidual {
  ResidualMode mode = ResidualMode::Packed;
  Bytes bytes;
};

CodedResidual encode_residual(std::span<const uint8_t> bits, int bytes_per_sample);
std::vector<uint8_t> decode_residual(const CodedResidual& coded, size_t count, int bytes_per_sample);

Bytes pack_bits(std::span<const uint8_t> bits);
std::vector<uint8_t> unpack_bits(ByteSpan packed, size_t count);

}  // namespace lmac
