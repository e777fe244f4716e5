// The arithmetic coder's overhead on 10^6 symbols from skewed distributions, against
// the ideal code length (sum of -log2 p), and its speed; and the cost of one frequency
// table from logits (made once per coded token) with a symbol's interval or a search.
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>

#include "lmac/coding/arithmetic_coder.hpp"
#include "lmac/coding/freq_table.hpp"

namespace {

void BM_overhead(benchmark::State& state) {
  const size_t alphabet = static_cast<size_t>(state.range(0));
  const float skew = static_cast<float>(state.range(1)) / 100.0f;
  std::vector<float> logits(alphabet);
  for (size_t i = 0; i < alphabet; ++i) logits[i] = -skew * static_cast<float>(i);
  lmac::FreqTable t;
  lmac::freq_from_logits(logits, alphabet <= 4096 ? 24 : 30, t);
  // Ideal length under the model's own probabilities (softmax in double).
  std::vector<double> p(alphabet);
  double z = 0;
  for (size_t i = 0; i < alphabet; ++i) z += p[i] = std::exp(double(logits[i]));
  std::mt19937 rng(1);
  std::discrete_distribution<uint32_t> pick(p.begin(), p.end());
  std::vector<uint32_t> syms(1000000);
  double ideal = 0;
  for (auto& s : syms) {
    s = pick(rng);
    ideal -= std::log2(p[s] / z);
  }
  std::vector<uint32_t> cum(alphabet + 1, 0);
  for (size_t i = 0; i < alphabet; ++i) cum[i + 1] = cum[i] + t.freq[i];
  size_t bytes = 0;
  for (auto _ : state) {
    lmac::ArithmeticEncoder enc;
    for (uint32_t s : syms) enc.encode(cum[s], t.freq[s], t.total);
    bytes = enc.finish().size();
  }
  state.counters["overhead_%"] = 100.0 * (8.0 * double(bytes) - ideal) / ideal;
  state.counters["ideal_bits_per_symbol"] = ideal / double(syms.size());
  state.counters["symbols/s"] = benchmark::Counter(double(syms.size()), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_overhead)->ArgsProduct({{128, 32000, 128256}, {5, 50, 300}})->Unit(benchmark::kMillisecond)->Iterations(1);

// Logits as a model gives them (a spread of about 3 nats and a few strong tokens), one
// table per iteration, then the interval of a symbol past the middle (what compression
// asks) or the search for a target there (decompression).
void BM_freq_table(benchmark::State& state) {
  const size_t alphabet = static_cast<size_t>(state.range(0));
  std::mt19937 rng(2);
  std::normal_distribution<float> spread(0.0f, 3.0f);
  std::vector<float> logits(alphabet);
  for (auto& l : logits) l = spread(rng);
  for (size_t i = 0; i < alphabet; i += 997) logits[i] += 12.0f;
  lmac::FreqTable t;
  const auto symbol = static_cast<uint32_t>(alphabet * 5 / 8);
  for (auto _ : state) {
    lmac::freq_from_logits(logits, alphabet <= 4096 ? 24 : 30, t);
    if (state.range(1) == 0) {
      benchmark::DoNotOptimize(t.interval(symbol));
    } else {
      int32_t s = 0;
      benchmark::DoNotOptimize(t.locate(t.total / 8 * 5, &s));
    }
  }
  state.counters["tables/s"] = benchmark::Counter(1.0, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_freq_table)->ArgsProduct({{128, 32000, 128256}, {0, 1}})->ArgNames({"vocab", "search"});

}  // namespace

BENCHMARK_MAIN();
