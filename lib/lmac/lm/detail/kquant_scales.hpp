// The 6-bit scale and min of sub-block j of a Q4_K / Q5_K super-block, packed in 12
// bytes as ggml's get_scale_min_k4 reads them (shared by the reference dequantizers
// and the CPU's vector ones).
#pragma once

#include <cstdint>
#include <cstring>

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

// The 16 sub-block scales of a Q3_K super-block (6 bits each, packed in the 12 bytes at
// `raw`), as ggml's reference shuffle leaves them: out[is] - 32 is sub-block is's scale.
inline void q3_k_scales(const uint8_t* raw, int8_t* out) {
  constexpr uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
  uint32_t aux[4];
  std::memcpy(aux, raw, 12);
  const uint32_t tmp = aux[2];
  aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
  aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
  aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
  aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
  std::memcpy(out, aux, 16);
}

}  // namespace lmac
