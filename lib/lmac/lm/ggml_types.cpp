#include "lmac/lm/ggml_types.hpp"

#include "lmac/lm/detail/cpu_simd.hpp"  // first: its pragmas cover the intrinsics headers

#include <immintrin.h>

#include <cstring>

#include "lmac/common/bytes.hpp"
#include "lmac/common/error.hpp"
#include "lmac/lm/detail/iq_lattice.hpp"
#include "lmac/lm/detail/kernel_math.hpp"
#include "lmac/lm/detail/kquant_scales.hpp"

namespace lmac {

float fp16_to_fp32(uint16_t h) { return km::half_to_float(h); }

uint16_t fp32_to_fp16(float f) { return km::float_to_half(f); }

namespace {
// vcvtps2ph with round-to-nearest-even in the immediate (MXCSR not consulted).
__attribute__((target("avx2,f16c"))) size_t fp32_to_fp16_f16c(const float* x, uint16_t* y, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  return i;
}
}  // namespace

void fp32_to_fp16(const float* x, uint16_t* y, size_t n) {
  size_t i = have_avx2() ? fp32_to_fp16_f16c(x, y, n) : 0;
  for (; i < n; ++i) y[i] = km::float_to_half(x[i]);
}

namespace {

float half_at(const uint8_t* p) { return fp16_to_fp32(static_cast<uint16_t>(p[0] | p[1] << 8)); }

void deq_f32(const uint8_t* s, float* y, size_t n) { std::memcpy(y, s, n * 4); }
void deq_f16(const uint8_t* s, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) y[i] = half_at(s + 2 * i);
}
void deq_bf16(const uint8_t* s, float* y, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    uint32_t b = static_cast<uint32_t>(s[2 * i] | s[2 * i + 1] << 8) << 16;
    std::memcpy(&y[i], &b, 4);
  }
}

void deq_q4_0(const uint8_t* s, float* y, size_t n) {
  for (size_t b = 0; b < n / 32; ++b, s += 18, y += 32) {
    const float d = half_at(s);
    for (int j = 0; j < 16; ++j) {
      y[j] = static_cast<float>((s[2 + j] & 0x0F) - 8) * d;
      y[j + 16] = static_cast<float>((s[2 + j] >> 4) - 8) * d;
    }
  }
}

void deq_q4_1(const uint8_t* s, float* y, size_t n) {
  for (size_t b = 0; b < n / 32; ++b, s += 20, y += 32) {
    const float d = half_at(s), m = half_at(s + 2);
    for (int j = 0; j < 16; ++j) {
      y[j] = static_cast<float>(s[4 + j] & 0x0F) * d + m;
      y[j + 16] = static_cast<float>(s[4 + j] >> 4) * d + m;
    }
  }
}

void deq_q5_0(const uint8_t* s, float* y, size_t n) {
  for (size_t b = 0; b < n / 32; ++b, s += 22, y += 32) {
    const float d = half_at(s);
    const uint32_t qh = static_cast<uint32_t>(load_le(s + 2, 4));
    const uint8_t* qs = s + 6;
    for (int j = 0; j < 16; ++j) {
      const uint8_t xh0 = static_cast<uint8_t>(((qh >> j) << 4) & 0x10);
      const uint8_t xh1 = static_cast<uint8_t>((qh >> (j + 12)) & 0x10);
      y[j] = static_cast<float>(((qs[j] & 0x0F) | xh0) - 16) * d;
      y[j + 16] = static_cast<float>(((qs[j] >> 4) | xh1) - 16) * d;
    }
  }
}

void deq_q5_1(const uint8_t* s, float* y, size_t n) {
  for (size_t b = 0; b < n / 32; ++b, s += 24, y += 32) {
    const float d = half_at(s), m = half_at(s + 2);
    const uint32_t qh = static_cast<uint32_t>(load_le(s + 4, 4));
    const uint8_t* qs = s + 8;
    for (int j = 0; j < 16; ++j) {
      const uint8_t xh0 = static_cast<uint8_t>(((qh >> j) << 4) & 0x10);
      const uint8_t xh1 = static_cast<uint8_t>((qh >> (j + 12)) & 0x10);
      y[j] = static_cast<float>((qs[j] & 0x0F) | xh0) * d + m;
      y[j + 16] = static_cast<float>((qs[j] >> 4) | xh1) * d + m;
    }
  }
}

void deq_q8_0(const uint8_t* s, float* y, size_t n) {
  for (size_t b = 0; b < n / 32; ++b, s += 34, y += 32) {
    const float d = half_at(s);
    for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(static_cast<int8_t>(s[2 + j])) * d;
  }
}

void deq_q2_k(const uint8_t* s, float* y, size_t n) {
  for (size_t b = 0; b < n / 256; ++b, s += 84) {
    const uint8_t* scales = s;
    const uint8_t* q = s + 16;
    const float d = half_at(s + 80), mn = half_at(s + 82);
    int is = 0;
    for (int k = 0; k < 256; k += 128) {
      int shift = 0;
      for (int j = 0; j < 4; ++j) {
        for (int half = 0; half < 2; ++half) {
          uint8_t sc = scales[is++];
          const float dl = d * static_cast<float>(sc & 0xF), ml = mn * static_cast<float>(sc >> 4);
          for (int l = 0; l < 16; ++l)
            *y++ = dl * static_cast<float>(static_cast<int8_t>((q[l + 16 * half] >> shift) & 3)) - ml;
        }
        shift += 2;
      }
      q += 32;
    }
  }
}

void deq_q3_k(const uint8_t* s, float* y, size_t n) {
  for (size_t b = 0; b < n / 256; ++b, s += 110) {
    const uint8_t* hm = s;
    const uint8_t* q = s + 32;
    const float d_all = half_at(s + 108);
    int8_t scales[16];
    q3_k_scales(s + 96, scales);
    int is = 0;
    uint8_t m = 1;
    for (int k = 0; k < 256; k += 128) {
      int shift = 0;
      for (int j = 0; j < 4; ++j) {
        for (int half = 0; half < 2; ++half) {
          const float dl = d_all * static_cast<float>(scales[is++] - 32);
          for (int l = 16 * half; l < 16 * half + 16; ++l)
            *y++ = dl * static_cast<float>(static_cast<int8_t>((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
        }
        shift += 2;
        m = static_cast<uint8_t>(m << 1);
      }
      q += 32;
    }
  }
}

void deq_q4_k(const uint8_t* s, float* y, size_t n) {
  for (size_t b = 0; b < n / 256; ++b, s += 144) {
    const float d = half_at(s), mn = half_at(s + 2);
    const uint8_t* scales = s + 4;
    const uint8_t* q = s + 16;
    for (int j = 0, is = 0; j < 256; j += 64, is += 2, q += 32) {
      uint8_t sc, m;
      scale_min_k4(is, scales, &sc, &m);
      const float d1 = d * sc, m1 = mn * m;
      scale_min_k4(is + 1, scales, &sc, &m);
      const float d2 = d * sc, m2 = mn * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}

void deq_q5_k(const uint8_t* s, float* y, size_t n) {
  for (size_t b = 0; b < n / 256; ++b, s += 176) {
    const float d = half_at(s), mn = half_at(s + 2);
    const uint8_t* scales = s + 4;
    const uint8_t* qh = s + 16;
    const uint8_t* ql = s + 48;
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0, is = 0; j < 256; j += 64, is += 2, ql += 32) {
      uint8_t sc, m;
      scale_min_k4(is, scales, &sc, &m);
      const float d1 = d * sc, m1 = mn * m;
      scale_min_k4(is + 1, scales, &sc, &m);
      const float d2 = d * sc, m2 = mn * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
      u1 = static_cast<uint8_t>(u1 << 2);
      u2 = static_cast<uint8_t>(u2 << 2);
    }
  }
}

void deq_q6_k(const uint8_t* s, float* y, size_t n) {
  for (size_t b = 0; b < n / 256; ++b, s += 210) {
    const uint8_t* ql = s;
    const uint8_t* qh = s + 128;
    const int8_t* sc = reinterpret_cast<const int8_t*>(s + 192);
    const float d = half_at(s + 208);
    for (int k = 0; k < 256; k += 128, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int8_t q1 = static_cast<int8_t>(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
        const int8_t q2 = static_cast<int8_t>(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
        const int8_t q3 = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
        const int8_t q4 = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        y[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
        y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
        y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
        y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
      }
    }
  }
}

// IQ4_NL / IQ4_XS: d * level and (d * (ls - 32)) * level, as ggml's reference writes them.
void deq_iq4_nl(const uint8_t* s, float* y, size_t n) {
  for (size_t b = 0; b < n / 32; ++b, s += 18, y += 32) {
    const float d = half_at(s);
    for (uint32_t j = 0; j < 16; ++j) {
      y[j] = d * static_cast<float>(iq4_level(s[2 + j] & 0xFu));
      y[j + 16] = d * static_cast<float>(iq4_level(s[2 + j] >> 4u));
    }
  }
}

void deq_iq4_xs(const uint8_t* s, float* y, size_t n) {
  for (size_t b = 0; b < n / 256; ++b, s += 136) {
    const float d = half_at(s);
    const auto scales_h = static_cast<uint32_t>(load_le(s + 2, 2));
    const uint8_t* qs = s + 8;
    for (size_t ib = 0; ib < 8; ++ib, y += 32, qs += 16) {
      const float dl = d * static_cast<float>(iq4_xs_scale(scales_h, s + 4, ib));
      for (uint32_t j = 0; j < 16; ++j) {
        y[j] = dl * static_cast<float>(iq4_level(qs[j] & 0xFu));
        y[j + 16] = dl * static_cast<float>(iq4_level(qs[j] >> 4u));
      }
    }
  }
}

// The lattice types: value by value as the block-format kernels read them
// (lm/detail/iq_lattice.hpp: (d sc) w(u), every product exact, so ggml's bits).
template <GgmlType T>
void deq_lattice(const uint8_t* s, float* y, size_t n) {
  for (size_t b = 0; b < n / 256; ++b, s += km::lattice_shape(T).block, y += 256)
    for (size_t i = 0; i < 256; ++i) y[i] = km::lattice_value<T>(s, i);
}

// TQ1_0 / TQ2_0: (float)(q - 1) * d, as ggml's reference writes them.
template <uint32_t (*kQuant)(const uint8_t*, size_t), size_t kBytes>
void deq_ternary(const uint8_t* s, float* y, size_t n) {
  for (size_t b = 0; b < n / 256; ++b, s += kBytes, y += 256) {
    const float d = half_at(s + kBytes - 2);
    for (size_t i = 0; i < 256; ++i) y[i] = static_cast<float>(static_cast<int32_t>(kQuant(s, i)) - 1) * d;
  }
}

constexpr GgmlTypeInfo kTypes[] = {
    {GgmlType::F32, "F32", 1, 4, deq_f32},
    {GgmlType::F16, "F16", 1, 2, deq_f16},
    {GgmlType::Q4_0, "Q4_0", 32, 18, deq_q4_0},
    {GgmlType::Q4_1, "Q4_1", 32, 20, deq_q4_1},
    {GgmlType::Q5_0, "Q5_0", 32, 22, deq_q5_0},
    {GgmlType::Q5_1, "Q5_1", 32, 24, deq_q5_1},
    {GgmlType::Q8_0, "Q8_0", 32, 34, deq_q8_0},
    {GgmlType::Q2_K, "Q2_K", 256, 84, deq_q2_k},
    {GgmlType::Q3_K, "Q3_K", 256, 110, deq_q3_k},
    {GgmlType::Q4_K, "Q4_K", 256, 144, deq_q4_k},
    {GgmlType::Q5_K, "Q5_K", 256, 176, deq_q5_k},
    {GgmlType::Q6_K, "Q6_K", 256, 210, deq_q6_k},
    {GgmlType::BF16, "BF16", 1, 2, deq_bf16},
    {GgmlType::IQ4_NL, "IQ4_NL", 32, 18, deq_iq4_nl},
    {GgmlType::IQ4_XS, "IQ4_XS", 256, 136, deq_iq4_xs},
    {GgmlType::IQ2_XXS, "IQ2_XXS", 256, 66, deq_lattice<GgmlType::IQ2_XXS>},
    {GgmlType::IQ2_XS, "IQ2_XS", 256, 74, deq_lattice<GgmlType::IQ2_XS>},
    {GgmlType::IQ2_S, "IQ2_S", 256, 82, deq_lattice<GgmlType::IQ2_S>},
    {GgmlType::IQ3_XXS, "IQ3_XXS", 256, 98, deq_lattice<GgmlType::IQ3_XXS>},
    {GgmlType::IQ3_S, "IQ3_S", 256, 110, deq_lattice<GgmlType::IQ3_S>},
    {GgmlType::IQ1_S, "IQ1_S", 256, 50, deq_lattice<GgmlType::IQ1_S>},
    {GgmlType::IQ1_M, "IQ1_M", 256, 56, deq_lattice<GgmlType::IQ1_M>},
    {GgmlType::TQ1_0, "TQ1_0", 256, 54, deq_ternary<tq1_quant, 54>},
    {GgmlType::TQ2_0, "TQ2_0", 256, 66, deq_ternary<tq2_quant, 66>},
};

}  // namespace

const GgmlTypeInfo* ggml_type_info(uint32_t id) {
  for (const auto& t : kTypes)
    if (static_cast<uint32_t>(t.type) == id) return &t;
  return nullptr;
}

std::string ggml_unsupported_type(uint32_t id) {
  struct Known {
    uint32_t id;
    const char* name;
    const char* why;
  };
  static constexpr Known kKnown[] = {
      {9, "Q8_1", "an activation type"},
      {15, "Q8_K", "an activation type"},
      {24, "I8", "integers"},
      {25, "I16", "integers"},
      {26, "I32", "integers"},
      {27, "I64", "integers"},
      {28, "F64", "64-bit floats"},
      {39, "MXFP4", "4-bit floats with shared exponents"},
  };
  for (const Known& k : kKnown)
    if (k.id == id) return std::string(k.name) + " (" + std::to_string(id) + ", " + k.why + ")";
  return "unknown ggml type " + std::to_string(id);
}

std::string ggml_supported_types() {
  std::string all;
  for (const auto& t : kTypes) all += (all.empty() ? "" : ", ") + std::string(t.name);
  return all;
}

std::span<const GgmlTypeInfo> ggml_types() { return kTypes; }

void store_block_scale(GgmlType type, uint8_t* block, uint16_t d) {
  size_t at = 0;
  switch (type) {
    case GgmlType::IQ1_M:  // d's nibble w tops scale word w (at byte 48)
      for (size_t w = 0; w < 4; ++w)
        block[49 + 2 * w] = static_cast<uint8_t>((block[49 + 2 * w] & 0x0F) | ((d >> (4 * w)) & 0xF) << 4);
      return;
    case GgmlType::Q2_K:
      at = 80;
      break;
    case GgmlType::Q3_K:
    case GgmlType::Q6_K:
    case GgmlType::TQ1_0:
    case GgmlType::TQ2_0:
      at = ggml_type_info(type).block_bytes - 2;  // their last two bytes
      break;
    default:
      at = 0;
  }
  store_le(block + at, d, 2);
}

const GgmlTypeInfo& ggml_type_info(GgmlType type) {
  const GgmlTypeInfo* t = ggml_type_info(static_cast<uint32_t>(type));
  if (t == nullptr) fail("unsupported ggml type");
  return *t;
}

size_t ggml_row_bytes(GgmlType type, size_t elements) {
  const auto& t = ggml_type_info(type);
  return elements / t.block_elems * t.block_bytes;
}

}  // namespace lmac
