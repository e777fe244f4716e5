// What the CPU kernels share: the SIMD level they run at and the fixed 16-lane
// reduction tree that every level reproduces bit for bit.
#pragma once

#include <cstddef>

namespace lmac::cpu {

// 0 scalar, 1 AVX2+FMA+F16C, 2 AVX-512F: the highest the CPU has, lowered by
// set_cpu_simd_level or LMAC_SIMD=scalar|avx2. Every level gives the same bits.
int simd_level();
inline bool have_avx2() { return simd_level() >= 1; }
inline bool have_avx512() { return simd_level() >= 2; }

// ((a[0..7] + a[8..15]) lane-wise, then lanes l + l+4, then (0 + 2) + (1 + 3)).
inline float reduce16(const float* acc) {
  float s8[8], s4[4];
  for (int l = 0; l < 8; ++l) s8[l] = acc[l] + acc[l + 8];
  for (int l = 0; l < 4; ++l) s4[l] = s8[l] + s8[l + 4];
  return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

}  // namespace lmac::cpu
