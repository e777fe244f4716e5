// Deterministic math where results feed the coder's probabilities. libm differs between
// versions, libcs and CPUs (glibc picks FMA or non-FMA builds at run time), so lmac uses
// its own functions, written only with IEEE operations (+ - * / floor, conversions; the
// build uses -ffp-contract=off, so nothing is fused behind our back). docs/ARITHMETIC.md
// states each one step by step; a GPU or another compiler repeating those steps gets
// the same bits.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace lmac {

// e^x for x clamped to [-87, 88] (NaN and -inf go to -87, +inf to 88, as the SIMD max
// and min instructions do): x = n ln2 + r with |r| <= ln2/2, e^r by a degree-6 Taylor
// polynomial (relative error ~1e-7), times 2^n. The SIMD kernels repeat exactly these
// operations lane by lane.
inline float det_exp(float x) {
  x = x > -87.0f ? x : -87.0f;
  x = x < 88.0f ? x : 88.0f;
  const float n = std::floor(x * 1.44269504f + 0.5f);
  const float r = (x - n * 0.693145751953125f) - n * 1.428606765330187e-06f;
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  return p * scale;
}

// x[i] = det_exp(x[i] - shift) for every i, bit-identical to the scalar function at every
// SIMD level (common/simd_level).
void det_exp_shifted(float* x, size_t n, float shift);
// out[i] = det_exp(in[i] - shift), the same (in == out, or not overlapping).
void det_exp_shifted(const float* in, float* out, size_t n, float shift);

// log2(x) for a positive normal double (relative error ~1e-16): x = m 2^e with m in
// [sqrt(1/2), sqrt(2)), ln m = 2 atanh((m-1)/(m+1)) by its series to the 25th power.
double det_log2(double x);
// 2^y for |y| < 1000 (relative error ~1e-16): y = n + r with |r| <= 1/2, e^(r ln2) by
// its Taylor series to degree 18, times 2^n.
double det_exp2(double y);
// sin x and cos x for 0 <= x < 2^20 (absolute error ~1e-16): x = k pi/2 + r with pi/2
// in three parts (Cody-Waite), Taylor series of degree 17 and 18 on |r| <= pi/4, and
// the quadrant k mod 4. Larger x stay deterministic but lose accuracy.
void det_sincos(double x, double* s, double* c);

}  // namespace lmac
