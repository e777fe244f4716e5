// Attention kernels. One work item is the query heads that share a KV head, of one
// token or of a run of a sequence's consecutive tokens (a prefill): they read the same
// keys and values, so those are loaded and widened once for all of their rows. Scores
// put 16 keys in the lanes of a register (keys are cached dimension-major in blocks of
// 16), so no horizontal sums are needed; each score is still one fused multiply-add
// chain over the head dimensions, the same at every SIMD width and for any grouping.
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

// The keys and values of one KV head of one sequence, in its cache's pages: inside a
// page, the head's key blocks follow each other, and so do its value rows.
struct KvHead {
  const KvPage* pages;
  size_t head;               // the KV head
  size_t n;                  // keys to attend to
  size_t hd;                 // head dimensions
  bool fetch_ahead = false;  // whether loads wait on memory (see kBlocksAhead)
  // Dimension 0 of the 16 keys of block b (dimension d at + d * kKeyBlock); the blocks
  // of one page are hd * kKeyBlock values apart.
  const uint16_t* key_block(size_t b) const {
    const size_t j = b * kKeyBlock;
    return pages[j / kKvPage].keys + key_index(j % kKvPage, head, 0, hd);
  }
  // Dimension 0 of value j; the values of one page are hd apart.
  const uint16_t* value(size_t j) const { return pages[j / kKvPage].values + value_index(j % kKvPage, head, 0, hd); }
};

size_t blocks(size_t n) { return (n + kKeyBlock - 1) / kKeyBlock; }

// Decoding reads every cached key and value once per step, from memory: the kernels
// fetch ahead of their loads, as the hardware's prefetchers, which stop at every 4 KiB
// page and every cache page, did not (measured: decoding attention 1.9x faster). Only
// for one token's rows: a prefill's run shares each load among up to 12 rows, and there
// fetching ahead measured 10-15 % slower. Key blocks fetched kBlocksAhead ahead, value
// rows kRowsAhead ahead. (Always inlined: GCC takes a function that only prefetches for
// one without effects and drops its calls.)
constexpr size_t kBlocksAhead = 8, kRowsAhead = 32;

[[gnu::always_inline]] inline void prefetch(const void* p, size_t bytes) {
  for (size_t at = 0; at < bytes; at += 64) _mm_prefetch(static_cast<const char*>(p) + at, _MM_HINT_T0);
}
// Value row j + kRowsAhead, when the head has one.
[[gnu::always_inline]] inline void prefetch_value(const KvHead& kv, size_t j) {
  if (kv.fetch_ahead && j + kRowsAhead < kv.n) prefetch(kv.value(j + kRowsAhead), kv.hd * sizeof(uint16_t));
}
// The key blocks [b, b + nb) fetched ahead of blocks kBlocksAhead before them, two
// dimensions' 16 keys (one line) a call. kBlocksAhead is a multiple of nb, which divides
// a page's blocks: the nb blocks are one page's.
struct KeysAhead {
  const uint16_t* first = nullptr;
  size_t n = 0, stride = 0;
  KeysAhead(const KvHead& kv, size_t b, size_t nb) {
    if (!kv.fetch_ahead || b + kBlocksAhead >= blocks(kv.n)) return;
    first = kv.key_block(b + kBlocksAhead);
    n = std::min(nb, blocks(kv.n) - b - kBlocksAhead);
    stride = kv.hd * kKeyBlock;
  }
  [[gnu::always_inline]] void fetch(size_t d) const {
    if (d % 2 == 0)
      for (size_t i = 0; i < n; ++i) prefetch(first + i * stride + d * kKeyBlock, 64);
  }
};

// One query head of one token: it attends to keys 0..n-1 (rows of a run differ in n).
// p: its scores, then weights, in whole blocks of the run's longest row (entries past
// n are scratch); mx: the largest score; inv: 1 / the sum of the weights.
struct Row {
  const float* q;
  float* out;
  float* p;
  size_t n;
  float mx, inv;
};

// The same cache with a row's own key count, for the one-row kernels.
KvHead with_keys(const KvHead& kv, size_t n) {
  KvHead k = kv;
  k.n = n;
  return k;
}

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
    const uint16_t* k = kv.key_block(j / kKeyBlock) + j % kKeyBlock;
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
    const uint16_t* k0 = kv.key_block(b);
    const uint16_t* k1 = b + 1 < nb ? kv.key_block(b + 1) : k0;  // a lone last block is done twice
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    const KeysAhead ahead(kv, b, 2);
    for (size_t d = 0; d < kv.hd; ++d) {
      ahead.fetch(d);
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

// Blocks at or past a row's end store scratch and leave its maximum alone.
__attribute__((target("avx512f"))) inline void finish_block_avx512(__m512 acc, __m512 scale, size_t b, Row& row,
                                                                   __m512& vmax) {
  acc = _mm512_mul_ps(acc, scale);
  _mm512_storeu_ps(row.p + b * kKeyBlock, acc);
  const size_t first = b * kKeyBlock, valid = first < row.n ? std::min(kKeyBlock, row.n - first) : 0;
  const __mmask16 m = static_cast<__mmask16>((1u << valid) - 1u);
  // max(acc, vmax) returns vmax when acc is NaN: a NaN score never becomes the maximum,
  // as in the scalar path.
  vmax = _mm512_mask_max_ps(vmax, m, acc, vmax);
}

// R rows over NB blocks from block b: each key vector is widened once for all R rows.
template <int R, int NB, bool kFetch>
__attribute__((target("avx512f"))) inline void score_blocks_avx512(Row* rows, const KvHead& kv, size_t b, __m512 scale,
                                                                   __m512* vmax) {
  __m512 acc[R][NB];
  for (auto& row : acc)
    for (auto& a : row) a = _mm512_setzero_ps();
  const float* q[R];
  for (int r = 0; r < R; ++r) q[r] = rows[r].q;
  // b is a multiple of NB, and NB divides a page's blocks: the NB blocks are one page's.
  static_assert(kKvPage / kKeyBlock % NB == 0);
  const uint16_t* k = kv.key_block(b);
  const size_t stride = kv.hd * kKeyBlock;
  static_assert(kBlocksAhead % NB == 0);
  const KeysAhead ahead(kv, b, NB);
  for (size_t d = 0; d < kv.hd; ++d) {
    if constexpr (kFetch) ahead.fetch(d);
    __m512 kd[NB];
    for (int i = 0; i < NB; ++i) kd[i] = load16h(k + static_cast<size_t>(i) * stride + d * kKeyBlock);
    for (int r = 0; r < R; ++r) {
      const __m512 qd = _mm512_set1_ps(q[r][d]);
      for (int i = 0; i < NB; ++i) acc[r][i] = _mm512_fmadd_ps(qd, kd[i], acc[r][i]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int i = 0; i < NB; ++i) finish_block_avx512(acc[r][i], scale, b + static_cast<size_t>(i), rows[r], vmax[r]);
}

// Eight or more independent chains (R rows x NB blocks) hide the multiply-add latency
// and share each widened key vector among R multiply-adds (measured: 2 blocks for
// grouped heads left decoding long chunks waiting on the half-to-float loads); at most
// 24 accumulators.
template <int R, bool kFetch>
__attribute__((target("avx512f"))) void scores_avx512(Row* rows, const KvHead& kv, float scale) {
  constexpr int NB = R == 1 ? 8 : R <= 6 ? 4 : 2;
  const __m512 vs = _mm512_set1_ps(scale);
  __m512 vmax[R];
  for (auto& m : vmax) m = _mm512_set1_ps(-INFINITY);
  const size_t nb = blocks(kv.n);
  size_t b = 0;
  for (; b + NB <= nb; b += NB) score_blocks_avx512<R, NB, kFetch>(rows, kv, b, vs, vmax);
  for (; b < nb; ++b) score_blocks_avx512<R, 1, kFetch>(rows, kv, b, vs, vmax);
  for (int r = 0; r < R; ++r) rows[r].mx = _mm512_reduce_max_ps(vmax[r]);
}

constexpr size_t kMaxRows = 12;  // query rows that share one pass over the keys

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
    for (size_t j = 0; j < kv.n; ++j) o = std::fma(e[j], fp16_to_fp32(kv.value(j)[d]), o);
    out[d] = o * inv;
  }
}

// The whole head in NV registers of 8 dimensions (head sizes up to 96).
template <int NV>
__attribute__((target("avx2,fma,f16c"))) void values_avx2(const float* e, float inv, const KvHead& kv, float* out) {
  __m256 acc[NV];
  for (auto& a : acc) a = _mm256_setzero_ps();
  for (size_t j0 = 0; j0 < kv.n; j0 += kKvPage) {  // a page at a time: value rows hd apart
    const uint16_t* v = kv.value(j0);
    for (size_t j = j0; j < std::min(kv.n, j0 + kKvPage); ++j, v += kv.hd) {
      prefetch_value(kv, j);
      const __m256 w = _mm256_set1_ps(e[j]);
      for (size_t c = 0; c < NV; ++c) acc[c] = _mm256_fmadd_ps(w, load8h(v + 8 * c), acc[c]);
    }
  }
  for (size_t c = 0; c < NV; ++c) _mm256_storeu_ps(out + 8 * c, _mm256_mul_ps(acc[c], _mm256_set1_ps(inv)));
}

// Larger heads: 8 registers at a time.
__attribute__((target("avx2,fma,f16c"))) void values_avx2(const float* e, float inv, const KvHead& kv, float* out) {
  for (size_t d0 = 0; d0 < kv.hd; d0 += 64) {
    const size_t nv = std::min<size_t>(8, (kv.hd - d0) / 8);
    __m256 acc[8];
    for (auto& a : acc) a = _mm256_setzero_ps();
    for (size_t j0 = 0; j0 < kv.n; j0 += kKvPage) {
      const uint16_t* v = kv.value(j0) + d0;
      for (size_t j = j0; j < std::min(kv.n, j0 + kKvPage); ++j, v += kv.hd) {
        if (d0 == 0) prefetch_value(kv, j);
        const __m256 w = _mm256_set1_ps(e[j]);
        for (size_t c = 0; c < nv; ++c) acc[c] = _mm256_fmadd_ps(w, load8h(v + 8 * c), acc[c]);
      }
    }
    for (size_t c = 0; c < nv; ++c) _mm256_storeu_ps(out + d0 + 8 * c, _mm256_mul_ps(acc[c], _mm256_set1_ps(inv)));
  }
}

// R rows over NV registers of 16 dimensions; each value row is widened once for all R.
// Rows share the keys below the shortest row's end; each longer row then goes on alone,
// so every output is still its own chain over j in increasing order.
template <int R, int NV, bool kFetch>
__attribute__((target("avx512f"))) void values_avx512(const Row* rows, const KvHead& kv) {
  __m512 acc[R][NV];
  for (auto& row : acc)
    for (auto& a : row) a = _mm512_setzero_ps();
  const float* e[R];
  size_t n_min = rows[0].n, n_max = rows[0].n;
  for (int r = 0; r < R; ++r) {
    e[r] = rows[r].p;
    n_min = std::min(n_min, rows[r].n);
    n_max = std::max(n_max, rows[r].n);
  }
  for (size_t j0 = 0; j0 < n_max; j0 += kKvPage) {  // a page at a time: value rows hd apart
    const uint16_t* v = kv.value(j0);
    for (size_t j = j0; j < std::min(n_max, j0 + kKvPage); ++j, v += kv.hd) {
      if constexpr (kFetch) prefetch_value(kv, j);
      __m512 vv[NV];
      for (size_t c = 0; c < NV; ++c) vv[c] = load16h(v + 16 * c);
      for (int r = 0; r < R; ++r) {
        if (j >= n_min && j >= rows[r].n) continue;
        const __m512 w = _mm512_set1_ps(e[r][j]);
        for (int c = 0; c < NV; ++c) acc[r][c] = _mm512_fmadd_ps(w, vv[c], acc[r][c]);
      }
    }
  }
  for (int r = 0; r < R; ++r)
    for (size_t c = 0; c < NV; ++c)
      _mm512_storeu_ps(rows[r].out + 16 * c, _mm512_mul_ps(acc[r][c], _mm512_set1_ps(rows[r].inv)));
}

// Up to 24 accumulators: as many rows as fit, for head sizes 16..128.
template <int NV>
void values_rows_avx512(Row* rows, size_t n_rows, const KvHead& kv) {
  constexpr int kMaxR = std::min(static_cast<int>(kMaxRows), std::max(1, 24 / NV));
  for (size_t r = 0; r < n_rows; r += kMaxR)
    with_count<kMaxR>(n_rows - r, [&](auto n) {
      with_flag(kv.fetch_ahead, [&](auto fetch) { values_avx512<decltype(n)::value, NV, fetch>(rows + r, kv); });
    });
}

void values_rows(Row* rows, size_t n_rows, const KvHead& kv) {
  if (have_avx512() && kv.hd % 16 == 0 && kv.hd <= 128)
    return with_count<8>(kv.hd / 16, [&](auto nv) { values_rows_avx512<decltype(nv)::value>(rows, n_rows, kv); });
  for (size_t r = 0; r < n_rows; ++r) {
    const Row& row = rows[r];
    const KvHead k = with_keys(kv, row.n);
    if (have_avx2() && kv.hd % 8 == 0 && kv.hd <= 96)
      with_count<12>(kv.hd / 8, [&](auto nv) { values_avx2<decltype(nv)::value>(row.p, row.inv, k, row.out); });
    else if (have_avx2() && kv.hd % 8 == 0)
      values_avx2(row.p, row.inv, k, row.out);
    else
      values_scalar(row.p, row.inv, k, row.out);
  }
}

// Per-thread buffers: the rows of a work item and their scores and weights.
struct Scratch {
  std::vector<float> e;
  std::vector<Row> rows;
};

// s.rows: the query heads of one work item; kv.n: the longest row's key count.
void attend_rows(const KvHead& kv, float scale, Scratch& s) {
  std::vector<Row>& rows = s.rows;
  const size_t stride = blocks(kv.n) * kKeyBlock;
  s.e.resize(rows.size() * stride);
  for (size_t r = 0; r < rows.size(); ++r) rows[r].p = s.e.data() + r * stride;
  if (have_avx512()) {
    for (size_t r = 0; r < rows.size(); r += kMaxRows)
      with_count<kMaxRows>(rows.size() - r, [&](auto n) {
        with_flag(kv.fetch_ahead, [&](auto fetch) { scores_avx512<decltype(n)::value, fetch>(&rows[r], kv, scale); });
      });
  } else {
    for (Row& row : rows) {
      const KvHead k = with_keys(kv, row.n);
      row.mx = have_avx2() ? scores_avx2(row.q, k, scale, row.p) : scores_scalar(row.q, k, scale, row.p);
    }
  }
  for (Row& row : rows) {
    det_exp_shifted(row.p, row.n, row.mx);
    row.inv = 1.0f / (have_avx512() ? sum16_avx512(row.p, row.n) : sum16_scalar(row.p, row.n));
  }
  values_rows(rows.data(), rows.size(), kv);
}

// Runs of consecutive jobs on the same caches whose key counts lie within one block
// (a prefill's tokens), at most kMaxRows query rows per KV head: [begin, end) each.
std::vector<std::pair<size_t, size_t>> runs_of(std::span<const AttentionJob> jobs, size_t group) {
  const size_t max_tokens = std::max<size_t>(1, kMaxRows / group);
  std::vector<std::pair<size_t, size_t>> runs;
  for (size_t i = 0; i < jobs.size();) {
    const AttentionJob& first = jobs[i];
    size_t e = i + 1;
    while (e < jobs.size() && e - i < max_tokens && jobs[e].pages == first.pages && jobs[e].n_keys >= first.n_keys &&
           jobs[e].n_keys < first.n_keys + kKeyBlock)
      ++e;
    runs.emplace_back(i, e);
    i = e;
  }
  return runs;
}

}  // namespace

void attention(std::span<const AttentionJob> jobs, size_t n_head, size_t n_kv_head, size_t hd, int threads) {
  const size_t group = n_head / n_kv_head;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const auto runs = runs_of(jobs, group);
  parallel_for_each(threads, runs.size() * n_kv_head, [&](size_t wi) {
    thread_local Scratch scratch;
    const auto [begin, end] = runs[wi / n_kv_head];
    const size_t g = wi % n_kv_head;
    size_t n_max = 0;
    scratch.rows.clear();
    for (size_t t = begin; t < end; ++t) {
      const AttentionJob& job = jobs[t];
      n_max = std::max(n_max, job.n_keys);
      for (size_t h = g * group; h < (g + 1) * group; ++h)
        scratch.rows.push_back({job.q + h * hd, job.out + h * hd, nullptr, job.n_keys, 0.0f, 0.0f});
    }
    const KvHead kv{jobs[begin].pages, g, n_max, hd, end - begin == 1};
    attend_rows(kv, scale, scratch);
  });
}

}  // namespace lmac::cpu
