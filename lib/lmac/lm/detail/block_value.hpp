// One value of a stored weight row, for kernels that read the weights in their block
// format (the GPU keeps them so: 0.56 bytes a weight for Q4_K instead of 4). Each is
// bit-identical to what lm/ggml_types' dequantizers (ggml's reference) write for that
// place: the same operations in the same order, one rounding each. The grid backend's
// products, held against the CPU's in the tests, read their weights through these too.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lmac/lm/detail/block_loads.hpp"
#include "lmac/lm/detail/iq_lattice.hpp"
#include "lmac/lm/detail/kernel_math.hpp"
#include "lmac/lm/detail/kquant_scales.hpp"
#include "lmac/lm/ggml_types.hpp"

namespace lmac::km {

// The lattice types (lm/detail/iq_lattice.hpp); every other type has its own below.
template <GgmlType T>
LMAC_HD float block_value(const uint8_t* row, size_t i) {
  static_assert(lattice_type(T), "a type without its block_value");
  return lattice_value<T>(row + i / 256 * lattice_shape(T).block, i % 256);
}

template <>
LMAC_HD float block_value<GgmlType::F32>(const uint8_t* row, size_t i) {
  return from_bits(u32_at(row + 4 * i));
}
template <>
LMAC_HD float block_value<GgmlType::F16>(const uint8_t* row, size_t i) {
  return half_at(row + 2 * i);
}
template <>
LMAC_HD float block_value<GgmlType::BF16>(const uint8_t* row, size_t i) {
  return from_bits(u16_at(row + 2 * i) << 16);
}
template <>
LMAC_HD float block_value<GgmlType::Q4_0>(const uint8_t* row, size_t i) {
  const uint8_t* s = row + i / 32 * 18;
  return mul(i2f(static_cast<int32_t>(nibble32(s + 2, i % 32)) - 8), half_at(s));
}
template <>
LMAC_HD float block_value<GgmlType::Q4_1>(const uint8_t* row, size_t i) {
  const uint8_t* s = row + i / 32 * 20;
  return add(mul(i2f(static_cast<int32_t>(nibble32(s + 4, i % 32))), half_at(s)), half_at(s + 2));
}
template <>
LMAC_HD float block_value<GgmlType::Q5_0>(const uint8_t* row, size_t i) {
  const uint8_t* s = row + i / 32 * 22;
  const uint32_t q = nibble32(s + 6, i % 32) | fifth_bit32(u32_at(s + 2), i % 32);
  return mul(i2f(static_cast<int32_t>(q) - 16), half_at(s));
}
template <>
LMAC_HD float block_value<GgmlType::Q5_1>(const uint8_t* row, size_t i) {
  const uint8_t* s = row + i / 32 * 24;
  const uint32_t q = nibble32(s + 8, i % 32) | fifth_bit32(u32_at(s + 4), i % 32);
  return add(mul(i2f(static_cast<int32_t>(q)), half_at(s)), half_at(s + 2));
}
template <>
LMAC_HD float block_value<GgmlType::Q8_0>(const uint8_t* row, size_t i) {
  const uint8_t* s = row + i / 32 * 34;
  return mul(i2f(static_cast<int8_t>(s[2 + i % 32])), half_at(s));
}

// Super-blocks of 256: value ii of one is k (0/128) + 32 j + 16 half + l in the
// reference's loops.
template <>
LMAC_HD float block_value<GgmlType::Q2_K>(const uint8_t* row, size_t i) {
  const uint8_t* s = row + i / 256 * 84;
  const size_t ii = i % 256, k = ii / 128, j = ii % 128 / 32, half = ii % 32 / 16, l = ii % 16;
  const uint32_t sc = s[k * 8 + j * 2 + half];
  const float dl = mul(half_at(s + 80), i2f(static_cast<int32_t>(sc & 0xF)));
  const float ml = mul(half_at(s + 82), i2f(static_cast<int32_t>(sc >> 4)));
  const uint32_t q = (s[16 + 32 * k + l + 16 * half] >> (2 * j)) & 3u;
  return sub(mul(dl, i2f(static_cast<int32_t>(q))), ml);
}
template <>
LMAC_HD float block_value<GgmlType::Q3_K>(const uint8_t* row, size_t i) {
  const uint8_t* s = row + i / 256 * 110;
  const size_t ii = i % 256, k = ii / 128, j = ii % 128 / 32, l = ii % 32;
  const float dl = mul(half_at(s + 108), i2f(q3_k_scale(s + 96, k * 8 + j * 2 + l / 16)));
  const uint32_t m = 1u << (4 * k + j);
  const int32_t q = static_cast<int32_t>((s[32 + 32 * k + l] >> (2 * j)) & 3u) - ((s[l] & m) ? 0 : 4);
  return mul(dl, i2f(q));
}
// Q4_K / Q5_K: sub-block 2 jb + hi's (d * sc, dmin * m), the nibble (hi: high) of byte
// l of the 32 for sub-blocks 2 jb, 2 jb + 1; Q5_K adds 16 by its bit of mask byte l.
template <bool kQ5>
LMAC_HD float q45_k_value(const uint8_t* row, size_t i) {
  const uint8_t* s = row + i / 256 * (kQ5 ? 176 : 144);
  const size_t ii = i % 256, jb = ii / 64, hi = ii % 64 / 32, l = ii % 32;
  uint8_t sc = 0, m = 0;
  scale_min_k4(static_cast<int>(2 * jb + hi), s + 4, &sc, &m);
  const float d1 = mul(half_at(s), i2f(sc)), m1 = mul(half_at(s + 2), i2f(m));
  const uint8_t qb = s[(kQ5 ? 48 : 16) + 32 * jb + l];
  const uint32_t fifth = kQ5 && (s[16 + l] & (1u << (2 * jb + hi))) ? 16u : 0u;
  return sub(mul(d1, i2f(static_cast<int32_t>((hi ? qb >> 4 : qb & 0xFu) + fifth))), m1);
}
template <>
LMAC_HD float block_value<GgmlType::Q4_K>(const uint8_t* row, size_t i) {
  return q45_k_value<false>(row, i);
}
template <>
LMAC_HD float block_value<GgmlType::Q5_K>(const uint8_t* row, size_t i) {
  return q45_k_value<true>(row, i);
}
template <>
LMAC_HD float block_value<GgmlType::Q6_K>(const uint8_t* row, size_t i) {
  const uint8_t* s = row + i / 256 * 210;
  const size_t ii = i % 256, k = ii / 128, quarter = ii % 128 / 32, l = ii % 32;
  const uint8_t* ql = s + 64 * k;
  const uint32_t qh = s[128 + 32 * k + l];
  const uint32_t low = quarter == 0   ? ql[l] & 0xFu
                       : quarter == 1 ? ql[l + 32] & 0xFu
                       : quarter == 2 ? ql[l] >> 4
                                      : ql[l + 32] >> 4;
  const int32_t q = static_cast<int32_t>(low | ((qh >> (2 * quarter)) & 3u) << 4) - 32;
  const auto sc = static_cast<int8_t>(s[192 + 8 * k + l / 16 + 2 * quarter]);
  return mul(mul(half_at(s + 208), i2f(sc)), i2f(q));
}

// IQ4_NL / IQ4_XS: a nibble (as Q4_0's) names one of 16 levels; IQ4_XS scales each 32
// values of its super-block by d (ls - 32).
template <>
LMAC_HD float block_value<GgmlType::IQ4_NL>(const uint8_t* row, size_t i) {
  const uint8_t* s = row + i / 32 * 18;
  return mul(half_at(s), i2f(iq4_level(nibble32(s + 2, i % 32))));
}
template <>
LMAC_HD float block_value<GgmlType::IQ4_XS>(const uint8_t* row, size_t i) {
  const uint8_t* s = row + i / 256 * 136;
  const size_t ib = i % 256 / 32;
  const float dl = mul(half_at(s), i2f(iq4_xs_scale(u16_at(s + 2), s + 4, ib)));
  return mul(dl, i2f(iq4_level(nibble32(s + 8 + 16 * ib, i % 32))));
}

// TQ1_0 / TQ2_0: (q - 1) d, d the block's last two bytes.
template <>
LMAC_HD float block_value<GgmlType::TQ1_0>(const uint8_t* row, size_t i) {
  const uint8_t* s = row + i / 256 * 54;
  return mul(i2f(static_cast<int32_t>(tq1_quant(s, i % 256)) - 1), half_at(s + 52));
}
template <>
LMAC_HD float block_value<GgmlType::TQ2_0>(const uint8_t* row, size_t i) {
  const uint8_t* s = row + i / 256 * 66;
  return mul(i2f(static_cast<int32_t>(tq2_quant(s, i % 256)) - 1), half_at(s + 64));
}

// f(TypeTag<t>{}): picks the kernel instantiation for a weight type (host code).
template <GgmlType T>
struct TypeTag {
  static constexpr GgmlType value = T;
};
template <typename F>
void with_block_type(GgmlType t, F&& f) {
  switch (t) {
    case GgmlType::F32:
      return f(TypeTag<GgmlType::F32>{});
    case GgmlType::F16:
      return f(TypeTag<GgmlType::F16>{});
    case GgmlType::BF16:
      return f(TypeTag<GgmlType::BF16>{});
    case GgmlType::Q4_0:
      return f(TypeTag<GgmlType::Q4_0>{});
    case GgmlType::Q4_1:
      return f(TypeTag<GgmlType::Q4_1>{});
    case GgmlType::Q5_0:
      return f(TypeTag<GgmlType::Q5_0>{});
    case GgmlType::Q5_1:
      return f(TypeTag<GgmlType::Q5_1>{});
    case GgmlType::Q8_0:
      return f(TypeTag<GgmlType::Q8_0>{});
    case GgmlType::Q2_K:
      return f(TypeTag<GgmlType::Q2_K>{});
    case GgmlType::Q3_K:
      return f(TypeTag<GgmlType::Q3_K>{});
    case GgmlType::Q4_K:
      return f(TypeTag<GgmlType::Q4_K>{});
    case GgmlType::Q5_K:
      return f(TypeTag<GgmlType::Q5_K>{});
    case GgmlType::Q6_K:
      return f(TypeTag<GgmlType::Q6_K>{});
    case GgmlType::IQ4_NL:
      return f(TypeTag<GgmlType::IQ4_NL>{});
    case GgmlType::IQ4_XS:
      return f(TypeTag<GgmlType::IQ4_XS>{});
    case GgmlType::IQ2_XXS:
      return f(TypeTag<GgmlType::IQ2_XXS>{});
    case GgmlType::IQ2_XS:
      return f(TypeTag<GgmlType::IQ2_XS>{});
    case GgmlType::IQ2_S:
      return f(TypeTag<GgmlType::IQ2_S>{});
    case GgmlType::IQ3_XXS:
      return f(TypeTag<GgmlType::IQ3_XXS>{});
    case GgmlType::IQ3_S:
      return f(TypeTag<GgmlType::IQ3_S>{});
    case GgmlType::IQ1_S:
      return f(TypeTag<GgmlType::IQ1_S>{});
    case GgmlType::IQ1_M:
      return f(TypeTag<GgmlType::IQ1_M>{});
    case GgmlType::TQ1_0:
      return f(TypeTag<GgmlType::TQ1_0>{});
    case GgmlType::TQ2_0:
      return f(TypeTag<GgmlType::TQ2_0>{});
  }
}

// Value i of a row of type t, on the host.
inline float block_value(GgmlType t, const uint8_t* row, size_t i) {
  float v = 0.0f;
  with_block_type(t, [&](auto tag) { v = block_value<decltype(tag)::value>(row, i); });
  return v;
}

}  // namespace lmac::km
