// Attention kernels. One work item is one token's query heads that share a KV head:
// they read the same keys and values, so those are loaded once for all of them. Scores
// put 16 keys in the lanes of a register (keys are cached dimension-major in blocks of
// 16), so no horizontal sums are needed; each score is still one fused multiply-add
// chain over the head dimensions, the same at every SIMD width.
#include "lmac/lm/detail/cpu_attention.hpp"
#include "lmac/lm/detail/cpu_simd.hpp"  // first: its pragmas cover the intrinsics headers

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "lmac/common/det_math.hpp"
#include "lmac/common/parallel.hpp"
#include "lmac/lm/ggml_types.hpp"

namespace lmac::cpu {
namespace {

// The keys and values of one KV head of one sequence.
struct KvHead {
  const uint16_t* keys;    // block 0 of this head; block b at keys + b * block_stride
  size_t block_stride;     // values from one key block to the next
  const uint16_t* values;  // position 0 of this head; position j at values + j * value_stride
  size_t value_stride;
  size_t n;   // keys to attend to
  size_t hd;  // head dimensions
};

size_t blocks(size_t n) { return (n + kKeyBlock - 1) / kKeyBlock; }

// The cache holds IEEE half values; widening them is exact, so every path reads the
// same floats.
__attribute__((target("avx2,f16c"))) inline __m256 load8h(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
__attribute__((target("avx512f"))) inline __m512 load16h(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// ---- Scores: p[j] = (fma chain over d of q[d] k_j[d]) * scale; returns the largest.
// p is written in whole blocks (entries past n are scratch).

float scores_scalar(const float* q, const KvHead& kv, float scale, float* p) {
  float mx = -INFINITY;
  for (size_t j = 0; j < kv.n; ++j) {
    const uint16_t* k = kv.keys + j / kKeyBlock * kv.block_stride + j % kKeyBlock;
    float s = 0.0f;
    for (size_t d = 0; d < kv.hd; ++d) s = std::fma(q[d], fp16_to_fp32(k[d * kKeyBlock]), s);
    p[j] = s * scale;
    mx = p[j] > mx ? p[j] : mx;  // NaN never wins
  }
  return mx;
}

// Two blocks at a time: four independent chains.
__attribute__((target("avx2,fma,f16c"))) float scores_avx2(const float* q, const KvHead& kv, float scale, float* p) {
  const __m256 vs = _mm256_set1_ps(scale);
  const size_t nb = blocks(kv.n);
  for (size_t b = 0; b < nb; b += 2) {
    const uint16_t* k0 = kv.keys + b * kv.block_stride;
    const uint16_t* k1 = b + 1 < nb ? k0 + kv.block_stride : k0;  // a lone last block is done twice
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t d = 0; d < kv.hd; ++d) {
      const __m256 qd = _mm256_set1_ps(q[d]);
      a0 = _mm256_fmadd_ps(qd, load8h(k0 + d * kKeyBlock), a0);
      a1 = _mm256_fmadd_ps(qd, load8h(k0 + d * kKeyBlock + 8), a1);
      a2 = _mm256_fmadd_ps(qd, load8h(k1 + d * kKeyBlock), a2);
      a3 = _mm256_fmadd_ps(qd, load8h(k1 + d * kKeyBlock + 8), a3);
    }
    _mm256_storeu_ps(p + b * kKeyBlock, _mm256_mul_ps(a0, vs));
    _mm256_storeu_ps(p + b * kKeyBlock + 8, _mm256_mul_ps(a1, vs));
    if (b + 1 < nb) {
      _mm256_storeu_ps(p + (b + 1) * kKeyBlock, _mm256_mul_ps(a2, vs));
      _mm256_storeu_ps(p + (b + 1) * kKeyBlock + 8, _mm256_mul_ps(a3, vs));
    }
  }
  float mx = -INFINITY;
  for (size_t j = 0; j < kv.n; ++j) mx = p[j] > mx ? p[j] : mx;  // NaN never wins
  return mx;
}

__attribute__((target("avx512f"))) inline void finish_block_avx512(__m512 acc, __m512 scale, size_t b, size_t n,
                                                                   float* p, __m512& vmax) {
  acc = _mm512_mul_ps(acc, scale);
  _mm512_storeu_ps(p + b * kKeyBlock, acc);
  const size_t valid = std::min(kKeyBlock, n - b * kKeyBlock);
  const __mmask16 m = static_cast<__mmask16>((1u << valid) - 1u);
  // max(acc, vmax) returns vmax when acc is NaN: a NaN score never becomes the maximum,
  // as in the scalar path.
  vmax = _mm512_mask_max_ps(vmax, m, acc, vmax);
}

// H heads over NB blocks from block b: each key vector is loaded once for all H heads.
template <int H, int NB>
__attribute__((target("avx512f"))) inline void score_blocks_avx512(const float* const* q, const KvHead& kv, size_t b,
                                                                   __m512 scale, float* const* p, __m512* vmax) {
  __m512 acc[H][NB];
  for (auto& row : acc)
    for (auto& a : row) a = _mm512_setzero_ps();
  const uint16_t* k = kv.keys + b * kv.block_stride;
  for (size_t d = 0; d < kv.hd; ++d) {
    __m512 kd[NB];
    for (int i = 0; i < NB; ++i) kd[i] = load16h(k + static_cast<size_t>(i) * kv.block_stride + d * kKeyBlock);
    for (int h = 0; h < H; ++h) {
      const __m512 qd = _mm512_set1_ps(q[h][d]);
      for (int i = 0; i < NB; ++i) acc[h][i] = _mm512_fmadd_ps(qd, kd[i], acc[h][i]);
    }
  }
  for (int h = 0; h < H; ++h)
    for (int i = 0; i < NB; ++i) finish_block_avx512(acc[h][i], scale, b + static_cast<size_t>(i), kv.n, p[h], vmax[h]);
}

// Eight or more independent chains (H heads x NB blocks) hide the multiply-add latency
// and share each widened key vector among H multiply-adds (measured: 2 blocks for
// grouped heads left decoding long chunks waiting on the half-to-float loads).
template <int H>
__attribute__((target("avx512f"))) void scores_avx512(const float* const* q, const KvHead& kv, float scale,
                                                      float* const* p, float* mx) {
  constexpr int NB = H == 1 ? 8 : 4;
  const __m512 vs = _mm512_set1_ps(scale);
  __m512 vmax[H];
  for (auto& m : vmax) m = _mm512_set1_ps(-INFINITY);
  const size_t nb = blocks(kv.n);
  size_t b = 0;
  for (; b + NB <= nb; b += NB) score_blocks_avx512<H, NB>(q, kv, b, vs, p, vmax);
  for (; b < nb; ++b) score_blocks_avx512<H, 1>(q, kv, b, vs, p, vmax);
  for (int h = 0; h < H; ++h) mx[h] = _mm512_reduce_max_ps(vmax[h]);
}

void scores_group_avx512(size_t heads, const float* const* q, const KvHead& kv, float scale, float* const* p,
                         float* mx) {
  for (size_t h = 0; h < heads; h += 4)
    with_count<4>(heads - h, [&](auto n) { scores_avx512<decltype(n)::value>(q + h, kv, scale, p + h, mx + h); });
}

// ---- Sum of e[0..n): lane j mod 16, then the reduce16 tree. Lanes past n add +0,
// which leaves a sum of non-negative terms unchanged.

float sum16_scalar(const float* e, size_t n) {
  float acc[16] = {};
  for (size_t j = 0; j < n; ++j) acc[j % 16] += e[j];
  return reduce16(acc);
}

__attribute__((target("avx512f"))) float sum16_avx512(const float* e, size_t n) {
  __m512 acc = _mm512_setzero_ps();
  size_t j = 0;
  for (; j + 16 <= n; j += 16) acc = _mm512_add_ps(acc, _mm512_loadu_ps(e + j));
  if (j < n) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << (n - j)) - 1u), e + j));
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, acc);
  return reduce16(lanes);
}

// ---- Weighted values: out[d] = (fma chain over j of e_j v_j[d]) * inv.

void values_scalar(const float* e, float inv, const KvHead& kv, float* out) {
  for (size_t d = 0; d < kv.hd; ++d) {
    float o = 0.0f;
    for (size_t j = 0; j < kv.n; ++j) o = std::fma(e[j], fp16_to_fp32(kv.values[j * kv.value_stride + d]), o);
    out[d] = o * inv;
  }
}

// The whole head in NV registers of 8 dimensions (head sizes up to 96).
template <int NV>
__attribute__((target("avx2,fma,f16c"))) void values_avx2(const float* e, float inv, const KvHead& kv, float* out) {
  __m256 acc[NV];
  for (auto& a : acc) a = _mm256_setzero_ps();
  for (size_t j = 0; j < kv.n; ++j) {
    const __m256 w = _mm256_set1_ps(e[j]);
    const uint16_t* v = kv.values + j * kv.value_stride;
    for (size_t c = 0; c < NV; ++c) acc[c] = _mm256_fmadd_ps(w, load8h(v + 8 * c), acc[c]);
  }
  for (size_t c = 0; c < NV; ++c) _mm256_storeu_ps(out + 8 * c, _mm256_mul_ps(acc[c], _mm256_set1_ps(inv)));
}

// Larger heads: 8 registers at a time.
__attribute__((target("avx2,fma,f16c"))) void values_avx2(const float* e, float inv, const KvHead& kv, float* out) {
  for (size_t d0 = 0; d0 < kv.hd; d0 += 64) {
    const size_t nv = std::min<size_t>(8, (kv.hd - d0) / 8);
    __m256 acc[8];
    for (auto& a : acc) a = _mm256_setzero_ps();
    for (size_t j = 0; j < kv.n; ++j) {
      const __m256 w = _mm256_set1_ps(e[j]);
      const uint16_t* v = kv.values + j * kv.value_stride + d0;
      for (size_t c = 0; c < nv; ++c) acc[c] = _mm256_fmadd_ps(w, load8h(v + 8 * c), acc[c]);
    }
    for (size_t c = 0; c < nv; ++c) _mm256_storeu_ps(out + d0 + 8 * c, _mm256_mul_ps(acc[c], _mm256_set1_ps(inv)));
  }
}

// H heads over NV registers of 16 dimensions; each value row is loaded once for all H.
template <int H, int NV>
__attribute__((target("avx512f"))) void values_avx512(const float* const* e, const float* inv, const KvHead& kv,
                                                      float* const* out) {
  __m512 acc[H][NV];
  for (auto& row : acc)
    for (auto& a : row) a = _mm512_setzero_ps();
  for (size_t j = 0; j < kv.n; ++j) {
    const uint16_t* v = kv.values + j * kv.value_stride;
    __m512 vv[NV];
    for (size_t c = 0; c < NV; ++c) vv[c] = load16h(v + 16 * c);
    for (int h = 0; h < H; ++h) {
      const __m512 w = _mm512_set1_ps(e[h][j]);
      for (int c = 0; c < NV; ++c) acc[h][c] = _mm512_fmadd_ps(w, vv[c], acc[h][c]);
    }
  }
  for (int h = 0; h < H; ++h)
    for (size_t c = 0; c < NV; ++c) _mm512_storeu_ps(out[h] + 16 * c, _mm512_mul_ps(acc[h][c], _mm512_set1_ps(inv[h])));
}

// Up to 24 accumulators: as many heads as fit (at most 4), for head sizes 16..128.
template <int NV>
void values_group_avx512(size_t heads, const float* const* e, const float* inv, const KvHead& kv, float* const* out) {
  constexpr int kMaxH = std::min(4, std::max(1, 24 / NV));
  for (size_t h = 0; h < heads; h += kMaxH)
    with_count<kMaxH>(heads - h, [&](auto n) { values_avx512<decltype(n)::value, NV>(e + h, inv + h, kv, out + h); });
}

void values_group(size_t heads, const float* const* e, const float* inv, const KvHead& kv, float* const* out) {
  if (have_avx512() && kv.hd % 16 == 0 && kv.hd <= 128)
    return with_count<8>(kv.hd / 16,
                         [&](auto nv) { values_group_avx512<decltype(nv)::value>(heads, e, inv, kv, out); });
  for (size_t h = 0; h < heads; ++h) {
    if (have_avx2() && kv.hd % 8 == 0 && kv.hd <= 96)
      with_count<12>(kv.hd / 8, [&](auto nv) { values_avx2<decltype(nv)::value>(e[h], inv[h], kv, out[h]); });
    else if (have_avx2() && kv.hd % 8 == 0)
      values_avx2(e[h], inv[h], kv, out[h]);
    else
      values_scalar(e[h], inv[h], kv, out[h]);
  }
}

// Per-thread buffers: weights of every head over the keys, and the heads' pointers.
struct Scratch {
  std::vector<float> e, mx, inv;
  std::vector<float*> p, out;
  std::vector<const float*> q;
};

// The query heads of one token that share one KV head (q and out: heads x hd).
void attend_group(const float* q, const KvHead& kv, size_t heads, float scale, float* out, Scratch& s) {
  const size_t stride = blocks(kv.n) * kKeyBlock;
  s.e.resize(heads * stride);
  s.mx.resize(heads);
  s.inv.resize(heads);
  s.p.resize(heads);
  s.q.resize(heads);
  s.out.resize(heads);
  for (size_t h = 0; h < heads; ++h) {
    s.p[h] = s.e.data() + h * stride;
    s.q[h] = q + h * kv.hd;
    s.out[h] = out + h * kv.hd;
  }
  if (have_avx512()) {
    scores_group_avx512(heads, s.q.data(), kv, scale, s.p.data(), s.mx.data());
  } else {
    for (size_t h = 0; h < heads; ++h)
      s.mx[h] = have_avx2() ? scores_avx2(s.q[h], kv, scale, s.p[h]) : scores_scalar(s.q[h], kv, scale, s.p[h]);
  }
  for (size_t h = 0; h < heads; ++h) {
    det_exp_shifted(s.p[h], kv.n, s.mx[h]);
    s.inv[h] = 1.0f / (have_avx512() ? sum16_avx512(s.p[h], kv.n) : sum16_scalar(s.p[h], kv.n));
  }
  values_group(heads, s.p.data(), s.inv.data(), kv, s.out.data());
}

}  // namespace

void attention(std::span<const AttentionJob> jobs, size_t n_head, size_t n_kv_head, size_t hd, int threads) {
  const size_t group = n_head / n_kv_head, kv_dim = n_kv_head * hd;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const size_t work = jobs.size() * n_kv_head;
  parallel_for_each(threads, work, [&](size_t wi) {
    thread_local Scratch scratch;
    const AttentionJob& job = jobs[wi / n_kv_head];
    const size_t g = wi % n_kv_head;
    const KvHead kv{job.keys + g * hd * kKeyBlock, kv_dim * kKeyBlock, job.values + g * hd, kv_dim, job.n_keys, hd};
    attend_group(job.q + g * group * hd, kv, group, scale, job.out + g * group * hd, scratch);
  });
}

}  // namespace lmac::cpu
