// The "grid" backend: the CUDA backend's kernels on the host. Each operation loops over
// the same grid of threads as its kernel and calls the same per-thread function of
// lm/kernel_math.hpp, with the same weight layout (Q8_0 and K-quants repacked into planes
// and multiplied by whole warps with the tensor-core MMA emulated, lm/detail/q8_mma.hpp
// and kquant_int.hpp; everything else read in its block format, value by value,
// lm/detail/block_value.hpp). Tests hold it bit for bit
// against the CPU backend, which checks the GPU's order of arithmetic on machines without a GPU.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <optional>
#include <unordered_map>
#include <vector>

#include "lmac/common/error.hpp"
#include "lmac/common/parallel.hpp"
#include "lmac/lm/detail/block_value.hpp"
#include "lmac/lm/detail/host_backend.hpp"
#include "lmac/lm/detail/kernel_math.hpp"
#include "lmac/lm/detail/kquant_int.hpp"
#include "lmac/lm/detail/q8_mma.hpp"

namespace lmac {
namespace {

class GridBackend final : public HostBackend {
 public:
  explicit GridBackend(int threads) : HostBackend(threads) {}
  const char* name() const override { return "grid"; }

  // The emulated GPU's memory: unlimited, or LMAC_GRID_MEMORY bytes (for the tests of
  // what the codec does with a device's memory) less what the grid holds.
  void* alloc(size_t bytes) override {
    void* p = HostBackend::alloc(bytes);
    allocated_[p] = bytes;
    held_ += bytes;
    return p;
  }
  void release(void* p) override {
    if (auto it = allocated_.find(p); it != allocated_.end()) held_ -= it->second, allocated_.erase(it);
    HostBackend::release(p);
  }
  std::optional<size_t> free_memory() const override {
    const char* e = std::getenv("LMAC_GRID_MEMORY");
    if (e == nullptr || *e == '\0') return std::nullopt;
    const size_t size = std::strtoull(e, nullptr, 10);
    return size > held_ ? size - held_ : 0;
  }

  size_t weight_bytes() const override {
    size_t sum = 0;
    for (const Q8Owned& o : q8_owned_) sum += o.q.size() * sizeof(int8_t) + o.d.size() * sizeof(float);
    return sum;
  }
  Matrix weights(const Matrix& w, WeightUse) override {
    if (w.type == GgmlType::F32) return w;
    if (w.type == GgmlType::Q8_0 || km::kq_type(w.type)) {
      Q8Owned& o = q8_owned_.emplace_back();
      o.q.resize(w.rows * w.cols);
      o.d.resize(km::plane_scale_count(w.type, w.rows, w.cols));
      if (w.type == GgmlType::Q8_0)
        km::q8_repack(w.data, w.rows, w.cols, w.row_bytes, o.q.data(), o.d.data());
      else
        km::kq_repack(w.type, w.data, w.rows, w.cols, w.row_bytes, o.q.data(), o.d.data());
      return {w.type, w.rows, w.cols, reinterpret_cast<const uint8_t*>(o.q.data()), w.cols, w.content_id, o.d.data()};
    }
    return w;
  }
  using HostBackend::weights;

  void matmul(const Matrix& w, const float* x, size_t n, float* y, std::span<const int32_t> rows) override {
    const size_t n_out = rows.empty() ? w.rows : rows.size(), k = w.cols;
    if (w.type == GgmlType::Q8_0 || km::kq_type(w.type))
      return q8_matmul(planes(w), x, n, y, rows.empty() ? nullptr : rows.data(), n_out);
    // The GPU's half-warps: lane l of dot16 over the row's values as block_value reads
    // them, then the butterfly that adds reduce16's pairs.
    km::with_block_type(w.type, [&](auto tag) {
      parallel_for(threads_, n_out, 4, [&](size_t b, size_t e) {
        thread_local std::vector<float> wr;
        wr.resize(k);
        for (size_t j = b; j < e; ++j) {
          const uint8_t* row = w.product_row(rows, j);
          for (size_t i = 0; i < k; ++i) wr[i] = km::block_value<decltype(tag)::value>(row, i);
          for (size_t t = 0; t < n; ++t) y[t * n_out + j] = km::dot16(wr.data(), x + t * k, k);
        }
      });
    });
  }

  void get_rows(const Matrix& w, std::span<const int32_t> ids, float* out) override {
    for (int32_t id : ids)
      if (id < 0 || static_cast<size_t>(id) >= w.rows) fail("token id outside the embedding");
    for (size_t i = 0; i < ids.size() * w.cols; ++i) {
      const size_t r = static_cast<size_t>(ids[i / w.cols]), c = i % w.cols;
      out[i] = w.type == GgmlType::Q8_0 || km::kq_type(w.type) ? km::q8_plane_value(planes(w), r, c)
                                                               : km::block_value(w.type, w.data + r * w.row_bytes, c);
    }
  }

  void rmsnorm(const float* x, const float* weight, size_t n, size_t dim, float eps, float* y) override {
    for (size_t t = 0; t < n; ++t) {
      const float scale = km::rms_scale(x + t * dim, dim, eps);
      for (size_t i = 0; i < dim; ++i) y[t * dim + i] = km::mul(km::mul(x[t * dim + i], scale), weight[i]);
    }
  }

  void rope(float* x, size_t n, size_t n_heads, size_t hd, size_t rot_dim, std::span<const int32_t> pos,
            const float* cos_sin) override {
    const size_t pairs = rot_dim / 2;
    for (size_t i = 0; i < n * n_heads * pairs; ++i) {
      const size_t t = i / (n_heads * pairs), h = i / pairs % n_heads, p = i % pairs;
      const float* cs = cos_sin + static_cast<size_t>(pos[t]) * rot_dim + 2 * p;
      km::rope_pair(x + (t * n_heads + h) * hd + 2 * p, cs[0], cs[1]);
    }
  }

  void store_kv(std::span<const KvWrite> writes, const float* k, const float* v, size_t n_kv_head, size_t hd) override {
    const size_t kv_dim = n_kv_head * hd;
    for (size_t i = 0; i < writes.size() * kv_dim; ++i) {
      const KvWrite& w = writes[i / kv_dim];
      const size_t c = i % kv_dim;
      w.keys[key_index(w.pos, c / hd, c % hd, hd)] = km::float_to_half(k[i]);
      w.values[value_index(w.pos, c / hd, c % hd, hd)] = km::float_to_half(v[i]);
    }
  }

  // Three grids, as on the GPU: scores per (token, head, key), softmax per (token,
  // head), weighted values per (token, head, dimension).
  void attention(std::span<const AttentionJob> jobs, size_t n_head, size_t n_kv_head, size_t hd) override {
    const size_t group = n_head / n_kv_head;
    const float scale = km::attn_scale(hd);
    std::vector<size_t> at(jobs.size() + 1, 0);  // where each job's scores start
    for (size_t t = 0; t < jobs.size(); ++t) at[t + 1] = at[t] + jobs[t].n_keys * n_head;
    p_.resize(at.back());
    inv_.resize(jobs.size() * n_head);
    parallel_for_each(threads_, jobs.size() * n_head, [&](size_t th) {
      const AttentionJob& job = jobs[th / n_head];
      const size_t h = th % n_head, g = h / group, n = job.n_keys;
      float* p = &p_[at[th / n_head] + h * n];
      for (size_t j = 0; j < n; ++j)
        p[j] = km::attn_score(job.q + h * hd, km::attn_key(job.pages, j, g, hd), hd, scale);
      inv_[th] = km::attn_softmax(p, n);
      for (size_t d = 0; d < hd; ++d) job.out[h * hd + d] = km::attn_value(p, n, job.pages, g, hd, d, inv_[th]);
    });
  }

  void intervals(const float* logits, size_t n, size_t vocab, int total_bits, std::span<const int32_t> symbols,
                 Interval* out) override {
    check_symbols(symbols, vocab);
    frequencies(logits, n, vocab, total_bits);
    parallel_for_each(threads_, n, [&](size_t i) {
      const uint32_t* f = &f_[i * vocab];
      uint32_t cum = 0;
      for (size_t j = 0; j < static_cast<size_t>(symbols[i]); ++j) cum += f[j];
      out[i] = {cum, f[symbols[i]], totals_[i]};
    });
  }

  void search(const float* logits, size_t n, size_t vocab, int total_bits, const TargetFn& target, int32_t* symbols,
              Interval* out) override {
    frequencies(logits, n, vocab, total_bits);
    for (size_t i = 0; i < n; ++i) {
      const uint32_t* f = &f_[i * vocab];
      const uint32_t want = target(i, totals_[i]);
      if (want >= totals_[i]) fail("frequency table: target out of range");
      uint32_t cum = 0;
      size_t s = 0;
      while (want >= cum + f[s]) cum += f[s++];
      symbols[i] = static_cast<int32_t>(s);
      out[i] = {cum, f[s], totals_[i]};
    }
  }

  void swiglu(const float* gate, const float* up, size_t n, float* out) override {
    for (size_t i = 0; i < n; ++i) out[i] = km::swiglu(gate[i], up[i]);
  }

  void add(float* x, const float* y, size_t n) override {
    for (size_t i = 0; i < n; ++i) x[i] = km::add(x[i], y[i]);
  }

 private:
  struct Q8Owned {
    std::vector<int8_t> q;
    std::vector<float> d;
  };
  static km::Q8Planes planes(const Matrix& w) {
    return km::matrix_planes(w.type, reinterpret_cast<const int8_t*>(w.data), static_cast<const float*>(w.prepared),
                             w.rows, w.cols);
  }

  // The activations quantized per (token, block) into the GPU's planes.
  void quantize_split(const float* x, size_t n, size_t k) {
    const size_t nb = k / 32;
    xh_.resize(n * k), xl_.resize(n * k), xd_.resize(n * nb), xs_.resize(2 * n * nb);
    parallel_for(threads_, n * nb, 64, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i)
        km::q8_quantize_split(x + i * 32, &xh_[i * 32], &xl_[i * 32], &xd_[i], &xs_[2 * i]);
    });
  }

  // The kernel's grid: one warp per kQ8WarpRows outputs and NR token tiles, its 32
  // lanes in lock step.
  void q8_matmul(const km::Q8Planes& w, const float* x, size_t n, float* y, const int32_t* rows, size_t n_out) {
    if (n == 0 || n_out == 0) return;
    quantize_split(x, n, w.cols);
    const km::Q8Acts acts{xh_.data(), xl_.data(), xd_.data(), n, xs_.data()};
    switch (km::q8_token_tiles(n)) {
      case 1:
        return q8_warps<1>(w, acts, y, rows, n_out);
      case 2:
        return q8_warps<2>(w, acts, y, rows, n_out);
      case 4:
        return q8_warps<4>(w, acts, y, rows, n_out);
      default:
        return q8_warps<8>(w, acts, y, rows, n_out);
    }
  }
  template <size_t NR>
  void q8_warps(const km::Q8Planes& w, const km::Q8Acts& x, float* y, const int32_t* rows, size_t n_out) {
    const size_t row_warps = (n_out + km::kQ8WarpRows - 1) / km::kQ8WarpRows, tok_warps = (x.n + 8 * NR - 1) / (8 * NR);
    km::with_plane_kind(w, [&](auto sub, auto mins) {
      parallel_for_each(threads_, row_warps * tok_warps, [&](size_t i) {
        km::q8_warp_tile<32, NR, decltype(sub)::value, decltype(mins)::value>(
            w, rows, n_out, x, i % row_warps * km::kQ8WarpRows, i / row_warps * 8 * NR, 0, y,
            km::MmaM16N8K32Emulated{});
      });
    });
  }

  // As the CUDA kernel, a row a block: the maximum, the weights, 8 f64 lanes, the scale,
  // the frequencies and their total (an exact integer sum).
  void frequencies(const float* logits, size_t n, size_t vocab, int total_bits) {
    check_freq_size(vocab, total_bits);
    e_.resize(n * vocab), f_.resize(n * vocab), totals_.resize(n);
    parallel_for_each(threads_, n, [&](size_t i) {
      const float* l = logits + i * vocab;
      float* e = &e_[i * vocab];
      float mx = -km::kInf;
      for (size_t j = 0; j < vocab; ++j) mx = km::attn_max(mx, l[j]);
      const bool finite = km::freq_finite_max(mx);
      for (size_t j = 0; j < vocab; ++j) e[j] = km::freq_weight(l[j], mx, finite);
      double lanes[8];
      for (size_t k = 0; k < 8; ++k) lanes[k] = km::freq_lane_sum(e, vocab, k);
      const double scale = km::freq_scale(lanes, vocab, total_bits);
      uint64_t total = 0;
      for (size_t j = 0; j < vocab; ++j) total += f_[i * vocab + j] = km::freq_of(e[j], scale);
      totals_[i] = static_cast<uint32_t>(total);
    });
  }

  std::deque<Q8Owned> q8_owned_;  // repacked Q8_0 and K-quant weights
  std::unordered_map<void*, size_t> allocated_;
  size_t held_ = 0;
  std::vector<int8_t> xh_;
  std::vector<uint8_t> xl_;
  std::vector<float> xd_, p_, inv_, e_;
  std::vector<int32_t> xs_;
  std::vector<uint32_t> f_, totals_;
};

}  // namespace

std::unique_ptr<Backend> make_grid_backend(int threads) { return std::make_unique<GridBackend>(threads); }

}  // namespace lmac
