#include "lmac/coding/freq_table.hpp"

// GCC 12's AVX-512 headers trip its own uninitialized-value warnings (_mm512_undefined_*).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <immintrin.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "lmac/common/det_math.hpp"
#include "lmac/common/error.hpp"
#include "lmac/common/simd_level.hpp"

namespace lmac {

namespace {

// Symbols per block that find and cum_below skip whole by its sum (the sums are exact
// integers, so any order of addition gives them).
constexpr size_t kSkipBlock = 64;

uint32_t block_sum(const uint32_t* f) {
  uint32_t s = 0;
  for (size_t k = 0; k < kSkipBlock; ++k) s += f[k];
  return s;
}

}  // namespace

uint32_t FreqTable::cum_below(uint32_t s) const {
  uint32_t c = 0, i = 0;
  for (; i + kSkipBlock <= s; i += kSkipBlock) c += block_sum(&freq[i]);
  for (; i < s; ++i) c += freq[i];
  return c;
}

uint32_t FreqTable::find(uint32_t target, uint32_t* cum) const {
  uint32_t c = 0;
  const uint32_t n = static_cast<uint32_t>(freq.size());
  uint32_t i = 0;
  for (; i + kSkipBlock <= n; i += kSkipBlock) {
    const uint32_t b = block_sum(&freq[i]);
    if (target < c + b) break;
    c += b;
  }
  for (; i < n; ++i) {
    if (target < c + freq[i]) {
      *cum = c;
      return i;
    }
    c += freq[i];
  }
  fail("frequency table: target out of range");
}

Interval FreqTable::locate(uint32_t target, int32_t* symbol) const {
  uint32_t cum = 0;
  const uint32_t s = find(target, &cum);
  *symbol = static_cast<int32_t>(s);
  return {cum, freq[s], total};
}

void FreqTable::recompute_total() {
  uint64_t t = 0;
  for (uint32_t f : freq) t += f;
  if (t > UINT32_MAX) fail("frequency table: total overflows");
  total = static_cast<uint32_t>(t);
}

namespace {

// Sum in 8 double lanes (lane = index mod 8), then a fixed tree: the order is part of
// the format, so the AVX2 path keeps exactly these lanes.
__attribute__((target("avx2,fma"))) double lane_sum8_avx2(const float* e, size_t n) {
  __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm_loadu_ps(e + i)));
    hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm_loadu_ps(e + i + 4)));
  }
  double lanes[8];
  _mm256_storeu_pd(lanes, lo);
  _mm256_storeu_pd(lanes + 4, hi);
  for (size_t l = 0; i < n; ++i, ++l) lanes[l] += e[i];
  return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
}

double lane_sum8(const float* e, size_t n) {
  if (have_avx2()) return lane_sum8_avx2(e, n);
  double lanes[8] = {};
  for (size_t i = 0; i < n; ++i) lanes[i & 7] += e[i];
  return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
}

// f = 1 + floor(e * scale) (e * scale < 2^31), returning the total.
uint64_t scale_to_freq_scalar(const float* e, size_t n, double scale, uint32_t* f) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum += f[i] = 1 + static_cast<uint32_t>(static_cast<double>(e[i]) * scale);
  return sum;
}

// The same 4 at a time.
__attribute__((target("avx2,fma"))) uint64_t scale_to_freq_avx2(const float* e, size_t n, double scale, uint32_t* f) {
  const __m256d vs = _mm256_set1_pd(scale);
  const __m128i one = _mm_set1_epi32(1);
  __m256i total = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    __m128i q = _mm_add_epi32(_mm256_cvttpd_epi32(_mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(e + i)), vs)), one);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(f + i), q);
    total = _mm256_add_epi64(total, _mm256_cvtepu32_epi64(q));
  }
  uint64_t t[4];
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(t), total);
  return t[0] + t[1] + t[2] + t[3] + scale_to_freq_scalar(e + i, n - i, scale, f + i);
}

// The same 16 at a time (two halves of 8 doubles).
__attribute__((target("avx512f"))) uint64_t scale_to_freq_avx512(const float* e, size_t n, double scale, uint32_t* f) {
  const __m512d vs = _mm512_set1_pd(scale);
  const __m256i one = _mm256_set1_epi32(1);
  __m512i total = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int h = 0; h < 2; ++h) {
      const __m256 half = _mm256_loadu_ps(e + i + 8 * static_cast<size_t>(h));
      const __m256i q = _mm256_add_epi32(_mm512_cvttpd_epi32(_mm512_mul_pd(_mm512_cvtps_pd(half), vs)), one);
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(f + i + 8 * static_cast<size_t>(h)), q);
      total = _mm512_add_epi64(total, _mm512_cvtepu32_epi64(q));
    }
  }
  return static_cast<uint64_t>(_mm512_reduce_add_epi64(total)) + scale_to_freq_scalar(e + i, n - i, scale, f + i);
}

uint64_t scale_to_freq(const float* e, size_t n, double scale, uint32_t* f) {
  if (have_avx512()) return scale_to_freq_avx512(e, n, scale, f);
  if (have_avx2()) return scale_to_freq_avx2(e, n, scale, f);
  return scale_to_freq_scalar(e, n, scale, f);
}

// The largest logit, as §4's loop m = (l > m) ? l : m takes it, in 16 lanes: MAXPS
// returns its second operand when either is NaN, so a lane's max is that loop's over
// its logits, and the lanes' maxima combine the same way. Only the sign of a maximum of
// zero can differ from the loop's, and e^(l - m) is the same for m = +0 and -0.
__attribute__((target("avx512f"))) float max_logit_avx512(const float* l, size_t n) {
  __m512 m = _mm512_set1_ps(-INFINITY);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) m = _mm512_max_ps(_mm512_loadu_ps(l + i), m);
  float lanes[16];
  _mm512_storeu_ps(lanes, m);
  float mx = -INFINITY;
  for (float v : lanes) mx = v > mx ? v : mx;
  for (; i < n; ++i) mx = l[i] > mx ? l[i] : mx;
  return mx;
}

float max_logit(const float* l, size_t n) {
  if (have_avx512()) return max_logit_avx512(l, n);
  float mx = -INFINITY;
  for (size_t i = 0; i < n; ++i) mx = l[i] > mx ? l[i] : mx;
  return mx;
}

// e_i = 0 where not (l_i - m > -87): the same comparison, 16 at a time.
__attribute__((target("avx512f"))) void cut_tail_avx512(const float* l, size_t n, float mx, float* e) {
  const __m512 vm = _mm512_set1_ps(mx), floor = _mm512_set1_ps(-87.0f);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __mmask16 keep = _mm512_cmp_ps_mask(_mm512_sub_ps(_mm512_loadu_ps(l + i), vm), floor, _CMP_GT_OQ);
    _mm512_storeu_ps(e + i, _mm512_maskz_mov_ps(keep, _mm512_loadu_ps(e + i)));
  }
  for (; i < n; ++i)
    if (!(l[i] - mx > -87.0f)) e[i] = 0.0f;
}

void cut_tail(const float* l, size_t n, float mx, float* e) {
  if (have_avx512()) return cut_tail_avx512(l, n, mx, e);
  for (size_t i = 0; i < n; ++i)
    if (!(l[i] - mx > -87.0f)) e[i] = 0.0f;
}

}  // namespace

void check_freq_size(size_t n, int total_bits) {
  if (n == 0 || total_bits < 1 || total_bits > 30 || (1ull << total_bits) < 2 * n) fail("frequency table: bad size");
}

void check_symbols(std::span<const int32_t> symbols, size_t n) {
  for (int32_t s : symbols)
    if (s < 0 || static_cast<size_t>(s) >= n) fail("token outside the model's alphabet");
}

void freq_from_logits(std::span<const float> logits, int total_bits, FreqTable& out) {
  const size_t n = logits.size();
  check_freq_size(n, total_bits);
  // The largest logit; NaN never wins a comparison, so it is never the maximum.
  const float mx = max_logit(logits.data(), n);
  out.freq.resize(n);
  thread_local std::vector<float> e;  // reused: this runs once per coded token
  if (!(std::fabs(mx) <= FLT_MAX)) {
    // No finite maximum (all NaN or -inf, or a +inf): a broken model output still
    // gives a valid table, the uniform one.
    e.assign(n, 1.0f);
  } else {
    // e_i = exp(l_i - max), summed in 8 fixed lanes (the order is part of the format).
    e.resize(n);
    det_exp_shifted(logits.data(), e.data(), n, mx);
    // Below e^-87 a token's share is far under one count: exactly 0 keeps the sum clean
    // (NaN logits land here too).
    cut_tail(logits.data(), n, mx, e.data());
  }
  const double sum = lane_sum8(e.data(), n);
  const double budget = static_cast<double>((1ull << total_bits) - n);
  const uint64_t total = scale_to_freq(e.data(), n, budget / sum, out.freq.data());
  out.total = static_cast<uint32_t>(total);
}

}  // namespace lmac
