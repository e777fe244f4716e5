// Google Benchmark: the matrix kernels for each block type, prefill-shaped (many tokens)
// and decode-shaped (one token), in multiply-accumulates per second.
#include <benchmark/benchmark.h>

#include <random>

#include "lmac/lm/backend.hpp"

namespace {

using lmac::GgmlType;

std::vector<uint8_t> random_blocks(GgmlType type, size_t rows, size_t cols) {
  const auto& info = lmac::ggml_type_info(type);
  std::vector<uint8_t> b(rows * cols / info.block_elems * info.block_bytes);
  std::mt19937 rng(1);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  // Keep the fp16 scales finite: clear the exponent's top bit of every byte pair.
  for (size_t i = 1; i < b.size(); i += 2) b[i] &= 0x3B;
  return b;
}

void BM_matmul(benchmark::State& state, GgmlType type) {
  const size_t rows = 768, cols = 768, tokens = static_cast<size_t>(state.range(0));
  auto data = random_blocks(type, rows, cols);
  lmac::Matrix w{type, rows, cols, data.data(), lmac::ggml_row_bytes(type, cols)};
  std::vector<float> x(tokens * cols, 0.01f), y(tokens * rows);
  auto backend = lmac::make_cpu_backend(static_cast<int>(state.range(1)));
  for (auto _ : state) {
    backend->matmul(w, x.data(), tokens, y.data(), {});
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["MAC/s"] =
      benchmark::Counter(double(rows * cols * tokens), benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(lmac::cpu_simd_name());
}

#define TYPE_BENCH(T) \
  BENCHMARK_CAPTURE(BM_matmul, T, GgmlType::T)->ArgsProduct({{1, 8, 64, 512}, {1, 2}})->UseRealTime()

TYPE_BENCH(F32);
TYPE_BENCH(F16);
TYPE_BENCH(BF16);
TYPE_BENCH(Q8_0);
TYPE_BENCH(Q4_0);
TYPE_BENCH(Q4_1);
TYPE_BENCH(Q5_0);
TYPE_BENCH(Q5_1);
TYPE_BENCH(Q2_K);
TYPE_BENCH(Q3_K);
TYPE_BENCH(Q4_K);
TYPE_BENCH(Q5_K);
TYPE_BENCH(Q6_K);

void BM_dot16(benchmark::State& state) {
  std::vector<float> a(static_cast<size_t>(state.range(0)), 0.5f), b(a.size(), 0.25f);
  for (auto _ : state) benchmark::DoNotOptimize(lmac::dot16(a.data(), b.data(), a.size()));
  state.counters["MAC/s"] = benchmark::Counter(double(a.size()), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_dot16)->Arg(48)->Arg(288)->Arg(4096);

}  // namespace

BENCHMARK_MAIN();
