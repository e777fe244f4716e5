// Vector dequantizers. Each value is computed by the operations of the reference
// dequantizer (lm/ggml_types.cpp) in its order — scales as scalars first, then one
// multiply (and for Q4_K/Q5_K one subtract) per value, each rounded once — so any
// vector width gives the reference's floats.
#include "lmac/lm/detail/cpu_dequant.hpp"
#include "lmac/lm/detail/cpu_simd.hpp"  // first: its pragmas cover the intrinsics headers

#include <immintrin.h>

#include <cstring>

#include "lmac/lm/detail/kquant_scales.hpp"
#include "lmac/lm/ggml_types.hpp"

namespace lmac::cpu {
namespace {

float half_at(const uint8_t* p) { return fp16_to_fp32(static_cast<uint16_t>(p[0] | p[1] << 8)); }
// The same exact widening by F16C, for the vector paths.
__attribute__((target("f16c"))) inline float half_f16c(const uint8_t* p) {
  return _cvtsh_ss(static_cast<unsigned short>(p[0] | p[1] << 8));
}

__attribute__((target("avx2,fma,f16c"))) void f16_avx2(const uint8_t* src, float* dst, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i))));
  for (; i < n; ++i) dst[i] = half_at(src + 2 * i);
}

__attribute__((target("avx2,fma,f16c"))) void q8_0_avx2(const uint8_t* s, float* y, size_t n) {
  for (size_t b = 0; b < n / 32; ++b, s += 34, y += 32) {
    const __m256 d = _mm256_set1_ps(half_f16c(s));
    for (int j = 0; j < 32; j += 8) {
      __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(s + 2 + j));
      _mm256_storeu_ps(y + j, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)), d));
    }
  }
}

// 16 unsigned quants (bytes) as d * q - m, 8 at a time.
__attribute__((target("avx2,fma"))) inline void store16_dqm(float* y, __m128i q, float d, float m) {
  const __m256 vd = _mm256_set1_ps(d), vm = _mm256_set1_ps(m);
  const __m256 a = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(q));
  const __m256 b = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(q, 8)));
  _mm256_storeu_ps(y, _mm256_sub_ps(_mm256_mul_ps(vd, a), vm));
  _mm256_storeu_ps(y + 8, _mm256_sub_ps(_mm256_mul_ps(vd, b), vm));
}

// 16 signed quants (bytes) as d * q.
__attribute__((target("avx2,fma"))) inline void store16_dq(float* y, __m128i q, float d) {
  const __m256 vd = _mm256_set1_ps(d);
  _mm256_storeu_ps(y, _mm256_mul_ps(vd, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q))));
  _mm256_storeu_ps(y + 8, _mm256_mul_ps(vd, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q, 8)))));
}

__attribute__((target("avx2,fma"))) inline __m128i load16(const uint8_t* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}

// A Q4_K / Q5_K super-block's eight 6-bit scales and eight 6-bit mins (bytes 0-7 and
// 8-15), as scale_min_k4 reads them, unpacked four at a time from the 12 packed bytes
// taken as 32-bit words.
__attribute__((target("avx2,fma"))) inline __m128i kquant_fields(const uint8_t* block) {
  uint32_t a, b, c;  // packed bytes 0-3, 4-7, 8-11
  std::memcpy(&a, block + 4, 4);
  std::memcpy(&b, block + 8, 4);
  std::memcpy(&c, block + 12, 4);
  const uint32_t sc_lo = a & 0x3F3F3F3F, m_lo = b & 0x3F3F3F3F;  // sub-blocks 0-3
  const uint32_t sc_hi = (c & 0x0F0F0F0F) | ((a >> 2) & 0x30303030);
  const uint32_t m_hi = ((c >> 4) & 0x0F0F0F0F) | ((b >> 2) & 0x30303030);
  return _mm_setr_epi32(static_cast<int>(sc_lo), static_cast<int>(sc_hi), static_cast<int>(m_lo),
                        static_cast<int>(m_hi));
}

// Their products [d * sc0..7, dmin * m0..7] into out, each rounded once as the
// reference's (the 8-lane form, for the row dequantizer and the AVX2 products).
__attribute__((target("avx2,fma,f16c"))) inline void kquant_scale_products(const uint8_t* block, float* out) {
  const __m128i fields = kquant_fields(block);
  _mm256_storeu_ps(out,
                   _mm256_mul_ps(_mm256_set1_ps(half_f16c(block)), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(fields))));
  _mm256_storeu_ps(out + 8, _mm256_mul_ps(_mm256_set1_ps(half_f16c(block + 2)),
                                          _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(fields, 8)))));
}

// The quants (bias 32 removed) of values l .. l + 15 of the four groups of a Q6_K half
// (value l + 32 g in group g), from its low nibbles ql and 2-bit highs qh.
__attribute__((target("avx2,fma"))) inline void q6_quants(const uint8_t* ql, const uint8_t* qh, size_t l,
                                                          __m128i (&q)[4]) {
  const __m128i low4 = _mm_set1_epi8(0x0F), bits45 = _mm_set1_epi8(0x30), bias = _mm_set1_epi8(32);
  const __m128i a = load16(ql + l), c = load16(ql + 32 + l), h = load16(qh + l);
  q[0] = _mm_or_si128(_mm_and_si128(a, low4), _mm_and_si128(_mm_slli_epi16(h, 4), bits45));
  q[1] = _mm_or_si128(_mm_and_si128(c, low4), _mm_and_si128(_mm_slli_epi16(h, 2), bits45));
  q[2] = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(a, 4), low4), _mm_and_si128(h, bits45));
  q[3] = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(c, 4), low4), _mm_and_si128(_mm_srli_epi16(h, 2), bits45));
  for (auto& v : q) v = _mm_sub_epi8(v, bias);
}

// Super-blocks of 256: per 64 values, two sub-blocks' (d * sc, dmin * m), from the
// super-block's products made at once, then the low nibbles of 32 bytes (plus a high bit for Q5_K) for the first, the
// high nibbles for the second. Q5_K: 16 quants (one nibble each) + 16 where their bit `bit` of the mask bytes qh is
// set.
__attribute__((target("avx2,fma"))) inline __m128i add_fifth(__m128i q, const uint8_t* qh, int bit) {
  const __m128i u = _mm_set1_epi8(static_cast<char>(1 << bit));
  return _mm_add_epi8(q, _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(load16(qh), u), u), _mm_set1_epi8(16)));
}

template <bool kQ5>
__attribute__((target("avx2,fma,f16c"))) void q45_k_avx2(const uint8_t* s, float* y, size_t n) {
  const __m128i low4 = _mm_set1_epi8(0x0F);
  for (size_t b = 0; b < n / 256; ++b, s += kQ5 ? 176 : 144) {
    float sm[16];  // d * sc0..7, dmin * m0..7
    kquant_scale_products(s, sm);
    const uint8_t* qh = s + 16;
    const uint8_t* q = s + (kQ5 ? 48 : 16);
    for (int is = 0; is < 8; is += 2, q += 32, y += 64) {
      for (int h = 0; h < 32; h += 16) {
        const __m128i v = load16(q + h);
        __m128i lo = _mm_and_si128(v, low4), hi = _mm_and_si128(_mm_srli_epi16(v, 4), low4);
        if constexpr (kQ5) lo = add_fifth(lo, qh + h, is), hi = add_fifth(hi, qh + h, is + 1);
        store16_dqm(y + h, lo, sm[is], sm[8 + is]);
        store16_dqm(y + 32 + h, hi, sm[is + 1], sm[9 + is]);
      }
    }
  }
}

// Q6_K: per 128 values, 64 bytes of low nibbles and 32 of 2-bit highs; value l + 32 i
// of a half is q_i - 32 with scale sc[l / 16 + 2 i], as (d * sc) * q.
__attribute__((target("avx2,fma,f16c"))) void q6_k_avx2(const uint8_t* s, float* y, size_t n) {
  for (size_t b = 0; b < n / 256; ++b, s += 210) {
    const uint8_t* ql = s;
    const uint8_t* qh = s + 128;
    const auto* sc = reinterpret_cast<const int8_t*>(s + 192);
    const float d = half_f16c(s + 208);
    for (int half = 0; half < 2; ++half, y += 128, ql += 64, qh += 32, sc += 8) {
      for (size_t l = 0; l < 32; l += 16) {
        __m128i q[4];
        q6_quants(ql, qh, l, q);
        const size_t first = l / 16;  // the scale of values l .. l + 15 in group i: sc[first + 2 i]
        for (size_t i = 0; i < 4; ++i) store16_dq(y + l + 32 * i, q[i], d * static_cast<float>(sc[first + 2 * i]));
      }
    }
  }
}

// Q2_K / Q3_K: per 128 values, 32 bytes of 2-bit quants; value 32 j + l (l < 32) is
// bits 2j, 2j + 1 of byte l, in sub-block 2 j + l / 16 (a shift of the 16-bit lanes
// brings the next byte's bits only above the two kept).
__attribute__((target("avx2,fma"))) inline __m128i two_bits(const uint8_t* q, size_t j) {
  return _mm_and_si128(_mm_srl_epi16(load16(q), _mm_cvtsi32_si128(static_cast<int>(2 * j))), _mm_set1_epi8(3));
}
// Q3_K: the 2-bit quants minus 4 where bit `bit` of the mask bytes hm is clear.
__attribute__((target("avx2,fma"))) inline __m128i q3_quants(const uint8_t* q, const uint8_t* hm, size_t j,
                                                             size_t bit) {
  const __m128i m = _mm_set1_epi8(static_cast<char>(1u << bit));
  const __m128i set = _mm_cmpeq_epi8(_mm_and_si128(load16(hm), m), m);
  return _mm_sub_epi8(two_bits(q, j), _mm_andnot_si128(set, _mm_set1_epi8(4)));
}

// Q2_K: sub-block scale byte sc gives dl = d * (sc & 15), ml = dmin * (sc >> 4); values
// dl * q - ml.
__attribute__((target("avx2,fma,f16c"))) void q2_k_avx2(const uint8_t* s, float* y, size_t n) {
  for (size_t b = 0; b < n / 256; ++b, s += 84) {
    const float d = half_f16c(s + 80), mn = half_f16c(s + 82);
    for (size_t k = 0; k < 2; ++k)
      for (size_t j = 0; j < 4; ++j)
        for (size_t half = 0; half < 2; ++half, y += 16) {
          const uint8_t sc = s[8 * k + 2 * j + half];
          store16_dqm(y, two_bits(s + 16 + 32 * k + 16 * half, j), d * static_cast<float>(sc & 0xF),
                      mn * static_cast<float>(sc >> 4));
        }
  }
}

// Q3_K: dl = d * (scale - 32); values dl * q.
__attribute__((target("avx2,fma,f16c"))) void q3_k_avx2(const uint8_t* s, float* y, size_t n) {
  for (size_t b = 0; b < n / 256; ++b, s += 110) {
    const float d = half_f16c(s + 108);
    int8_t scales[16];
    q3_k_scales(s + 96, scales);
    for (size_t k = 0; k < 2; ++k)
      for (size_t j = 0; j < 4; ++j)
        for (size_t half = 0; half < 2; ++half, y += 16)
          store16_dq(y, q3_quants(s + 32 + 32 * k + 16 * half, s + 16 * half, j, 4 * k + j),
                     d * static_cast<float>(scales[8 * k + 2 * j + half] - 32));
  }
}

// 8 BF16 values widened (exactly: they are the upper halves of floats).
__attribute__((target("avx2,fma"))) inline __m256 bf16x8(const uint8_t* p) {
  const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

__attribute__((target("avx2,fma"))) void bf16_avx2(const uint8_t* src, float* dst, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, bf16x8(src + 2 * i));
  if (i < n) ggml_type_info(GgmlType::BF16).dequantize(src + 2 * i, dst + i, n - i);
}

// ---- Blocks of 32 (Q4_0, Q4_1, Q5_0, Q5_1): an fp16 scale d (and offset m), then values
// j and j + 16 from the low and high nibble of byte j, Q5 types with a fifth bit from a
// 32-bit mask (bit j for value j). Q4_0 / Q5_0 give float(q - 8 | 16) * d, Q4_1 / Q5_1
// float(q) * d + m, as the reference does.
struct SmallBlock {
  size_t bytes;
  bool offset;  // Q4_1, Q5_1: d, m; else d only
  bool five;    // a mask of fifth bits
};
constexpr SmallBlock small_block(GgmlType t) {
  return t == GgmlType::Q4_0   ? SmallBlock{18, false, false}
         : t == GgmlType::Q4_1 ? SmallBlock{20, true, false}
         : t == GgmlType::Q5_0 ? SmallBlock{22, false, true}
                               : SmallBlock{24, true, true};
}

// Bits b0 .. b0 + 15 of the 32-bit mask at p as bytes of 0x10 or 0.
__attribute__((target("avx2,fma"))) inline __m128i fifth_bits(const uint8_t* p, int b0) {
  const __m128i mask =
      _mm_set1_epi32(static_cast<int>(p[0] | p[1] << 8 | p[2] << 16 | static_cast<uint32_t>(p[3]) << 24));
  const int lo = b0 / 8;
  const __m128i bytes = _mm_shuffle_epi8(
      mask, _mm_setr_epi8(static_cast<char>(lo), static_cast<char>(lo), static_cast<char>(lo), static_cast<char>(lo),
                          static_cast<char>(lo), static_cast<char>(lo), static_cast<char>(lo), static_cast<char>(lo),
                          static_cast<char>(lo + 1), static_cast<char>(lo + 1), static_cast<char>(lo + 1),
                          static_cast<char>(lo + 1), static_cast<char>(lo + 1), static_cast<char>(lo + 1),
                          static_cast<char>(lo + 1), static_cast<char>(lo + 1)));
  const __m128i bit = _mm_setr_epi8(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
  return _mm_and_si128(_mm_cmpeq_epi8(_mm_and_si128(bytes, bit), bit), _mm_set1_epi8(0x10));
}

// The block's 32 quants as bytes, values 0-15 in lo and 16-31 in hi: signed (bias
// removed) for Q4_0 / Q5_0, unsigned for Q4_1 / Q5_1.
template <GgmlType T>
__attribute__((target("avx2,fma"))) inline void small_quants(const uint8_t* s, __m128i& lo, __m128i& hi) {
  constexpr SmallBlock kB = small_block(T);
  const uint8_t* qs = s + (kB.offset ? 4 : 2) + (kB.five ? 4 : 0);
  const __m128i v = load16(qs), low4 = _mm_set1_epi8(0x0F);
  lo = _mm_and_si128(v, low4);
  hi = _mm_and_si128(_mm_srli_epi16(v, 4), low4);
  if constexpr (kB.five) {
    const uint8_t* qh = s + (kB.offset ? 4 : 2);
    lo = _mm_or_si128(lo, fifth_bits(qh, 0));
    hi = _mm_or_si128(hi, fifth_bits(qh, 16));
  }
  if constexpr (!kB.offset) {
    const __m128i bias = _mm_set1_epi8(kB.five ? 16 : 8);
    lo = _mm_sub_epi8(lo, bias);
    hi = _mm_sub_epi8(hi, bias);
  }
}

// 16 quants as float(q) * d (+ m).
template <GgmlType T>
__attribute__((target("avx2,fma"))) inline void store16_small(float* y, __m128i q, __m256 d, __m256 m) {
  for (size_t h = 0; h < 2; ++h, q = _mm_srli_si128(q, 8)) {
    const __m256i w = small_block(T).offset ? _mm256_cvtepu8_epi32(q) : _mm256_cvtepi8_epi32(q);
    __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(w), d);
    if constexpr (small_block(T).offset) v = _mm256_add_ps(v, m);
    _mm256_storeu_ps(y + 8 * h, v);
  }
}

template <GgmlType T>
__attribute__((target("avx2,fma,f16c"))) void small_avx2(const uint8_t* s, float* y, size_t n) {
  constexpr SmallBlock kB = small_block(T);
  for (size_t b = 0; b < n / 32; ++b, s += kB.bytes, y += 32) {
    const __m256 d = _mm256_set1_ps(half_f16c(s)), m = _mm256_set1_ps(kB.offset ? half_f16c(s + 2) : 0.0f);
    __m128i lo, hi;
    small_quants<T>(s, lo, hi);
    store16_small<T>(y, lo, d, m);
    store16_small<T>(y + 16, hi, d, m);
  }
}

// ---- Decode-shaped products (lm/detail/fused_products.inc), once per instruction set.

namespace avx512 {
#define LMAC_FUSED __attribute__((target("avx512f,avx2,fma,f16c")))
struct V {
  __m512 v;
  static constexpr int kTokens = 8, kRows = 4;
  LMAC_FUSED static V zero() { return {_mm512_setzero_ps()}; }
  LMAC_FUSED static V load(const float* p) { return {_mm512_loadu_ps(p)}; }
  LMAC_FUSED static V fma(V a, V b, V c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
  LMAC_FUSED static V from_f16(const uint8_t* p) {
    return {_mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)))};
  }
  LMAC_FUSED static V from_bf16(const uint8_t* p) {
    const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return {_mm512_castsi512_ps(_mm512_slli_epi32(w, 16))};
  }
  LMAC_FUSED void store(float* out) const { _mm512_storeu_ps(out, v); }
};

#include "lmac/lm/detail/fused_products.inc"

#undef LMAC_FUSED
}  // namespace avx512

namespace avx2 {
#define LMAC_FUSED __attribute__((target("avx2,fma,f16c")))
// 16 lanes in two registers (lanes 0-7, 8-15): half the registers of AVX-512 for as
// many accumulators, so fewer rows and tokens a call.
struct V {
  __m256 lo, hi;
  static constexpr int kTokens = 4, kRows = 1;
  LMAC_FUSED static V zero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
  LMAC_FUSED static V load(const float* p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
  LMAC_FUSED static V fma(V a, V b, V c) {
    return {_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)};
  }
  LMAC_FUSED static V from_f16(const uint8_t* p) {
    return {_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))),
            _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16)))};
  }
  LMAC_FUSED static V from_bf16(const uint8_t* p) { return {bf16x8(p), bf16x8(p + 16)}; }
  LMAC_FUSED void store(float* out) const { _mm256_storeu_ps(out, lo), _mm256_storeu_ps(out + 8, hi); }
};

#include "lmac/lm/detail/fused_products.inc"
#undef LMAC_FUSED
}  // namespace avx2

}  // namespace

bool fused_products_ok(const Matrix& w, size_t n) {
  if (n > 16) return false;
  switch (w.type) {
    case GgmlType::F16:
    case GgmlType::BF16:
      return have_avx2() && w.cols % 16 == 0;
    default:
      return false;
  }
}

void fused_products(const Matrix& w, std::span<const int32_t> rows, size_t j0, size_t nj, const float* x, size_t n,
                    float* y, size_t y_stride) {
  if (have_avx512())
    avx512::fused_products(w, rows, j0, nj, x, n, y, y_stride);
  else
    avx2::fused_products(w, rows, j0, nj, x, n, y, y_stride);
}

void dequantize_row(const Matrix& w, const uint8_t* src, float* out) {
  if (have_avx2()) {
    switch (w.type) {
      case GgmlType::F16:
        return f16_avx2(src, out, w.cols);
      case GgmlType::BF16:
        return bf16_avx2(src, out, w.cols);
      case GgmlType::Q2_K:
        return q2_k_avx2(src, out, w.cols);
      case GgmlType::Q3_K:
        return q3_k_avx2(src, out, w.cols);
      case GgmlType::Q8_0:
        return q8_0_avx2(src, out, w.cols);
      case GgmlType::Q4_K:
        return q45_k_avx2<false>(src, out, w.cols);
      case GgmlType::Q5_K:
        return q45_k_avx2<true>(src, out, w.cols);
      case GgmlType::Q6_K:
        return q6_k_avx2(src, out, w.cols);
      case GgmlType::Q4_0:
        return small_avx2<GgmlType::Q4_0>(src, out, w.cols);
      case GgmlType::Q4_1:
        return small_avx2<GgmlType::Q4_1>(src, out, w.cols);
      case GgmlType::Q5_0:
        return small_avx2<GgmlType::Q5_0>(src, out, w.cols);
      case GgmlType::Q5_1:
        return small_avx2<GgmlType::Q5_1>(src, out, w.cols);
      default:
        break;
    }
  }
  ggml_type_info(w.type).dequantize(src, out, w.cols);
}

}  // namespace lmac::cpu
