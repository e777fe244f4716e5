// The one place that chooses which SIMD path lmac's arithmetic takes: the model kernels,
// det_exp and the frequency tables all ask here. Every level gives the same bits
// (docs/ARITHMETIC.md); the levels exist for speed, and tests force each one.
#pragma once

namespace lmac {

// 0 scalar, 1 AVX2+FMA+F16C, 2 AVX-512F: the highest this CPU has, lowered by
// set_cpu_simd_level or, for a whole run, LMAC_SIMD=scalar|avx2 in the environment.
int simd_level();
inline bool have_avx2() { return simd_level() >= 1; }
inline bool have_avx512() { return simd_level() >= 2; }
// Caps the level (tests run every path through this).
void set_cpu_simd_level(int level);
// AVX-VNNI (256-bit vpdpbusd) beside AVX2, where the CPU has it: the K-quant products
// use it at level 1. Off with set_cpu_avx_vnni(false) or LMAC_SIMD=avx2-novnni.
bool have_avx_vnni();
void set_cpu_avx_vnni(bool allowed);
// "scalar", "avx2+fma" or "avx512f": the path in use.
const char* cpu_simd_name();

}  // namespace lmac
