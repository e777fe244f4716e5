#include "lmac/common/det_math.hpp"

#include "lmac/common/simd_level.hpp"

// GCC 12's AVX-512 headers trip its own uninitialized-value warnings (_mm512_undefined_*).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <immintrin.h>

#include <initializer_list>

namespace lmac {
namespace {

// max(v, -87) then min(., 88): NaN lanes become -87, as in the scalar det_exp.
__attribute__((target("avx2,fma"))) void det_exp_shifted_avx2(const float* in, float* x, size_t n, float shift) {
  const __m256 vshift = _mm256_set1_ps(shift);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_sub_ps(_mm256_loadu_ps(in + i), vshift);
    v = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    const __m256 k =
        _mm256_floor_ps(_mm256_add_ps(_mm256_mul_ps(v, _mm256_set1_ps(1.44269504f)), _mm256_set1_ps(0.5f)));
    const __m256 r = _mm256_sub_ps(_mm256_sub_ps(v, _mm256_mul_ps(k, _mm256_set1_ps(0.693145751953125f))),
                                   _mm256_mul_ps(k, _mm256_set1_ps(1.428606765330187e-06f)));
    __m256 p = _mm256_set1_ps(1.0f / 720.0f);
    for (float c : {1.0f / 120.0f, 1.0f / 24.0f, 1.0f / 6.0f, 0.5f, 1.0f, 1.0f})
      p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(c));
    const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(k), _mm256_set1_epi32(127)), 23);
    _mm256_storeu_ps(x + i, _mm256_mul_ps(p, _mm256_castsi256_ps(bits)));
  }
  for (; i < n; ++i) x[i] = det_exp(in[i] - shift);
}

// The same operations on 16 lanes.
__attribute__((target("avx512f,avx2,fma"))) void det_exp_shifted_avx512(const float* in, float* x, size_t n,
                                                                        float shift) {
  const __m512 vshift = _mm512_set1_ps(shift);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 v = _mm512_sub_ps(_mm512_loadu_ps(in + i), vshift);
    v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
    const __m512 k =
        _mm512_roundscale_ps(_mm512_add_ps(_mm512_mul_ps(v, _mm512_set1_ps(1.44269504f)), _mm512_set1_ps(0.5f)),
                             _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    const __m512 r = _mm512_sub_ps(_mm512_sub_ps(v, _mm512_mul_ps(k, _mm512_set1_ps(0.693145751953125f))),
                                   _mm512_mul_ps(k, _mm512_set1_ps(1.428606765330187e-06f)));
    __m512 p = _mm512_set1_ps(1.0f / 720.0f);
    for (float c : {1.0f / 120.0f, 1.0f / 24.0f, 1.0f / 6.0f, 0.5f, 1.0f, 1.0f})
      p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(c));
    const __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(k), _mm512_set1_epi32(127)), 23);
    _mm512_storeu_ps(x + i, _mm512_mul_ps(p, _mm512_castsi512_ps(bits)));
  }
  det_exp_shifted_avx2(in + i, x + i, n - i, shift);
}

double from_bits(uint64_t b) {
  double d;
  std::memcpy(&d, &b, 8);
  return d;
}

// 2^n for an integer n in the normal range, built from its bits (exact).
double pow2i(int64_t n) { return from_bits(static_cast<uint64_t>(n + 1023) << 52); }

constexpr double kLn2 = 0x1.62e42fefa39efp-1;
constexpr double kLog2e = 0x1.71547652b82fep+0;
constexpr double kSqrt2 = 0x1.6a09e667f3bcdp+0;
constexpr double kTwoOverPi = 0x1.45f306dc9c883p-1;
// pi/2 = kPio2a + kPio2b + kPio2c: the first two have 33 significant bits, so k times
// them is exact for k < 2^20.
constexpr double kPio2a = 0x1.921fb544p+0;
constexpr double kPio2b = 0x1.0b4611a6p-34;
constexpr double kPio2c = 0x1.3198a2e037073p-69;

// 1/k! for k = 0..18, each one correctly rounded division (k! is exact in a double).
struct InverseFactorials {
  double v[19] = {};
  InverseFactorials() {
    double f = 1.0;
    for (int k = 0; k <= 18; ++k) {
      if (k > 0) f = f * static_cast<double>(k);
      v[k] = 1.0 / f;
    }
  }
};
const InverseFactorials kInvFact;

}  // namespace

void det_exp_shifted(const float* in, float* out, size_t n, float shift) {
  if (have_avx512()) return det_exp_shifted_avx512(in, out, n, shift);
  if (have_avx2()) return det_exp_shifted_avx2(in, out, n, shift);
  for (size_t i = 0; i < n; ++i) out[i] = det_exp(in[i] - shift);
}

void det_exp_shifted(float* x, size_t n, float shift) { det_exp_shifted(x, x, n, shift); }

double det_log2(double x) {
  uint64_t bits;
  std::memcpy(&bits, &x, 8);
  int64_t e = static_cast<int64_t>((bits >> 52) & 0x7ff) - 1023;
  double m = from_bits((bits & ((uint64_t{1} << 52) - 1)) | (uint64_t{1023} << 52));
  if (m >= kSqrt2) {
    m = m * 0.5;
    e = e + 1;
  }
  const double s = (m - 1.0) / (m + 1.0), s2 = s * s;
  double p = 1.0 / 25.0;
  for (int k = 23; k >= 1; k -= 2) p = p * s2 + 1.0 / static_cast<double>(k);
  return static_cast<double>(e) + (2.0 * s * p) * kLog2e;
}

double det_exp2(double y) {
  const double n = std::floor(y + 0.5);
  const double t = (y - n) * kLn2;
  double p = kInvFact.v[18];
  for (int k = 17; k >= 0; --k) p = p * t + kInvFact.v[k];
  return p * pow2i(static_cast<int64_t>(n));
}

void det_sincos(double x, double* s, double* c) {
  const double k = std::floor(x * kTwoOverPi + 0.5);
  const double r = ((x - k * kPio2a) - k * kPio2b) - k * kPio2c;
  const double r2 = r * r;
  // sin r = r + r^3 (-1/3! + r^2 (1/5! - ...)) to r^17; cos r = 1 + r^2 (-1/2! + ...) to r^18.
  double ps = kInvFact.v[17];
  for (int i = 15; i >= 3; i -= 2) ps = ps * -r2 + kInvFact.v[i];
  double pc = kInvFact.v[18];
  for (int i = 16; i >= 2; i -= 2) pc = pc * -r2 + kInvFact.v[i];
  const double sr = r - (r * r2) * ps, cr = 1.0 - r2 * pc;
  switch (static_cast<int64_t>(k) & 3) {
    case 0:
      *s = sr, *c = cr;
      break;
    case 1:
      *s = cr, *c = -sr;
      break;
    case 2:
      *s = -sr, *c = -cr;
      break;
    default:
      *s = -cr, *c = sr;
      break;
  }
}

}  // namespace lmac
