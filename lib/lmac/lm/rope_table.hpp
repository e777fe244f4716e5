// The RoPE angles of engine arithmetic revision 4, from lmac's own double-precision math
// (common/det_math) so that every machine, libc and device gets the same table
// (docs/ARITHMETIC.md, "RoPE table"). A backend receives the table; it never computes
// angles itself.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lmac {

struct RopeSpec {
  float base = 10000.0f;           // llama.rope.freq_base
  uint32_t rot_dim = 0;            // rotated dimensions per head (even)
  const float* factors = nullptr;  // rope_freqs.weight (rot_dim / 2 divisors) or null
};

// Writes positions [first, first + count): out[(p - first) * rot_dim + 2i] = cos and
// [.. + 2i + 1] = sin of p * theta_i, theta_i = base^(-2i / rot_dim) / factors[i].
void rope_table_rows(const RopeSpec& spec, size_t first, size_t count, float* out);

}  // namespace lmac
