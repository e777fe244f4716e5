// Products of Q8_0 weights with activations quantized to 16 bits per 32-value block,
// in integers where the order cannot matter and in one fixed float order where it can:
//   activations: amax = max |x_i| over the block, dx = amax / 32767,
//                qx_i = lrint(x_i * (amax > 0 ? 32767 / amax : 0));
//   y = fma chain over blocks b of (float(sum_i qw_i qx_i), dw_b * dx_b), from 0.
// Each block sum is an exact integer, so the AVX-512 VNNI kernel (16 rows in the lanes
// of a register) and the scalar one give the same bits for any batch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "lmac/lm/backend.hpp"

namespace lmac::cpu {

// Tokens' activations, quantized: n rows of k values (k a multiple of 32). 16 bits keep
// the products within what float32 activations give (the 8 bits of llama.cpp's Q8_0
// path cost about 0.1 nats per token on the conformance sequences).
struct Q8Activations {
  size_t n = 0, k = 0;
  std::vector<int16_t> q;      // n x k
  std::vector<int16_t> pairs;  // q with each 4 values in the order 0, 2, 1, 3 (for the AVX-512 tiles)
  std::vector<float> d;        // n x k/32 block scales
};

bool q8_product_ok(const Matrix& w);
// Sizes `out` for n rows of k values; then quantize_q8_row fills row t from x (n x k),
// rows independently (threads may share the work).
void size_q8(size_t n, size_t k, Q8Activations& out);
void quantize_q8_row(const float* x, size_t t, Q8Activations& out);
// y[t * y_stride + j] for output rows j in [j0, j0 + nj), nj <= 16; row j of the product
// is weight row rows[j] (or j when rows is empty).
void q8_product_tile(const Matrix& w, std::span<const int32_t> rows, size_t j0, size_t nj, const Q8Activations& x,
                     float* y, size_t y_stride, std::vector<uint8_t>& scratch);

}  // namespace lmac::cpu
