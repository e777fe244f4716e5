// Differential fuzzing of the operations besides the products that decide coded bits:
// attention over a fuzzed KV cache (any half values: infinities, NaN, subnormals), the
// frequency tables of fuzzed logits (the coder's intervals and its search), and the
// element-wise steps (rmsnorm, RoPE, the KV cache's rounding to half, SwiGLU, the
// residual add) on fuzzed activations. Every
// SIMD level and the grid backend (the CUDA kernels' arithmetic, run on the CPU) must
// give the same bits, NaNs counted as one value; a difference prints the case and aborts.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

#include "fuzz_input.hpp"
#include "lmac/coding/freq_table.hpp"
#include "lmac/lm/backend.hpp"

namespace {

using lmac::Backend;
using lmac::fuzz::canonical_bits;
using lmac::fuzz::hard_float;
using lmac::fuzz::InputBytes;
using lmac::fuzz::on_every_path;

[[noreturn]] void differs(const char* what, size_t at, const char* where) {
  std::fprintf(stderr, "%s: output %zu differs from the scalar CPU path's %s\n", what, at, where);
  __builtin_trap();
}

// ---- Attention: queries and a paged cache, each page in its own allocation.
struct AttentionCase {
  size_t n_head = 0, n_kv = 0, hd = 0, n_keys = 0, n_tokens = 0;
  std::vector<float> q;
  std::vector<std::vector<uint16_t>> keys, values;  // per page
};

std::vector<float> attention(Backend& be, AttentionCase& c) {
  std::vector<lmac::KvPage> pages;
  for (size_t i = 0; i < c.keys.size(); ++i) pages.push_back({c.keys[i].data(), c.values[i].data()});
  const size_t dim = c.n_head * c.hd;
  std::vector<float> out(c.n_tokens * dim);
  std::vector<lmac::AttentionJob> jobs;
  for (size_t t = 0; t < c.n_tokens; ++t)  // token t sees the first n_keys - t keys
    jobs.push_back({&c.q[t * dim], pages.data(), c.n_keys - t, &out[t * dim]});
  be.attention(jobs, c.n_head, c.n_kv, c.hd);
  return out;
}

AttentionCase attention_case(InputBytes& in) {
  AttentionCase c;
  static constexpr size_t kHeadDims[] = {16, 32, 48, 64, 80, 128};
  c.n_kv = 1 + in.next() % 3;
  c.n_head = c.n_kv * (1 + in.next() % 3);
  c.hd = kHeadDims[in.next() % 6];
  c.n_tokens = 1 + in.next() % 4;
  c.n_keys = c.n_tokens + in.next() % 300;  // past a page of 256, and partial key blocks
  c.q.resize(c.n_tokens * c.n_head * c.hd);
  for (float& v : c.q) v = hard_float(in, 1.0f);
  const size_t n_pages = (c.n_keys + lmac::kKvPage - 1) / lmac::kKvPage, page = lmac::kKvPage * c.n_kv * c.hd;
  c.keys.assign(n_pages, std::vector<uint16_t>(page));
  c.values.assign(n_pages, std::vector<uint16_t>(page));
  // Moderate halves, or any bits (infinities, NaN, subnormals) where the byte says so.
  const auto half = [&] {
    const uint16_t h = in.next16();
    return (h & 0xF000) == 0xF000 ? static_cast<uint16_t>(in.next16()) : static_cast<uint16_t>(h & 0xBFFF);
  };
  for (size_t p = 0; p < n_pages; ++p)
    for (size_t i = 0; i < page; ++i) c.keys[p][i] = half(), c.values[p][i] = half();
  return c;
}

// ---- Frequencies: rows of logits, a symbol per row, and the search's targets.
struct FrequencyCase {
  size_t rows = 0, vocab = 0;
  int bits = 0;
  std::vector<float> logits;
  std::vector<int32_t> symbols;
  std::vector<uint32_t> targets;  // in 1/2^32 of each table's total
};

struct Coded {
  std::vector<lmac::Interval> given, found;
  std::vector<int32_t> symbols;
};

Coded frequencies(Backend& be, const FrequencyCase& c) {
  Coded out{std::vector<lmac::Interval>(c.rows), std::vector<lmac::Interval>(c.rows), std::vector<int32_t>(c.rows)};
  be.intervals(c.logits.data(), c.rows, c.vocab, c.bits, c.symbols, out.given.data());
  const lmac::TargetFn target = [&](size_t i, uint32_t total) {
    return static_cast<uint32_t>((uint64_t{total} * c.targets[i]) >> 32);
  };
  be.search(c.logits.data(), c.rows, c.vocab, c.bits, target, out.symbols.data(), out.found.data());
  return out;
}

FrequencyCase frequency_case(InputBytes& in) {
  FrequencyCase c;
  static constexpr size_t kVocabs[] = {2, 15, 16, 17, 128, 361, 1000, 32000};
  c.rows = 1 + in.next() % 6;
  c.vocab = kVocabs[in.next() % 8];
  c.bits = 16 + in.next() % 15;  // the coder's totals, 2^16 .. 2^30
  c.logits.resize(c.rows * c.vocab);
  const float scale = static_cast<float>(1 + in.next() % 64);
  for (float& v : c.logits) v = hard_float(in, scale);
  for (size_t r = 0; r < c.rows; ++r) {
    c.symbols.push_back(static_cast<int32_t>(in.next16() % c.vocab));
    c.targets.push_back(static_cast<uint32_t>(in.next16()) << 16 | in.next16());
  }
  return c;
}

// ---- Element-wise steps, chained as a layer chains them.
struct ElementCase {
  size_t n = 0, heads = 0, hd = 0, rot = 0;
  std::vector<float> x, weight, gate, cos_sin;
  std::vector<int32_t> pos;
  float eps = 0.0f;
};

ElementCase element_case(InputBytes& in) {
  ElementCase c;
  static constexpr size_t kHeadDims[] = {2, 16, 48, 64, 80, 128};
  c.n = 1 + in.next() % 5;
  c.heads = 1 + in.next() % 4;
  c.hd = kHeadDims[in.next() % 6];
  c.rot = 2 * (1 + in.next() % (c.hd / 2));  // rotated dims: all, or the first few pairs
  c.eps = (in.next() & 1) ? 1e-5f : 1e-6f;
  const size_t dim = c.heads * c.hd, positions = 8;
  for (size_t i = 0; i < c.n * dim; ++i) c.x.push_back(hard_float(in, 4.0f)), c.gate.push_back(hard_float(in, 30.0f));
  for (size_t i = 0; i < dim; ++i) c.weight.push_back(hard_float(in, 1.0f));
  for (size_t i = 0; i < positions * c.rot; ++i) c.cos_sin.push_back(hard_float(in, 0.5f));
  for (size_t t = 0; t < c.n; ++t) c.pos.push_back(static_cast<int32_t>(in.next() % positions));
  return c;
}

// Every step's output, and the half values a KV page holds after store_kv.
std::vector<float> element_steps(Backend& be, const ElementCase& c) {
  const size_t dim = c.heads * c.hd, all = c.n * dim;
  std::vector<float> out(4 * all), y(all), s(all);
  be.rmsnorm(c.x.data(), c.weight.data(), c.n, dim, c.eps, y.data());
  std::copy(y.begin(), y.end(), out.begin());
  be.rope(y.data(), c.n, c.heads, c.hd, c.rot, c.pos, c.cos_sin.data());
  std::copy(y.begin(), y.end(), out.begin() + static_cast<ptrdiff_t>(all));
  be.swiglu(c.gate.data(), c.x.data(), all, s.data());
  std::copy(s.begin(), s.end(), out.begin() + static_cast<ptrdiff_t>(2 * all));
  be.add(s.data(), y.data(), all);
  std::copy(s.begin(), s.end(), out.begin() + static_cast<ptrdiff_t>(3 * all));
  // The rotated values and the sums as a token's key and value (heads as KV heads).
  std::vector<uint16_t> keys(lmac::kKvPage * dim), values(lmac::kKvPage * dim);
  std::vector<lmac::KvWrite> writes;
  for (size_t t = 0; t < c.n; ++t) writes.push_back({keys.data(), values.data(), 3 * t + 1});
  be.store_kv(writes, y.data(), s.data(), c.heads, c.hd);
  // A half NaN counted as one value too: its sign and payload are the float NaN's, and
  // which NaN an operation yields is never observed (§1; paths differ in it).
  const auto half = [](uint16_t h) { return (h & 0x7C00) == 0x7C00 && (h & 0x3FF) ? 0x7E00 : h; };
  for (size_t i = 0; i < keys.size(); ++i) out.push_back(half(keys[i])), out.push_back(half(values[i]));
  return out;
}

bool same(const lmac::Interval& a, const lmac::Interval& b) {
  return a.cum == b.cum && a.freq == b.freq && a.total == b.total;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  InputBytes in(data, size);
  const uint8_t mode = in.next() % 3;
  const auto same_floats = [](const char* what) {
    return [what](const std::vector<float>& want, const std::vector<float>& got, const char* where) {
      for (size_t i = 0; i < want.size(); ++i)
        if (canonical_bits(want[i]) != canonical_bits(got[i])) differs(what, i, where);
    };
  };
  if (mode == 2) {
    const ElementCase c = element_case(in);
    on_every_path([&](Backend& be) { return element_steps(be, c); }, same_floats("element-wise steps"));
  } else if (mode == 1) {
    AttentionCase c = attention_case(in);
    on_every_path([&](Backend& be) { return attention(be, c); }, same_floats("attention"));
  } else {
    const FrequencyCase c = frequency_case(in);
    on_every_path([&](Backend& be) { return frequencies(be, c); },
                  [](const Coded& want, const Coded& got, const char* where) {
                    for (size_t i = 0; i < want.given.size(); ++i) {
                      if (!same(want.given[i], got.given[i])) differs("frequency intervals", i, where);
                      if (want.symbols[i] != got.symbols[i] || !same(want.found[i], got.found[i]))
                        differs("frequency search", i, where);
                    }
                  });
  }
  return 0;
}
