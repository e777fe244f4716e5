// Weight rows widened to float32 for the CPU's products, with vector paths for the
// common block types: every path gives exactly the floats of
// ggml_type_info().dequantize (ARITHMETIC.md §1.4: the same operations in the same
// order, each one IEEE-rounded whatever the vector width).
#pragma once

#include <cstddef>

#include "lmac/lm/backend.hpp"

namespace lmac::cpu {

// Row `row` of w, w.cols floats into out.
void dequantize_row(const Matrix& w, size_t row, float* out);

}  // namespace lmac::cpu
