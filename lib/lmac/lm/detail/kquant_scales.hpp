// The 6-bit scale and min of sub-block j of a Q4_K / Q5_K super-block, packed in 12
// bytes as ggml's get_scale_min_k4 reads them (shared by the reference dequantizers
// and the CPU's vector ones).
#pragma once

#include <cstdint>

namespace lmac {

// constexpr: the GPU kernels call it too (nvcc --expt-relaxed-constexpr).
constexpr void scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

}  // namespace lmac
