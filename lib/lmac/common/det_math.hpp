// Deterministic float math where results feed the coder's probabilities: libm's exp
// differs between versions, so lmac uses its own, written with plain IEEE operations
// (no FMA: the build uses -ffp-contract=off), which every x86-64 machine rounds alike.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace lmac {

// e^x for x clamped to [-87, 88]: x = n ln2 + r with |r| <= ln2/2, e^r by a degree-6
// Taylor polynomial (relative error ~1e-7), times 2^n. The SIMD kernels repeat exactly
// these operations lane by lane.
inline float det_exp(float x) {
  x = std::clamp(x, -87.0f, 88.0f);
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

// x[i] = det_exp(x[i] - shift) for every i, bit-identical to the scalar function (the
// AVX2 path performs the same operations per lane).
void det_exp_shifted(float* x, size_t n, float shift);

}  // namespace lmac
