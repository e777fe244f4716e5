// The per-thread arithmetic of the GPU kernels, as functions that compile both for the
// device (nvcc) and for the host. The CUDA backend's kernels call them; the "grid"
// backend calls the very same functions over the same grids on the host, so tests
// without a GPU check the GPU's order of arithmetic against the CPU backend bit for bit.
// Every rounding step is explicit (docs/ARITHMETIC.md §0): on the device each operation
// is its _rn intrinsic, on the host a plain operation (the build has -ffp-contract=off).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "lmac/lm/backend.hpp"

#if defined(__CUDACC__)
#define LMAC_HD __host__ __device__ inline
#else
#define LMAC_HD inline
#endif

namespace lmac::km {

// ---- One IEEE operation each, round to nearest even.
#if defined(__CUDA_ARCH__)
__device__ inline float mul(float a, float b) { return __fmul_rn(a, b); }
__device__ inline float add(float a, float b) { return __fadd_rn(a, b); }
__device__ inline float sub(float a, float b) { return __fsub_rn(a, b); }
__device__ inline float div(float a, float b) { return __fdiv_rn(a, b); }
__device__ inline float fma(float a, float b, float c) { return __fmaf_rn(a, b, c); }
__device__ inline float sqrt(float a) { return __fsqrt_rn(a); }
__device__ inline float floor(float a) { return floorf(a); }
__device__ inline float i2f(int32_t i) { return __int2float_rn(i); }
__device__ inline int32_t f2i_rn(float f) { return __float2int_rn(f); }  // ties to even
__device__ inline float from_bits(uint32_t b) { return __uint_as_float(b); }
__device__ inline uint32_t to_bits(float f) { return __float_as_uint(f); }
__device__ inline double dadd(double a, double b) { return __dadd_rn(a, b); }
__device__ inline double dmul(double a, double b) { return __dmul_rn(a, b); }
__device__ inline double ddiv(double a, double b) { return __ddiv_rn(a, b); }
__device__ inline uint32_t d2u_trunc(double d) { return __double2uint_rz(d); }
#else
inline float mul(float a, float b) { return a * b; }
inline float add(float a, float b) { return a + b; }
inline float sub(float a, float b) { return a - b; }
inline float div(float a, float b) { return a / b; }
inline float fma(float a, float b, float c) { return std::fma(a, b, c); }
inline float sqrt(float a) { return std::sqrt(a); }
inline float floor(float a) { return std::floor(a); }
inline float i2f(int32_t i) { return static_cast<float>(i); }
// As the device's conversions (PTX cvt): NaN gives 0 and values out of range saturate,
// where lrint and a plain cast would leave them to the host's instruction (or undefined).
inline int32_t f2i_rn(float f) {
  if (!(f == f)) return 0;
  if (f >= 2147483648.0f) return INT32_MAX;
  if (f <= -2147483648.0f) return INT32_MIN;
  return static_cast<int32_t>(std::lrint(f));
}
inline float from_bits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}
inline uint32_t to_bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}
inline double dadd(double a, double b) { return a + b; }
inline double dmul(double a, double b) { return a * b; }
inline double ddiv(double a, double b) { return a / b; }
inline uint32_t d2u_trunc(double d) {
  if (!(d > 0.0)) return 0;  // NaN and negatives, as the device
  if (d >= 4294967296.0) return UINT32_MAX;
  return static_cast<uint32_t>(d);
}
#endif

constexpr float kInf = __builtin_huge_valf();
constexpr float kFltMax = 3.402823466e+38f;

// ---- Half precision, in integers (the same bits on every machine).
LMAC_HD float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, man = h & 0x3FF;
  if (exp == 0x1F) return from_bits(sign | 0x7F800000u | (man << 13));
  if (exp != 0) return from_bits(sign | ((exp + 112) << 23) | (man << 13));
  if (man == 0) return from_bits(sign);
  uint32_t m = man, e = 113;  // subnormal: normalize
  while ((m & 0x400) == 0) m <<= 1, --e;
  return from_bits(sign | (e << 23) | ((m & 0x3FF) << 13));
}

// Round to nearest even; overflow to infinity; NaN stays NaN (lm/ggml_types fp32_to_fp16).
LMAC_HD uint16_t float_to_half(float f) {
  uint32_t x = to_bits(f);
  const auto sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  x &= 0x7FFFFFFFu;
  if (x > 0x7F800000u) return static_cast<uint16_t>(sign | 0x7E00 | ((x >> 13) & 0x3FF));
  const int e = static_cast<int>(x >> 23) - 127;
  uint32_t q = 0, rem = 0, half = 0;
  if (e >= -14) {
    if (e > 15) return static_cast<uint16_t>(sign | 0x7C00);
    q = (static_cast<uint32_t>(e + 15) << 10) | ((x >> 13) & 0x3FF);
    rem = x & 0x1FFF;
    half = 0x1000;
  } else {
    const int shift = -1 - e;
    if (shift > 24) return sign;
    const uint32_t m = (x & 0x7FFFFFu) | 0x800000u;
    q = m >> shift;
    rem = m & ((1u << shift) - 1);
    half = 1u << (shift - 1);
  }
  if (rem > half || (rem == half && (q & 1))) ++q;
  return static_cast<uint16_t>(sign | q);
}

// ---- §1.3
LMAC_HD float det_exp(float x) {
  x = x > -87.0f ? x : -87.0f;
  x = x < 88.0f ? x : 88.0f;
  const float n = floor(add(mul(x, 1.44269504f), 0.5f));
  const float r = sub(sub(x, mul(n, 0.693145751953125f)), mul(n, 1.428606765330187e-06f));
  float p = 1.0f / 720.0f;
  p = add(mul(p, r), 1.0f / 120.0f);
  p = add(mul(p, r), 1.0f / 24.0f);
  p = add(mul(p, r), 1.0f / 6.0f);
  p = add(mul(p, r), 0.5f);
  p = add(mul(p, r), 1.0f);
  p = add(mul(p, r), 1.0f);
  return mul(p, from_bits(static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23));
}

// ---- §1.1, §1.2
LMAC_HD float reduce16(const float* acc) {
  float s8[8], s4[4];
  for (int l = 0; l < 8; ++l) s8[l] = add(acc[l], acc[l + 8]);
  for (int l = 0; l < 4; ++l) s4[l] = add(s8[l], s8[l + 4]);
  return add(add(s4[0], s4[2]), add(s4[1], s4[3]));
}

LMAC_HD float dot16(const float* a, const float* b, size_t n) {
  float acc[16] = {};
  for (size_t i = 0; i < n; ++i) acc[i % 16] = fma(a[i], b[i], acc[i % 16]);
  return reduce16(acc);
}

// ---- §2.3 Q8_0
// The activation quantizer's 32767 / amax, or 0 where amax is 0 or so small (below
// 32767 / FLT_MAX, about 9.6e-35) that the quotient overflows: then every value of the
// block quantizes to 0, on every path (an infinite id left the conversion of x * id to
// each path's own rule for infinity and NaN).
LMAC_HD float q8_inverse_scale(float amax) {
  const float id = amax > 0.0f ? div(32767.0f, amax) : 0.0f;
  return id <= kFltMax ? id : 0.0f;
}

LMAC_HD void q8_quantize_block(const float* x, int16_t* q, float* d) {
  float amax = 0.0f;
  bool finite = true;
  for (int i = 0; i < 32; ++i) {
    const float a = from_bits(to_bits(x[i]) & 0x7FFFFFFFu);
    finite = finite && a <= kFltMax;
    amax = a > amax ? a : amax;
  }
  if (!finite) {
    *d = from_bits(0x7FC00000u);
    for (int i = 0; i < 32; ++i) q[i] = 0;
    return;
  }
  const float id = q8_inverse_scale(amax);
  *d = div(amax, 32767.0f);
  for (int i = 0; i < 32; ++i) {
    const int32_t v = f2i_rn(mul(x[i], id));
    q[i] = static_cast<int16_t>(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
  }
}

// ---- §2.1, §2.4, §2.5
LMAC_HD float rms_scale(const float* x, size_t dim, float eps) {
  const float mean = div(dot16(x, x, dim), i2f(static_cast<int32_t>(dim)));
  return div(1.0f, sqrt(add(mean, eps)));
}

LMAC_HD float swiglu(float g, float u) { return mul(div(g, add(1.0f, det_exp(-g))), u); }

LMAC_HD void rope_pair(float* v, float c, float s) {
  const float x0 = v[0], x1 = v[1];
  v[0] = sub(mul(x0, c), mul(x1, s));
  v[1] = add(mul(x0, s), mul(x1, c));
}

// ---- §2.7, for one query head over the keys of KV head g, in a paged cache (KvPage):
// key j's dimension 0 (dimension d at + d * kKeyBlock), and the score.
LMAC_HD const uint16_t* attn_key(const KvPage* pages, size_t j, size_t g, size_t hd) {
  return pages[j / kKvPage].keys + key_index(j % kKvPage, g, 0, hd);
}
LMAC_HD float attn_score(const float* q, const uint16_t* k, size_t hd, float scale) {
  float s = 0.0f;
  for (size_t d = 0; d < hd; ++d) s = fma(q[d], half_to_float(k[d * kKeyBlock]), s);
  return mul(s, scale);
}

// The softmax in the pieces the GPU runs on many threads. The maximum is the same
// whatever order it is taken in (NaN never wins, and a +0 or -0 maximum gives the same
// differences up to the sign of a zero, whose exponential is 1 either way); lane l of
// the sum adds p[j] for j = l mod 16 in increasing j, and reduce16 adds the lanes.
LMAC_HD float attn_max(float m, float s) { return s > m ? s : m; }
LMAC_HD float attn_lane_sum(const float* p, size_t n, size_t l) {
  float a = 0.0f;
  for (size_t j = l; j < n; j += 16) a = add(a, p[j]);
  return a;
}

// p[j] = det_exp(p[j] - max p) in place; returns 1 / (16-lane sum of p).
LMAC_HD float attn_softmax(float* p, size_t n) {
  float mx = -kInf;
  for (size_t j = 0; j < n; ++j) mx = attn_max(mx, p[j]);
  for (size_t j = 0; j < n; ++j) p[j] = det_exp(sub(p[j], mx));
  float lanes[16];
  for (size_t l = 0; l < 16; ++l) lanes[l] = attn_lane_sum(p, n, l);
  return div(1.0f, reduce16(lanes));
}

// Dimension d of KV head g's weighted values.
LMAC_HD float attn_value(const float* e, size_t n, const KvPage* pages, size_t g, size_t hd, size_t d, float inv) {
  float o = 0.0f;
  for (size_t j = 0; j < n; ++j)
    o = fma(e[j], half_to_float(pages[j / kKvPage].values[value_index(j % kKvPage, g, d, hd)]), o);
  return mul(o, inv);
}

LMAC_HD float attn_scale(size_t hd) { return div(1.0f, sqrt(i2f(static_cast<int32_t>(hd)))); }

// ---- §4 logits to frequencies, in the pieces the GPU runs on many threads: the
// maximum (attn_max: the same in any order), each weight, lane l of the 8-lane f64 sum,
// the scale, each frequency; the total and the intervals are exact integer sums.
LMAC_HD bool freq_finite_max(float mx) { return from_bits(to_bits(mx) & 0x7FFFFFFFu) <= kFltMax; }
LMAC_HD float freq_weight(float logit, float mx, bool finite_max) {
  if (!finite_max) return 1.0f;
  const float d = sub(logit, mx);
  return d > -87.0f ? det_exp(d) : 0.0f;  // NaN lands on 0
}
LMAC_HD double freq_lane_sum(const float* e, size_t n, size_t l) {
  double a = 0.0;
  for (size_t i = l; i < n; i += 8) a = dadd(a, static_cast<double>(e[i]));
  return a;
}
LMAC_HD double freq_scale(const double* lanes, size_t n, int total_bits) {
  const double sum = dadd(dadd(dadd(lanes[0], lanes[1]), dadd(lanes[2], lanes[3])),
                          dadd(dadd(lanes[4], lanes[5]), dadd(lanes[6], lanes[7])));
  return ddiv(static_cast<double>((uint64_t{1} << total_bits) - n), sum);
}
LMAC_HD uint32_t freq_of(float e, double scale) { return 1 + d2u_trunc(dmul(static_cast<double>(e), scale)); }

}  // namespace lmac::km
