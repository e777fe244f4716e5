// The CUDA backend. Every kernel computes its outputs with the per-thread functions of
// lm/kernel_math.hpp and lm/detail/q8_mma.hpp (each rounding an explicit _rn intrinsic;
// built with -fmad=false, no fast math), over the grids the "grid" backend runs on the
// host, so the results are the CPU backend's bits (docs/ARITHMETIC.md). No cuBLAS, no
// atomics: every float chain is one thread's, in the CPU's order; the only sums shared
// between threads are exact integer MMA block sums and the reduce16 tree, whose pairs
// are fixed.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "lmac/common/error.hpp"
#include "lmac/lm/cuda_backend.hpp"
#include "lmac/lm/detail/block_value.hpp"
#include "lmac/lm/detail/kernel_math.hpp"
#include "lmac/lm/detail/kquant_int.hpp"
#include "lmac/lm/detail/q8_mma.hpp"

namespace lmac {
namespace {

// (No fmt here: fmt 9's headers do not compile under nvcc.)
void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail(std::string("CUDA: ") + what + " failed: " + cudaGetErrorString(e));
}

std::string mb(size_t bytes) { return std::to_string((bytes + 500000) / 1000000) + " MB"; }

constexpr int kThreads = 256;
unsigned blocks_for(size_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

__global__ void k_q8_quantize(const float* x, size_t n_blocks, int8_t* xh, uint8_t* xl, float* xd, int32_t* xs) {
  const size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x;
  if (i < n_blocks) km::q8_quantize_split(x + i * 32, xh + i * 32, xl + i * 32, xd + i, xs + 2 * i);
}

// mma.sync m16n8k32 for this thread's lane: A s8, B s8 or u8, C zero.
struct MmaPtx {
  __device__ void operator()(int32_t (&d)[1][4], const uint32_t (&a)[1][4], const uint32_t (&b)[1][2],
                             bool b_unsigned) const {
    if (b_unsigned)
      asm volatile(
          "mma.sync.aligned.m16n8k32.row.col.s32.s8.u8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
          "{%10,%10,%10,%10};"
          : "=r"(d[0][0]), "=r"(d[0][1]), "=r"(d[0][2]), "=r"(d[0][3])
          : "r"(a[0][0]), "r"(a[0][1]), "r"(a[0][2]), "r"(a[0][3]), "r"(b[0][0]), "r"(b[0][1]), "r"(0));
    else
      asm volatile(
          "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
          "{%10,%10,%10,%10};"
          : "=r"(d[0][0]), "=r"(d[0][1]), "=r"(d[0][2]), "=r"(d[0][3])
          : "r"(a[0][0]), "r"(a[0][1]), "r"(a[0][2]), "r"(a[0][3]), "r"(b[0][0]), "r"(b[0][1]), "r"(0));
  }
};

// Four warps a block, each kQ8WarpRows weight rows x NR token tiles (grid.y); a warp
// leaves as a whole (mma.sync needs all its lanes).
constexpr int kQ8Warps = 4;
template <size_t NR, size_t kSub, bool kMins>
__global__ void __launch_bounds__(32 * kQ8Warps)
    k_q8_mma(km::Q8Planes w, const int32_t* rows, size_t n_out, km::Q8Acts x, float* y) {
  const size_t r0 = (blockIdx.x * size_t{kQ8Warps} + threadIdx.x / 32) * km::kQ8WarpRows;
  if (r0 >= n_out) return;
  km::q8_warp_tile<1, NR, kSub, kMins>(w, rows, n_out, x, r0, blockIdx.y * size_t{8 * NR}, size_t{threadIdx.x % 32}, y,
                                       MmaPtx{});
}

// dot16 on half-warps: thread l of 16 runs lane l's chain (i = l mod 16, increasing i)
// for 4 weight rows x T tokens, then a butterfly adds the lanes: its steps (8, 4, 2, 1)
// add the pairs of reduce16 (float addition commutes), so lane 0 holds reduce16. The
// weights stay in their block format; each thread takes its values from the blocks
// (lm/detail/block_value.hpp: the CPU dequantizers' bits).
constexpr int kRows = 4;
template <GgmlType W, int T>
__global__ void __launch_bounds__(256) k_block_matmul(const uint8_t* w, size_t row_bytes, size_t k, const int32_t* rows,
                                                      size_t n_out, const float* x, size_t n, float* y) {
  const size_t tiles = (n_out + kRows - 1) / kRows, hw = (blockIdx.x * size_t{blockDim.x} + threadIdx.x) / 16;
  const size_t r0 = (hw < tiles ? hw : tiles - 1) * kRows, t0 = blockIdx.y * size_t{T};
  const int l = static_cast<int>(threadIdx.x % 16);
  const uint8_t* wr[kRows];
  const float* xr[T];
#pragma unroll
  for (int r = 0; r < kRows; ++r) wr[r] = w + km::q8_plane_row(rows, n_out, r0 + r) * row_bytes;
#pragma unroll
  for (int c = 0; c < T; ++c) xr[c] = x + (t0 + c < n ? t0 + c : n - 1) * k;
  float acc[kRows][T] = {};
  for (size_t i = l; i < k; i += 16) {
    float wv[kRows], xv[T];
#pragma unroll
    for (int r = 0; r < kRows; ++r) wv[r] = km::block_value<W>(wr[r], i);
#pragma unroll
    for (int c = 0; c < T; ++c) xv[c] = xr[c][i];
#pragma unroll
    for (int r = 0; r < kRows; ++r)
#pragma unroll
      for (int c = 0; c < T; ++c) acc[r][c] = km::fma(wv[r], xv[c], acc[r][c]);
  }
#pragma unroll
  for (int r = 0; r < kRows; ++r)
#pragma unroll
    for (int c = 0; c < T; ++c) {
      float v = acc[r][c];
      for (int step = 8; step > 0; step /= 2) v = km::add(v, __shfl_xor_sync(0xFFFFFFFFu, v, step, 16));
      if (l == 0 && hw < tiles && r0 + r < n_out && t0 + c < n) y[(t0 + c) * n_out + r0 + r] = v;
    }
}

template <GgmlType W>
__global__ void k_get_rows(const uint8_t* w, size_t row_bytes, const float* plane_scales, size_t rows, size_t cols,
                           const int32_t* ids, size_t n, float* out) {
  const size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x;
  if (i >= n * cols) return;
  const size_t r = static_cast<size_t>(ids[i / cols]);
  if constexpr (W == GgmlType::Q8_0 || km::kq_type(W))
    out[i] = km::q8_plane_value(km::matrix_planes(W, reinterpret_cast<const int8_t*>(w), plane_scales, rows, cols), r,
                                i % cols);
  else
    out[i] = km::block_value<W>(w + r * row_bytes, i % cols);
}

__global__ void k_rms_scale(const float* x, size_t n, size_t dim, float eps, float* scale) {
  const size_t t = blockIdx.x * size_t{blockDim.x} + threadIdx.x;
  if (t < n) scale[t] = km::rms_scale(x + t * dim, dim, eps);
}

__global__ void k_rms_apply(const float* x, const float* w, const float* scale, size_t n, size_t dim, float* y) {
  const size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x;
  if (i < n * dim) y[i] = km::mul(km::mul(x[i], scale[i / dim]), w[i % dim]);
}

__global__ void k_rope(float* x, size_t n, size_t n_heads, size_t hd, size_t rot_dim, const int32_t* pos,
                       const float* cos_sin) {
  const size_t pairs = rot_dim / 2, i = blockIdx.x * size_t{blockDim.x} + threadIdx.x;
  if (i >= n * n_heads * pairs) return;
  const size_t t = i / (n_heads * pairs), h = i / pairs % n_heads, p = i % pairs;
  const float* cs = cos_sin + static_cast<size_t>(pos[t]) * rot_dim + 2 * p;
  km::rope_pair(x + (t * n_heads + h) * hd + 2 * p, cs[0], cs[1]);
}

__global__ void k_store_kv(const KvWrite* writes, size_t n, const float* k, const float* v, size_t n_kv_head,
                           size_t hd) {
  const size_t kv_dim = n_kv_head * hd, i = blockIdx.x * size_t{blockDim.x} + threadIdx.x;
  if (i >= n * kv_dim) return;
  const KvWrite w = writes[i / kv_dim];
  const size_t c = i % kv_dim, h = c / hd, d = c % hd;
  w.keys[key_index(w.pos, h, d, hd)] = km::float_to_half(k[i]);
  w.values[value_index(w.pos, h, d, hd)] = km::float_to_half(v[i]);
}

// op over every thread's `mine`, by a tree in shared `part` (one slot a thread); every
// thread of the block calls it and gets the result. Only for order-free operations: a
// maximum, exact integer sums.
template <int kThreads, typename T, typename Op>
__device__ T block_tree(T* part, T mine, Op op) {
  const unsigned tid = threadIdx.x;
  part[tid] = mine;
  __syncthreads();
  for (unsigned half = kThreads / 2; half > 0; half /= 2) {
    if (tid < half) part[tid] = op(part[tid], part[tid + half]);
    __syncthreads();
  }
  return part[0];
}
__device__ float max_of(float a, float b) { return km::attn_max(a, b); }
__device__ unsigned long long sum_of(unsigned long long a, unsigned long long b) { return a + b; }

// One block per (token, query head): scores by the block's threads over keys, their
// maximum by a tree (any order gives the same maximum), the exponentials over keys, the
// 16 lanes of the sum by 16 threads and reduce16 by one, values by threads over
// dimensions (each value one chain over all keys).
constexpr int kAttnThreads = 128;
struct AttentionTask {
  AttentionJob job;
  size_t scores_at;  // where its heads' scores start in the scores block
};
__global__ void __launch_bounds__(kAttnThreads)
    k_attention(const AttentionTask* tasks, size_t n_head, size_t group, size_t hd, float scale, float* scores) {
  const size_t th = blockIdx.x, h = th % n_head, g = h / group, tid = threadIdx.x;
  const AttentionJob job = tasks[th / n_head].job;
  const size_t n = job.n_keys;
  float* p = scores + tasks[th / n_head].scores_at + h * n;
  __shared__ float part[kAttnThreads];
  float m = -km::kInf;
  for (size_t j = tid; j < n; j += kAttnThreads) {
    p[j] = km::attn_score(job.q + h * hd, km::attn_key(job.pages, j, g, hd), hd, scale);
    m = km::attn_max(m, p[j]);
  }
  const float mx = block_tree<kAttnThreads>(part, m, max_of);
  for (size_t j = tid; j < n; j += kAttnThreads) p[j] = km::det_exp(km::sub(p[j], mx));
  __syncthreads();
  __shared__ float lanes[16], inv;
  if (tid < 16) lanes[tid] = km::attn_lane_sum(p, n, tid);
  __syncthreads();
  if (tid == 0) inv = km::div(1.0f, km::reduce16(lanes));
  __syncthreads();
  for (size_t d = tid; d < hd; d += kAttnThreads) job.out[h * hd + d] = km::attn_value(p, n, job.pages, g, hd, d, inv);
}

// §4 for one row of logits a block: the maximum by a tree, the weights over threads,
// the 8 f64 lanes by 8 threads, the scale by one, the frequencies over threads and
// their total by a tree of exact integer sums.
constexpr int kFreqThreads = 256;
__global__ void __launch_bounds__(kFreqThreads)
    k_frequencies(const float* logits, size_t vocab, int total_bits, float* e_all, uint32_t* f_all, uint32_t* totals) {
  const size_t row = blockIdx.x, tid = threadIdx.x;
  const float* l = logits + row * vocab;
  float* e = e_all + row * vocab;
  uint32_t* f = f_all + row * vocab;
  __shared__ float max_part[kFreqThreads];
  __shared__ unsigned long long sum_part[kFreqThreads];
  __shared__ double lanes[8], scale;
  float m = -km::kInf;
  for (size_t j = tid; j < vocab; j += kFreqThreads) m = km::attn_max(m, l[j]);
  const float mx = block_tree<kFreqThreads>(max_part, m, max_of);
  const bool finite = km::freq_finite_max(mx);
  for (size_t j = tid; j < vocab; j += kFreqThreads) e[j] = km::freq_weight(l[j], mx, finite);
  __syncthreads();
  if (tid < 8) lanes[tid] = km::freq_lane_sum(e, vocab, tid);
  __syncthreads();
  if (tid == 0) scale = km::freq_scale(lanes, vocab, total_bits);
  __syncthreads();
  unsigned long long total = 0;
  for (size_t j = tid; j < vocab; j += kFreqThreads) total += f[j] = km::freq_of(e[j], scale);
  total = block_tree<kFreqThreads>(sum_part, total, sum_of);
  if (tid == 0) totals[row] = static_cast<uint32_t>(total);
}

// The interval of symbols[row]: its cumulative start by a tree of exact integer sums.
__global__ void __launch_bounds__(kFreqThreads)
    k_intervals(const uint32_t* f_all, const uint32_t* totals, size_t vocab, const int32_t* symbols, Interval* out) {
  const size_t row = blockIdx.x, tid = threadIdx.x, s = static_cast<size_t>(symbols[row]);
  const uint32_t* f = f_all + row * vocab;
  __shared__ unsigned long long part[kFreqThreads];
  unsigned long long cum = 0;
  for (size_t j = tid; j < s; j += kFreqThreads) cum += f[j];
  cum = block_tree<kFreqThreads>(part, cum, sum_of);
  if (tid == 0) out[row] = Interval{static_cast<uint32_t>(cum), f[s], totals[row]};
}

// The symbol whose interval holds targets[row] (< the row's total): each thread sums a
// segment of the table, one thread takes the exclusive prefix of the segments, and the
// thread whose segment holds the target walks it.
__global__ void __launch_bounds__(kFreqThreads) k_search(const uint32_t* f_all, const uint32_t* totals, size_t vocab,
                                                         const uint32_t* targets, int32_t* symbols, Interval* out) {
  const size_t row = blockIdx.x, tid = threadIdx.x, seg = (vocab + kFreqThreads - 1) / kFreqThreads;
  const size_t begin = tid * seg, end = begin + seg < vocab ? begin + seg : vocab;
  const uint32_t* f = f_all + row * vocab;
  const uint32_t want = targets[row];
  __shared__ unsigned long long part[kFreqThreads], start[kFreqThreads];
  unsigned long long sum = 0;
  for (size_t j = begin; j < end; ++j) sum += f[j];
  part[tid] = sum;
  __syncthreads();
  if (tid == 0) {
    unsigned long long at = 0;
    for (int k = 0; k < kFreqThreads; ++k) start[k] = at, at += part[k];
  }
  __syncthreads();
  if (start[tid] <= want && want < start[tid] + part[tid]) {
    auto cum = static_cast<uint32_t>(start[tid]);
    size_t j = begin;
    while (want >= cum + f[j]) cum += f[j++];
    symbols[row] = static_cast<int32_t>(j);
    out[row] = Interval{cum, f[j], totals[row]};
  }
}

__global__ void k_swiglu(const float* gate, const float* up, size_t n, float* out) {
  const size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x;
  if (i < n) out[i] = km::swiglu(gate[i], up[i]);
}

__global__ void k_add(float* x, const float* y, size_t n) {
  const size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x;
  if (i < n) x[i] = km::add(x[i], y[i]);
}

__global__ void k_gather(const float* src, const int32_t* rows, size_t n, size_t dim, float* dst) {
  const size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x;
  if (i < n * dim) dst[i] = src[static_cast<size_t>(rows[i / dim]) * dim + i % dim];
}

// Weights in a GPU's memory, shared by every session of a model on that GPU: a codec
// makes a session per token mode and pass, and repacking and uploading a 7B model takes
// seconds. An entry outlives its last session (the next session is mostly the same
// model's) until an allocation finds the memory short.
class SharedWeights {
 public:
  using Key = std::tuple<int, uint64_t, uint32_t, size_t, size_t>;  // device, content id, type, shape
  struct Entry {
    Matrix m;
    std::vector<void*> blocks;
    size_t bytes = 0;
    int users = 0;
  };
  static SharedWeights& get() {
    static SharedWeights* w = new SharedWeights;  // never destroyed: the CUDA runtime may be gone by then
    return *w;
  }
  // The entry's matrix, one more user; false when there is none.
  bool take(const Key& k, Matrix* m) {
    std::lock_guard g(lock_);
    auto it = entries_.find(k);
    if (it == entries_.end()) return false;
    ++it->second.users;
    *m = it->second.m;
    return true;
  }
  void put(const Key& k, Entry e) {
    std::lock_guard g(lock_);
    e.users = 1;
    entries_[k] = std::move(e);
  }
  void leave(const Key& k) {
    std::lock_guard g(lock_);
    if (auto it = entries_.find(k); it != entries_.end()) --it->second.users;
  }
  // What the entries of `device` that no session uses hold: free memory to whoever
  // needs it, since an allocation that finds the memory short evicts them.
  size_t unused_bytes(int device) {
    std::lock_guard g(lock_);
    size_t sum = 0;
    for (const auto& [k, e] : entries_)
      if (std::get<0>(k) == device && e.users == 0) sum += e.bytes;
    return sum;
  }
  // Frees the entries of `device` no session uses; whether any were.
  bool evict_unused(int device) {
    std::lock_guard g(lock_);
    return std::erase_if(entries_, [&](auto& kv) {
             if (std::get<0>(kv.first) != device || kv.second.users > 0) return false;
             for (void* p : kv.second.blocks) cudaFree(p);
             return true;
           }) > 0;
  }

 private:
  std::mutex lock_;
  std::map<Key, Entry> entries_;
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) : device_(device) {
    check(cudaSetDevice(device), "selecting the GPU");
    name_ = "cuda:" + std::to_string(device);
    // For measurements and checks (the bits do not depend on it): the token tiles of 8
    // a Q8_0 warp takes whenever a product has that many tokens, 1, 2, 4 or 8.
    if (const char* e = std::getenv("LMAC_CUDA_Q8_TOKEN_TILES")) {
      const std::string v = e;
      if (v != "1" && v != "2" && v != "4" && v != "8") fail("LMAC_CUDA_Q8_TOKEN_TILES must be 1, 2, 4 or 8");
      forced_token_tiles_ = std::stoul(v);
    }
  }
  ~CudaBackend() override {
    for (const SharedWeights::Key& k : shared_) SharedWeights::get().leave(k);
    for (void* p : owned_) cudaFree(p);
    for (auto* b :
         {&ring_, &xh_, &xl_, &xd_, &xs_, &scores_, &scale_, &exp_weights_, &freq_, &totals_, &intervals_, &symbols_})
      cudaFree(b->p);
    cudaFreeHost(ring_host_);
  }
  const char* name() const override { return name_.c_str(); }

  void* alloc(size_t bytes) override {
    void* p = nullptr;
    if (cudaMalloc(&p, bytes) != cudaSuccess) {
      cudaGetLastError();
      if (SharedWeights::get().evict_unused(device_) && cudaMalloc(&p, bytes) == cudaSuccess) return p;
      cudaGetLastError();
      size_t free_b = 0, total = 0;
      cudaMemGetInfo(&free_b, &total);
      fail(name_ + ": out of GPU memory allocating " + mb(bytes) + " (" + mb(free_b) + " free of " + mb(total) +
           "; the model's weights take " + mb(weight_bytes_) + ")");
    }
    return p;
  }
  void release(void* p) override { cudaFree(p); }
  void upload(void* dst, const void* src, size_t bytes) override {
    check(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "upload");
  }
  void download(void* dst, const void* src, size_t bytes) override {
    check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "download");
  }
  void copy(void* dst, const void* src, size_t bytes) override {
    check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice), "copy");
  }
  void synchronize() override { check(cudaDeviceSynchronize(), "running the kernels"); }
  std::optional<size_t> free_memory() const override {
    size_t free_b = 0, total = 0;
    check(cudaMemGetInfo(&free_b, &total), "reading the free GPU memory");
    return free_b + SharedWeights::get().unused_bytes(device_);
  }

  size_t weight_bytes() const override { return weight_bytes_; }
  Matrix weights(const Matrix& w, WeightUse) override {
    if (w.content_id == 0) {
      const Matrix m = upload_matrix(w, owned_);
      weight_bytes_ += device_bytes(m);
      return m;
    }
    const SharedWeights::Key key{device_, w.content_id, static_cast<uint32_t>(w.type), w.rows, w.cols};
    Matrix m;
    if (!SharedWeights::get().take(key, &m)) {
      SharedWeights::Entry e;
      e.m = m = upload_matrix(w, e.blocks);
      e.bytes = device_bytes(m);
      SharedWeights::get().put(key, std::move(e));
    }
    shared_.push_back(key);
    weight_bytes_ += device_bytes(m);
    return m;
  }
  const float* weights(const float* v, size_t n) override {
    void* d = own(n * sizeof(float));
    upload(d, v, n * sizeof(float));
    return static_cast<const float*>(d);
  }

  void matmul(const Matrix& w, const float* x, size_t n, float* y, std::span<const int32_t> rows) override {
    const size_t n_out = rows.empty() ? w.rows : rows.size();
    if (n == 0 || n_out == 0) return;
    const int32_t* drows = rows.empty() ? nullptr : stage(rows);
    if (w.type == GgmlType::Q8_0 || km::kq_type(w.type)) {
      q8_matmul(w, x, n, y, drows, n_out);
    } else {
      const unsigned token_groups = static_cast<unsigned>(n < 4 ? n : (n + 3) / 4);
      const dim3 grid(blocks_for((n_out + kRows - 1) / kRows * 16), token_groups);
      km::with_block_type(w.type, [&](auto tag) {
        constexpr GgmlType W = decltype(tag)::value;
        if constexpr (W != GgmlType::Q8_0 && !km::kq_type(W)) {  // (no block kernel for the integer paths' types)
          if (n < 4)
            k_block_matmul<W, 1><<<grid, kThreads>>>(w.data, w.row_bytes, w.cols, drows, n_out, x, n, y);
          else
            k_block_matmul<W, 4><<<grid, kThreads>>>(w.data, w.row_bytes, w.cols, drows, n_out, x, n, y);
        }
      });
    }
    launched("matmul");
  }

  void get_rows(const Matrix& w, std::span<const int32_t> ids, float* out) override {
    for (int32_t id : ids)
      if (id < 0 || static_cast<size_t>(id) >= w.rows) fail("token id outside the embedding");
    const auto* scales = static_cast<const float*>(w.prepared);
    const int32_t* d_ids = stage(ids);
    km::with_block_type(w.type, [&](auto tag) {
      k_get_rows<decltype(tag)::value><<<blocks_for(ids.size() * w.cols), kThreads>>>(
          w.data, w.row_bytes, scales, w.rows, w.cols, d_ids, ids.size(), out);
    });
    launched("get_rows");
  }

  void rmsnorm(const float* x, const float* weight, size_t n, size_t dim, float eps, float* y) override {
    float* scale = grow<float>(scale_, n);
    k_rms_scale<<<blocks_for(n), kThreads>>>(x, n, dim, eps, scale);
    k_rms_apply<<<blocks_for(n * dim), kThreads>>>(x, weight, scale, n, dim, y);
    launched("rmsnorm");
  }

  void rope(float* x, size_t n, size_t n_heads, size_t hd, size_t rot_dim, std::span<const int32_t> pos,
            const float* cos_sin) override {
    k_rope<<<blocks_for(n * n_heads * rot_dim / 2), kThreads>>>(x, n, n_heads, hd, rot_dim, stage(pos), cos_sin);
    launched("rope");
  }

  void store_kv(std::span<const KvWrite> writes, const float* k, const float* v, size_t n_kv_head, size_t hd) override {
    k_store_kv<<<blocks_for(writes.size() * n_kv_head * hd), kThreads>>>(stage(writes), writes.size(), k, v, n_kv_head,
                                                                         hd);
    launched("store_kv");
  }

  void attention(std::span<const AttentionJob> jobs, size_t n_head, size_t n_kv_head, size_t hd) override {
    // Each page list once (a prefill's tokens share their sequence's), as long as its
    // longest reader needs; the tasks point at the lists' device copies.
    page_lists_.clear();
    for (const AttentionJob& j : jobs) {
      PageList& l = page_lists_[j.pages];
      l.need = std::max(l.need, (j.n_keys + kKvPage - 1) / kKvPage);
    }
    pages_.clear();
    for (auto& [list, l] : page_lists_) {
      l.at = pages_.size();
      pages_.insert(pages_.end(), list, list + l.need);
    }
    stage_room(staged_bytes<KvPage>(pages_.size()) + staged_bytes<AttentionTask>(jobs.size()));
    const KvPage* d_pages = stage(std::span<const KvPage>(pages_));
    tasks_.resize(jobs.size());
    size_t total = 0;
    for (size_t t = 0; t < jobs.size(); ++t) {
      tasks_[t] = {jobs[t], total};
      tasks_[t].job.pages = d_pages + page_lists_[jobs[t].pages].at;
      total += jobs[t].n_keys * n_head;
    }
    float* scores = grow<float>(scores_, total);
    k_attention<<<static_cast<unsigned>(jobs.size() * n_head), kAttnThreads>>>(
        stage(std::span<const AttentionTask>(tasks_)), n_head, n_head / n_kv_head, hd, km::attn_scale(hd), scores);
    launched("attention");
  }

  void intervals(const float* logits, size_t n, size_t vocab, int total_bits, std::span<const int32_t> symbols,
                 Interval* out) override {
    check_symbols(symbols, vocab);
    if (n == 0) return;
    frequencies(logits, n, vocab, total_bits);
    auto* d_out = grow<Interval>(intervals_, n);
    k_intervals<<<static_cast<unsigned>(n), kFreqThreads>>>(freq_.as<uint32_t>(), totals_.as<uint32_t>(), vocab,
                                                            stage(symbols), d_out);
    launched("intervals");
    download(out, d_out, n * sizeof(Interval));
  }

  // Two trips: the totals come back for the coder's targets, then the symbols.
  void search(const float* logits, size_t n, size_t vocab, int total_bits, const TargetFn& target, int32_t* symbols,
              Interval* out) override {
    if (n == 0) return;
    frequencies(logits, n, vocab, total_bits);
    std::vector<uint32_t> totals(n), want(n);
    download(totals.data(), totals_.p, n * sizeof(uint32_t));
    for (size_t i = 0; i < n; ++i)
      if ((want[i] = target(i, totals[i])) >= totals[i]) fail("frequency table: target out of range");
    auto* d_out = grow<Interval>(intervals_, n);
    auto* d_sym = grow<int32_t>(symbols_, n);
    k_search<<<static_cast<unsigned>(n), kFreqThreads>>>(freq_.as<uint32_t>(), totals_.as<uint32_t>(), vocab,
                                                         stage(std::span<const uint32_t>(want)), d_sym, d_out);
    launched("search");
    download(out, d_out, n * sizeof(Interval));
    download(symbols, d_sym, n * sizeof(int32_t));
  }

  void swiglu(const float* gate, const float* up, size_t n, float* out) override {
    k_swiglu<<<blocks_for(n), kThreads>>>(gate, up, n, out);
    launched("swiglu");
  }

  void add(float* x, const float* y, size_t n) override {
    k_add<<<blocks_for(n), kThreads>>>(x, y, n);
    launched("add");
  }

  void gather_rows(const float* src, std::span<const int32_t> rows, size_t dim, float* dst) override {
    k_gather<<<blocks_for(rows.size() * dim), kThreads>>>(src, stage(rows), rows.size(), dim, dst);
    launched("gather_rows");
  }

 private:
  struct Scratch {
    void* p = nullptr;
    size_t bytes = 0;
    template <typename T>
    T* as() const {
      return static_cast<T*>(p);
    }
  };

  static size_t device_bytes(const Matrix& m) {
    const bool planes = m.type == GgmlType::Q8_0 || km::kq_type(m.type);
    return planes ? m.rows * m.cols + km::plane_scale_count(m.type, m.rows, m.cols) * sizeof(float) : m.bytes();
  }

  // w in the GPU's memory, its blocks added to `blocks`: Q8_0 and K-quants as the planes
  // of lm/detail/q8_mma.hpp (quants in data, scales in prepared; a K-quant's 8-bit values
  // take more memory than its file, Q4_K 10 bits a weight), other types as stored (the
  // kernels read their values with lm/detail/block_value.hpp).
  Matrix upload_matrix(const Matrix& w, std::vector<void*>& blocks) {
    auto put = [&](const void* host, size_t bytes) {
      void* d = blocks.emplace_back(alloc(bytes));
      upload(d, host, bytes);
      return static_cast<const uint8_t*>(d);
    };
    if (w.type == GgmlType::Q8_0 || km::kq_type(w.type)) {
      std::vector<int8_t> q(w.rows * w.cols);
      std::vector<float> d(km::plane_scale_count(w.type, w.rows, w.cols));
      if (w.type == GgmlType::Q8_0)
        km::q8_repack(w.data, w.rows, w.cols, w.row_bytes, q.data(), d.data());
      else
        km::kq_repack(w.type, w.data, w.rows, w.cols, w.row_bytes, q.data(), d.data());
      const uint8_t* dq = put(q.data(), q.size());
      return {w.type, w.rows, w.cols, dq, w.cols, w.content_id, put(d.data(), d.size() * sizeof(float))};
    }
    return {w.type, w.rows, w.cols, put(w.data, w.bytes()), w.row_bytes, w.content_id};
  }

  void* own(size_t bytes) {
    void* p = owned_.emplace_back(alloc(bytes));
    weight_bytes_ += bytes;
    return p;
  }

  template <typename T>
  T* grow(Scratch& s, size_t count) {
    if (s.bytes < count * sizeof(T)) {
      cudaDeviceSynchronize();  // kernels in flight may still read the old block
      cudaFree(s.p);
      s.p = nullptr;
      s.bytes = 0;
      s.p = alloc(count * sizeof(T));
      s.bytes = count * sizeof(T);
    }
    return static_cast<T*>(s.p);
  }

  // The tables of n rows of logits (in freq_) and their totals (in totals_).
  void frequencies(const float* logits, size_t n, size_t vocab, int total_bits) {
    check_freq_size(vocab, total_bits);
    float* e = grow<float>(exp_weights_, n * vocab);
    uint32_t* f = grow<uint32_t>(freq_, n * vocab);
    uint32_t* totals = grow<uint32_t>(totals_, n);
    k_frequencies<<<static_cast<unsigned>(n), kFreqThreads>>>(logits, vocab, total_bits, e, f, totals);
    launched("frequencies");
  }

  // n tokens' activations (k values each) quantized into the planes of q8_mma.hpp.
  km::Q8Acts quantize_planes(const float* x, size_t n, size_t k) {
    const size_t nb = k / 32;
    auto* xh = grow<int8_t>(xh_, n * k);
    auto* xl = grow<uint8_t>(xl_, n * k);
    auto* xd = grow<float>(xd_, n * nb);
    auto* xs = grow<int32_t>(xs_, 2 * n * nb);
    k_q8_quantize<<<blocks_for(n * nb), kThreads>>>(x, n * nb, xh, xl, xd, xs);
    return {xh, xl, xd, n, xs};
  }

  // Activations quantized into planes, then warps of MMA over row and token tiles. Few
  // token tiles a warp when the rows alone would leave the GPU idle (decode): a weight
  // tile is then read by several warps, mostly from L2.
  void q8_matmul(const Matrix& w, const float* x, size_t n, float* y, const int32_t* rows, size_t n_out) {
    const km::Q8Planes planes = km::matrix_planes(w.type, reinterpret_cast<const int8_t*>(w.data),
                                                  static_cast<const float*>(w.prepared), w.rows, w.cols);
    const km::Q8Acts acts = quantize_planes(x, n, w.cols);
    const size_t row_warps = (n_out + km::kQ8WarpRows - 1) / km::kQ8WarpRows;
    size_t nr = std::min(km::q8_token_tiles(n), forced_token_tiles_ > 0 ? forced_token_tiles_ : size_t{8});
    while (forced_token_tiles_ == 0 && nr > 1 && row_warps * ((n + 8 * nr - 1) / (8 * nr)) < kBusyWarps) nr /= 2;
    const auto blocks = static_cast<unsigned>((row_warps + kQ8Warps - 1) / kQ8Warps);
    const auto token_groups = [&](size_t r) { return static_cast<unsigned>((n + 8 * r - 1) / (8 * r)); };
    km::with_plane_kind(planes, [&](auto sub, auto mins) {
      constexpr size_t S = decltype(sub)::value;
      constexpr bool M = decltype(mins)::value;
      switch (nr) {
        case 1:
          k_q8_mma<1, S, M><<<dim3(blocks, token_groups(1)), 32 * kQ8Warps>>>(planes, rows, n_out, acts, y);
          break;
        case 2:
          k_q8_mma<2, S, M><<<dim3(blocks, token_groups(2)), 32 * kQ8Warps>>>(planes, rows, n_out, acts, y);
          break;
        case 4:
          k_q8_mma<4, S, M><<<dim3(blocks, token_groups(4)), 32 * kQ8Warps>>>(planes, rows, n_out, acts, y);
          break;
        default:
          k_q8_mma<8, S, M><<<dim3(blocks, token_groups(8)), 32 * kQ8Warps>>>(planes, rows, n_out, acts, y);
      }
    });
  }
  // Warps that keep an H200's 132 SMs busy (16 each).
  static constexpr size_t kBusyWarps = 132 * 16;

  // Host index lists reach the kernels through a ring in pinned host memory and its twin
  // on the device: each copy is asynchronous, ordered before the kernel that reads it on
  // the one stream, and a region is written again only after the device has caught up
  // (a synchronization when the ring wraps), so operations no longer wait for the GPU.
  template <typename T>
  static size_t staged_bytes(size_t n) {
    return (n * sizeof(T) + 255) / 256 * 256;
  }
  // Room for `bytes` of lists in the ring without wrapping, so that lists staged
  // together for one kernel are all still there when it runs.
  void stage_room(size_t bytes) {
    if (ring_used_ + bytes <= ring_.bytes) return;
    check(cudaDeviceSynchronize(), "synchronizing");
    ring_used_ = 0;
    if (bytes > ring_.bytes) {
      cudaFreeHost(ring_host_);
      ring_host_ = nullptr;
      grow<uint8_t>(ring_, std::max<size_t>({bytes, 2 * ring_.bytes, size_t{1} << 20}));
      check(cudaMallocHost(&ring_host_, ring_.bytes), "allocating pinned host memory");
    }
  }
  template <typename T>
  const T* stage(std::span<const T> v) {
    const size_t bytes = v.size() * sizeof(T), step = staged_bytes<T>(v.size());
    stage_room(step);
    auto* h = static_cast<uint8_t*>(ring_host_) + ring_used_;
    auto* d = static_cast<uint8_t*>(ring_.p) + ring_used_;
    ring_used_ += step;
    if (bytes > 0) {
      std::memcpy(h, v.data(), bytes);
      check(cudaMemcpyAsync(d, h, bytes, cudaMemcpyHostToDevice, nullptr), "staging an index list");
    }
    return reinterpret_cast<const T*>(d);
  }

  void launched(const char* what) { check(cudaGetLastError(), what); }

  int device_;
  std::string name_;
  std::vector<void*> owned_;                // weights of this session alone
  std::vector<SharedWeights::Key> shared_;  // weights it shares
  size_t weight_bytes_ = 0;
  Scratch ring_, xh_, xl_, xd_, xs_, scores_, scale_, exp_weights_, freq_, totals_, intervals_, symbols_;
  void* ring_host_ = nullptr;
  std::vector<AttentionTask> tasks_;
  struct PageList {
    size_t need = 0, at = 0;  // pages its longest reader needs; where its copy starts in pages_
  };
  std::unordered_map<const KvPage*, PageList> page_lists_;  // by host list
  std::vector<KvPage> pages_;
  size_t forced_token_tiles_ = 0;  // 0: chosen by the shape
  size_t ring_used_ = 0;
};

}  // namespace

int cuda_device_count(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    if (why != nullptr) *why = cudaGetErrorString(e);
    return 0;
  }
  if (n == 0 && why != nullptr) *why = "no CUDA device";
  return n;
}

std::unique_ptr<Backend> make_cuda_backend(int device) { return std::make_unique<CudaBackend>(device); }

}  // namespace lmac
