// K-quant x 16-bit activation products. A tile keeps 16 weight rows in the lanes of a
// register, 4 quants of a row per 32-bit lane, as the Q8_0 VNNI kernel does: per
// sub-block and row, sum u qx = 256 sum u h + sum u l (qx = 256 h + l, h a signed byte,
// l an unsigned one), each an exact byte-product sum: the quants u (0..63) are the
// unsigned operand against h and the signed one against l (vpdpbusd; on AVX2 vpmaddubsw,
// whose pair sums stay below 2 * 255 * 63 < 2^15, then vpmaddwd). The offset and mins
// come from the activations' sums over 16 values. IQ4_NL / IQ4_XS, whose weights are
// signed levels w up to 127 in size, and the lattice types (IQ2, IQ3, IQ1: signed grid
// values up to 62, lm/detail/iq_lattice.hpp) take the levels from their nibbles by a byte
// shuffle, a table per type. With vpdpbusd, w + 128 (0..241) is the unsigned operand against h and w the
// signed one against l: S = 256 (sum (w + 128) h - 128 sum h) + sum w l, sum h from the
// activations. AVX2 alone (vpmaddubsw's pair sums would saturate) multiplies the levels
// as 16-bit words by the activations themselves (vpmaddwd then an add: pair sums below
// 2 * 127 * 32768 < 2^23), the lanes' four quants first shuffled to the order 0, 2, 1,
// 3, so that a lane's even bytes are quants 0 and 1 and its odd bytes 2 and 3, as pairs
// of activations lie in memory.
#include "lmac/lm/detail/cpu_kquant.hpp"
#include "lmac/lm/detail/cpu_simd.hpp"  // first: its pragmas cover the intrinsics headers

#include <immintrin.h>

#include <array>
#include <cstring>
#include <memory>

#include "lmac/lm/detail/kquant_int.hpp"

namespace lmac::cpu {
namespace {

using km::KqShape;

constexpr size_t kTileRows = kPackedTileRows, kChunk = 32;
constexpr size_t kTileTokens = 4;  // AVX-512: tokens per pass over a tile
constexpr size_t kTileTokensAvx2 = 4;

// A tile's layout per block (16 rows x 256 values, or 32 for the 32-value types):
// chunks of 32 values, each 4 x 64 bytes of nibbles (types whose quants are below 4:
// 2 x 64 bytes of bit pairs) and 64 bytes per high-bit plane;
// then, K-quants, per sub-block the 16 rows' integer scales (16 signed bytes), then
// their mins likewise, then the rows' d and dmin as float32; 32-value types the rows'
// fp16 scales and mins as stored. Q4_K: 4.75 bits a weight (its file: 4.5); Q4_0 and
// Q4_1 5 (4.5 and 5).
struct TileLayout {
  size_t chunk, chunks, scales, mins, d, dmin, block;  // chunk stride and count; offsets; bytes a block
};
constexpr size_t round64(size_t n) { return (n + 63) / 64 * 64; }
// The 16 levels of a type with levels (the IQ4 and lattice types), as the byte
// shuffles' table.
template <GgmlType W>
constexpr std::array<int8_t, 16> kLevels = [] {
  std::array<int8_t, 16> t{};
  for (uint32_t u = 0; u < 16; ++u) t[u] = static_cast<int8_t>(km::kq_weight<W>(u));
  return t;
}();
constexpr TileLayout tile_layout(const KqShape& s) {
  const size_t chunk = 64 * static_cast<size_t>(s.low_bits + s.high_bits), chunks = s.values / kChunk;
  if (s.values == kChunk) return {chunk, 1, 0, 0, chunk, chunk + 32, round64(chunk + (s.min ? 64 : 32))};
  const size_t n_sub = s.values / static_cast<size_t>(s.sub);
  const size_t scales = chunks * chunk, mins = scales + 16 * n_sub, d = mins + (s.min ? 16 * n_sub : 0);
  const size_t dmin = d + 64;
  return {chunk, chunks, scales, mins, d, dmin, dmin + (s.min ? 64 : 0)};
}

// Decoding streams the tiles from memory once per step, and the hardware prefetcher
// alone leaves the kernels waiting on most cache lines (as in the Q8_0 kernel). Each
// chunk of a block fetches its share of the whole block (chunks, scales, mins, d) that
// lies kFetchAhead bytes on: every line of the stream is asked for once, ahead of use,
// by the first pass over a tile (measured best of 2, 4, 8 and 16 KiB at the 1.1B shape).
constexpr size_t kFetchAhead = 4096;
template <GgmlType W>
[[gnu::always_inline]] inline void fetch_ahead(const uint8_t* block, size_t cc) {
  constexpr TileLayout L = tile_layout(km::kq_shape(W));
  constexpr size_t share = (L.block / L.chunks + 63) / 64 * 64, ahead = (kFetchAhead + L.block - 1) / L.block * L.block;
  const uint8_t* p = block + ahead + cc * share;
  for (size_t at = 0; at < share; at += 64) _mm_prefetch(reinterpret_cast<const char*>(p + at), _MM_HINT_T0);
}

// ---- Packing (once per tensor, or per call for a selection of rows)

template <GgmlType W>
void pack_tile(const Matrix& w, std::span<const int32_t> rows, size_t j0, size_t nj, uint8_t* out) {
  constexpr KqShape sh = km::kq_shape(W);
  constexpr TileLayout L = tile_layout(sh);
  static_assert(sh.low_bits == 4 || sh.high_bits == 0, "high-bit planes follow 4 x 64 bytes of nibbles");
  const size_t n_sb = w.cols / sh.values;
  std::memset(out, 0, n_sb * L.block);
  for (size_t r = 0; r < nj; ++r) {
    const uint8_t* row = w.product_row(rows, j0 + r);
    for (size_t sb = 0; sb < n_sb; ++sb) {
      uint8_t u[256];
      int8_t sc[16], m[16];
      float d = 0.0f, dmin = 0.0f;
      const uint8_t* src = row + sb * sh.block;
      km::kq_block<W>(src, u, sc, m, &d, &dmin);
      uint8_t* group = out + sb * L.block;
      for (size_t cc = 0; cc < L.chunks; ++cc) {
        uint8_t* chunk = group + cc * L.chunk;
        const uint8_t* uc = u + kChunk * cc;
        for (size_t k = 0; k < 4; ++k) {
          if constexpr (sh.low_bits == 2)  // byte v: groups v, v + 2, v + 4, v + 6 in its bit pairs
            for (size_t v = 0; v < 2; ++v)
              chunk[64 * v + 4 * r + k] =
                  static_cast<uint8_t>((uc[4 * v + k] & 3) | (uc[4 * (v + 2) + k] & 3) << 2 |
                                       (uc[4 * (v + 4) + k] & 3) << 4 | (uc[4 * (v + 6) + k] & 3) << 6);
          else
            for (size_t v = 0; v < 4; ++v)
              chunk[64 * v + 4 * r + k] =
                  static_cast<uint8_t>((uc[4 * v + k] & 0xF) | (uc[4 * (v + 4) + k] & 0xF) << 4);
          if constexpr (sh.high_bits == 1) {
            uint32_t bits = 0;
            for (size_t g = 0; g < 8; ++g) bits |= (uc[4 * g + k] >> 4 & 1u) << g;
            chunk[256 + 4 * r + k] = static_cast<uint8_t>(bits);
          }
          if constexpr (sh.high_bits == 2)
            for (size_t p = 0; p < 2; ++p) {
              uint32_t bits = 0;
              for (size_t c = 0; c < 4; ++c) bits |= (uc[4 * (4 * p + c) + k] >> 4 & 3u) << (2 * c);
              chunk[256 + 64 * p + 4 * r + k] = static_cast<uint8_t>(bits);
            }
        }
      }
      if constexpr (sh.values == kChunk) {  // the fp16 scale and min as stored
        std::memcpy(group + L.d + 2 * r, src, 2);
        if constexpr (sh.min) std::memcpy(group + L.dmin + 2 * r, src + 2, 2);
        continue;
      }
      for (size_t j = 0; j < sh.values / sh.sub; ++j) {
        group[L.scales + 16 * j + r] = static_cast<uint8_t>(sc[j]);
        if constexpr (sh.min) group[L.mins + 16 * j + r] = static_cast<uint8_t>(m[j]);
      }
      std::memcpy(group + L.d + 4 * r, &d, 4);
      if constexpr (sh.min) std::memcpy(group + L.dmin + 4 * r, &dmin, 4);
    }
  }
}

// ---- Scalar: the definition itself, on the rows as stored.

template <GgmlType W>
void product_scalar(const Matrix& w, std::span<const int32_t> rows, size_t j0, size_t nj, const Q8Activations& x,
                    float* y, size_t y_stride) {
  for (size_t t = 0; t < x.n; ++t) {
    const int16_t* q = x.q.data() + t * x.k;
    const float* d = x.d.data() + t * (x.k / kChunk);
    for (size_t j = 0; j < nj; ++j)
      y[t * y_stride + j] = km::kq_dot<W>(
          w.product_row(rows, j0 + j), w.cols, [q](size_t i) { return int32_t{q[i]}; }, d);
  }
}

// The sum over sub-block s of chunk c for token t from 16-value sums (x.s16: X, for
// S = 256 H + L - o X and the min term; x.h16: the high bytes' sum the levels' H takes).
inline int32_t sub_sum(const std::vector<int32_t>& sums16, const Q8Activations& x, size_t t, size_t c, size_t s,
                       int sub) {
  const int32_t* s16 = sums16.data() + t * (x.k / 16) + 2 * c;
  return sub == 16 ? s16[s] : s16[0] + s16[1];
}

// ---- AVX-512 VNNI

// 16 rows' signed integer scales as floats.
__attribute__((target("avx512f"))) inline __m512 scale_ints_avx512(const uint8_t* p) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(p))));
}

// 16 rows' fp16 scales widened (exact).
__attribute__((target("avx512f"))) inline __m512 half_scales_avx512(const uint8_t* p) {
  return _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(p)));
}

__attribute__((target("avx512f"))) inline __m512 negate(__m512 v) {
  return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(v), _mm512_set1_epi32(INT32_MIN)));
}

// Quants 4g..4g+3 of the 16 rows (group g of a chunk) as bytes.
template <int LB, int HB>
__attribute__((target("avx512f,avx512bw"))) inline __m512i group_avx512(const __m512i* nib, const __m512i* hp, int g) {
  if constexpr (LB == 2)
    return _mm512_and_si512(_mm512_srli_epi16(nib[g % 2], static_cast<unsigned>(2 * (g / 2))), _mm512_set1_epi8(3));
  const __m512i low_mask = _mm512_set1_epi8(0x0F);
  const __m512i low =
      g < 4 ? _mm512_and_si512(nib[g], low_mask) : _mm512_and_si512(_mm512_srli_epi16(nib[g - 4], 4), low_mask);
  if constexpr (HB == 1) {
    const __m512i b = g < 4 ? _mm512_slli_epi16(hp[0], static_cast<unsigned>(4 - g))
                            : _mm512_srli_epi16(hp[0], static_cast<unsigned>(g - 4));
    return _mm512_or_si512(low, _mm512_and_si512(b, _mm512_set1_epi8(0x10)));
  } else if constexpr (HB == 2) {
    const int c = g % 4;
    const __m512i v = hp[g / 4];
    const __m512i b = c < 2 ? _mm512_slli_epi16(v, static_cast<unsigned>(4 - 2 * c))
                            : _mm512_srli_epi16(v, static_cast<unsigned>(2 * c - 4));
    return _mm512_or_si512(low, _mm512_and_si512(b, _mm512_set1_epi8(0x30)));
  } else {
    return low;
  }
}

// kFetch: the first pass over the tile fetches ahead; later passes find it in cache (a
// run-time test in the chunk loop measured 30 % slower Q6_K decoding).
template <GgmlType W, int T, bool kFetch>
__attribute__((target("avx512f,avx512bw,avx512vnni,f16c"))) void tile_tokens_avx512(const uint8_t* tile, size_t n_sb,
                                                                                    const Q8Activations& x, size_t t0,
                                                                                    float* y, size_t y_stride,
                                                                                    size_t nj) {
  constexpr KqShape sh = km::kq_shape(W);
  constexpr TileLayout L = tile_layout(sh);
  constexpr int ns = static_cast<int>(kChunk) / sh.sub, gps = sh.sub / 4;  // sub-blocks, groups per sub-block
  __m512 acc[T];
  const uint8_t* xb[T];
  for (int t = 0; t < T; ++t) {
    acc[t] = _mm512_setzero_ps();
    xb[t] = x.bytes.data() + (t0 + static_cast<size_t>(t)) * 2 * x.k;
  }
  const __m512i levels = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kLevels<W>.data())));
  for (size_t sb = 0; sb < n_sb; ++sb) {
    const uint8_t* group = tile + sb * L.block;
    constexpr bool k_quant = sh.values != kChunk;
    const __m512 d = k_quant ? _mm512_load_ps(group + L.d) : _mm512_setzero_ps();
    const __m512 dmin = k_quant && sh.min ? _mm512_load_ps(group + L.dmin) : _mm512_setzero_ps();
    for (size_t cc = 0; cc < L.chunks; ++cc) {
      const size_t c = L.chunks * sb + cc;  // the chunk's index in the row: its activation block
      const uint8_t* p = group + cc * L.chunk;
      if constexpr (kFetch) fetch_ahead<W>(group, cc);
      __m512i nib[4], hp[2];
      for (size_t v = 0; v < size_t{sh.low_bits}; ++v) nib[v] = _mm512_load_si512(p + 64 * v);
      for (size_t v = 0; v < size_t{sh.high_bits}; ++v) hp[v] = _mm512_load_si512(p + 256 + 64 * v);
#pragma GCC unroll 2
      for (int s = 0; s < ns; ++s) {
        __m512i h[T], l[T];
        for (int t = 0; t < T; ++t) h[t] = l[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int g = s * gps; g < (s + 1) * gps; ++g) {
          const __m512i wv = group_avx512<sh.low_bits, sh.high_bits>(nib, hp, g);
          // levels: w against l, w + 128 against h
          const __m512i w = sh.levels ? _mm512_shuffle_epi8(levels, wv) : wv;
          const __m512i u = sh.levels ? _mm512_xor_si512(w, _mm512_set1_epi8(-128)) : wv;
          for (int t = 0; t < T; ++t) {
            h[t] = _mm512_dpbusd_epi32(h[t], u, _mm512_set1_epi32(load_i32(xb[t] + c * 64 + 4 * g)));
            l[t] = _mm512_dpbusd_epi32(l[t], _mm512_set1_epi32(load_i32(xb[t] + c * 64 + kChunk + 4 * g)), w);
          }
        }
        // D_j, and -M_j (the min term adds X (-M_j) dx; -(M dx) is (-M) dx exactly)
        const size_t j = cc * ns + static_cast<size_t>(s);  // sub-block in the block
        __m512 D, neg_m = _mm512_setzero_ps();
        if constexpr (k_quant) {
          D = _mm512_mul_ps(d, scale_ints_avx512(group + L.scales + 16 * j));
          if constexpr (sh.min) neg_m = negate(_mm512_mul_ps(dmin, scale_ints_avx512(group + L.mins + 16 * j)));
        } else {
          D = half_scales_avx512(group + L.d);
          if constexpr (sh.min) neg_m = half_scales_avx512(group + L.dmin);  // the stored min is -M
        }
        for (int t = 0; t < T; ++t) {
          const size_t tt = t0 + static_cast<size_t>(t);
          const int32_t X = sub_sum(x.s16, x, tt, c, static_cast<size_t>(s), sh.sub);
          const __m512i H =
              sh.levels ? _mm512_sub_epi32(
                              h[t], _mm512_set1_epi32(128 * sub_sum(x.h16, x, tt, c, static_cast<size_t>(s), sh.sub)))
                        : h[t];
          const __m512i S =
              _mm512_sub_epi32(_mm512_add_epi32(_mm512_slli_epi32(H, 8), l[t]), _mm512_set1_epi32(sh.offset * X));
          const __m512 dx = _mm512_set1_ps(x.d[tt * (x.k / kChunk) + c]);
          acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(S), _mm512_mul_ps(D, dx), acc[t]);
          if constexpr (sh.min)
            acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(static_cast<float>(X)), _mm512_mul_ps(neg_m, dx), acc[t]);
        }
      }
    }
  }
  const __mmask16 m = static_cast<__mmask16>((1u << nj) - 1u);
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(y + (t0 + static_cast<size_t>(t)) * y_stride, m, acc[t]);
}

// ---- 256-bit registers: AVX2, and AVX-VNNI where the CPU has it (the same sums).

namespace avx2 {
#define LMAC_KQ_TARGET __attribute__((target("avx2,fma,f16c")))
#define LMAC_KQ_VNNI 0
#include "lmac/lm/detail/kquant_avx2.inc"
#undef LMAC_KQ_VNNI
#undef LMAC_KQ_TARGET
}  // namespace avx2

namespace avx_vnni {
#define LMAC_KQ_TARGET __attribute__((target("avx2,fma,f16c,avxvnni")))
#define LMAC_KQ_VNNI 1
#include "lmac/lm/detail/kquant_avx2.inc"
#undef LMAC_KQ_VNNI
#undef LMAC_KQ_TARGET
}  // namespace avx_vnni

template <GgmlType W>
void tile_all_tokens(const uint8_t* tile, size_t n_sb, const Q8Activations& x, float* y, size_t y_stride, size_t nj) {
  if (have_vnni()) {
    for (size_t t = 0; t < x.n; t += kTileTokens)
      with_count<kTileTokens>(x.n - t, [&](auto n) {
        with_flag(t == 0, [&](auto fetch) {
          tile_tokens_avx512<W, decltype(n)::value, fetch>(tile, n_sb, x, t, y, y_stride, nj);
        });
      });
  } else {
    for (size_t half = 0; half < (nj > 8 ? 2u : 1u); ++half)
      for (size_t t = 0; t < x.n; t += kTileTokensAvx2)
        with_count<kTileTokensAvx2>(x.n - t, [&](auto n) {
          with_flag(half == 0 && t == 0, [&](auto fetch) {
            constexpr int T = decltype(n)::value;
            if (have_avx_vnni())
              avx_vnni::half_tokens_avx2<W, T, fetch>(tile, n_sb, half, x, t, y, y_stride, nj);
            else
              avx2::half_tokens_avx2<W, T, fetch>(tile, n_sb, half, x, t, y, y_stride, nj);
          });
        });
  }
}

// f(tag) for w's type, one of the kq types (km::with_block_type's tags).
template <typename F>
void with_kq_type(GgmlType t, F&& f) {
  km::with_block_type(t, [&](auto tag) {
    if constexpr (km::kq_type(decltype(tag)::value)) f(tag);
  });
}

size_t tile_bytes(const Matrix& w) {
  const KqShape sh = km::kq_shape(w.type);
  return w.cols / sh.values * tile_layout(sh).block;
}

}  // namespace

bool kq_product_ok(const Matrix& w) { return km::kq_type(w.type) && w.cols % km::kq_shape(w.type).values == 0; }

ActBytes kq_act_bytes() { return have_avx2() ? ActBytes::Signed : ActBytes::None; }

std::shared_ptr<const PackedTiles> pack_kq(const Matrix& w, int threads) {
  if (!have_avx2() || !kq_product_ok(w) || w.rows == 0) return nullptr;
  return pack_once(w, PackedLayout::KqTiles, tile_bytes(w), threads, [&](size_t j0, size_t nj, uint8_t* out) {
    with_kq_type(w.type, [&](auto tag) { pack_tile<decltype(tag)::value>(w, {}, j0, nj, out); });
  });
}

void kq_product_tile(const Matrix& w, const PackedTiles* packed, std::span<const int32_t> rows, size_t j0, size_t nj,
                     const Q8Activations& x, float* y, size_t y_stride, std::vector<uint8_t>& scratch) {
  with_kq_type(w.type, [&](auto tag) {
    constexpr GgmlType W = decltype(tag)::value;
    if (!have_avx2()) return product_scalar<W>(w, rows, j0, nj, x, y + j0, y_stride);
    const uint8_t* tile = nullptr;
    if (packed != nullptr && rows.empty()) {
      tile = packed->data.get() + j0 / kTileRows * packed->tile_bytes;
    } else {
      const size_t bytes = tile_bytes(w);
      scratch.resize(bytes + 64);
      void* start = scratch.data();
      size_t space = scratch.size();
      auto* aligned = static_cast<uint8_t*>(std::align(64, bytes, start, space));
      pack_tile<W>(w, rows, j0, nj, aligned);
      tile = aligned;
    }
    tile_all_tokens<W>(tile, w.cols / km::kq_shape(W).values, x, y + j0, y_stride, nj);
  });
}

}  // namespace lmac::cpu
