// The integer view of the quantized block types other than Q8_0 (docs/ARITHMETIC.md
// §2.3): a block (the K-quants', IQ4_XS's and the lattice types' super-block of 256, or
// 32 values) as unsigned quants u (0..63), each standing for an integer weight w(u):
// u - o with a per-type offset o, or for IQ4_NL / IQ4_XS one of 16 levels (-127 .. 113),
// for the lattice types a signed grid value (lm/detail/iq_lattice.hpp); and per
// sub-block a scale D_j = d sc_j and a min M_j = dmin m_j, each the exact float32
// product the reference dequantizer forms (fp16 times a small integer: at most 19
// significant bits; the 32-value types have sc = m = 1, d their scale and dmin minus
// their min). Weight i of sub-block j is D_j w(u_i) - M_j. ("kq": K-quant-like; the
// 32-value and IQ4 types follow the same rules.) One definition for the CPU's kernels and
// packers, the GPU's kernels and the grid backend that checks them.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lmac/lm/detail/block_value.hpp"
#include "lmac/lm/detail/iq_lattice.hpp"
#include "lmac/lm/detail/kernel_math.hpp"
#include "lmac/lm/detail/kquant_scales.hpp"
#include "lmac/lm/detail/q8_mma.hpp"
#include "lmac/lm/ggml_types.hpp"

namespace lmac::km {

struct KqShape {
  int sub = 0;          // values per sub-block: 16 or 32
  int offset = 0;       // o: Q6_K 32, Q5_0 16, Q4_0 8, Q3_K 4, TQ1_0 and TQ2_0 1, the rest 0
  bool min = false;     // whether sub-blocks have a min (Q2_K, Q4_K, Q5_K, Q4_1, Q5_1)
  int high_bits = 0;    // bits of u above the low four (Q5_K, Q5_0, Q5_1 1; Q6_K 2)
  size_t block = 0;     // bytes per block
  size_t values = 256;  // values per block: 256, or 32 (Q4_0 .. Q5_1, IQ4_NL)
  bool levels = false;  // w(u) is a level (IQ4_NL, IQ4_XS, the lattice types) instead of u - o
  int low_bits = 4;     // bits of u below the high bits: 2 where u < 4 (Q2_K, TQ1_0, TQ2_0), else 4
};

LMAC_HD constexpr KqShape kq_shape(GgmlType t) {
  switch (t) {
    case GgmlType::Q2_K:
      return {16, 0, true, 0, 84, 256, false, 2};
    case GgmlType::Q3_K:
      return {16, 4, false, 0, 110};
    case GgmlType::Q4_K:
      return {32, 0, true, 0, 144};
    case GgmlType::Q5_K:
      return {32, 0, true, 1, 176};
    case GgmlType::Q6_K:
      return {16, 32, false, 2, 210};
    case GgmlType::Q4_0:
      return {32, 8, false, 0, 18, 32};
    case GgmlType::Q4_1:
      return {32, 0, true, 0, 20, 32};
    case GgmlType::Q5_0:
      return {32, 16, false, 1, 22, 32};
    case GgmlType::Q5_1:
      return {32, 0, true, 1, 24, 32};
    case GgmlType::IQ4_NL:
      return {32, 0, false, 0, 18, 32, true};
    case GgmlType::IQ4_XS:
      return {32, 0, false, 0, 136, 256, true};
    case GgmlType::TQ1_0:
      return {32, 1, false, 0, 54, 256, false, 2};
    case GgmlType::TQ2_0:
      return {32, 1, false, 0, 66, 256, false, 2};
    default:
      if (lattice_type(t)) return {lattice_shape(t).sub, 0, false, 0, lattice_shape(t).block, 256, true};
      return {};
  }
}

LMAC_HD constexpr bool kq_type(GgmlType t) { return kq_shape(t).sub != 0; }

// The integer weight quant u stands for.
template <GgmlType T>
LMAC_HD constexpr int32_t kq_weight(uint32_t u) {
  if constexpr (lattice_type(T)) return lattice_level<T>(u);
  if constexpr (kq_shape(T).levels) return iq4_level(u);
  return static_cast<int32_t>(u) - kq_shape(T).offset;
}

// The integer fields of super-block `s`: per sub-block its scale sc[j] and min m[j]
// (types without mins leave m alone), and the super-block's d and dmin widened from
// fp16 (dmin 0 without mins). D_j = d * sc_j and M_j = dmin * m_j, each exact.
template <GgmlType T>
LMAC_HD void kq_scales(const uint8_t* s, int8_t* sc, int8_t* m, float* d, float* dmin);  // K-quants below

template <>
LMAC_HD void kq_scales<GgmlType::Q2_K>(const uint8_t* s, int8_t* sc, int8_t* m, float* d, float* dmin) {
  *d = half_at(s + 80), *dmin = half_at(s + 82);
  for (int is = 0; is < 16; ++is) sc[is] = static_cast<int8_t>(s[is] & 0xF), m[is] = static_cast<int8_t>(s[is] >> 4);
}
template <>
LMAC_HD void kq_scales<GgmlType::Q3_K>(const uint8_t* s, int8_t* sc, int8_t*, float* d, float* dmin) {
  *d = half_at(s + 108), *dmin = 0.0f;
  for (int is = 0; is < 16; ++is) sc[is] = static_cast<int8_t>(q3_k_scale(s + 96, static_cast<size_t>(is)));
}
LMAC_HD void kq_scales_45(const uint8_t* s, int8_t* sc, int8_t* m, float* d, float* dmin) {
  *d = half_at(s), *dmin = half_at(s + 2);
  for (int is = 0; is < 8; ++is) {
    uint8_t a = 0, b = 0;
    scale_min_k4(is, s + 4, &a, &b);
    sc[is] = static_cast<int8_t>(a), m[is] = static_cast<int8_t>(b);
  }
}
template <>
LMAC_HD void kq_scales<GgmlType::Q4_K>(const uint8_t* s, int8_t* sc, int8_t* m, float* d, float* dmin) {
  kq_scales_45(s, sc, m, d, dmin);
}
template <>
LMAC_HD void kq_scales<GgmlType::Q5_K>(const uint8_t* s, int8_t* sc, int8_t* m, float* d, float* dmin) {
  kq_scales_45(s, sc, m, d, dmin);
}
template <>
LMAC_HD void kq_scales<GgmlType::Q6_K>(const uint8_t* s, int8_t* sc, int8_t*, float* d, float* dmin) {
  *d = half_at(s + 208), *dmin = 0.0f;
  for (int is = 0; is < 16; ++is) sc[is] = static_cast<int8_t>(s[192 + is]);
}

template <>
LMAC_HD void kq_scales<GgmlType::IQ4_XS>(const uint8_t* s, int8_t* sc, int8_t*, float* d, float* dmin) {
  *d = half_at(s), *dmin = 0.0f;
  for (size_t ib = 0; ib < 8; ++ib) sc[ib] = static_cast<int8_t>(iq4_xs_scale(u16_at(s + 2), s + 4, ib));
}

// The ternary types: one fp16 d for the 256 values (sc = 1 for each 32).
template <GgmlType T>
LMAC_HD void tq_scales(const uint8_t* s, int8_t* sc, float* d, float* dmin) {
  *d = half_at(s + kq_shape(T).block - 2), *dmin = 0.0f;
  for (int j = 0; j < 8; ++j) sc[j] = 1;
}
template <>
LMAC_HD void kq_scales<GgmlType::TQ1_0>(const uint8_t* s, int8_t* sc, int8_t*, float* d, float* dmin) {
  tq_scales<GgmlType::TQ1_0>(s, sc, d, dmin);
}
template <>
LMAC_HD void kq_scales<GgmlType::TQ2_0>(const uint8_t* s, int8_t* sc, int8_t*, float* d, float* dmin) {
  tq_scales<GgmlType::TQ2_0>(s, sc, d, dmin);
}

// The quants u[values] of block `s` (loops as the reference dequantizers run,
// lm/ggml_types.cpp).
template <GgmlType T>
LMAC_HD void kq_quants(const uint8_t* s, uint8_t* u);

template <>
LMAC_HD void kq_quants<GgmlType::Q2_K>(const uint8_t* s, uint8_t* u) {
  for (int k = 0; k < 2; ++k)
    for (int j = 0; j < 4; ++j)
      for (int l = 0; l < 32; ++l) u[128 * k + 32 * j + l] = static_cast<uint8_t>((s[16 + 32 * k + l] >> (2 * j)) & 3);
}
template <>
LMAC_HD void kq_quants<GgmlType::Q3_K>(const uint8_t* s, uint8_t* u) {
  for (int k = 0; k < 2; ++k)
    for (int j = 0; j < 4; ++j)
      for (int l = 0; l < 32; ++l) {
        const uint32_t high = (s[l] >> (4 * k + j)) & 1u;  // set: value = low bits; clear: low bits - 4
        u[128 * k + 32 * j + l] = static_cast<uint8_t>(((s[32 + 32 * k + l] >> (2 * j)) & 3u) | high << 2);
      }
}
template <bool kQ5>
LMAC_HD void kq_quants_45(const uint8_t* s, uint8_t* u) {
  const uint8_t* q = s + (kQ5 ? 48 : 16);
  for (int jb = 0; jb < 4; ++jb)
    for (int l = 0; l < 32; ++l) {
      const uint32_t qh = kQ5 ? s[16 + l] >> (2 * jb) : 0u;
      u[64 * jb + l] = static_cast<uint8_t>((q[32 * jb + l] & 0xFu) | (qh & 1u) << 4);
      u[64 * jb + 32 + l] = static_cast<uint8_t>((q[32 * jb + l] >> 4) | (qh >> 1 & 1u) << 4);
    }
}
template <>
LMAC_HD void kq_quants<GgmlType::Q4_K>(const uint8_t* s, uint8_t* u) {
  kq_quants_45<false>(s, u);
}
template <>
LMAC_HD void kq_quants<GgmlType::Q5_K>(const uint8_t* s, uint8_t* u) {
  kq_quants_45<true>(s, u);
}
template <>
LMAC_HD void kq_quants<GgmlType::Q6_K>(const uint8_t* s, uint8_t* u) {
  for (size_t k = 0; k < 2; ++k)
    for (size_t l = 0; l < 32; ++l) {
      const uint8_t* ql = s + 64 * k;
      const uint32_t qh = s[128 + 32 * k + l];
      u[128 * k + l] = static_cast<uint8_t>((ql[l] & 0xFu) | (qh & 3u) << 4);
      u[128 * k + 32 + l] = static_cast<uint8_t>((ql[l + 32] & 0xFu) | (qh >> 2 & 3u) << 4);
      u[128 * k + 64 + l] = static_cast<uint8_t>((ql[l] >> 4) | (qh >> 4 & 3u) << 4);
      u[128 * k + 96 + l] = static_cast<uint8_t>((ql[l + 32] >> 4) | (qh >> 6 & 3u) << 4);
    }
}

template <>
LMAC_HD void kq_quants<GgmlType::IQ4_XS>(const uint8_t* s, uint8_t* u) {
  for (size_t i = 0; i < 256; ++i) u[i] = static_cast<uint8_t>(nibble32(s + 8 + i / 32 * 16, i % 32));
}

template <>
LMAC_HD void kq_quants<GgmlType::TQ1_0>(const uint8_t* s, uint8_t* u) {
  for (size_t i = 0; i < 256; ++i) u[i] = static_cast<uint8_t>(tq1_quant(s, i));
}
template <>
LMAC_HD void kq_quants<GgmlType::TQ2_0>(const uint8_t* s, uint8_t* u) {
  for (size_t i = 0; i < 256; ++i) u[i] = static_cast<uint8_t>(tq2_quant(s, i));
}

// The 32-value types (Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL): fp16 d, the fp16 min m where there is one,
// the 32-bit mask of fifth bits (Q5), then 16 bytes of nibbles (values 0..15 low,
// 16..31 high). sc = m = 1, d the scale and dmin minus the min (value d u + m).
template <GgmlType T>
LMAC_HD void kq_scales_32(const uint8_t* s, int8_t* sc, int8_t* m, float* d, float* dmin) {
  constexpr bool kMin = kq_shape(T).min;
  *d = half_at(s), *dmin = kMin ? -half_at(s + 2) : 0.0f;
  sc[0] = 1, m[0] = 1;
}
template <GgmlType T>
LMAC_HD void kq_quants_32(const uint8_t* s, uint8_t* u) {
  constexpr KqShape sh = kq_shape(T);
  const uint8_t* qh = s + (sh.min ? 4 : 2);
  const uint32_t mask = sh.high_bits != 0 ? u32_at(qh) : 0u;
  const uint8_t* qs = qh + (sh.high_bits != 0 ? 4 : 0);
  for (size_t j = 0; j < 32; ++j) u[j] = static_cast<uint8_t>(nibble32(qs, j) | fifth_bit32(mask, j));
}

// The quants and fields of a block of any of these types.
template <GgmlType T>
LMAC_HD void kq_block(const uint8_t* s, uint8_t* u, int8_t* sc, int8_t* m, float* d, float* dmin) {
  if constexpr (kq_shape(T).values == 32) {
    kq_quants_32<T>(s, u);
    kq_scales_32<T>(s, sc, m, d, dmin);
  } else if constexpr (lattice_type(T)) {
    for (size_t g = 0; g < 32; ++g) lattice_group<T>(s, g, u + 8 * g);
    for (size_t j = 0; j < 256 / static_cast<size_t>(lattice_shape(T).sub); ++j)
      sc[j] = static_cast<int8_t>(lattice_scale<T>(s, j));
    *d = lattice_d<T>(s), *dmin = 0.0f;
  } else {
    kq_quants<T>(s, u);
    kq_scales<T>(s, sc, m, d, dmin);
  }
}

// One output of a K-quant product (§2.3): weight row `row` (cols values) against a
// token's 16-bit activations, qx(i) their value i and dx[b] the scale of block b of 32.
// Per sub-block j, in order: S = sum w(u_i) qx_i and X = sum qx_i, exact integers;
// acc = fma(float(S), D_j dx, acc), then with mins acc = fma(float(X), (-M_j) dx, acc).
template <GgmlType T, class QX>
LMAC_HD float kq_dot(const uint8_t* row, size_t cols, QX qx, const float* dx) {
  constexpr KqShape shape = kq_shape(T);
  float acc = 0.0f;
  for (size_t sb = 0; sb < cols / shape.values; ++sb) {
    uint8_t u[256];
    int8_t sc[16], m[16];
    float d = 0.0f, dmin = 0.0f;
    kq_block<T>(row + sb * shape.block, u, sc, m, &d, &dmin);
    for (int j = 0; j < static_cast<int>(shape.values) / shape.sub; ++j) {
      int32_t S = 0, X = 0;
      for (int i = j * shape.sub; i < (j + 1) * shape.sub; ++i) {
        const int32_t q = qx(sb * shape.values + static_cast<size_t>(i));
        S += kq_weight<T>(u[i]) * q;
        X += q;
      }
      const float x_scale = dx[(sb * shape.values + static_cast<size_t>(j * shape.sub)) / 32];
      acc = fma(i2f(S), mul(mul(d, i2f(sc[j])), x_scale), acc);
      if (shape.min) acc = fma(i2f(X), mul(-mul(dmin, i2f(m[j])), x_scale), acc);
    }
  }
  return acc;
}

// The MMA planes of a repacked matrix (Q8_0, or a K-quant by kq_repack): `scales` holds
// the rows' scales, then for types with mins their -M.
LMAC_HD Q8Planes matrix_planes(GgmlType t, const int8_t* q, const float* scales, size_t rows, size_t cols) {
  if (!kq_type(t)) return {q, scales, rows, cols, nullptr, 32};
  const KqShape sh = kq_shape(t);
  const auto sub = static_cast<size_t>(sh.sub);
  return {q, scales, rows, cols, sh.min ? scales + rows * (cols / sub) : nullptr, sub};
}

// Floats the scales of matrix_planes take: rows x cols/sub, twice with mins.
inline size_t plane_scale_count(GgmlType t, size_t rows, size_t cols) {
  if (!kq_type(t)) return rows * (cols / 32);
  const KqShape sh = kq_shape(t);
  return rows * (cols / static_cast<size_t>(sh.sub)) * (sh.min ? 2 : 1);
}

// A stored K-quant matrix into the MMA planes: q the weights w(u), `scales` as
// matrix_planes reads them.
template <GgmlType T>
inline void kq_repack_typed(const uint8_t* data, size_t rows, size_t cols, size_t row_bytes, int8_t* q, float* scales) {
  constexpr KqShape sh = kq_shape(T);
  const size_t nsub = cols / static_cast<size_t>(sh.sub);
  float* neg_m = scales + rows * nsub;
  for (size_t r = 0; r < rows; ++r)
    for (size_t sb = 0; sb < cols / sh.values; ++sb) {
      const uint8_t* s = data + r * row_bytes + sb * sh.block;
      uint8_t u[256];
      int8_t sc[16], m[16];
      float d = 0.0f, dmin = 0.0f;
      kq_block<T>(s, u, sc, m, &d, &dmin);
      for (size_t i = 0; i < sh.values; ++i) q[r * cols + sb * sh.values + i] = static_cast<int8_t>(kq_weight<T>(u[i]));
      for (size_t j = 0; j < sh.values / static_cast<size_t>(sh.sub); ++j) {
        const size_t at = r * nsub + sb * (sh.values / static_cast<size_t>(sh.sub)) + j;
        scales[at] = mul(d, i2f(sc[j]));
        if (sh.min) neg_m[at] = -mul(dmin, i2f(m[j]));
      }
    }
}

inline void kq_repack(GgmlType t, const uint8_t* data, size_t rows, size_t cols, size_t row_bytes, int8_t* q,
                      float* scales) {
  with_block_type(t, [&](auto tag) {
    if constexpr (kq_type(decltype(tag)::value))
      kq_repack_typed<decltype(tag)::value>(data, rows, cols, row_bytes, q, scales);
  });
}

}  // namespace lmac::km
