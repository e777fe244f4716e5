// Q8_0 products (docs/ARITHMETIC.md §2.3) as the CUDA backend computes them on int8
// tensor cores, written once for the device and for the host.
//
// A block's integer sum is exact whatever adds it, so it can come from PTX
// `mma.sync.m16n8k32` (k = 32 is one Q8_0 block): the 16-bit activation quants are split
// as q = 256 h + l (h = q >> 8 signed, l = q & 255 unsigned), one s8 x s8 and one
// s8 x u8 MMA give W.h and W.l, and isum = 256 W.h + W.l (|W.h| < 2^19, W.l < 2^20:
// no overflow). The float chain over blocks then runs per output in block order, on
// the lane that holds the output, exactly as the CPU's.
//
// `q8_warp_tile` is one warp's whole product, written over kLanes lanes: the CUDA kernel
// runs it with kLanes = 1 (each thread its own lane, the MMA a PTX instruction), the grid
// backend with kLanes = 32 (all lanes in lock step, the MMA emulated from the PTX ISA's
// fragment layout). So the tests without a GPU check the repacked layouts, the fragment
// addressing and the chain; only the MMA instruction itself is left to `lmac
// check-device` on a GPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "lmac/lm/detail/kernel_math.hpp"

// Unrolled on the device, where the per-lane arrays must stay in registers.
#if defined(__CUDACC__)
#define LMAC_UNROLL _Pragma("unroll")
#else
#define LMAC_UNROLL
#endif

namespace lmac::km {

// Weights repacked once: int8 quants row after row (cols bytes a row, so every block is
// 32-byte aligned) and every (sub-)block's scale as f32. Q8_0: its quants and fp16
// scale widened (exact). K-quants and the like (lm/detail/kquant_int.hpp): the weights
// w(u) (u - o within -32..63, IQ4's levels -127..113), D_j per sub-block of `sub` values
// and, for types with mins, -M_j.
struct Q8Planes {
  const int8_t* q = nullptr;
  const float* d = nullptr;  // rows x cols/sub
  size_t rows = 0, cols = 0;
  const float* neg_m = nullptr;  // rows x cols/sub, or null (no mins)
  size_t sub = 32;               // values per scale: 32, or 16 (Q2_K, Q3_K, Q6_K)
};

// Activations quantized per token (§2.3), the 16-bit quants split in two byte planes.
struct Q8Acts {
  const int8_t* h = nullptr;   // q >> 8,   n x cols
  const uint8_t* l = nullptr;  // q & 255,  n x cols
  const float* d = nullptr;    // dx,       n x cols/32
  size_t n = 0;
  const int32_t* s16 = nullptr;  // sums of q over 16 values, n x cols/16 (for the mins)
};

// One block of 32 activations into the planes, and the sums of its two halves' quants.
LMAC_HD void q8_quantize_split(const float* x, int8_t* h, uint8_t* l, float* d, int32_t* s16) {
  int16_t q[32];
  q8_quantize_block(x, q, d);
  s16[0] = s16[1] = 0;
  for (int i = 0; i < 32; ++i) {
    h[i] = static_cast<int8_t>(q[i] >> 8);
    l[i] = static_cast<uint8_t>(q[i] & 0xFF);
    s16[i / 16] += q[i];
  }
}

// Row tiles of 16 weight rows and token tiles of 8 tokens per MMA; a warp takes
// kQ8RowTiles row tiles and NR token tiles.
constexpr size_t kQ8RowTiles = 2;
constexpr size_t kQ8WarpRows = 16 * kQ8RowTiles;

LMAC_HD uint32_t load_u32(const void* p) {
#if defined(__CUDA_ARCH__)
  // 4-byte aligned (offsets 4t inside aligned blocks); read-only during the kernel.
  return __ldg(static_cast<const unsigned int*>(p));
#else
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
#endif
}

// The plane row that output j reads: rows[j] for a row subset, else j; j past the
// outputs reads the last one (its results are not written).
LMAC_HD size_t q8_plane_row(const int32_t* rows, size_t n_out, size_t j) {
  const size_t c = j < n_out ? j : n_out - 1;
  return rows != nullptr ? static_cast<size_t>(rows[c]) : c;
}

// Lane roles in mma.m16n8k32 (PTX ISA), g = lane / 4, t = lane % 4, 4 bytes a register
// with the lowest index in the lowest byte:
//   A (16 x 32, row-major):    a0 = A[g][4t..], a1 = A[g+8][4t..], a2 = A[g][16+4t..], a3 = A[g+8][16+4t..]
//   B (32 x 8, column-major):  b0 = B[4t..][g], b1 = B[16+4t..][g]
//   C (16 x 8):                c0 = C[g][2t], c1 = C[g][2t+1], c2 = C[g+8][2t], c3 = C[g+8][2t+1]
// A holds weight rows, B tokens (a token's 32 quants are a column), C the block sums.

// One warp's outputs y[tok * n_out + j] for j in [r0, r0 + kQ8WarpRows) and tokens
// [t0, t0 + 8 NR), cut at n_out and x.n. lane0: the first lane this call computes.
// Mma(d, a, b, b_unsigned) computes d[l] = fragments of A B for the kLanes lanes.
// kSub, kMins: the planes' sub-block size and whether they have mins, as constants
// (Q8_0's code stays what it was; with_plane_kind picks them).
template <size_t kLanes, size_t NR, size_t kSub, bool kMins, class Mma>
LMAC_HD void q8_warp_tile(const Q8Planes& w, const int32_t* rows, size_t n_out, const Q8Acts& x, size_t r0, size_t t0,
                          size_t lane0, float* y, Mma mma) {
  const size_t nb = w.cols / 32, nsub = w.cols / kSub;
  // Plane rows and tokens a lane reads (32 bits: fewer registers on the device).
  uint32_t arow[kLanes][kQ8RowTiles][2], btok[kLanes][NR], ctok[kLanes][NR][2];
  float acc[kLanes][kQ8RowTiles][NR][4];
  for (size_t li = 0; li < kLanes; ++li) {
    const size_t g = (lane0 + li) / 4, t = (lane0 + li) % 4;
    LMAC_UNROLL
    for (size_t i = 0; i < kQ8RowTiles; ++i)
      for (size_t h = 0; h < 2; ++h)
        arow[li][i][h] = static_cast<uint32_t>(q8_plane_row(rows, n_out, r0 + 16 * i + g + 8 * h));
    LMAC_UNROLL
    for (size_t u = 0; u < NR; ++u) {
      const size_t last = x.n - 1, tb = t0 + 8 * u;
      btok[li][u] = static_cast<uint32_t>(tb + g < x.n ? tb + g : last);
      for (size_t c = 0; c < 2; ++c)
        ctok[li][u][c] = static_cast<uint32_t>(tb + 2 * t + c < x.n ? tb + 2 * t + c : last);
      LMAC_UNROLL
      for (size_t i = 0; i < kQ8RowTiles; ++i)
        for (size_t e = 0; e < 4; ++e) acc[li][i][u][e] = 0.0f;
    }
  }
  // The lane's A fragments (weights) of block b, 4 registers per row tile.
  using Fragments = uint32_t[kQ8RowTiles][kLanes][4];
  const auto load_a = [&](size_t b, Fragments& a) {
    for (size_t li = 0; li < kLanes; ++li) {
      const size_t t = (lane0 + li) % 4;
      LMAC_UNROLL
      for (size_t i = 0; i < kQ8RowTiles; ++i) {
        const int8_t* p0 = w.q + size_t{arow[li][i][0]} * w.cols + b * 32 + 4 * t;
        const int8_t* p1 = w.q + size_t{arow[li][i][1]} * w.cols + b * 32 + 4 * t;
        a[i][li][0] = load_u32(p0), a[i][li][1] = load_u32(p1);
        a[i][li][2] = load_u32(p0 + 16), a[i][li][3] = load_u32(p1 + 16);
      }
    }
  };
  Fragments a, next;
  load_a(0, a);
  for (size_t b = 0; b < nb; ++b) {
    if (b + 1 < nb) load_a(b + 1, next);  // in flight while this block is worked on
    LMAC_UNROLL
    for (size_t u = 0; u < NR; ++u) {
      uint32_t bh[kLanes][2], bl[kLanes][2];
      for (size_t li = 0; li < kLanes; ++li) {
        const size_t at = size_t{btok[li][u]} * w.cols + b * 32 + 4 * ((lane0 + li) % 4);
        bh[li][0] = load_u32(x.h + at), bh[li][1] = load_u32(x.h + at + 16);
        bl[li][0] = load_u32(x.l + at), bl[li][1] = load_u32(x.l + at + 16);
      }
      LMAC_UNROLL
      for (size_t i = 0; i < kQ8RowTiles; ++i)
        // Sub-blocks of 16: one MMA pair per half, the other half's weights zero.
        for (size_t half = 0; half < 32 / kSub; ++half) {
          uint32_t ah[kLanes][4];
          for (size_t li = 0; li < kLanes; ++li) LMAC_UNROLL
          for (size_t r = 0; r < 4; ++r) ah[li][r] = kSub == 32 || r / 2 == half ? a[i][li][r] : 0u;
          int32_t dh[kLanes][4], dl[kLanes][4];
          mma(dh, ah, bh, false);
          mma(dl, ah, bl, true);
          const size_t j = b * (32 / kSub) + half;  // the sub-block
          for (size_t li = 0; li < kLanes; ++li) {
            LMAC_UNROLL
            for (size_t e = 0; e < 4; ++e) {
              const size_t row = arow[li][i][e / 2], tok = ctok[li][u][e % 2];
              const float dx = x.d[tok * nb + b];
              float v = fma(i2f(dh[li][e] * 256 + dl[li][e]), mul(w.d[row * nsub + j], dx), acc[li][i][u][e]);
              if constexpr (kMins) {
                const int32_t* s16 = x.s16 + tok * (w.cols / 16);
                const int32_t sum = kSub == 16 ? s16[j] : s16[2 * j] + s16[2 * j + 1];
                v = fma(i2f(sum), mul(w.neg_m[row * nsub + j], dx), v);
              }
              acc[li][i][u][e] = v;
            }
          }
        }
    }
    if (b + 1 < nb) std::memcpy(a, next, sizeof a);
  }
  for (size_t li = 0; li < kLanes; ++li) {
    const size_t g = (lane0 + li) / 4, t = (lane0 + li) % 4;
    LMAC_UNROLL
    for (size_t i = 0; i < kQ8RowTiles; ++i) LMAC_UNROLL
    for (size_t u = 0; u < NR; ++u)
      for (size_t e = 0; e < 4; ++e) {
        const size_t j = r0 + 16 * i + g + 8 * (e / 2), tok = t0 + 8 * u + 2 * t + e % 2;
        if (j < n_out && tok < x.n) y[tok * n_out + j] = acc[li][i][u][e];
      }
  }
}

// f(integral_constant<size_t, sub>, bool_constant<mins>) for planes w (host code).
template <class F>
void with_plane_kind(const Q8Planes& w, F&& f) {
  using S16 = std::integral_constant<size_t, 16>;
  using S32 = std::integral_constant<size_t, 32>;
  if (w.sub == 16)
    w.neg_m != nullptr ? f(S16{}, std::true_type{}) : f(S16{}, std::false_type{});
  else
    w.neg_m != nullptr ? f(S32{}, std::true_type{}) : f(S32{}, std::false_type{});
}

// Element i of row r of the repacked weights (get_rows), as the reference dequantizer
// makes it: Q8_0 q * d (exact), K-quants D (u - o), less M where there are mins.
LMAC_HD float q8_plane_value(const Q8Planes& w, size_t r, size_t i) {
  const size_t j = r * (w.cols / w.sub) + i / w.sub;
  const float v = mul(w.d[j], i2f(w.q[r * w.cols + i]));
  return w.neg_m != nullptr ? add(v, w.neg_m[j]) : v;
}

// The planes of a stored Q8_0 matrix (ggml blocks: an fp16 scale, 32 int8).
inline void q8_repack(const uint8_t* data, size_t rows, size_t cols, size_t row_bytes, int8_t* q, float* d) {
  const size_t nb = cols / 32;
  for (size_t r = 0; r < rows; ++r)
    for (size_t b = 0; b < nb; ++b) {
      const uint8_t* blk = data + r * row_bytes + b * 34;
      d[r * nb + b] = half_to_float(static_cast<uint16_t>(blk[0] | blk[1] << 8));
      std::memcpy(q + r * cols + b * 32, blk + 2, 32);
    }
}

// Token tiles a warp takes: enough for n tokens, at most 8 (an instantiation each).
inline size_t q8_token_tiles(size_t n) { return n <= 8 ? 1 : n <= 16 ? 2 : n <= 32 ? 4 : 8; }

#if !defined(__CUDACC__)
// mma.m16n8k32 with s32 results for a whole warp on the host, from the fragment layout
// above: d[lane] = the lane's C fragment of A B (A s8; B s8, or u8 when b_unsigned).
struct MmaM16N8K32Emulated {
  void operator()(int32_t (&d)[32][4], const uint32_t (&a)[32][4], const uint32_t (&b)[32][2], bool b_unsigned) const {
    int32_t A[16][32], B[32][8];
    for (int lane = 0; lane < 32; ++lane) {
      const int g = lane / 4, t = lane % 4;
      for (int e = 0; e < 4; ++e) {
        // Byte e of a register, as an unsigned or a two's complement signed value.
        const auto u8 = [&](uint32_t r) { return static_cast<int32_t>((r >> (8 * e)) & 0xFF); };
        const auto s8 = [&](uint32_t r) { return u8(r) - ((u8(r) & 0x80) << 1); };
        A[g][4 * t + e] = s8(a[lane][0]);
        A[g + 8][4 * t + e] = s8(a[lane][1]);
        A[g][16 + 4 * t + e] = s8(a[lane][2]);
        A[g + 8][16 + 4 * t + e] = s8(a[lane][3]);
        for (int r = 0; r < 2; ++r) B[16 * r + 4 * t + e][g] = b_unsigned ? u8(b[lane][r]) : s8(b[lane][r]);
      }
    }
    for (int lane = 0; lane < 32; ++lane)
      for (int e = 0; e < 4; ++e) {
        const int row = lane / 4 + 8 * (e / 2), col = 2 * (lane % 4) + e % 2;
        int32_t s = 0;
        for (int k = 0; k < 32; ++k) s += A[row][k] * B[k][col];
        d[lane][e] = s;
      }
  }
};
#endif

}  // namespace lmac::km
