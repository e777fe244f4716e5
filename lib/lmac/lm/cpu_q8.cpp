// Q8_0 x 16-bit activation products. The AVX-512 VNNI kernel keeps 16 weight rows in
// the lanes of a register: tiles of 16 rows are packed (once per tensor, or per call for
// a selection of rows) so that one 64-byte load holds 4 weights of each row, and
// vpdpbusd adds 4 byte products per lane per instruction; the block sums are exact
// 32-bit integers (see cpu_q8.hpp for the byte split of the activations).
#include "lmac/lm/detail/cpu_q8.hpp"
#include "lmac/lm/detail/cpu_simd.hpp"  // first: its pragmas cover the intrinsics headers

#include <immintrin.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "lmac/common/parallel.hpp"

#include "lmac/lm/detail/kernel_math.hpp"
#include "lmac/lm/ggml_types.hpp"

namespace lmac::cpu {
namespace {

constexpr size_t kBlock = 32, kBlockBytes = 34;  // Q8_0: fp16 scale, 32 int8
constexpr size_t kTileRows = kPackedTileRows;
constexpr size_t kDirectMaxTokens = 2;     // measured: the direct kernel loses from 3 tokens on
constexpr size_t kTileQ = size_t{8} * 64;  // per block of a packed tile: 8 groups of 16 rows x 4 int8
constexpr size_t kTileTokens = 4;          // tokens per pass over a tile (measured best of 3-8 at 1.1B)
// Decode streams the weights from memory once per step: the hardware prefetcher alone
// leaves the kernel waiting on most cache lines (measured).
constexpr size_t kPrefetchAhead = 16 * kTileQ;

// A packed tile is one stream of units of two blocks: both blocks' weights, then both
// blocks' 16 fp16 scales (one cache line); a last lone block has a unit of its own,
// weights then scales and padding. With all the scales after the tile's weights,
// decoding read two streams per tile (1.1B Q8_0 decoding, 2 threads, alternating:
// batch 1 36.9-42.1 -> 39.2-45.1 tok/s, batch 16 197-216 -> 201-235).
constexpr size_t kScaleBytes = kTileRows * 2, kUnitBytes = 2 * kTileQ + 2 * kScaleBytes;
static_assert(kUnitBytes % 64 == 0);

// Bytes of one packed tile of nb blocks (whole cache lines).
size_t tile_bytes(size_t nb) { return nb / 2 * kUnitBytes + (nb % 2) * (kTileQ + 2 * kScaleBytes); }
// Block b's weights (8 groups of 64 bytes) and its 16 rows' scales in a tile of nb blocks.
size_t weights_at(size_t b) { return b / 2 * kUnitBytes + b % 2 * kTileQ; }
size_t scales_at(size_t b, size_t nb) {
  const bool paired = (b | 1) < nb;
  return b / 2 * kUnitBytes + (paired ? 2 : 1) * kTileQ + b % 2 * kScaleBytes;
}

// The fp16 bits of a block's scale; missing rows (nullptr) have scale 0.
uint16_t scale_bits(const uint8_t* block) { return block ? static_cast<uint16_t>(block[0] | block[1] << 8) : 0; }

// ---- Activations

// A block with a NaN or an infinity gets scale NaN and zero values, on every path alike
// (SIMD max and lrint treat NaN differently from the scalar ones), so its products are NaN.
void quantize_block_scalar(const float* x, int16_t* q, float* d) {
  float amax = 0.0f;
  bool finite = true;
  for (size_t i = 0; i < kBlock; ++i) {
    amax = std::max(amax, std::fabs(x[i]));
    finite = finite && std::fabs(x[i]) <= FLT_MAX;
  }
  if (!finite) {
    *d = NAN;
    std::fill(q, q + kBlock, int16_t{0});
    return;
  }
  const float id = km::q8_inverse_scale(amax);
  *d = amax / 32767.0f;
  for (size_t i = 0; i < kBlock; ++i) q[i] = static_cast<int16_t>(std::lrint(x[i] * id));
}

__attribute__((target("avx512f,avx512bw"))) void quantize_block_avx512(const float* x, int16_t* q, float* d) {
  const __m512 lo = _mm512_loadu_ps(x), hi = _mm512_loadu_ps(x + 16);
  const __m512 big = _mm512_set1_ps(FLT_MAX);
  if (_mm512_cmp_ps_mask(_mm512_abs_ps(lo), big, _CMP_NLE_UQ) |
      _mm512_cmp_ps_mask(_mm512_abs_ps(hi), big, _CMP_NLE_UQ)) {
    *d = NAN;
    std::fill(q, q + kBlock, int16_t{0});
    return;
  }
  const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(lo), _mm512_abs_ps(hi)));
  const float id = km::q8_inverse_scale(amax);
  *d = amax / 32767.0f;
  const __m512i qlo = _mm512_cvtps_epi32(_mm512_mul_ps(lo, _mm512_set1_ps(id)));
  const __m512i qhi = _mm512_cvtps_epi32(_mm512_mul_ps(hi, _mm512_set1_ps(id)));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(q), _mm512_cvtsepi32_epi16(qlo));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + 16), _mm512_cvtsepi32_epi16(qhi));
}

__attribute__((target("avx2,fma"))) void quantize_block_avx2(const float* x, int16_t* q, float* d) {
  const __m256 sign = _mm256_set1_ps(-0.0f), big = _mm256_set1_ps(FLT_MAX);
  __m256 v[4], amax_v = _mm256_setzero_ps();
  int nonfinite = 0;
  for (size_t i = 0; i < 4; ++i) {
    v[i] = _mm256_loadu_ps(x + 8 * i);
    const __m256 a = _mm256_andnot_ps(sign, v[i]);
    nonfinite |= _mm256_movemask_ps(_mm256_cmp_ps(a, big, _CMP_NLE_UQ));
    amax_v = _mm256_max_ps(amax_v, a);
  }
  if (nonfinite) {
    *d = NAN;
    std::fill(q, q + kBlock, int16_t{0});
    return;
  }
  __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(amax_v), _mm256_extractf128_ps(amax_v, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  const float amax = _mm_cvtss_f32(_mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1)));
  const float id = km::q8_inverse_scale(amax);
  *d = amax / 32767.0f;
  __m256i qi[4];
  for (size_t i = 0; i < 4; ++i) qi[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], _mm256_set1_ps(id)));
  for (size_t i = 0; i < 4; i += 2)  // packs works per 128-bit lane: put the quarters back in order
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + 8 * i),
                        _mm256_permute4x64_epi64(_mm256_packs_epi32(qi[i], qi[i + 1]), 0xD8));
}

// ---- Scalar products: the definition itself.

void product_scalar(const Matrix& w, std::span<const int32_t> rows, size_t j0, size_t nj, const Q8Activations& x,
                    float* y, size_t y_stride) {
  const size_t nb = w.cols / kBlock;
  for (size_t t = 0; t < x.n; ++t) {
    const int16_t* xq = x.q.data() + t * x.k;
    const float* xd = x.d.data() + t * nb;
    for (size_t j = 0; j < nj; ++j) {
      const uint8_t* row = w.product_row(rows, j0 + j);
      float acc = 0.0f;
      for (size_t b = 0; b < nb; ++b) {
        const uint8_t* blk = row + b * kBlockBytes;
        int32_t isum = 0;
        for (size_t i = 0; i < kBlock; ++i) isum += static_cast<int8_t>(blk[2 + i]) * xq[b * kBlock + i];
        acc = std::fma(static_cast<float>(isum), fp16_to_fp32(scale_bits(blk)) * xd[b], acc);
      }
      y[t * y_stride + j] = acc;
    }
  }
}

// ---- AVX2: 8 rows in the lanes, weights widened in registers, 8 row sums per hadd tree.

__attribute__((target("avx2"))) inline __m256i reduce8x8_epi32(const __m256i* v) {
  const __m256i a01 = _mm256_hadd_epi32(v[0], v[1]), a23 = _mm256_hadd_epi32(v[2], v[3]);
  const __m256i a45 = _mm256_hadd_epi32(v[4], v[5]), a67 = _mm256_hadd_epi32(v[6], v[7]);
  const __m256i lo = _mm256_hadd_epi32(a01, a23), hi = _mm256_hadd_epi32(a45, a67);
  return _mm256_add_epi32(_mm256_permute2x128_si256(lo, hi, 0x20), _mm256_permute2x128_si256(lo, hi, 0x31));
}

// T tokens from t0 against 8 rows: each block's weights are widened once for all T.
template <int T>
__attribute__((target("avx2,fma,f16c"))) void rows_tokens_avx2(const uint8_t* const* src, size_t nb,
                                                               const Q8Activations& x, size_t t0, float* y,
                                                               size_t y_stride, size_t nr) {
  __m256 acc[T];
  for (auto& a : acc) a = _mm256_setzero_ps();
  for (size_t b = 0; b < nb; ++b) {
    __m256i lo[8], hi[8];
    alignas(16) uint16_t scales[8];
    for (size_t r = 0; r < 8; ++r) {
      const uint8_t* blk = src[r] ? src[r] + b * kBlockBytes : nullptr;
      lo[r] = blk ? _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2)))
                  : _mm256_setzero_si256();
      hi[r] = blk ? _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 18)))
                  : _mm256_setzero_si256();
      scales[r] = scale_bits(blk);
    }
    const __m256 dw = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(scales)));
    for (int t = 0; t < T; ++t) {
      const size_t tt = t0 + static_cast<size_t>(t);
      const int16_t* xq = x.q.data() + tt * x.k + b * kBlock;
      const __m256i x0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq));
      const __m256i x1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xq + 16));
      __m256i prod[8];
      for (size_t r = 0; r < 8; ++r)
        prod[r] = _mm256_add_epi32(_mm256_madd_epi16(lo[r], x0), _mm256_madd_epi16(hi[r], x1));
      const __m256 sc = _mm256_mul_ps(dw, _mm256_set1_ps(x.d[tt * nb + b]));
      acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(reduce8x8_epi32(prod)), sc, acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) {
    alignas(32) float out[8];
    _mm256_store_ps(out, acc[t]);
    std::copy_n(out, nr, y + (t0 + static_cast<size_t>(t)) * y_stride);
  }
}

void product_avx2(const Matrix& w, std::span<const int32_t> rows, size_t j0, size_t nj, const Q8Activations& x,
                  float* y, size_t y_stride) {
  const size_t nb = w.cols / kBlock;
  for (size_t r0 = 0; r0 < nj; r0 += 8) {
    const size_t nr = std::min<size_t>(8, nj - r0);
    const uint8_t* src[8];
    for (size_t r = 0; r < 8; ++r) src[r] = r < nr ? w.product_row(rows, j0 + r0 + r) : nullptr;
    for (size_t t = 0; t < x.n; t += 4)
      with_count<4>(x.n - t,
                    [&](auto n) { rows_tokens_avx2<decltype(n)::value>(src, nb, x, t, y + r0, y_stride, nr); });
  }
}

// ---- AVX-512 VNNI

// Sixteen rows of 8 dwords each (rows r and r + 8 share a register) into 8 registers
// of 16 dwords, register g holding dword g of every row: an 8 x 8 transpose per half.
__attribute__((target("avx512f"))) void transpose_16x8(const __m256i* rows, __m512i* out) {
  const __m512i lo_idx = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
  const __m512i hi_idx = _mm512_setr_epi32(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
  __m512i z[8], t[8], u[8];
  for (int r = 0; r < 8; ++r) z[r] = _mm512_inserti64x4(_mm512_castsi256_si512(rows[r]), rows[r + 8], 1);
  for (int r = 0; r < 8; r += 2) {
    t[r] = _mm512_unpacklo_epi32(z[r], z[r + 1]);
    t[r + 1] = _mm512_unpackhi_epi32(z[r], z[r + 1]);
  }
  for (int r = 0; r < 8; r += 4) {
    u[r] = _mm512_unpacklo_epi64(t[r], t[r + 2]);
    u[r + 1] = _mm512_unpackhi_epi64(t[r], t[r + 2]);
    u[r + 2] = _mm512_unpacklo_epi64(t[r + 1], t[r + 3]);
    u[r + 3] = _mm512_unpackhi_epi64(t[r + 1], t[r + 3]);
  }
  for (int g = 0; g < 4; ++g) {
    out[g] = _mm512_permutex2var_epi32(u[g], lo_idx, u[g + 4]);
    out[g + 4] = _mm512_permutex2var_epi32(u[g], hi_idx, u[g + 4]);
  }
}

// Rows j0..j0+nj of w (zero rows past nj) into one tile of pack_q8's layout: per
// block, a dword transpose puts weights 4g..4g+3 of the 16 rows in group g.
__attribute__((target("avx512f,avx512bw"))) void pack_tile(const Matrix& w, std::span<const int32_t> rows, size_t j0,
                                                           size_t nj, uint8_t* out) {
  const size_t nb = w.cols / kBlock;
  const uint8_t* src[kTileRows];
  for (size_t r = 0; r < kTileRows; ++r) src[r] = r < nj ? w.product_row(rows, j0 + r) : nullptr;
  std::memset(out, 0, tile_bytes(nb));  // (the padding of a lone last block)
  for (size_t b = 0; b < nb; ++b) {
    __m256i q[kTileRows];
    for (size_t r = 0; r < kTileRows; ++r) {
      const uint8_t* blk = src[r] ? src[r] + b * kBlockBytes : nullptr;
      q[r] = blk ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2)) : _mm256_setzero_si256();
      const uint16_t bits = scale_bits(blk);
      std::memcpy(out + scales_at(b, nb) + r * 2, &bits, 2);
    }
    __m512i g[8];
    transpose_16x8(q, g);
    for (size_t i = 0; i < 8; ++i) _mm512_storeu_si512(out + weights_at(b) + 64 * i, g[i]);
  }
}

// Per block of 32 values, 32 high bytes then 32 low bytes of q + 32768 (the high byte
// of q itself, signed, when `flip` is 0: q + 32768's high byte is q's with its top bit
// flipped).
__attribute__((target("avx512f,avx512bw"))) void split_bytes_avx512(const int16_t* q, size_t k, uint8_t* out,
                                                                    int16_t flip) {
  for (size_t b = 0; b < k / kBlock; ++b) {
    const __m512i u = _mm512_xor_si512(_mm512_loadu_si512(q + b * kBlock), _mm512_set1_epi16(flip));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + b * 64), _mm512_cvtepi16_epi8(_mm512_srli_epi16(u, 8)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + b * 64 + 32),
                        _mm512_cvtepi16_epi8(_mm512_and_si512(u, _mm512_set1_epi16(0xff))));
  }
}

void split_bytes_scalar(const int16_t* q, size_t k, uint8_t* out, int16_t flip) {
  for (size_t i = 0; i < k; ++i) {
    const auto u = static_cast<uint16_t>(q[i] ^ flip);
    out[i / kBlock * 64 + i % kBlock] = static_cast<uint8_t>(u >> 8);
    out[i / kBlock * 64 + kBlock + i % kBlock] = static_cast<uint8_t>(u & 0xFF);
  }
}

// T tokens from t0 against one packed tile: per block, three exact vpdpbusd sums per
// row (weights times the high bytes, the low bytes, and ones) make sum qw qx.
template <int T>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void tile_tokens_avx512(const uint8_t* tile, size_t nb,
                                                                               const Q8Activations& x, size_t t0,
                                                                               float* y, size_t y_stride, size_t nj) {
  const __m512i ones = _mm512_set1_epi8(1);
  __m512 acc[T];
  const uint8_t* xb[T];
  for (int t = 0; t < T; ++t) {
    acc[t] = _mm512_setzero_ps();
    xb[t] = x.bytes.data() + (t0 + static_cast<size_t>(t)) * 2 * x.k;
  }
  for (size_t b = 0; b < nb; ++b) {
    const uint8_t* pb = tile + weights_at(b);
    // The stream kPrefetchAhead on: this block's lines, and after a unit's second block
    // the line of its scales.
    if (b % 2 == 1) _mm_prefetch(reinterpret_cast<const char*>(pb + kPrefetchAhead + kTileQ), _MM_HINT_T0);
    __m512i sw = _mm512_setzero_si512(), h[T], l[T];
    for (int t = 0; t < T; ++t) h[t] = l[t] = _mm512_setzero_si512();
    for (size_t g = 0; g < 8; ++g) {
      _mm_prefetch(reinterpret_cast<const char*>(pb + kPrefetchAhead + 64 * g), _MM_HINT_T0);
      const __m512i wv = _mm512_loadu_si512(pb + 64 * g);
      sw = _mm512_dpbusd_epi32(sw, ones, wv);
      for (int t = 0; t < T; ++t) {
        h[t] = _mm512_dpbusd_epi32(h[t], _mm512_set1_epi32(load_i32(xb[t] + b * 2 * kBlock + 4 * g)), wv);
        l[t] = _mm512_dpbusd_epi32(l[t], _mm512_set1_epi32(load_i32(xb[t] + b * 2 * kBlock + kBlock + 4 * g)), wv);
      }
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(tile + scales_at(b, nb))));
    const __m512i offset = _mm512_slli_epi32(sw, 15);  // 32768 sum qw
    for (int t = 0; t < T; ++t) {
      const __m512i isum = _mm512_sub_epi32(_mm512_add_epi32(_mm512_slli_epi32(h[t], 8), l[t]), offset);
      const __m512 s = _mm512_mul_ps(dw, _mm512_set1_ps(x.d[(t0 + static_cast<size_t>(t)) * nb + b]));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), s, acc[t]);
    }
  }
  const __mmask16 m = static_cast<__mmask16>((1u << nj) - 1u);
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + (t0 + static_cast<size_t>(t)) * y_stride, m, acc[t]);
}

void tile_all_tokens(const uint8_t* tile, size_t nb, const Q8Activations& x, float* y, size_t y_stride, size_t nj) {
  for (size_t t = 0; t < x.n; t += kTileTokens)
    with_count<kTileTokens>(x.n - t,
                            [&](auto n) { tile_tokens_avx512<decltype(n)::value>(tile, nb, x, t, y, y_stride, nj); });
}

template <int Imm>
__attribute__((target("avx512f"))) inline __m512i shuffle_epi32x2(__m512i a, __m512i b) {
  return _mm512_castps_si512(_mm512_shuffle_ps(_mm512_castsi512_ps(a), _mm512_castsi512_ps(b), Imm));
}

// Sixteen exact integer sums at once: r[4L + c] = sum of the lanes of v[4c + L].
__attribute__((target("avx512f"))) inline __m512i reduce16x16_epi32(const __m512i* v) {
  __m512i s8[8], s4[4];
  for (size_t m = 0; m < 8; ++m)
    s8[m] = _mm512_add_epi32(_mm512_shuffle_i32x4(v[2 * m], v[2 * m + 1], 0x44),
                             _mm512_shuffle_i32x4(v[2 * m], v[2 * m + 1], 0xEE));
  for (size_t m = 0; m < 4; ++m)
    s4[m] = _mm512_add_epi32(_mm512_shuffle_i32x4(s8[2 * m], s8[2 * m + 1], 0x88),
                             _mm512_shuffle_i32x4(s8[2 * m], s8[2 * m + 1], 0xDD));
  const __m512i g = _mm512_add_epi32(shuffle_epi32x2<0x44>(s4[0], s4[1]), shuffle_epi32x2<0xEE>(s4[0], s4[1]));
  const __m512i h = _mm512_add_epi32(shuffle_epi32x2<0x44>(s4[2], s4[3]), shuffle_epi32x2<0xEE>(s4[2], s4[3]));
  return _mm512_add_epi32(shuffle_epi32x2<0x88>(g, h), shuffle_epi32x2<0xDD>(g, h));
}

// One or two tokens: repacking would cost more than the products, so each row's block
// is widened in registers, multiplied pairwise (16 lanes of pair sums), and the 16
// rows' lanes are summed by reduce16x16_epi32.
template <int T>
__attribute__((target("avx512f,avx512bw"))) void product_direct_avx512(const Matrix& w, std::span<const int32_t> rows,
                                                                       size_t j0, size_t nj, const Q8Activations& x,
                                                                       size_t t0, float* y, size_t y_stride) {
  const size_t nb = w.cols / kBlock;
  const uint8_t* src[kTileRows];
  for (size_t r = 0; r < kTileRows; ++r) src[r] = r < nj ? w.product_row(rows, j0 + r) : nullptr;
  __m512 acc[T];
  for (auto& a : acc) a = _mm512_setzero_ps();
  for (size_t b = 0; b < nb; ++b) {
    __m512i wv[kTileRows];
    alignas(32) uint16_t scales[kTileRows];
    for (size_t r = 0; r < kTileRows; ++r) {
      const uint8_t* blk = src[r] ? src[r] + b * kBlockBytes : nullptr;
      wv[r] = blk ? _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2)))
                  : _mm512_setzero_si512();
      scales[r] = scale_bits(blk);
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(scales)));
    for (int t = 0; t < T; ++t) {
      const size_t tt = t0 + static_cast<size_t>(t);
      const __m512i xv = _mm512_loadu_si512(x.q.data() + tt * x.k + b * kBlock);
      __m512i prod[kTileRows];
      for (size_t r = 0; r < kTileRows; ++r) prod[4 * (r % 4) + r / 4] = _mm512_madd_epi16(wv[r], xv);
      const __m512 s = _mm512_mul_ps(dw, _mm512_set1_ps(x.d[tt * nb + b]));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(reduce16x16_epi32(prod)), s, acc[t]);
    }
  }
  const __mmask16 m = static_cast<__mmask16>((1u << nj) - 1u);
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + (t0 + static_cast<size_t>(t)) * y_stride, m, acc[t]);
}

void product_avx512(const Matrix& w, std::span<const int32_t> rows, size_t j0, size_t nj, const Q8Activations& x,
                    float* y, size_t y_stride, std::vector<uint8_t>& scratch) {
  if (x.n <= kDirectMaxTokens) {
    return with_count<kDirectMaxTokens>(
        x.n, [&](auto n) { product_direct_avx512<decltype(n)::value>(w, rows, j0, nj, x, 0, y, y_stride); });
  }
  const size_t nb = w.cols / kBlock;
  scratch.resize(tile_bytes(nb));
  pack_tile(w, rows, j0, nj, scratch.data());
  tile_all_tokens(scratch.data(), nb, x, y, y_stride, nj);
}

}  // namespace

bool q8_product_ok(const Matrix& w) { return w.type == GgmlType::Q8_0 && w.cols % kBlock == 0; }

bool have_vnni() {
  static const bool ok = __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni");
  return have_avx512() && ok;
}

std::shared_ptr<const PackedTiles> pack_q8(const Matrix& w, int threads) {
  if (!have_vnni() || !q8_product_ok(w) || w.rows == 0) return nullptr;
  return pack_once(w, PackedLayout::Q8Tiles, tile_bytes(w.cols / kBlock), threads,
                   [&](size_t j0, size_t nj, uint8_t* out) { pack_tile(w, {}, j0, nj, out); });
}

void size_q8(size_t n, size_t k, Q8Activations& out, ActBytes bytes) {
  out.n = n;
  out.k = k;
  out.split = bytes;
  out.q.resize(n * k);
  out.bytes.resize(bytes != ActBytes::None ? 2 * n * k : 0);
  out.d.resize(n * k / kBlock);
  out.s16.resize(bytes == ActBytes::Signed ? n * k / 16 : 0);
  out.h16.resize(bytes == ActBytes::Signed ? n * k / 16 : 0);
}

void quantize_q8_row(const float* x, size_t t, Q8Activations& out) {
  const size_t nb = out.k / kBlock;
  static const bool has_bw = __builtin_cpu_supports("avx512bw");
  const auto quantize = have_avx512() && has_bw ? quantize_block_avx512
                        : have_avx2()           ? quantize_block_avx2
                                                : quantize_block_scalar;
  const int16_t* q = out.q.data() + t * out.k;
  for (size_t b = 0; b < nb; ++b)
    quantize(x + t * out.k + b * kBlock, out.q.data() + t * out.k + b * kBlock, &out.d[t * nb + b]);
  if (out.split == ActBytes::None) return;
  const size_t n16 = out.s16.empty() ? 0 : out.k / 16;  // the K-quant tiles' offsets and mins
  for (size_t i = 0; i < n16; ++i) {
    int32_t sum = 0, high = 0;  // of q, and of h, its signed high byte (the level tiles')
    for (size_t j = 0; j < 16; ++j) sum += q[16 * i + j], high += q[16 * i + j] >> 8;
    out.s16[t * (out.k / 16) + i] = sum;
    out.h16[t * (out.k / 16) + i] = high;
  }
  const int16_t flip = out.split == ActBytes::Offset ? int16_t{-32768} : int16_t{0};
  if (have_avx512() && has_bw)
    split_bytes_avx512(q, out.k, out.bytes.data() + 2 * t * out.k, flip);
  else
    split_bytes_scalar(q, out.k, out.bytes.data() + 2 * t * out.k, flip);
}

void q8_product_tile(const Matrix& w, const PackedTiles* packed, std::span<const int32_t> rows, size_t j0, size_t nj,
                     const Q8Activations& x, float* y, size_t y_stride, std::vector<uint8_t>& scratch) {
  if (packed != nullptr && rows.empty() && have_vnni())
    tile_all_tokens(packed->data.get() + j0 / kTileRows * packed->tile_bytes, w.cols / kBlock, x, y + j0, y_stride, nj);
  else if (have_vnni())
    product_avx512(w, rows, j0, nj, x, y + j0, y_stride, scratch);
  else if (have_avx2())
    product_avx2(w, rows, j0, nj, x, y + j0, y_stride);
  else
    product_scalar(w, rows, j0, nj, x, y + j0, y_stride);
}

}  // namespace lmac::cpu
