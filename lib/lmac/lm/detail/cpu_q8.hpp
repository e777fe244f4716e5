// Products of Q8_0 weights with activations quantized to 16 bits per 32-value block,
// in integers where the order cannot matter and in one fixed float order where it can:
//   activations: amax = max |x_i| over the block, dx = amax / 32767,
//                qx_i = lrint(x_i * id), id = 32767 / amax (0 where amax is 0 or
//                the quotient overflows: km::q8_inverse_scale);
//   y = fma chain over blocks b of (float(sum_i qw_i qx_i), dw_b * dx_b), from 0.
// Each block sum is an exact integer, so the AVX-512 VNNI kernel (16 rows in the lanes
// of a register) and the scalar one give the same bits for any batch. The VNNI kernel
// multiplies int8 weights by the activations' two bytes: with u = qx + 32768 = 256 h + l
// (h, l unsigned bytes), sum qw qx = 256 sum qw h + sum qw l - 32768 sum qw, each sum an
// exact vpdpbusd.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "lmac/lm/backend.hpp"
#include "lmac/lm/detail/cpu_packed.hpp"

namespace lmac::cpu {

// Tokens' activations, quantized: n rows of k values (k a multiple of 32). 16 bits keep
// the products within what float32 activations give (the 8 bits of llama.cpp's Q8_0
// path cost about 0.1 nats per token on the conformance sequences).
// Which split of the quants into bytes a product's kernel reads, if any.
enum class ActBytes { None, Offset, Signed };

struct Q8Activations {
  size_t n = 0, k = 0;
  ActBytes split{};
  std::vector<int16_t> q;  // n x k
  // n x 2k, for the tile kernels: per block, 32 high bytes then the 32 low bytes of q
  // (ActBytes::Offset: of q + 32768, both unsigned; ActBytes::Signed: the high byte
  // signed, q = 256 h + l).
  std::vector<uint8_t> bytes;
  std::vector<float> d;      // n x k/32 block scales
  std::vector<int32_t> s16;  // ActBytes::Signed: n x k/16 sums of q over 16 values (the tiles' mins and offsets)
  std::vector<int32_t> h16;  // ActBytes::Signed: n x k/16 sums of the high bytes h (the level tiles' offset)
};

bool q8_product_ok(const Matrix& w);
// Whether the CPU has AVX-512 VNNI and the SIMD level allows it.
bool have_vnni();

// Q8_0 weights in the VNNI kernel's layout: a tile holds, per block, 8 groups of 64
// bytes (group g: weights 4g..4g+3 of each of the 16 rows, row after row), and the 16
// rows' fp16 scales of each pair of blocks after that pair's weights. The same bytes as
// the file's, moved. Null where
// the CPU has no VNNI kernel for w (then products read w as stored).
std::shared_ptr<const PackedTiles> pack_q8(const Matrix& w, int threads);

// Sizes `out` for n rows of k values; then quantize_q8_row fills row t from x (n x k),
// rows independently (threads may share the work), `bytes` as asked.
void size_q8(size_t n, size_t k, Q8Activations& out, ActBytes bytes);
void quantize_q8_row(const float* x, size_t t, Q8Activations& out);
// y[t * y_stride + j] for output rows j in [j0, j0 + nj), nj <= 16; row j of the product
// is weight row rows[j] (or j when rows is empty). `packed`: w in pack_q8's layout, or
// null (used only when rows is empty).
void q8_product_tile(const Matrix& w, const PackedTiles* packed, std::span<const int32_t> rows, size_t j0, size_t nj,
                     const Q8Activations& x, float* y, size_t y_stride, std::vector<uint8_t>& scratch);

}  // namespace lmac::cpu
