#include "lmac/lm/backend_check.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <random>

#include "lmac/lm/ggml_types.hpp"

namespace lmac {
namespace {

// Random floats with the cases that catch a wrong order or rounding: subnormals,
// signed zeros, values whose products round to ties, and a wide spread of magnitudes.
std::vector<float> hard_floats(std::mt19937& rng, size_t n, float scale = 1.0f) {
  std::vector<float> v(n);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (size_t i = 0; i < n; ++i) {
    switch (rng() % 16) {
      case 0:
        v[i] = std::ldexp(u(rng), -130);
        break;  // subnormal
      case 1:
        v[i] = (rng() & 1) ? 0.0f : -0.0f;
        break;
      case 2:
        v[i] = scale * (1.0f + std::ldexp(1.0f, -12));
        break;  // squares round to a tie
      case 3:
        v[i] = scale * std::ldexp(u(rng), static_cast<int>(rng() % 12));
        break;
      default:
        v[i] = scale * u(rng);
    }
  }
  return v;
}

// Bits, every NaN counted as one value (payloads are never observed).
uint32_t canon(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return std::isnan(f) ? 0x7FC00000u : b;
}

// The same data in both backends' memory.
struct Pair {
  Backend &a, &b;
  std::deque<Buffer> keep;  // stable addresses
  template <typename T>
  std::pair<T*, T*> put(const std::vector<T>& host) {
    const size_t bytes = std::max<size_t>(1, host.size() * sizeof(T));
    Buffer& x = keep.emplace_back(a, bytes);
    Buffer& y = keep.emplace_back(b, bytes);
    if (!host.empty()) a.upload(x.as<void>(), host.data(), bytes), b.upload(y.as<void>(), host.data(), bytes);
    return {x.as<T>(), y.as<T>()};
  }
  template <typename T>
  std::pair<T*, T*> zeros(size_t n) {
    return put(std::vector<T>(n));
  }
  BackendCheck compare(const std::string& name, std::pair<float*, float*> out, size_t n) {
    std::vector<float> x(n), y(n);
    a.download(x.data(), out.first, n * sizeof(float));
    b.download(y.data(), out.second, n * sizeof(float));
    BackendCheck c{name, n, 0};
    for (size_t i = 0; i < n; ++i) c.differing += canon(x[i]) != canon(y[i]);
    return c;
  }
};

// A Q8_0 matrix: random scales, every int8 value, rows of -128 for block sums above 2^24.
std::vector<uint8_t> q8_matrix(std::mt19937& rng, size_t rows, size_t cols) {
  std::vector<uint8_t> m(rows * cols / 32 * 34);
  for (size_t b = 0; b < m.size() / 34; ++b) {
    const uint16_t d = fp32_to_fp16(std::ldexp(1.0f + static_cast<float>(rng() % 1000) / 1000.0f, -7));
    m[b * 34] = static_cast<uint8_t>(d), m[b * 34 + 1] = static_cast<uint8_t>(d >> 8);
    for (size_t i = 0; i < 32; ++i) m[b * 34 + 2 + i] = b % 7 == 0 ? 0x80 : static_cast<uint8_t>(rng());
  }
  return m;
}

void check_matmul(Pair& p, std::mt19937& rng, GgmlType type, size_t n, std::vector<BackendCheck>& out) {
  const size_t rows = 45, cols = 512;  // rows: two whole tiles of 16 and a partial one; two super-blocks
  const std::vector<uint8_t> raw =
      type == GgmlType::Q8_0 ? q8_matrix(rng, rows, cols) : random_blocks(type, rows, cols, rng);
  const Matrix host{type, rows, cols, raw.data(), ggml_row_bytes(type, cols)};
  const Matrix wa = p.a.weights(host, WeightUse::Products), wb = p.b.weights(host, WeightUse::Products);
  std::vector<float> xs = hard_floats(rng, n * cols);
  if (type == GgmlType::Q8_0 && n > 1)  // a block of full-scale activations: |block sum| > 2^24
    for (size_t i = 0; i < 32; ++i) xs[cols + i] = (i % 2) ? -1.0f : 1.0f;
  auto x = p.put(xs);
  auto y = p.zeros<float>(n * rows);
  p.a.matmul(wa, x.first, n, y.first, {});
  p.b.matmul(wb, x.second, n, y.second, {});
  out.push_back(p.compare(fmt::format("matmul {} x {} tokens", ggml_type_info(type).name, n), y, n * rows));
  const std::vector<int32_t> subset = {44, 0, 5, 5, 31};
  auto z = p.zeros<float>(n * subset.size());
  p.a.matmul(wa, x.first, n, z.first, subset);
  p.b.matmul(wb, x.second, n, z.second, subset);
  out.push_back(
      p.compare(fmt::format("matmul {} rows subset x {} tokens", ggml_type_info(type).name, n), z, n * subset.size()));
}

void check_elementwise(Pair& p, std::mt19937& rng, size_t n, std::vector<BackendCheck>& out) {
  const size_t dim = 96, heads = 4, hd = dim / heads;
  auto x = p.put(hard_floats(rng, n * dim, 3.0f));
  auto w = p.put(hard_floats(rng, dim));
  auto y = p.zeros<float>(n * dim);
  p.a.rmsnorm(x.first, w.first, n, dim, 1e-5f, y.first);
  p.b.rmsnorm(x.second, w.second, n, dim, 1e-5f, y.second);
  out.push_back(p.compare(fmt::format("rmsnorm x {} tokens", n), y, n * dim));
  std::vector<int32_t> pos(n);
  for (size_t t = 0; t < n; ++t) pos[t] = static_cast<int32_t>(rng() % 64);
  auto cs = p.put(hard_floats(rng, 64 * hd));
  p.a.rope(y.first, n, heads, hd, hd, pos, cs.first);
  p.b.rope(y.second, n, heads, hd, hd, pos, cs.second);
  out.push_back(p.compare(fmt::format("rope x {} tokens", n), y, n * dim));
  auto g = p.put(hard_floats(rng, n * dim, 40.0f));
  auto s = p.zeros<float>(n * dim);
  p.a.swiglu(g.first, x.first, n * dim, s.first);
  p.b.swiglu(g.second, x.second, n * dim, s.second);
  out.push_back(p.compare(fmt::format("swiglu x {} tokens", n), s, n * dim));
  p.a.add(s.first, y.first, n * dim);
  p.b.add(s.second, y.second, n * dim);
  out.push_back(p.compare(fmt::format("add x {} tokens", n), s, n * dim));
}

// A paged cache of n_keys positions filled through store_kv, its pages in reverse order
// in memory (a wrong page shows), then every token's attention.
void check_attention(Pair& p, std::mt19937& rng, size_t n_keys, std::vector<BackendCheck>& out) {
  const size_t n_head = 6, n_kv = 2, hd = 48, kv_dim = n_kv * hd, q_dim = n_head * hd;
  const size_t n_pages = (n_keys + kKvPage - 1) / kKvPage, page_elems = kKvPage * kv_dim;
  auto keys = p.zeros<uint16_t>(n_pages * page_elems);
  auto values = p.zeros<uint16_t>(n_pages * page_elems);
  std::vector<KvPage> pa(n_pages), pb(n_pages);
  for (size_t i = 0; i < n_pages; ++i) {
    const size_t at = (n_pages - 1 - i) * page_elems;
    pa[i] = {keys.first + at, values.first + at}, pb[i] = {keys.second + at, values.second + at};
  }
  auto k = p.put(hard_floats(rng, n_keys * kv_dim, 2.0f));
  auto v = p.put(hard_floats(rng, n_keys * kv_dim, 2.0f));
  std::vector<KvWrite> wa(n_keys), wb(n_keys);
  for (size_t t = 0; t < n_keys; ++t) {
    const KvPage &a = pa[t / kKvPage], &b = pb[t / kKvPage];
    wa[t] = {a.keys, a.values, t % kKvPage}, wb[t] = {b.keys, b.values, t % kKvPage};
  }
  p.a.store_kv(wa, k.first, v.first, n_kv, hd);
  p.b.store_kv(wb, k.second, v.second, n_kv, hd);
  auto q = p.put(hard_floats(rng, n_keys * q_dim, 2.0f));
  auto o = p.zeros<float>(n_keys * q_dim);
  std::vector<AttentionJob> ja(n_keys), jb(n_keys);
  for (size_t t = 0; t < n_keys; ++t) {
    ja[t] = {q.first + t * q_dim, pa.data(), t + 1, o.first + t * q_dim};
    jb[t] = {q.second + t * q_dim, pb.data(), t + 1, o.second + t * q_dim};
  }
  p.a.attention(ja, n_head, n_kv, hd);
  p.b.attention(jb, n_head, n_kv, hd);
  out.push_back(p.compare(fmt::format("store_kv + attention over 1..{} keys", n_keys), o, n_keys * q_dim));
}

// Rows of logits with the edges of §4: NaN, -inf, a logit exactly 87 below the
// maximum (weight 0) and just above, rows whose maximum is +inf, NaN or -inf only.
std::vector<float> hard_logits(std::mt19937& rng, size_t rows, size_t vocab) {
  std::normal_distribution<float> normal(0.0f, 4.0f);
  std::vector<float> l(rows * vocab);
  for (float& v : l) v = normal(rng);
  for (size_t r = 0; r < rows; ++r) {
    float* row = &l[r * vocab];
    row[rng() % vocab] = 20.0f;  // the maximum
    row[rng() % vocab] = 20.0f - 87.0f;
    row[rng() % vocab] = std::nextafter(20.0f - 87.0f, 0.0f);
    row[rng() % vocab] = NAN;
    row[rng() % vocab] = -INFINITY;
    if (r % 7 == 3) row[rng() % vocab] = INFINITY;
    if (r % 7 == 5) std::fill(row, row + vocab, NAN);
    if (r % 7 == 6) std::fill(row, row + vocab, -INFINITY);
  }
  return l;
}

// The coder's calls: intervals of given symbols, and the search for targets.
void check_frequencies(Pair& p, std::mt19937& rng, size_t rows, size_t vocab, int bits,
                       std::vector<BackendCheck>& out) {
  auto l = p.put(hard_logits(rng, rows, vocab));
  std::vector<int32_t> symbols(rows);
  for (int32_t& s : symbols) s = static_cast<int32_t>(rng() % vocab);
  std::vector<Interval> ia(rows), ib(rows);
  p.a.intervals(l.first, rows, vocab, bits, symbols, ia.data());
  p.b.intervals(l.second, rows, vocab, bits, symbols, ib.data());
  BackendCheck c{fmt::format("frequency intervals, {} rows of {}", rows, vocab), rows, 0};
  for (size_t i = 0; i < rows; ++i)
    c.differing += ia[i].cum != ib[i].cum || ia[i].freq != ib[i].freq || ia[i].total != ib[i].total;
  out.push_back(c);
  // Targets spread over each table, its first and last values included.
  const auto target = [](size_t i, uint32_t total) {
    return i % 5 == 0 ? 0 : i % 5 == 1 ? total - 1 : static_cast<uint32_t>(uint64_t{total} * (i % 97) / 97);
  };
  std::vector<int32_t> sa(rows), sb(rows);
  p.a.search(l.first, rows, vocab, bits, target, sa.data(), ia.data());
  p.b.search(l.second, rows, vocab, bits, target, sb.data(), ib.data());
  BackendCheck d{fmt::format("frequency search, {} rows of {}", rows, vocab), rows, 0};
  for (size_t i = 0; i < rows; ++i)
    d.differing += sa[i] != sb[i] || ia[i].cum != ib[i].cum || ia[i].freq != ib[i].freq || ia[i].total != ib[i].total;
  out.push_back(d);
}

}  // namespace

std::vector<uint8_t> random_blocks(GgmlType type, size_t rows, size_t cols, std::mt19937& rng) {
  const auto& info = ggml_type_info(type);
  std::vector<uint8_t> b(rows * ggml_row_bytes(type, cols));
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  auto put16 = [&](size_t at, uint16_t v) {
    b[at] = static_cast<uint8_t>(v), b[at + 1] = static_cast<uint8_t>(v >> 8);
  };
  if (type == GgmlType::F32) {
    for (size_t i = 0; i < b.size(); i += 4) {
      const float f = u(rng);
      std::memcpy(&b[i], &f, 4);
    }
    return b;
  }
  if (type == GgmlType::F16 || type == GgmlType::BF16) {
    for (size_t i = 0; i < b.size(); i += 2) {
      const float f = u(rng);
      uint32_t bits;
      std::memcpy(&bits, &f, 4);
      put16(i, type == GgmlType::F16 ? fp32_to_fp16(f) : static_cast<uint16_t>(bits >> 16));
    }
    return b;
  }
  // The fp16 scale d, then dmin for the types with mins: about 2^-9 .. 2^-5.
  size_t dmin_at = 0;
  switch (type) {
    case GgmlType::Q4_1:
    case GgmlType::Q5_1:
    case GgmlType::Q4_K:
    case GgmlType::Q5_K:
      dmin_at = 2;
      break;
    case GgmlType::Q2_K:
      dmin_at = 82;
      break;
    default:
      break;
  }
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  for (size_t blk = 0; blk < b.size(); blk += info.block_bytes) {
    store_block_scale(type, &b[blk], static_cast<uint16_t>(0x1800 + rng() % 0x1000));
    if (dmin_at != 0) put16(blk + dmin_at, static_cast<uint16_t>(0x1800 + rng() % 0x1000));
  }
  return b;
}

std::vector<BackendCheck> compare_backends(Backend& reference, Backend& candidate, uint32_t seed) {
  std::mt19937 rng(seed);
  Pair p{reference, candidate, {}};
  std::vector<BackendCheck> out;
  for (size_t n : {1, 3, 64}) {
    for (const GgmlTypeInfo& type : ggml_types()) check_matmul(p, rng, type.type, n, out);
    check_elementwise(p, rng, n, out);
  }
  // Token counts that give the Q8_0 warps 2 and 4 token tiles, each with a partial one.
  for (size_t n : {13, 27}) check_matmul(p, rng, GgmlType::Q8_0, n, out);
  for (size_t keys : {1, 16, 37, 300, 530}) check_attention(p, rng, keys, out);
  check_frequencies(p, rng, 21, 128, 24, out);
  check_frequencies(p, rng, 9, 32000, 30, out);
  check_frequencies(p, rng, 3, 1001, 24, out);
  return out;
}

}  // namespace lmac
