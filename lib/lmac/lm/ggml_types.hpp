// ggml tensor types: the block layouts in one table (as ggml's type traits), and
// dequantization bit-identical to ggml's reference `dequantize_row_*`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace lmac {

enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
};

// Dequantizes `n` values (a multiple of block_elems) from `src` blocks into `dst`.
using DequantizeFn = void (*)(const uint8_t* src, float* dst, size_t n);

struct GgmlTypeInfo {
  GgmlType type;
  const char* name;
  uint32_t block_elems;
  uint32_t block_bytes;
  DequantizeFn dequantize;
};

// nullptr for a type id lmac does not support.
const GgmlTypeInfo* ggml_type_info(uint32_t id);
// What lmac says of a tensor type it cannot read: "MXFP4 (39, 4-bit floats with shared
// exponents)", or "unknown ggml type 99"; and the types it reads.
std::string ggml_unsupported_type(uint32_t id);
std::string ggml_supported_types();
// Every type lmac reads, in the order ggml_supported_types names them.
std::span<const GgmlTypeInfo> ggml_types();
// Writes half `d` as the scale d of a block of a quantized type (for tools and tests that
// make blocks): where the type keeps it, for IQ1_M the top nibbles of its four scale
// words. Not for F32, F16, BF16 (no scale).
void store_block_scale(GgmlType type, uint8_t* block, uint16_t d);
const GgmlTypeInfo& ggml_type_info(GgmlType type);
size_t ggml_row_bytes(GgmlType type, size_t elements);

// IEEE half to float (exact, subnormals and NaN payloads included).
float fp16_to_fp32(uint16_t h);
// Float to IEEE half, rounded to nearest even: overflow gives infinity, tiny values
// half subnormals or zero; NaN stays NaN (its payload is unspecified and no result of
// lmac depends on it). The same bits as F16C's vcvtps2ph and CUDA's __float2half_rn.
uint16_t fp32_to_fp16(float f);
// The same for n values, with F16C where the SIMD level has it (common/simd_level):
// bit-identical to the scalar function but for NaN payloads.
void fp32_to_fp16(const float* x, uint16_t* y, size_t n);

}  // namespace lmac
