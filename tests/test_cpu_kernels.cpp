// The CPU backend's matrix products and attention, one kernel at a time: every SIMD
// level and every batch shape gives the same bits (every block type's rows widened as
// the reference dequantizer does), and the bits are close to the math.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <utility>
#include <vector>

#include "lmac/lm/backend.hpp"
#include "lmac/lm/backend_check.hpp"

namespace lmac {
namespace {

// A Q8_0 matrix with random scales and every int8 value possible, -128 included.
std::vector<uint8_t> random_q8_0(size_t rows, size_t cols, std::mt19937& rng) {
  std::vector<uint8_t> b(rows * ggml_row_bytes(GgmlType::Q8_0, cols));
  for (size_t i = 0; i < b.size(); i += 34) {
    const uint16_t d = static_cast<uint16_t>(0x1800 + rng() % 0x1000);  // about 2^-9 .. 2^-5
    b[i] = static_cast<uint8_t>(d);
    b[i + 1] = static_cast<uint8_t>(d >> 8);
    for (size_t j = 2; j < 34; ++j) b[i + j] = static_cast<uint8_t>(rng());
  }
  return b;
}

std::vector<float> run_matmul(int level, int threads, const Matrix& w, const std::vector<float>& x, size_t n,
                              std::span<const int32_t> rows) {
  set_cpu_simd_level(level);
  const size_t n_out = rows.empty() ? w.rows : rows.size();
  std::vector<float> y(n * n_out);
  make_cpu_backend(threads)->matmul(w, x.data(), n, y.data(), rows);
  set_cpu_simd_level(2);
  return y;
}

TEST(CpuKernels, Q8_0ProductsAgreeAcrossSimdLevelsBatchesAndThreads) {
  std::mt19937 rng(11);
  const size_t rows = 37, cols = 96;  // a partial last tile of rows
  auto data = random_q8_0(rows, cols, rng);
  const Matrix w{GgmlType::Q8_0, rows, cols, data.data(), ggml_row_bytes(GgmlType::Q8_0, cols)};
  const size_t n = 19;
  std::vector<float> x(n * cols);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  for (auto& v : x) v = gauss(rng);
  std::fill(x.begin() + 32, x.begin() + 64, 0.0f);  // an all-zero block (scale 0)
  x[70] = 1e4f;                                     // a block dominated by one value
  std::vector<float> bad = x;                       // non-finite activations: NaN products on every path
  bad[3] = NAN;
  bad[cols + 40] = INFINITY;
  const std::vector<int32_t> subset = {36, 0, 5, 5, 17};

  for (int level : {0, 1, 2}) {
    const auto y = run_matmul(level, 2, w, bad, 2, {});
    for (size_t j = 0; j < rows; ++j) EXPECT_TRUE(std::isnan(y[j]) && std::isnan(y[rows + j])) << level;
  }
  for (std::span<const int32_t> sel : {std::span<const int32_t>{}, std::span<const int32_t>(subset)}) {
    const size_t n_out = sel.empty() ? rows : sel.size();
    const auto want = run_matmul(2, 2, w, x, n, sel);
    EXPECT_EQ(run_matmul(1, 3, w, x, n, sel), want) << "AVX2";
    EXPECT_EQ(run_matmul(0, 1, w, x, n, sel), want) << "scalar";
    for (size_t batch : {size_t{1}, size_t{2}, size_t{3}, size_t{8}}) {  // direct and repacked kernels
      for (size_t t0 = 0; t0 < n; t0 += batch) {
        const size_t m = std::min(batch, n - t0);
        std::vector<float> part(x.begin() + static_cast<ptrdiff_t>(t0 * cols),
                                x.begin() + static_cast<ptrdiff_t>((t0 + m) * cols));
        const auto got = run_matmul(2, 2, w, part, m, sel);
        ASSERT_TRUE(std::equal(got.begin(), got.end(), want.begin() + static_cast<ptrdiff_t>(t0 * n_out)))
            << "batch " << batch << " from token " << t0;
      }
    }
    // Within the activations' rounding (half a step of amax / 32767 per value, per
    // block) of the exact product of the dequantized weights.
    std::vector<float> row(cols);
    for (size_t t = 0; t < n; ++t)
      for (size_t j = 0; j < n_out; ++j) {
        const size_t r = sel.empty() ? j : static_cast<size_t>(sel[j]);
        ggml_type_info(GgmlType::Q8_0).dequantize(w.data + r * w.row_bytes, row.data(), cols);
        double exact = 0, bound = 1e-6;
        for (size_t b = 0; b < cols; b += 32) {
          double amax = 0;
          for (size_t i = b; i < b + 32; ++i) amax = std::max(amax, std::fabs(double{x[t * cols + i]}));
          for (size_t i = b; i < b + 32; ++i) {
            exact += static_cast<double>(row[i]) * x[t * cols + i];
            bound += std::fabs(double{row[i]}) * (0.5 * amax / 32767 + 1e-6 * std::fabs(double{x[t * cols + i]}));
          }
        }
        EXPECT_NEAR(want[t * n_out + j], exact, bound) << t << "," << j;
      }
  }
}

// A KV cache in the engine's paged layout on the host, its pages in reverse order in
// memory (a kernel that reads past a page's end, or the wrong page, gets other keys).
struct PagedCache {
  std::vector<uint16_t> keys, values;
  std::vector<KvPage> pages;
  PagedCache(size_t n, size_t kv_dim) {
    const size_t n_pages = (n + kKvPage - 1) / kKvPage, page_elems = kKvPage * kv_dim;
    keys.resize(n_pages * page_elems), values.resize(n_pages * page_elems);
    for (size_t i = 0; i < n_pages; ++i)
      pages.push_back({&keys[(n_pages - 1 - i) * page_elems], &values[(n_pages - 1 - i) * page_elems]});
  }
  uint16_t& key(size_t pos, size_t h, size_t d, size_t hd) {
    return pages[pos / kKvPage].keys[key_index(pos % kKvPage, h, d, hd)];
  }
  uint16_t& value(size_t pos, size_t h, size_t d, size_t hd) {
    return pages[pos / kKvPage].values[value_index(pos % kKvPage, h, d, hd)];
  }
};

// Random queries, a KV cache in the engine's layout, and the attention of every token
// of a prefill; each SIMD level must give the same bits as the scalar path.
std::vector<float> run_attention(int level, size_t n, size_t n_head, size_t n_kv, size_t hd, bool specials = false) {
  std::mt19937 rng(static_cast<uint32_t>(n * 131 + n_head * 7 + hd));
  std::uniform_real_distribution<float> u(-2.0f, 2.0f);
  const size_t kv_dim = n_kv * hd, dim = n_head * hd;
  std::vector<float> q(n * dim), out(n * dim);
  PagedCache cache(n, kv_dim);
  for (auto& v : q) v = u(rng);
  for (size_t p = 0; p < n; ++p)
    for (size_t h = 0; h < n_kv; ++h)
      for (size_t d = 0; d < hd; ++d) {
        cache.key(p, h, d, hd) = fp32_to_fp16(u(rng));
        cache.value(p, h, d, hd) = fp32_to_fp16(u(rng));
      }
  if (specials)  // what a model that overflows half leaves in its cache: infinities, NaN
    for (size_t i = 0; i < cache.keys.size(); i += 53) {
      cache.keys[i] = i % 3 == 0 ? 0x7C00 : i % 3 == 1 ? 0xFC00 : 0x7E00;
      cache.values[(i * 7) % cache.values.size()] = 0x7C00;
    }
  std::vector<AttentionJob> jobs(n);
  for (size_t t = 0; t < n; ++t) jobs[t] = {&q[t * dim], cache.pages.data(), t + 1, &out[t * dim]};
  set_cpu_simd_level(level);
  make_cpu_backend(2)->attention(jobs, n_head, n_kv, hd);
  set_cpu_simd_level(2);
  return out;
}

// Bits, with every NaN counted as one value (payloads are never observed).
std::vector<uint32_t> canonical_bits(const std::vector<float>& v) {
  std::vector<uint32_t> b(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    std::memcpy(&b[i], &v[i], 4);
    if (std::isnan(v[i])) b[i] = 0x7FC00000u;
  }
  return b;
}

bool integer_product(GgmlType t) { return t != GgmlType::F32 && t != GgmlType::F16 && t != GgmlType::BF16; }

// Products are the same bits at every SIMD level: for every block type, at decode
// shapes (1, 5, 11 tokens: weights widened in registers) and tiled ones (20, and 70:
// more than one block of tokens), over 1280 columns (whole blocks of k and a part of
// one).
TEST(CpuKernels, EveryBlockTypeGivesTheSameProductsAtEverySimdLevel) {
  std::mt19937 rng(12);
  for (const GgmlTypeInfo& info : ggml_types()) {
    const GgmlType type = info.type;
    const size_t rows = 21, cols = 1280;
    const std::vector<uint8_t> raw = random_blocks(type, rows, cols, rng);
    const Matrix w{type, rows, cols, raw.data(), ggml_row_bytes(type, cols)};
    std::vector<float> reference(rows * cols);
    for (size_t r = 0; r < rows; ++r)
      ggml_type_info(type).dequantize(raw.data() + r * w.row_bytes, &reference[r * cols], cols);
    for (size_t n : {1, 3, 5, 11, 20, 70}) {  // the fused products' token groups, and tiles
      std::vector<float> x(n * cols);
      std::uniform_real_distribution<float> u(-1.0f, 1.0f);
      for (auto& v : x) v = u(rng);
      const auto want = run_matmul(0, 1, w, x, n, {});
      // The scalar path is dot16 over the reference's floats; Q8_0 and the K-quants take
      // integer products on 16-bit activations (§2.3), within 2^-13 of the products' scale.
      for (size_t t = 0; t < n; ++t) {
        const float* xt = &x[t * cols];
        const float* row = &reference[3 * cols];
        if (!integer_product(type)) {
          ASSERT_EQ(want[t * rows + 3], dot16(row, xt, cols)) << ggml_type_info(type).name;
          continue;
        }
        double scale = 0.0, exact = 0.0;
        for (size_t i = 0; i < cols; ++i) {
          scale += std::fabs(double{row[i]} * xt[i]);
          exact += double{row[i]} * xt[i];
        }
        ASSERT_NEAR(want[t * rows + 3], exact, scale / 8192) << ggml_type_info(type).name;
      }
      EXPECT_EQ(run_matmul(1, 2, w, x, n, {}), want) << ggml_type_info(type).name << " AVX2, " << n << " tokens";
      set_cpu_avx_vnni(false);  // (the K-quants' 256-bit kernels without AVX-VNNI, where the CPU has it)
      EXPECT_EQ(run_matmul(1, 2, w, x, n, {}), want) << ggml_type_info(type).name << " AVX2 alone, " << n << " tokens";
      set_cpu_avx_vnni(true);
      EXPECT_EQ(run_matmul(2, 2, w, x, n, {}), want) << ggml_type_info(type).name << " AVX-512, " << n << " tokens";
    }
  }
}

// A block of activations so small (amax below 32767 / FLT_MAX, about 9.6e-35) that
// 32767 / amax overflows quantizes to zeros (§2.3) on every path: the infinite scale
// once left x * id to each path's conversion of infinity and NaN (the scalar path's
// lrint gave 0, AVX2's and AVX-512's -32768, CUDA's 32767), which fuzz_block_products
// found. Every integer-product type: the block adds nothing, and every SIMD level and
// the grid backend give those bits.
TEST(CpuKernels, ActivationBlocksTooSmallToScaleQuantizeToZeroEverywhere) {
  std::mt19937 rng(14);
  const size_t rows = 5, cols = 256, n = 3;
  // Block 1 of every token holds tiny, subnormal and zero values, the others zeros (so
  // that what the block adds is not lost in the rounding of larger sums).
  std::vector<float> x(n * cols, 0.0f), zeroed;
  for (size_t t = 0; t < n; ++t)
    for (size_t i = 32; i < 64; ++i)
      x[t * cols + i] = i % 4 == 0 ? 0.0f : i % 4 == 1 ? 3e-36f : i % 4 == 2 ? -1e-40f : -9e-35f;
  zeroed = x;
  for (size_t t = 0; t < n; ++t) std::fill_n(zeroed.begin() + static_cast<ptrdiff_t>(t * cols + 32), 32, 0.0f);
  for (const GgmlTypeInfo& info : ggml_types()) {
    if (!integer_product(info.type)) continue;
    const std::vector<uint8_t> raw = random_blocks(info.type, rows, cols, rng);
    const Matrix w{info.type, rows, cols, raw.data(), ggml_row_bytes(info.type, cols)};
    const auto want = run_matmul(0, 1, w, zeroed, n, {});
    EXPECT_EQ(run_matmul(0, 1, w, x, n, {}), want) << info.name << " scalar";
    EXPECT_EQ(run_matmul(1, 2, w, x, n, {}), want) << info.name << " AVX2";
    EXPECT_EQ(run_matmul(2, 2, w, x, n, {}), want) << info.name << " AVX-512";
    std::vector<float> y(n * rows);
    const auto grid = make_grid_backend(1);
    grid->matmul(grid->weights(w, WeightUse::Products), x.data(), n, y.data(), {});
    EXPECT_EQ(y, want) << info.name << " grid";
  }
}

// The weights as sessions hold them (Backend::weights): matrices of 2 MiB and more are
// repacked into tiles, or moved as stored, into huge-page memory that the process shares
// by content and layout. A backend of another SIMD level alive beside the first must
// not read one layout as another (Q8_0: tiles with VNNI, stored rows without), and the
// products are the bits of the unprepared matrix's at every level.
TEST(CpuKernels, PreparedWeightsGiveTheSameProductsAtEverySimdLevel) {
  std::mt19937 rng(13);
  const size_t cols = 1024;
  for (auto [type, rows] : {std::pair{GgmlType::F16, size_t{1024}}, std::pair{GgmlType::Q8_0, size_t{2048}},
                            std::pair{GgmlType::Q4_K, size_t{3712}}, std::pair{GgmlType::IQ4_XS, size_t{3856}},
                            std::pair{GgmlType::IQ2_XS, size_t{7088}}, std::pair{GgmlType::Q2_K, size_t{6256}}}) {
    const std::vector<uint8_t> raw = random_blocks(type, rows, cols, rng);
    const Matrix w{type, rows, cols, raw.data(), ggml_row_bytes(type, cols)};
    ASSERT_GE(w.bytes(), size_t{2} << 20);
    for (size_t n : {1, 5, 20}) {
      std::vector<float> x(n * cols);
      std::uniform_real_distribution<float> u(-1.0f, 1.0f);
      for (auto& v : x) v = u(rng);
      const auto want = run_matmul(0, 1, w, x, n, {});
      std::vector<std::unique_ptr<Backend>> alive;
      for (int level : {2, 1, 0}) {
        set_cpu_simd_level(level);
        alive.push_back(make_cpu_backend(2));
        const Matrix m = alive.back()->weights(w, WeightUse::Products);
        EXPECT_TRUE(m.prepared != nullptr || m.data != w.data) << "level " << level;
        std::vector<float> y(n * rows);
        alive.back()->matmul(m, x.data(), n, y.data(), {});
        set_cpu_simd_level(2);
        EXPECT_EQ(y, want) << ggml_type_info(type).name << " level " << level << ", " << n << " tokens";
      }
    }
  }
}

TEST(CpuKernels, AttentionWithNonFiniteCacheAgreesAcrossSimdLevels) {
  for (size_t hd : {48, 32, 128}) {
    const auto want = canonical_bits(run_attention(0, 41, 4, 2, hd, true));
    EXPECT_EQ(canonical_bits(run_attention(1, 41, 4, 2, hd, true)), want) << hd;
    EXPECT_EQ(canonical_bits(run_attention(2, 41, 4, 2, hd, true)), want) << hd;
  }
}

TEST(CpuKernels, AttentionAgreesAcrossSimdLevels) {
  struct Shape {
    size_t n_head, n_kv, hd;
  };
  // Grouped heads of 48 (the bundled model), 5 and 8 heads on one KV head, heads of 128
  // and of 24 (no 16-wide path), one head per KV head (runs of 12 prefill tokens share
  // each key pass, across key blocks), over 37 keys (two whole key blocks and a partial
  // one).
  for (Shape s :
       {Shape{6, 2, 48}, Shape{5, 1, 32}, Shape{8, 1, 64}, Shape{2, 2, 128}, Shape{3, 3, 24}, Shape{4, 4, 32}}) {
    const auto want = run_attention(0, 37, s.n_head, s.n_kv, s.hd);
    EXPECT_EQ(run_attention(1, 37, s.n_head, s.n_kv, s.hd), want) << s.n_head << "/" << s.n_kv << "x" << s.hd;
    EXPECT_EQ(run_attention(2, 37, s.n_head, s.n_kv, s.hd), want) << s.n_head << "/" << s.n_kv << "x" << s.hd;
  }
}

// A prefill of 530 tokens reads three pages of the cache (the last partly filled).
TEST(CpuKernels, AttentionOverSeveralCachePagesAgreesAcrossSimdLevels) {
  for (size_t n_head : {6, 2}) {
    const size_t n_kv = 2, hd = n_head == 6 ? 48 : 128;
    const auto want = run_attention(0, 530, n_head, n_kv, hd);
    EXPECT_EQ(run_attention(1, 530, n_head, n_kv, hd), want) << n_head;
    EXPECT_EQ(run_attention(2, 530, n_head, n_kv, hd), want) << n_head;
  }
}

}  // namespace
}  // namespace lmac
