// Products of K-quant weights (Q2_K .. Q6_K) with the 16-bit activations of cpu_q8, in
// exact integers per sub-block and one fixed float order across them (ARITHMETIC.md
// §2.3, lm/detail/kquant_int.hpp): the same bits for any batch, thread count and SIMD
// level. The vector kernels read the weights repacked once per tensor into tiles of 16
// rows: per 32 values, the low four bits of each quant as nibbles (quants below 4 —
// Q2_K, TQ1_0, TQ2_0 — as bit pairs), the bits above them (Q5_K one, Q6_K two) in their
// own plane, then the rows' integer sub-block scales and mins as bytes and d and dmin as
// float32 (Q4_K: 4.75 bits a weight in all instead of 4.5; Q2_K 3.25 instead of 2.625),
// in cpu_packed's shared huge-page memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "lmac/lm/backend.hpp"
#include "lmac/lm/detail/cpu_q8.hpp"

namespace lmac::cpu {

bool kq_product_ok(const Matrix& w);
// The activation bytes the kernels read (the tile kernels: the signed split).
ActBytes kq_act_bytes();

// w in the tile layout, or null where the CPU has no tile kernel (then products read w
// as stored).
std::shared_ptr<const PackedTiles> pack_kq(const Matrix& w, int threads);

// y[t * y_stride + j] for output rows j in [j0, j0 + nj), nj <= 16, as q8_product_tile.
void kq_product_tile(const Matrix& w, const PackedTiles* packed, std::span<const int32_t> rows, size_t j0, size_t nj,
                     const Q8Activations& x, float* y, size_t y_stride, std::vector<uint8_t>& scratch);

}  // namespace lmac::cpu
