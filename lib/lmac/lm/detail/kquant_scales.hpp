// The K-quants' packed 6-bit sub-block scales: Q4_K / Q5_K's scale and min as ggml's
// get_scale_min_k4 reads them, Q3_K's scales as its reference shuffle leaves them; IQ4_XS's
// scales and the non-linear levels of IQ4_NL / IQ4_XS. One unpacking for the reference
// dequantizers, the CPU's vector ones and the GPU kernels.
#pragma once

#include <cstddef>
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

// The 6-bit scale of sub-block `is` (0..15) of a Q3_K super-block (packed in the 12
// bytes at `raw`) as ggml's reference shuffle of them leaves it, minus 32: the low four
// bits from byte is % 4 (+ 4) of the first eight, low or high nibble by group, the top
// two from byte 8 + is % 4. constexpr for the GPU kernels, as scale_min_k4.
constexpr int32_t q3_k_scale(const uint8_t* raw, size_t is) {
  const size_t group = is / 4, b = is % 4;
  const uint32_t low = group == 0   ? raw[b] & 0xFu
                       : group == 1 ? raw[4 + b] & 0xFu
                       : group == 2 ? raw[b] >> 4
                                    : raw[4 + b] >> 4;
  const uint32_t high = (raw[8 + b] >> (2 * group)) & 3u;
  return static_cast<int32_t>(low | high << 4) - 32;
}

// All 16 (plus 32, as bytes), once per super-block for the row-at-a-time dequantizers.
inline void q3_k_scales(const uint8_t* raw, int8_t* out) {
  for (size_t is = 0; is < 16; ++is) out[is] = static_cast<int8_t>(q3_k_scale(raw, is) + 32);
}

// The 16 levels of IQ4_NL and IQ4_XS (ggml's kvalues_iq4nl), a nibble's value before its
// scale (-127, -104, ... 89, 113), as the bytes of two words: a table in host memory
// would not be there on the GPU.
constexpr int32_t iq4_level(uint32_t u) {
  constexpr uint64_t kLow = 0xF6EADDCFBFAD9881ull, kHigh = 0x7159453526190D01ull;
  return static_cast<int8_t>(static_cast<uint8_t>((u < 8 ? kLow : kHigh) >> (8 * (u & 7))));
}

// The ternary types' quants (0..2, standing for -1, 0, 1; TQ2_0's 2-bit field may also
// say 3), value i (0..255) of a block, as dequantize_row_tq*_0 reads them. TQ1_0 packs 5
// values a byte in base 3 (32 bytes for values 0..159, 16 for 160..239) and 4 a byte in
// its 4 qh bytes (240..255); digit n of byte b is (uint8(b 3^n) * 3) >> 8.
constexpr uint32_t tq1_digit(uint32_t byte, size_t n) {
  uint32_t pow3 = 1;
  for (size_t k = 0; k < n; ++k) pow3 *= 3;
  return ((byte * pow3 & 0xFFu) * 3) >> 8;
}
constexpr uint32_t tq1_quant(const uint8_t* s, size_t i) {
  if (i < 160) return tq1_digit(s[i % 32], i / 32);
  if (i < 240) return tq1_digit(s[32 + (i - 160) % 16], (i - 160) / 16);
  return tq1_digit(s[48 + (i - 240) % 4], (i - 240) / 4);
}
// TQ2_0: four 2-bit fields a byte, values 128 k + 32 l + m in bits 2l of byte 32 k + m.
constexpr uint32_t tq2_quant(const uint8_t* s, size_t i) {
  return s[32 * (i / 128) + i % 32] >> (2 * (i % 128 / 32)) & 3u;
}

// The 6-bit scale of sub-block `ib` (0..7) of an IQ4_XS super-block (scales_h: the u16 at
// byte 2, scales_l: the four bytes at byte 4) minus 32, as dequantize_row_iq4_xs reads it.
constexpr int32_t iq4_xs_scale(uint32_t scales_h, const uint8_t* scales_l, size_t ib) {
  const uint32_t low = (scales_l[ib / 2] >> (4 * (ib % 2))) & 0xFu, high = (scales_h >> (2 * ib)) & 3u;
  return static_cast<int32_t>(low | high << 4) - 32;
}

}  // namespace lmac
