// Weight rows widened to float32 for the CPU's products, with vector paths for the
// common block types: every path gives exactly the floats of
// ggml_type_info().dequantize (ARITHMETIC.md §1.4: the same operations in the same
// order, each one IEEE-rounded whatever the vector width). Decode-shaped products widen
// rows in registers instead, 16 values at a time straight into the dot16 lanes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "lmac/lm/backend.hpp"

namespace lmac::cpu {

// A stored row of w (w.data + i * w.row_bytes), w.cols floats into out.
void dequantize_row(const Matrix& w, const uint8_t* row, float* out);

// Whether fused_products serves w (F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1; AVX2 or AVX-512)
// best for n tokens (at most 16). Q8_0 and the K-quants take integer products instead.
bool fused_products_ok(const Matrix& w, size_t n);
// y[t * y_stride + j] = dot16(weight row of output j0 + j, token t of x) for j < nj,
// t < n; output j is row rows[j] of w (j when rows is empty); x holds n rows of
// w.cols floats. The weights are widened in registers and never stored.
void fused_products(const Matrix& w, std::span<const int32_t> rows, size_t j0, size_t nj, const float* x, size_t n,
                    float* y, size_t y_stride);

}  // namespace lmac::cpu
