// Google Benchmark: the matrix kernels for each block type, prefill-shaped (many tokens)
// and decode-shaped (one token), in multiply-accumulates per second.
#include <benchmark/benchmark.h>

#include <immintrin.h>

#include <random>
#include <thread>

#include "lmac/lm/backend.hpp"
#include "lmac/lm/backend_check.hpp"

namespace {

using lmac::GgmlType;

void run_matmul(benchmark::State& state, GgmlType type, size_t rows, size_t cols, size_t tokens, int threads) {
  std::mt19937 rng(1);
  const std::vector<uint8_t> data = lmac::random_blocks(type, rows, cols, rng);
  auto backend = lmac::make_cpu_backend(threads);
  // The weights as the engine holds them: prepared once (repacked into tiles where the
  // CPU has kernels for them), not packed again on every call.
  const lmac::Matrix w = backend->weights(lmac::Matrix{type, rows, cols, data.data(), lmac::ggml_row_bytes(type, cols)},
                                          lmac::WeightUse::Products);
  // Activations where the engine keeps them: in the backend's (64-byte aligned) memory.
  auto* x = static_cast<float*>(backend->alloc(tokens * cols * sizeof(float)));
  std::fill(x, x + tokens * cols, 0.01f);
  std::vector<float> y(tokens * rows);
  for (auto _ : state) {
    backend->matmul(w, x, tokens, y.data(), {});
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["MAC/s"] =
      benchmark::Counter(double(rows * cols * tokens), benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(lmac::cpu_simd_name());
  backend->release(x);
}

void BM_matmul(benchmark::State& state, GgmlType type) {
  run_matmul(state, type, 768, 768, static_cast<size_t>(state.range(0)), static_cast<int>(state.range(1)));
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
TYPE_BENCH(IQ4_NL);
TYPE_BENCH(IQ4_XS);
TYPE_BENCH(IQ2_XXS);
TYPE_BENCH(IQ2_XS);
TYPE_BENCH(IQ2_S);
TYPE_BENCH(IQ3_XXS);
TYPE_BENCH(IQ3_S);
TYPE_BENCH(IQ1_S);
TYPE_BENCH(IQ1_M);
TYPE_BENCH(TQ1_0);
TYPE_BENCH(TQ2_0);

// The bundled model's prefill shapes (rows x cols, 512 tokens, 2 threads): with K = 288
// the per-output reduction weighs more than in the square case above.
void BM_matmul_shape(benchmark::State& state, GgmlType type) {
  run_matmul(state, type, static_cast<size_t>(state.range(0)), static_cast<size_t>(state.range(1)), 512, 2);
}
BENCHMARK_CAPTURE(BM_matmul_shape, Q8_0, GgmlType::Q8_0)
    ->Args({288, 288})
    ->Args({768, 288})
    ->Args({288, 768})
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_matmul_shape, F16, GgmlType::F16)
    ->Args({288, 288})
    ->Args({768, 288})
    ->Args({288, 768})
    ->UseRealTime();

// The 1.1B TinyLlama shapes (rows x cols: attention 2048 x 2048, feed-forward up 5632 x
// 2048 and down 2048 x 5632), 128 tokens as in a 128-token prefill, 1 and 2 threads:
// rows of kilobytes, where the tiles no longer fit the first-level cache.
void BM_matmul_large(benchmark::State& state, GgmlType type) {
  run_matmul(state, type, static_cast<size_t>(state.range(0)), static_cast<size_t>(state.range(1)), 128,
             static_cast<int>(state.range(2)));
}
#define LARGE_BENCH(T)                               \
  BENCHMARK_CAPTURE(BM_matmul_large, T, GgmlType::T) \
      ->ArgsProduct({{2048}, {2048}, {1, 2}})        \
      ->Args({5632, 2048, 2})                        \
      ->Args({2048, 5632, 2})                        \
      ->UseRealTime()
LARGE_BENCH(F16);
LARGE_BENCH(Q8_0);
LARGE_BENCH(Q4_0);
LARGE_BENCH(Q4_K);
LARGE_BENCH(Q6_K);
LARGE_BENCH(IQ4_XS);
LARGE_BENCH(IQ2_XXS);
LARGE_BENCH(IQ3_S);
LARGE_BENCH(Q2_K);
LARGE_BENCH(TQ2_0);

// Decode-shaped products at the 1.1B shapes (2048 x 2048 and 5632 x 2048): 1 token as in
// decoding one chunk, 16 as in decoding a batch of chunks, 2 threads.
void BM_matmul_decode(benchmark::State& state, GgmlType type) {
  run_matmul(state, type, static_cast<size_t>(state.range(0)), 2048, static_cast<size_t>(state.range(1)), 2);
}
#define DECODE_BENCH(T) \
  BENCHMARK_CAPTURE(BM_matmul_decode, T, GgmlType::T)->ArgsProduct({{2048, 5632}, {1, 16}})->UseRealTime()
DECODE_BENCH(Q8_0);
DECODE_BENCH(F16);
DECODE_BENCH(Q4_K);
DECODE_BENCH(Q5_K);
DECODE_BENCH(Q6_K);
DECODE_BENCH(IQ4_XS);
DECODE_BENCH(IQ2_XXS);
DECODE_BENCH(IQ2_XS);
DECODE_BENCH(IQ3_S);
DECODE_BENCH(Q2_K);
DECODE_BENCH(TQ2_0);

// Causal attention of a 512-token prefill shaped like the bundled model (6 heads of 48
// over 2 KV heads), 2 threads, keys and values laid out as the KV cache holds them.
void BM_attention_prefill(benchmark::State& state) {
  const size_t n = 512, n_head = 6, n_kv = 2, hd = 48, dim = n_head * hd, kv_dim = n_kv * hd;
  std::vector<float> q(n * dim), out(n * dim);
  const size_t n_pages = (n + lmac::kKvPage - 1) / lmac::kKvPage, page_elems = lmac::kKvPage * kv_dim;
  std::vector<uint16_t> keys(n_pages * page_elems), values(n_pages * page_elems);
  std::vector<lmac::KvPage> pages;
  for (size_t i = 0; i < n_pages; ++i) pages.push_back({&keys[i * page_elems], &values[i * page_elems]});
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (auto& f : q) f = u(rng);
  for (auto* v : {&keys, &values})
    for (auto& h : *v) h = lmac::fp32_to_fp16(u(rng));
  std::vector<lmac::AttentionJob> jobs(n);
  for (size_t t = 0; t < n; ++t) jobs[t] = {&q[t * dim], pages.data(), t + 1, &out[t * dim]};
  auto backend = lmac::make_cpu_backend(2);
  for (auto _ : state) {
    backend->attention(jobs, n_head, n_kv, hd);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["MAC/s"] =
      benchmark::Counter(double(n * (n + 1) * dim), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_attention_prefill)->UseRealTime();

void BM_dot16(benchmark::State& state) {
  std::vector<float> a(static_cast<size_t>(state.range(0)), 0.5f), b(a.size(), 0.25f);
  for (auto _ : state) benchmark::DoNotOptimize(lmac::dot16(a.data(), b.data(), a.size()));
  state.counters["MAC/s"] = benchmark::Counter(double(a.size()), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_dot16)->Arg(48)->Arg(288)->Arg(4096);

// The ceiling F16/F32 products cannot pass: ARITHMETIC.md fixes one float32 fused
// multiply-add per weight and token, so their MAC/s above compare with this loop's, which
// keeps 12 independent 16-lane FMA chains in registers on each of range(0) threads.
__attribute__((target("avx512f"))) float fma_chains(size_t iterations) {
  __m512 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(float(i));
  const __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-3f);
  for (size_t n = 0; n < iterations; ++n)
    for (auto& c : acc) c = _mm512_fmadd_ps(c, a, b);
  __m512 s = acc[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, acc[i]);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, s);
  return lanes[0] + lanes[15];
}

void BM_fma_peak(benchmark::State& state) {
  if (!__builtin_cpu_supports("avx512f")) {
    state.SkipWithError("needs AVX-512");
    return;
  }
  const size_t iterations = 1 << 20;
  const int threads = static_cast<int>(state.range(0));
  std::vector<float> sink(static_cast<size_t>(threads));
  for (auto _ : state) {
    std::vector<std::thread> pool;
    pool.reserve(static_cast<size_t>(threads));
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] { sink[static_cast<size_t>(t)] = fma_chains(iterations); });
    for (auto& th : pool) th.join();
    benchmark::DoNotOptimize(sink.data());
  }
  state.counters["MAC/s"] =
      benchmark::Counter(double(iterations) * 12 * 16 * threads, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_fma_peak)->Arg(1)->Arg(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
