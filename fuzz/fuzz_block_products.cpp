// Differential fuzzing of the engine's products: the input chooses a block type, a shape
// and every bit of the weights (NaN, infinite and subnormal scales and values, every
// grid index) and of the activations; the products must have the same bits at every SIMD
// level (scalar, AVX2 with and without AVX-VNNI, AVX-512; weights as stored and as each
// backend prepares them) and on the grid backend (the CUDA kernels' arithmetic, run on
// the CPU), NaNs counted as one value; so must the rows get_rows widens, which are also
// ggml's dequantization. A difference prints the case and aborts.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "fuzz_input.hpp"
#include "lmac/lm/backend.hpp"
#include "lmac/lm/ggml_types.hpp"

namespace {

using lmac::Backend;
using lmac::GgmlTypeInfo;
using lmac::Matrix;
using lmac::fuzz::canonical_bits;
using lmac::fuzz::hard_float;
using lmac::fuzz::InputBytes;

struct Case {
  const GgmlTypeInfo* type = nullptr;
  size_t rows = 0, cols = 0, n = 0;
  std::vector<uint8_t> weights;
  std::vector<float> x;
  std::vector<int32_t> subset;
  Matrix matrix() const {
    return {type->type, rows, cols, weights.data(), cols / type->block_elems * type->block_bytes};
  }
};

struct Products {
  std::vector<float> all, subset, rows;
};

Products run(Backend& be, const Case& c) {
  const Matrix stored = c.matrix();
  const Matrix w = be.weights(stored, lmac::WeightUse::Products);
  Products p{std::vector<float>(c.n * c.rows), std::vector<float>(c.n * c.subset.size()),
             std::vector<float>(c.subset.size() * c.cols)};
  be.matmul(w, c.x.data(), c.n, p.all.data(), {});
  be.matmul(w, c.x.data(), c.n, p.subset.data(), c.subset);
  be.get_rows(be.weights(stored, lmac::WeightUse::RowsOnly), c.subset, p.rows.data());
  return p;
}

void expect_same(const std::vector<float>& want, const std::vector<float>& got, const Case& c, const char* what,
                 const char* where) {
  for (size_t i = 0; i < want.size(); ++i)
    if (canonical_bits(want[i]) != canonical_bits(got[i])) {
      std::fprintf(stderr, "%s %s, %zu x %zu, %zu tokens: output %zu is %a on the scalar CPU path, %a %s\n",
                   c.type->name, what, c.rows, c.cols, c.n, i, static_cast<double>(want[i]),
                   static_cast<double>(got[i]), where);
      __builtin_trap();
    }
}

void expect_same(const Products& want, const Products& got, const Case& c, const char* where) {
  expect_same(want.all, got.all, c, "products", where);
  expect_same(want.subset, got.subset, c, "products of a subset of rows", where);
  expect_same(want.rows, got.rows, c, "rows", where);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  InputBytes in(data, size);
  const std::span<const GgmlTypeInfo> types = lmac::ggml_types();
  Case c;
  c.type = &types[in.next() % types.size()];
  c.rows = 1 + in.next() % 40;  // whole tiles of 16 and partial ones
  // Whole blocks, at most 1024 values; a float type's rows need not fill a vector.
  const size_t blocks = 1 + in.next() % (c.type->block_elems == 1 ? 300 : 1024 / c.type->block_elems);
  c.cols = blocks * c.type->block_elems;
  c.n = 1 + in.next() % 24;  // decode shapes (weights widened in registers) and tiles
  c.weights.resize(c.rows * blocks * c.type->block_bytes);
  for (auto& b : c.weights) b = in.next();
  c.x.resize(c.n * c.cols);
  for (auto& v : c.x) v = hard_float(in, 1.0f);
  for (size_t i = 0; i < 5; ++i) c.subset.push_back(static_cast<int32_t>(in.next() % c.rows));

  const Products want = lmac::fuzz::on_every_path(
      [&](Backend& be) { return run(be, c); },
      [&](const Products& scalar, const Products& got, const char* where) { expect_same(scalar, got, c, where); },
      true);
  std::vector<float> reference(c.subset.size() * c.cols);
  const Matrix stored = c.matrix();
  for (size_t i = 0; i < c.subset.size(); ++i)
    c.type->dequantize(stored.data + static_cast<size_t>(c.subset[i]) * stored.row_bytes, &reference[i * c.cols],
                       c.cols);
  expect_same(want.rows, reference, c, "rows", "by ggml's dequantization");
  return 0;
}
