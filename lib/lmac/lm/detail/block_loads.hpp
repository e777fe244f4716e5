// The loads every block format's readers share: little-endian fields of a stored row,
// and the nibbles and fifth bits of the 32-value types.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lmac/lm/detail/kernel_math.hpp"

namespace lmac::km {

// Little-endian loads. Every 16-bit field of every block type lies at an even offset of
// a row, and rows start at even addresses (block sizes are even), so the device loads
// each as one 16-bit word; the host assembles bytes (the mapped file promises nothing).
#if defined(__CUDA_ARCH__)
__device__ inline uint32_t u16_at(const uint8_t* p) { return *reinterpret_cast<const uint16_t*>(p); }
#else
inline uint32_t u16_at(const uint8_t* p) { return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8; }
#endif
LMAC_HD uint32_t u32_at(const uint8_t* p) { return u16_at(p) | u16_at(p + 2) << 16; }
LMAC_HD float half_at(const uint8_t* p) { return half_to_float(static_cast<uint16_t>(u16_at(p))); }

// Quant j (0..31) of a 32-value block whose low nibbles hold values 0..15 and high
// nibbles 16..31, with the fifth bit from qh (Q5_0/Q5_1; 0 for Q4).
LMAC_HD uint32_t nibble32(const uint8_t* qs, size_t j) { return j < 16 ? qs[j] & 0xFu : qs[j - 16] >> 4; }
LMAC_HD uint32_t fifth_bit32(uint32_t qh, size_t j) {
  return j < 16 ? ((qh >> j) << 4) & 0x10u : (qh >> (j - 16 + 12)) & 0x10u;
}

}  // namespace lmac::km
