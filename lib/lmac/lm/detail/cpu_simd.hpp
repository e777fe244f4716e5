// What the CPU kernels share: the SIMD level they run at, the fixed 16-lane reduction
// tree that every level reproduces bit for bit, and a way to give kernels their
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

// Calls f(std::integral_constant<int, N>{}) with N = n clamped to [1, Max]: kernels
// keep N accumulators in registers, so N must be known when they are compiled.
template <int Max, typename F>
void with_count(size_t n, F&& f) {
  const int c = static_cast<int>(std::clamp<size_t>(n, 1, Max));
  [&]<int... I>(std::integer_sequence<int, I...>) {
    (void)((c == I + 1 ? (f(std::integral_constant<int, I + 1>{}), true) : false) || ...);
  }
  (std::make_integer_sequence<int, Max>{});
}

// Calls f(std::bool_constant<flag>{}): a kernel variant chosen at run time.
template <typename F>
void with_flag(bool flag, F&& f) {
  if (flag)
    f(std::true_type{});
  else
    f(std::false_type{});
}

}  // namespace lmac::cpu
