// Operation-by-operation comparison of two backends on random inputs with the hard
// cases of docs/ARITHMETIC.md (subnormals, rounding ties, Q8_0 block sums above 2^24,
// key counts that are not a multiple of 16, batches of 1, 3 and 64): every output must
// have the same bits. `lmac check-device` runs it for a GPU against the CPU; the tests
// run it for the grid backend.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "lmac/lm/backend.hpp"

namespace lmac {

struct BackendCheck {
  std::string name;    // the operation and case
  size_t outputs = 0;  // values compared
  size_t differing = 0;
};

std::vector<BackendCheck> compare_backends(Backend& reference, Backend& candidate, uint32_t seed = 1);

// Random rows of a block type: every quant pattern possible, its fp16 scales finite and
// moderate (about 2^-9 .. 2^-5); F16/BF16/F32 rows are random floats in [-1, 1].
std::vector<uint8_t> random_blocks(GgmlType type, size_t rows, size_t cols, std::mt19937& rng);

}  // namespace lmac
