// What the CPU kernels share: the SIMD level they run at, the fixed 16-lane reduction
// tree that every level reproduces bit for bit, and (common/static_dispatch.hpp) their
// register-blocking counts as template arguments.
#pragma once

// GCC 12's AVX-512 headers trip its own uninitialized-value warnings (_mm512_undefined_*);
// every kernel file includes this header before <immintrin.h>.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "lmac/common/simd_level.hpp"
#include "lmac/common/static_dispatch.hpp"

namespace lmac::cpu {

// ((a[0..7] + a[8..15]) lane-wise, then lanes l + l+4, then (0 + 2) + (1 + 3)).
inline float reduce16(const float* acc) {
  float s8[8], s4[4];
  for (int l = 0; l < 8; ++l) s8[l] = acc[l] + acc[l + 8];
  for (int l = 0; l < 4; ++l) s4[l] = s8[l] + s8[l + 4];
  return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

// Four bytes of activations as one 32-bit lane (the tile kernels broadcast them).
inline int32_t load_i32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace lmac::cpu
