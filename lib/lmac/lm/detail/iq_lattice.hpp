// ggml's lattice types (IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M) read as the
// other quantized types are (docs/ARITHMETIC.md §2.3): per value an unsigned quant u
// (0..15) standing for a small signed integer weight w(u), per sub-block a positive
// integer scale sc, per super-block of 256 a float d, so that ggml's reference value is
// (d * sc) * w(u) exactly. Every value of these types is a grid byte (IQ2: 8, 25, 43;
// IQ3_XXS: 4, 12, ..., 52, 62; IQ3_S: 1, 3, ..., 15) with a sign bit, or for IQ1 a grid
// value g in {-1, 0, 1} plus a shift of +-1/8; every scale is d * (2 ls + 1) / 2^e. So
// u = (grid byte's rank) | (sign << 3), w(u) the signed grid byte (IQ1: 8 g +- 1), sc =
// 2 ls + 1 and d the fp16 d times 2^-e: each of those products is exact in float32
// (at most 11 + 5 + 6 significant bits), hence equal to ggml's whatever its order.
// Groups of 8 values share a grid entry, as in ggml's loops.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lmac/lm/detail/block_loads.hpp"
#include "lmac/lm/detail/iq_grids.hpp"
#include "lmac/lm/detail/kernel_math.hpp"
#include "lmac/lm/ggml_types.hpp"

namespace lmac::km {

struct LatticeShape {
  int sub = 0;       // values per sub-block (one scale): 16 or 32; 0: not a lattice type
  size_t block = 0;  // bytes per super-block of 256
};

LMAC_HD constexpr LatticeShape lattice_shape(GgmlType t) {
  switch (t) {
    case GgmlType::IQ2_XXS:
      return {32, 66};
    case GgmlType::IQ2_XS:
      return {16, 74};
    case GgmlType::IQ2_S:
      return {16, 82};
    case GgmlType::IQ3_XXS:
      return {32, 98};
    case GgmlType::IQ3_S:
      return {32, 110};
    case GgmlType::IQ1_S:
      return {32, 50};
    case GgmlType::IQ1_M:
      return {16, 56};
    default:
      return {};
  }
}

LMAC_HD constexpr bool lattice_type(GgmlType t) { return lattice_shape(t).sub != 0; }

// The integer weight of quant u (levels 8..15: the negatives of 0..7; IQ1: u & 7 is
// g + 1, bit 3 the shift's sign).
template <GgmlType T>
LMAC_HD constexpr int32_t lattice_level(uint32_t u) {
  const auto rank = static_cast<int32_t>(u & 7u);
  const bool negative = (u & 8u) != 0;
  if constexpr (T == GgmlType::IQ1_S || T == GgmlType::IQ1_M) return 8 * (rank - 1) + (negative ? -1 : 1);
  int32_t magnitude = 0;
  if constexpr (T == GgmlType::IQ3_XXS)
    magnitude = rank < 7 ? 4 + 8 * rank : 62;
  else if constexpr (T == GgmlType::IQ3_S)
    magnitude = 2 * rank + 1;
  else
    magnitude = rank == 0 ? 8 : rank == 1 ? 25 : 43;
  return negative ? -magnitude : magnitude;
}

// ggml's ksigns_iq2xs: 7 stored sign bits and an eighth that makes their count even.
LMAC_HD constexpr uint32_t even_signs(uint32_t seven) {
  uint32_t parity = seven;
  for (int shift = 4; shift > 0; shift /= 2) parity ^= parity >> shift;
  return seven | (parity & 1u) << 7;
}

// u for the 8 grid bytes of `entry` (byte j: value j) with sign bits `signs`.
template <GgmlType T>
LMAC_HD void grid_quants(uint64_t entry, uint32_t signs, uint8_t* u) {
  constexpr int kRankShift = T == GgmlType::IQ3_XXS ? 3 : T == GgmlType::IQ3_S ? 1 : 4;
  for (int j = 0; j < 8; ++j) {
    const auto byte = static_cast<uint32_t>(entry >> (8 * j)) & 0xFFu;
    u[j] = static_cast<uint8_t>((byte >> kRankShift) | ((signs >> j) & 1u) << 3);
  }
}

// Two 4-value IQ3 grid entries as one of 8 values.
LMAC_HD uint64_t grid_pair(uint32_t first, uint32_t second) {
  return static_cast<uint64_t>(first) | static_cast<uint64_t>(second) << 32;
}

// IQ1: the 8 signed grid values of `entry`, shifted by -1/8 where `down`.
LMAC_HD void iq1_quants(uint64_t entry, bool down, uint8_t* u) {
  for (int j = 0; j < 8; ++j) {
    const auto g = static_cast<int8_t>(static_cast<uint8_t>(entry >> (8 * j)));
    u[j] = static_cast<uint8_t>((g + 1) | (down ? 8 : 0));
  }
}

// The quants of values 8 g .. 8 g + 7 (g = 0..31) of super-block `s`, as ggml's
// dequantize_row_* reads them.
template <GgmlType T>
LMAC_HD void lattice_group(const uint8_t* s, size_t g, uint8_t* u) {
  const size_t ib = g / 4, l = g % 4;  // 32-value sub-block, group in it
  if constexpr (T == GgmlType::IQ2_XXS) {
    const uint32_t aux = u32_at(s + 2 + 8 * ib + 4);
    grid_quants<T>(iq2xxs_grid(s[2 + 8 * ib + l]), even_signs((aux >> (7 * l)) & 127u), u);
  } else if constexpr (T == GgmlType::IQ2_XS) {
    const uint32_t q = u16_at(s + 2 + 2 * g);
    grid_quants<T>(iq2xs_grid(q & 511u), even_signs(q >> 9), u);
  } else if constexpr (T == GgmlType::IQ2_S) {
    const uint32_t index = s[2 + g] | ((static_cast<uint32_t>(s[66 + ib]) << (8 - 2 * l)) & 0x300u);
    grid_quants<T>(iq2s_grid(index), s[34 + g], u);
  } else if constexpr (T == GgmlType::IQ3_XXS) {
    const uint32_t aux = u32_at(s + 66 + 4 * ib);
    const uint8_t* qs = s + 2 + 8 * ib + 2 * l;
    grid_quants<T>(grid_pair(iq3xxs_grid(qs[0]), iq3xxs_grid(qs[1])), even_signs((aux >> (7 * l)) & 127u), u);
  } else if constexpr (T == GgmlType::IQ3_S) {
    const uint32_t qh = s[66 + ib];
    const uint8_t* qs = s + 2 + 8 * ib + 2 * l;
    const uint32_t first = qs[0] | ((qh << (8 - 2 * l)) & 256u), second = qs[1] | ((qh << (7 - 2 * l)) & 256u);
    grid_quants<T>(grid_pair(iq3s_grid(first), iq3s_grid(second)), s[74 + 4 * ib + l], u);
  } else if constexpr (T == GgmlType::IQ1_S) {
    const uint32_t qh = u16_at(s + 34 + 2 * ib);
    iq1_quants(iq1s_grid(s[2 + g] | ((qh >> (3 * l)) & 7u) << 8), (qh & 0x8000u) != 0, u);
  } else {  // IQ1_M: two qh bytes per 32 values, a nibble each per group
    const uint32_t qh = s[32 + 2 * ib + l / 2] >> (4 * (l % 2));
    iq1_quants(iq1s_grid(s[g] | (qh & 7u) << 8), (qh & 8u) != 0, u);
  }
}

// sc of sub-block j (of lattice_shape(T).sub values): 2 ls + 1.
template <GgmlType T>
LMAC_HD int32_t lattice_scale(const uint8_t* s, size_t j) {
  uint32_t ls = 0;
  if constexpr (T == GgmlType::IQ2_XXS)
    ls = u32_at(s + 2 + 8 * j + 4) >> 28;
  else if constexpr (T == GgmlType::IQ2_XS)
    ls = s[66 + j / 2] >> (4 * (j % 2)) & 15u;
  else if constexpr (T == GgmlType::IQ2_S)
    ls = s[74 + j / 2] >> (4 * (j % 2)) & 15u;
  else if constexpr (T == GgmlType::IQ3_XXS)
    ls = u32_at(s + 66 + 4 * j) >> 28;
  else if constexpr (T == GgmlType::IQ3_S)
    ls = s[106 + j / 2] >> (4 * (j % 2)) & 15u;
  else if constexpr (T == GgmlType::IQ1_S)
    ls = u16_at(s + 34 + 2 * j) >> 12 & 7u;
  else  // IQ1_M: four 3-bit scales in each of the four u16 at byte 48
    ls = u16_at(s + 48 + 2 * (j / 4)) >> (3 * (j % 4)) & 7u;
  return static_cast<int32_t>(2 * ls + 1);
}

// d: the super-block's fp16 scale (IQ1_M: assembled from the top nibbles of its four
// scale words) times ggml's power of two (0.25 / 2 for IQ2, 0.5 / 2 for IQ3_XXS, 1 for
// IQ3_S, 1/8 for IQ1's shift). Exact.
template <GgmlType T>
LMAC_HD float lattice_d(const uint8_t* s) {
  constexpr float kScale = T == GgmlType::IQ3_XXS ? 0.25f : T == GgmlType::IQ3_S ? 1.0f : 0.125f;
  if constexpr (T == GgmlType::IQ1_M) {
    const uint32_t bits = u16_at(s + 48) >> 12 | (u16_at(s + 50) >> 8 & 0xF0u) | (u16_at(s + 52) >> 4 & 0xF00u) |
                          (u16_at(s + 54) & 0xF000u);
    return mul(half_to_float(static_cast<uint16_t>(bits)), kScale);
  }
  return mul(half_at(s), kScale);
}

// Value i (0..255) of super-block s, as ggml's dequantizer writes it: (d sc) w(u), every
// product exact.
template <GgmlType T>
LMAC_HD float lattice_value(const uint8_t* s, size_t i) {
  uint8_t u[8];
  lattice_group<T>(s, i / 8, u);
  const float D = mul(lattice_d<T>(s), i2f(lattice_scale<T>(s, i / static_cast<size_t>(lattice_shape(T).sub))));
  return mul(D, i2f(lattice_level<T>(u[i % 8])));
}

}  // namespace lmac::km
