// CPU kernels. Batch invariance: a matmul output is dot16(dequantized row, x) for every
// batch size and thread count (Q8_0 and K-quant weights: the integer block products of
// cpu_q8 and cpu_kquant);
// threads split rows or tokens, never a reduction. SIMD width never changes the order:
// AVX2 runs the 16 lanes as two registers, the scalar path as an array, both with fused
// multiply-add. Attention lives in cpu_attention.
#include "lmac/lm/detail/cpu_simd.hpp"  // first: its pragmas cover the intrinsics headers

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "lmac/common/det_math.hpp"
#include "lmac/common/error.hpp"
#include "lmac/common/parallel.hpp"
#include "lmac/lm/backend.hpp"
#include "lmac/lm/detail/cpu_attention.hpp"
#include "lmac/lm/detail/cpu_dequant.hpp"
#include "lmac/lm/detail/cpu_kquant.hpp"
#include "lmac/lm/detail/cpu_packed.hpp"
#include "lmac/lm/detail/cpu_q8.hpp"
#include "lmac/lm/detail/host_backend.hpp"

namespace lmac {
namespace {

using cpu::dequantize_row;
using cpu::reduce16;

float dot16_scalar(const float* a, const float* b, size_t n) {
  float acc[16] = {};
  for (size_t i = 0; i < n; ++i) acc[i & 15] = std::fma(a[i], b[i], acc[i & 15]);
  return reduce16(acc);
}

__attribute__((target("avx2,fma"))) float hsum_tree(__m256 lo, __m256 hi) {
  __m256 s8 = _mm256_add_ps(lo, hi);
  __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  // (s4[0] + s4[2]) + (s4[1] + s4[3])
  __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  __m128 s1 = _mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1));
  return _mm_cvtss_f32(s1);
}

__attribute__((target("avx2,fma"))) float dot16_avx2(const float* a, const float* b, size_t n) {
  __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    lo = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), lo);
    hi = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), hi);
  }
  if (i == n) return hsum_tree(lo, hi);
  float acc[16];
  _mm256_storeu_ps(acc, lo);
  _mm256_storeu_ps(acc + 8, hi);
  for (size_t l = 0; i < n; ++i, ++l) acc[l] = std::fma(a[i], b[i], acc[l]);
  return reduce16(acc);
}

// out = silu(gate) * up, with e^-g from det_exp_shifted (out holds -g first).
void swiglu_scalar(const float* gate, const float* up, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = -gate[i];
  det_exp_shifted(out, n, 0.0f);
  for (size_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + out[i]) * up[i];
}

// The same operations 16 lanes at a time, in chunks that stay in L1 between the passes.
__attribute__((target("avx512f"))) void swiglu_avx512(const float* gate, const float* up, size_t n, float* out) {
  constexpr size_t kChunk = 512;
  for (size_t b = 0; b + 16 <= n; b += kChunk) {
    const size_t m = std::min(kChunk, n - b) / 16 * 16;
    for (size_t i = b; i < b + m; i += 16)
      _mm512_storeu_si512(out + i, _mm512_xor_si512(_mm512_loadu_si512(gate + i), _mm512_set1_epi32(INT32_MIN)));
    det_exp_shifted(out + b, m, 0.0f);
    for (size_t i = b; i < b + m; i += 16) {
      const __m512 e = _mm512_add_ps(_mm512_set1_ps(1.0f), _mm512_loadu_ps(out + i));
      _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_div_ps(_mm512_loadu_ps(gate + i), e), _mm512_loadu_ps(up + i)));
    }
  }
  const size_t done = n / 16 * 16;
  swiglu_scalar(gate + done, up + done, n - done, out + done);
}

void swiglu_rows(const float* gate, const float* up, size_t n, float* out) {
  if (have_avx512()) return swiglu_avx512(gate, up, n, out);
  swiglu_scalar(gate, up, n, out);
}

constexpr size_t kTile = 16;  // output rows per piece of a product

// The blocked products' sizes (tile_loop): k values per block, tokens per block, and
// the rows an accumulator block holds (a tile's).
constexpr size_t kBlockK = 384, kBlockTokens = 60, kAccRows = kTile;
// AVX-512's register block: 4 rows x 6 tokens, 24 accumulators, 10 loads for 24 fused
// multiply-adds (4 x 4: 8 for 16). At the 1.1B shapes it ran 5-10 % faster than 4 x 4;
// 8 x 3 (as many accumulators) ran at half speed.
constexpr int kRegRows = 4, kRegTokens = 6;
// AVX2's register block (2 rows x 3 tokens) measured 10-15 % slower with k in blocks
// (its accumulators fill most of the 16 registers): it takes k whole.
constexpr size_t kWholeK = std::numeric_limits<size_t>::max() / 2;

// The elements a cache line holds: a buffer of so many more than it needs has a 64-byte
// boundary (aligned64) within them, and rows of a tile are that much longer than a row
// so that a power-of-two width does not put them in the same cache sets.
template <typename T>
constexpr size_t kLineOf = 64 / sizeof(T);
// The first 64-byte boundary at or after p: a 16-lane load that crosses a cache line
// costs two.
template <typename T>
T* aligned64(T* p) {
  return p + (kLineOf<T> - reinterpret_cast<uintptr_t>(p) / sizeof(T) % kLineOf<T>) % kLineOf<T>;
}

// The 16 lanes of row r and token t of a register block, in its accumulator block.
inline float* acc_slot(float* acc, int r, int t) {
  return acc + (static_cast<size_t>(t) * kAccRows + static_cast<size_t>(r)) * 16;
}

// RB weight rows x TB tokens over k in [k0, k1); each output is exactly dot16 of its
// pair. The 16 lanes of pair (r, t) continue from acc[(t * kAccRows + r) * 16] unless
// `first`; with `out` they are reduced into it, else stored back for the next k block.
template <int RB, int TB>
__attribute__((target("avx2,fma"))) void microkernel_avx2(const float* const* w, const float* const* x, size_t k0,
                                                          size_t k1, float* acc_mem, bool first, float* out,
                                                          size_t out_stride) {
  __m256 acc[RB][TB][2];
  for (int r = 0; r < RB; ++r)
    for (int t = 0; t < TB; ++t) {
      float* a = acc_slot(acc_mem, r, t);
      acc[r][t][0] = first ? _mm256_setzero_ps() : _mm256_load_ps(a);
      acc[r][t][1] = first ? _mm256_setzero_ps() : _mm256_load_ps(a + 8);
    }
  for (size_t i = k0; i < k1; i += 16) {
    __m256 xl[TB], xh[TB];
    for (int t = 0; t < TB; ++t) {
      xl[t] = _mm256_loadu_ps(x[t] + i);
      xh[t] = _mm256_loadu_ps(x[t] + i + 8);
    }
    for (int r = 0; r < RB; ++r) {
      __m256 wl = _mm256_loadu_ps(w[r] + i), wh = _mm256_loadu_ps(w[r] + i + 8);
      for (int t = 0; t < TB; ++t) {
        acc[r][t][0] = _mm256_fmadd_ps(wl, xl[t], acc[r][t][0]);
        acc[r][t][1] = _mm256_fmadd_ps(wh, xh[t], acc[r][t][1]);
      }
    }
  }
  for (int r = 0; r < RB; ++r)
    for (int t = 0; t < TB; ++t) {
      if (out) {
        out[static_cast<size_t>(t) * out_stride + static_cast<size_t>(r)] = hsum_tree(acc[r][t][0], acc[r][t][1]);
      } else {
        float* a = acc_slot(acc_mem, r, t);
        _mm256_store_ps(a, acc[r][t][0]);
        _mm256_store_ps(a + 8, acc[r][t][1]);
      }
    }
}

// The same 16 lanes in one register: bit-identical to the AVX2 pair of registers.
__attribute__((target("avx512f,avx2,fma"))) inline float hsum_tree512(__m512 v) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  return hsum_tree(_mm256_load_ps(lanes), _mm256_load_ps(lanes + 8));
}

// One step of reduce16 for several registers at once: two shuffles pick the pairs (of
// 128-bit lanes, or of elements within them) and one addition adds them. Registers by
// value, so that the accumulators never go through memory.
template <int Lo, int Hi>
__attribute__((target("avx512f"))) inline __m512 add_lanes(__m512 a, __m512 b) {
  return _mm512_add_ps(_mm512_shuffle_f32x4(a, b, Lo), _mm512_shuffle_f32x4(a, b, Hi));
}
template <int Lo, int Hi>
__attribute__((target("avx512f"))) inline __m512 add_elements(__m512 a, __m512 b) {
  return _mm512_add_ps(_mm512_shuffle_ps(a, b, Lo), _mm512_shuffle_ps(a, b, Hi));
}

// reduce16 of rows 0-3 of tokens t0 .. t0 + 3 (a token past the last repeats the last)
// in 15 additions of the same pairs (so the same bits): s8 of two tokens of a row, s4
// of its four tokens (token t0 + q in 128-bit lane q), then per lane (s4[0] + s4[2]) +
// (s4[1] + s4[3]) of rows 0-3.
template <int TB>
__attribute__((target("avx512f"))) inline __m512 reduce_4x4(const __m512 (&acc)[4][TB], int t0) {
  const auto tok = [&](int q) { return std::min(t0 + q, TB - 1); };
  __m512 p[4];
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r)
    p[r] = add_lanes<0x88, 0xDD>(add_lanes<0x44, 0xEE>(acc[r][tok(0)], acc[r][tok(1)]),
                                 add_lanes<0x44, 0xEE>(acc[r][tok(2)], acc[r][tok(3)]));
  return add_elements<0x88, 0xDD>(add_elements<0x44, 0xEE>(p[0], p[1]), add_elements<0x44, 0xEE>(p[2], p[3]));
}

__attribute__((target("avx512f"))) inline __m128 extract_lane(__m512 v, int q) {
  switch (q) {
    case 0:
      return _mm512_extractf32x4_ps(v, 0);
    case 1:
      return _mm512_extractf32x4_ps(v, 1);
    case 2:
      return _mm512_extractf32x4_ps(v, 2);
    default:
      return _mm512_extractf32x4_ps(v, 3);
  }
}

// Every loop over the accumulators is unrolled: GCC 12 keeps an array indexed by a live
// loop counter in memory (the stack traffic cost 19 % of F16 prefill). The contract is
// microkernel_avx2's.
// How the AVX-512 kernel reads 16 weights as floats: stored float32 (dequantized
// tiles), or F16 / BF16 as stored, widened in registers (exactly, so the same floats).
struct FloatWeights {
  using T = float;
  __attribute__((target("avx512f"))) static __m512 load(const float* p) { return _mm512_loadu_ps(p); }
};
struct HalfWeights {
  using T = uint16_t;
  __attribute__((target("avx512f"))) static __m512 load(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
};
struct Bf16Weights {
  using T = uint16_t;
  __attribute__((target("avx512f"))) static __m512 load(const uint16_t* p) {
    const __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
  }
};

template <int RB, int TB, typename Weights>
__attribute__((target("avx512f,avx2,fma"))) void microkernel_avx512(const typename Weights::T* const* w,
                                                                    const float* const* x, size_t k0, size_t k1,
                                                                    float* acc_mem, bool first, float* out,
                                                                    size_t out_stride) {
  __m512 acc[RB][TB];
#pragma GCC unroll 16
  for (int r = 0; r < RB; ++r)
#pragma GCC unroll 16
    for (int t = 0; t < TB; ++t) acc[r][t] = first ? _mm512_setzero_ps() : _mm512_load_ps(acc_slot(acc_mem, r, t));
  for (size_t i = k0; i < k1; i += 16) {
    __m512 xv[TB];
#pragma GCC unroll 16
    for (int t = 0; t < TB; ++t) xv[t] = _mm512_loadu_ps(x[t] + i);
#pragma GCC unroll 16
    for (int r = 0; r < RB; ++r) {
      const __m512 wv = Weights::load(w[r] + i);
#pragma GCC unroll 16
      for (int t = 0; t < TB; ++t) acc[r][t] = _mm512_fmadd_ps(wv, xv[t], acc[r][t]);
    }
  }
  if (!out) {
#pragma GCC unroll 16
    for (int r = 0; r < RB; ++r)
#pragma GCC unroll 16
      for (int t = 0; t < TB; ++t) _mm512_store_ps(acc_slot(acc_mem, r, t), acc[r][t]);
    return;
  }
  if constexpr (RB == 4) {
#pragma GCC unroll 4
    for (int t0 = 0; t0 < TB; t0 += 4) {
      const __m512 sum = reduce_4x4<TB>(acc, t0);
#pragma GCC unroll 4
      for (int q = 0; q < 4; ++q)
        if (t0 + q < TB) _mm_storeu_ps(out + static_cast<size_t>(t0 + q) * out_stride, extract_lane(sum, q));
    }
  } else {
#pragma GCC unroll 16
    for (int r = 0; r < RB; ++r)
#pragma GCC unroll 16
      for (int t = 0; t < TB; ++t)
        out[static_cast<size_t>(t) * out_stride + static_cast<size_t>(r)] = hsum_tree512(acc[r][t]);
  }
}

// Brings the weights of a thread's next tile into its second-level cache a little at
// every step of the current one: dequantizing a tile straight from memory left the
// thread waiting on it (a seventh of the F16 prefill's time in a profile; a tenth with).
struct Prefetch {
  const char* p = nullptr;
  size_t left = 0, per_step = 0;
  void step() {
    for (size_t i = 0; i < per_step && left > 0; ++i, p += 64, left -= std::min<size_t>(left, 64))
      _mm_prefetch(p, _MM_HINT_T1);
  }
};

// Outputs of rows [0, nj) of `w` (a tile: float32, or F16 / BF16 that the kernel widens;
// row stride w_stride) for n tokens, nj <= kTile.
// A row of a real model's matrix is kilobytes, so a register block's rows and tokens
// taken whole over k would come from the second-level cache at every step. Instead k
// runs in blocks of BlockK (AVX-512: kBlockK): one block of the tile's rows (24 KB) stays
// in L1 while every token group of a block of kBlockTokens tokens meets it, and the
// groups' 16-lane accumulators wait in `acc` between k blocks. Each lane's chain still
// runs over i = l, l + 16, ... in order, so the outputs are dot16's bits. (Blocks of
// 256, 384 and 512 values, and of 12 to 120 tokens, measured alike with the 4 x 6
// register block; taking k whole was 10-25 % slower at the 1.1B shapes.)
template <int RB, int TB, size_t BlockK, typename W, typename Kernel>
void tile_loop(const W* w, size_t w_stride, size_t nj, const float* x, size_t n, size_t k, float* y, size_t y_stride,
               Prefetch& next, Kernel&& kernel) {
  thread_local std::vector<float> acc_buf(kBlockTokens * kAccRows * 16 + kLineOf<float>);
  float* acc = aligned64(acc_buf.data());
  for (size_t tb0 = 0; tb0 < n; tb0 += kBlockTokens) {
    const size_t nb = std::min(kBlockTokens, n - tb0);
    for (size_t k0 = 0; k0 < k; k0 += BlockK) {
      const size_t k1 = std::min(k, k0 + BlockK);
      auto rows = [&](auto tb_tag, size_t t0) {
        constexpr int tb = decltype(tb_tag)::value;
        const float* xt[tb];
        for (int q = 0; q < tb; ++q) xt[q] = x + (tb0 + t0 + static_cast<size_t>(q)) * k;
        float* out = k1 == k ? y + (tb0 + t0) * y_stride : nullptr;
        auto call = [&](auto rb_tag, size_t j) {
          constexpr int rb = decltype(rb_tag)::value;
          const W* wr[rb];
          for (int r = 0; r < rb; ++r) wr[r] = w + (j + static_cast<size_t>(r)) * w_stride;
          kernel.template operator()<rb, tb>(wr, xt, k0, k1, acc + (t0 * kAccRows + j) * 16, k0 == 0,
                                             out ? out + j : nullptr, y_stride);
        };
        size_t j = 0;
        for (; j + RB <= nj; j += RB) call(std::integral_constant<int, RB>{}, j);
        for (; j < nj; ++j) call(std::integral_constant<int, 1>{}, j);
        next.step();
      };
      size_t t = 0;
      for (; t + TB <= nb; t += TB) rows(std::integral_constant<int, TB>{}, t);
      for (; t < nb; ++t) rows(std::integral_constant<int, 1>{}, t);
    }
  }
}

// Below this many elements an element-wise step stays on one thread (waking the others
// costs more than the work).
constexpr size_t kParallelMin = 8192;

// Rows per piece so that a piece holds about kParallelMin elements.
size_t per_piece(size_t row_elements) { return std::max<size_t>(1, kParallelMin / std::max<size_t>(1, row_elements)); }

class CpuBackend final : public HostBackend {
 public:
  explicit CpuBackend(int threads) : HostBackend(threads) {}
  const char* name() const override { return "cpu"; }

  // Q8_0 and K-quant matrices are repacked for their tile kernels where the CPU has
  // them; other large matrices that products read (F16, BF16, Q8_0 on AVX2) are moved
  // as stored into memory of the backend's own (cpu_packed.hpp); rows that are only
  // looked up stay on the mapped file.
  Matrix weights(const Matrix& w, WeightUse use) override {
    Matrix m = w;
    if (use == WeightUse::RowsOnly) return m;
    if (auto p = cpu::kq_product_ok(w) ? cpu::pack_kq(w, threads_) : cpu::pack_q8(w, threads_)) {
      m.prepared = p.get();
      packed_.push_back(std::move(p));
    } else if (auto rows = cpu::copy_rows(w, threads_)) {
      m.data = rows->data.get();
      packed_.push_back(std::move(rows));
    }
    return m;
  }
  using HostBackend::weights;
  size_t weight_bytes() const override {
    size_t sum = 0;
    for (const auto& p : packed_) sum += p->bytes;
    return sum;
  }

  void matmul(const Matrix& w, const float* x, size_t n, float* y, std::span<const int32_t> rows) override {
    const size_t n_out = rows.empty() ? w.rows : rows.size();
    const size_t tiles = (n_out + kTile - 1) / kTile;
    const bool q8 = cpu::q8_product_ok(w), kq = cpu::kq_product_ok(w);
    if (q8 || kq) {  // integer products on quantized activations
      cpu::size_q8(n, w.cols, xq_,
                   q8 ? (cpu::have_vnni() ? cpu::ActBytes::Offset : cpu::ActBytes::None) : cpu::kq_act_bytes());
      parallel_for_each(threads_, n, [&](size_t t) { cpu::quantize_q8_row(x, t, xq_); });
      const auto* packed = static_cast<const cpu::PackedTiles*>(w.prepared);
      parallel_for(threads_, tiles, stream_grain(tiles), [&](size_t b, size_t e) {
        thread_local std::vector<uint8_t> scratch;
        for (size_t tile = b; tile < e; ++tile) {
          const size_t j0 = tile * kTile, nj = std::min(kTile, n_out - j0);
          if (q8)
            cpu::q8_product_tile(w, packed, rows, j0, nj, xq_, y, n_out, scratch);
          else
            cpu::kq_product_tile(w, packed, rows, j0, nj, xq_, y, n_out, scratch);
        }
      });
      return;
    }
    if (cpu::fused_products_ok(w, n)) {  // decode-shaped: weights widened in registers
      parallel_for(threads_, n_out, stream_grain(tiles) * kTile,
                   [&](size_t b, size_t e) { cpu::fused_products(w, rows, b, e - b, x, n, y + b, n_out); });
      return;
    }
    // Runs of neighbouring tiles, about eight per thread: each tile's weights are fetched
    // while the one before it computes (next_tile_bytes), and the runs balance the threads.
    parallel_for(threads_, tiles, std::max<size_t>(1, tiles / (8 * static_cast<size_t>(threads_))),
                 [&](size_t b, size_t e) {
                   for (size_t tile = b; tile < e; ++tile) product_tile(w, x, n, y, rows, tile, tile + 1 < e);
                 });
  }

  // Rows [kTile tile, kTile (tile + 1)) of the product: on F16 / BF16 weights as stored
  // (AVX-512), else on weights dequantized to float32.
  void product_tile(const Matrix& w, const float* x, size_t n, float* y, std::span<const int32_t> rows, size_t tile,
                    bool fetch_next) {
    const size_t n_out = rows.empty() ? w.rows : rows.size();
    const bool fast = have_avx2() && w.cols % 16 == 0;
    const size_t j0 = tile * kTile, nj = std::min(kTile, n_out - j0);
    Prefetch next = fetch_next ? next_tile_bytes(w, rows, j0 + kTile, n_out, n, w.cols) : Prefetch{};
    if (fast && have_avx512() && (w.type == GgmlType::F16 || w.type == GgmlType::BF16))
      return half_tile(w, x, n, y + j0, n_out, rows, j0, nj, next);
    thread_local std::vector<float> buf;
    // Rows a cache line apart from a power of two: a tile's rows at a stride of 8 KB (k =
    // 2048) would share the first-level cache's sets and evict each other.
    const size_t stride = w.cols + kLineOf<float>;
    buf.resize(kTile * stride + kLineOf<float>);
    float* tile_rows = aligned64(buf.data());
    for (size_t j = 0; j < nj; ++j) dequantize_row(w, w.product_row(rows, j0 + j), &tile_rows[j * stride]);
    if (fast && have_avx512())
      tile_loop<kRegRows, kRegTokens, kBlockK>(
          static_cast<const float*>(tile_rows), stride, nj, x, n, w.cols, y + j0, n_out, next,
          []<int R, int T>(const float* const* a, const float* const* b, size_t k0, size_t k1, float* acc, bool first,
                           float* o,
                           size_t st) { microkernel_avx512<R, T, FloatWeights>(a, b, k0, k1, acc, first, o, st); });
    else if (fast)
      tile_loop<2, 3, kWholeK>(
          static_cast<const float*>(tile_rows), stride, nj, x, n, w.cols, y + j0, n_out, next,
          []<int R, int T>(const float* const* a, const float* const* b, size_t k0, size_t k1, float* acc, bool first,
                           float* o, size_t st) { microkernel_avx2<R, T>(a, b, k0, k1, acc, first, o, st); });
    else
      for (size_t t = 0; t < n; ++t)
        for (size_t j = 0; j < nj; ++j)
          y[t * n_out + j0 + j] = dot16_scalar(&tile_rows[j * stride], x + t * w.cols, w.cols);
  }

  // The tile's F16 / BF16 rows copied as stored (a cache line apart from a power of two,
  // as above) and widened in the kernel's registers: half the bytes of float32 rows in
  // the first-level cache, and no pass that widens them first (10 % faster at the 1.1B
  // shapes than the dequantized tile).
  static void half_tile(const Matrix& w, const float* x, size_t n, float* y, size_t n_out,
                        std::span<const int32_t> rows, size_t j0, size_t nj, Prefetch& next) {
    thread_local std::vector<uint16_t> buf;
    const size_t stride = w.cols + kLineOf<uint16_t>;
    buf.resize(kTile * stride + kLineOf<uint16_t>);
    uint16_t* tile_rows = aligned64(buf.data());
    for (size_t j = 0; j < nj; ++j)
      std::memcpy(&tile_rows[j * stride], w.product_row(rows, j0 + j), w.cols * sizeof(uint16_t));
    const auto run = [&]<typename Weights>(Weights) {
      tile_loop<kRegRows, kRegTokens, kBlockK>(
          static_cast<const uint16_t*>(tile_rows), stride, nj, x, n, w.cols, y, n_out, next,
          []<int R, int T>(const uint16_t* const* a, const float* const* b, size_t k0, size_t k1, float* acc,
                           bool first, float* o,
                           size_t st) { microkernel_avx512<R, T, Weights>(a, b, k0, k1, acc, first, o, st); });
    };
    if (w.type == GgmlType::F16)
      run(HalfWeights{});
    else
      run(Bf16Weights{});
  }

  // The bytes of output rows [j0, j0 + kTile) when they are contiguous in the file, spread
  // over the steps of a tile_loop of n tokens and k columns.
  static Prefetch next_tile_bytes(const Matrix& w, std::span<const int32_t> rows, size_t j0, size_t n_out, size_t n,
                                  size_t k) {
    if (!rows.empty() || j0 >= n_out) return {};
    const size_t bytes = (std::min(n_out, j0 + kTile) - j0) * w.row_bytes;
    const size_t steps = std::max<size_t>(1, (n + kRegTokens - 1) / kRegTokens * ((k + kBlockK - 1) / kBlockK));
    return {reinterpret_cast<const char*>(w.data + j0 * w.row_bytes), bytes, (bytes / 64 + steps) / steps};
  }

  // Pieces of neighbouring tiles, about four per thread, where reading the weights is
  // the work: each thread streams one run (single tiles taken in turn halved F16
  // decoding speed).
  size_t stream_grain(size_t tiles) const { return std::max<size_t>(1, tiles / (4 * static_cast<size_t>(threads_))); }

  void get_rows(const Matrix& w, std::span<const int32_t> ids, float* out) override {
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0 || static_cast<size_t>(ids[i]) >= w.rows) fail("token id outside the embedding");
      dequantize_row(w, w.data + static_cast<size_t>(ids[i]) * w.row_bytes, out + i * w.cols);
    }
  }

  void rmsnorm(const float* x, const float* weight, size_t n, size_t dim, float eps, float* y) override {
    parallel_for(threads_, n, per_piece(dim), [&](size_t b, size_t e) {
      for (size_t t = b; t < e; ++t) {
        const float* xt = x + t * dim;
        const float mean = dot16(xt, xt, dim) / static_cast<float>(dim);
        const float scale = 1.0f / std::sqrt(mean + eps);
        for (size_t i = 0; i < dim; ++i) y[t * dim + i] = (xt[i] * scale) * weight[i];
      }
    });
  }

  void rope(float* x, size_t n, size_t n_heads, size_t head_dim, size_t rot_dim, std::span<const int32_t> pos,
            const float* cos_sin) override {
    parallel_for(threads_, n, per_piece(n_heads * rot_dim), [&](size_t b, size_t e) {
      for (size_t t = b; t < e; ++t) {
        const float* cs = cos_sin + static_cast<size_t>(pos[t]) * rot_dim;
        for (size_t h = 0; h < n_heads; ++h) {
          float* v = x + (t * n_heads + h) * head_dim;
          for (size_t i = 0; i < rot_dim; i += 2) {
            const float x0 = v[i], x1 = v[i + 1], c = cs[i], s = cs[i + 1];
            v[i] = x0 * c - x1 * s;
            v[i + 1] = x0 * s + x1 * c;
          }
        }
      }
    });
  }

  void store_kv(std::span<const KvWrite> writes, const float* k, const float* v, size_t n_kv_head, size_t hd) override {
    const size_t kv_dim = n_kv_head * hd;
    thread_local std::vector<uint16_t> key;
    key.resize(kv_dim);
    for (size_t t = 0; t < writes.size(); ++t) {
      const KvWrite& w = writes[t];
      fp32_to_fp16(k + t * kv_dim, key.data(), kv_dim);
      for (size_t h = 0; h < n_kv_head; ++h) {
        for (size_t d = 0; d < hd; ++d) w.keys[key_index(w.pos, h, d, hd)] = key[h * hd + d];
        fp32_to_fp16(v + t * kv_dim + h * hd, w.values + value_index(w.pos, h, 0, hd), hd);
      }
    }
  }

  void attention(std::span<const AttentionJob> jobs, size_t n_head, size_t n_kv_head, size_t hd) override {
    cpu::attention(jobs, n_head, n_kv_head, hd, threads_);
  }

  // Element-wise work splits into fixed-size pieces: each element's arithmetic is the
  // same whichever thread does it.
  void swiglu(const float* gate, const float* up, size_t n, float* out) override {
    parallel_for(threads_, n, kParallelMin, [&](size_t b, size_t e) { swiglu_rows(gate + b, up + b, e - b, out + b); });
  }

  void add(float* x, const float* y, size_t n) override {
    parallel_for(threads_, n, 4 * kParallelMin, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) x[i] += y[i];
    });
  }

 private:
  cpu::Q8Activations xq_;  // the current product's activations, for Q8_0 and K-quant weights
  std::vector<std::shared_ptr<const cpu::PackedTiles>> packed_;
};

}  // namespace

float dot16(const float* a, const float* b, size_t n) {
  return have_avx2() ? dot16_avx2(a, b, n) : dot16_scalar(a, b, n);
}

std::unique_ptr<Backend> make_cpu_backend(int threads) { return std::make_unique<CpuBackend>(threads); }

}  // namespace lmac
