// The CUDA backend. Every kernel computes its outputs with the per-thread functions of
// lm/kernel_math.hpp (each rounding an explicit _rn intrinsic; built with -fmad=false,
// no fast math), over the grids the "grid" backend runs on the host, so the results are
// the CPU backend's bits (docs/ARITHMETIC.md). No cuBLAS, no atomics, no reductions
// split over threads: every output is one thread's fixed chain of operations.
#include <cuda_runtime.h>

#include <deque>
#include <string>
#include <vector>

#include "lmac/common/error.hpp"
#include "lmac/lm/cuda_backend.hpp"
#include "lmac/lm/detail/kernel_math.hpp"

namespace lmac {
namespace {

// (No fmt here: fmt 9's headers do not compile under nvcc.)
void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail(std::string("CUDA: ") + what + " failed: " + cudaGetErrorString(e));
}

std::string mb(size_t bytes) { return std::to_string((bytes + 500000) / 1000000) + " MB"; }

constexpr int kThreads = 256;
unsigned blocks_for(size_t n) { return static_cast<unsigned>((n + kThreads - 1) / kThreads); }

__device__ const uint8_t* row_of(const uint8_t* data, size_t row_bytes, const int32_t* rows, size_t j) {
  return data + (rows != nullptr ? static_cast<size_t>(rows[j]) : j) * row_bytes;
}

__global__ void k_q8_quantize(const float* x, size_t n_blocks, int16_t* xq, float* xd) {
  const size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x;
  if (i < n_blocks) km::q8_quantize_block(x + i * 32, xq + i * 32, xd + i);
}

// One output per thread; consecutive threads take consecutive tokens of one weight row,
// so a warp reads each weight byte once for up to 32 tokens.
__global__ void k_q8_matmul(const uint8_t* w, size_t row_bytes, const int32_t* rows, size_t n_out, size_t k,
                            const int16_t* xq, const float* xd, size_t n, float* y) {
  const size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x;
  if (i >= n * n_out) return;
  const size_t t = i % n, j = i / n, nb = k / 32;
  y[t * n_out + j] = km::q8_dot(row_of(w, row_bytes, rows, j), xq + t * k, xd + t * nb, nb);
}

__global__ void k_f32_matmul(const uint8_t* w, size_t row_bytes, const int32_t* rows, size_t n_out, size_t k,
                             const float* x, size_t n, float* y) {
  const size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x;
  if (i >= n * n_out) return;
  const size_t t = i % n, j = i / n;
  y[t * n_out + j] = km::dot16(reinterpret_cast<const float*>(row_of(w, row_bytes, rows, j)), x + t * k, k);
}

__global__ void k_get_rows(const uint8_t* w, size_t row_bytes, bool q8, size_t cols, const int32_t* ids, size_t n,
                           float* out) {
  const size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x;
  if (i >= n * cols) return;
  const uint8_t* r = w + static_cast<size_t>(ids[i / cols]) * row_bytes;
  out[i] = q8 ? km::q8_value(r, i % cols) : reinterpret_cast<const float*>(r)[i % cols];
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
  w.keys[((w.pos / kKeyBlock * n_kv_head + h) * hd + d) * kKeyBlock + w.pos % kKeyBlock] = km::float_to_half(k[i]);
  w.values[w.pos * kv_dim + c] = km::float_to_half(v[i]);
}

// One block per (token, query head): scores by the block's threads, the softmax by one
// thread (its sum order is the 16-lane chain), values by the threads over dimensions.
__global__ void k_attention(const AttentionJob* jobs, const size_t* score_at, size_t n_head, size_t group, size_t hd,
                            size_t kv_dim, float scale, float* scores) {
  const size_t th = blockIdx.x, h = th % n_head, g = h / group;
  const AttentionJob job = jobs[th / n_head];
  const size_t n = job.n_keys;
  float* p = scores + score_at[th / n_head] + h * n;
  for (size_t j = threadIdx.x; j < n; j += blockDim.x)
    p[j] = km::attn_score(job.q + h * hd, job.keys + g * hd * kKeyBlock, kv_dim * kKeyBlock, j, hd, scale);
  __syncthreads();
  __shared__ float inv;
  if (threadIdx.x == 0) inv = km::attn_softmax(p, n);
  __syncthreads();
  for (size_t d = threadIdx.x; d < hd; d += blockDim.x)
    job.out[h * hd + d] = km::attn_value(p, n, job.values + g * hd, kv_dim, d, inv);
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

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) : device_(device) {
    check(cudaSetDevice(device), "selecting the GPU");
    name_ = "cuda:" + std::to_string(device);
  }
  ~CudaBackend() override {
    for (void* p : owned_) cudaFree(p);
    for (auto* b : {&staging_, &xq_, &xd_, &scores_, &scale_}) cudaFree(b->p);
  }
  const char* name() const override { return name_.c_str(); }

  void* alloc(size_t bytes) override {
    void* p = nullptr;
    if (cudaMalloc(&p, bytes) != cudaSuccess) {
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

  Matrix weights(const Matrix& w, WeightUse) override {
    if (w.type == GgmlType::Q8_0 || w.type == GgmlType::F32) {
      void* d = own(w.bytes());
      upload(d, w.data, w.bytes());
      return {w.type, w.rows, w.cols, static_cast<const uint8_t*>(d), w.row_bytes};
    }
    // Dequantized on the host by the CPU's own code: the floats its dot16 reads.
    const std::vector<float> f = dequantize_matrix(w);
    void* d = own(f.size() * sizeof(float));
    upload(d, f.data(), f.size() * sizeof(float));
    return {GgmlType::F32, w.rows, w.cols, static_cast<const uint8_t*>(d), w.cols * sizeof(float)};
  }
  const float* weights(const float* v, size_t n) override {
    void* d = own(n * sizeof(float));
    upload(d, v, n * sizeof(float));
    return static_cast<const float*>(d);
  }

  void matmul(const Matrix& w, const float* x, size_t n, float* y, std::span<const int32_t> rows) override {
    const size_t n_out = rows.empty() ? w.rows : rows.size();
    const int32_t* drows = rows.empty() ? nullptr : stage(rows);
    if (w.type == GgmlType::Q8_0) {
      const size_t nb = w.cols / 32;
      auto* xq = grow<int16_t>(xq_, n * w.cols);
      auto* xd = grow<float>(xd_, n * nb);
      k_q8_quantize<<<blocks_for(n * nb), kThreads>>>(x, n * nb, xq, xd);
      k_q8_matmul<<<blocks_for(n * n_out), kThreads>>>(w.data, w.row_bytes, drows, n_out, w.cols, xq, xd, n, y);
    } else {
      k_f32_matmul<<<blocks_for(n * n_out), kThreads>>>(w.data, w.row_bytes, drows, n_out, w.cols, x, n, y);
    }
    launched("matmul");
  }

  void get_rows(const Matrix& w, std::span<const int32_t> ids, float* out) override {
    for (int32_t id : ids)
      if (id < 0 || static_cast<size_t>(id) >= w.rows) fail("token id outside the embedding");
    k_get_rows<<<blocks_for(ids.size() * w.cols), kThreads>>>(w.data, w.row_bytes, w.type == GgmlType::Q8_0, w.cols,
                                                              stage(ids), ids.size(), out);
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
    std::vector<size_t> at(jobs.size());
    size_t total = 0;
    for (size_t t = 0; t < jobs.size(); ++t) at[t] = total, total += jobs[t].n_keys * n_head;
    float* scores = grow<float>(scores_, total);
    const AttentionJob* djobs = stage(jobs);
    const size_t* dat = stage(std::span<const size_t>(at.data(), at.size()), sizeof(AttentionJob) * jobs.size());
    k_attention<<<static_cast<unsigned>(jobs.size() * n_head), 128>>>(djobs, dat, n_head, n_head / n_kv_head, hd,
                                                                      n_kv_head * hd, km::attn_scale(hd), scores);
    launched("attention");
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
  };

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

  // Host index lists go through one staging block (at `offset` bytes into it); the
  // synchronous copy waits for earlier kernels, which may still read the old contents.
  template <typename T>
  const T* stage(std::span<const T> v, size_t offset = 0) {
    const size_t bytes = v.size() * sizeof(T);
    if (staging_.bytes < offset + bytes) {
      std::vector<uint8_t> keep(offset);
      if (offset > 0) download(keep.data(), staging_.p, offset);
      grow<uint8_t>(staging_, 2 * (offset + bytes));
      if (offset > 0) upload(staging_.p, keep.data(), offset);
    }
    auto* d = static_cast<uint8_t*>(staging_.p) + offset;
    if (bytes > 0) upload(d, v.data(), bytes);
    return reinterpret_cast<const T*>(d);
  }

  void launched(const char* what) { check(cudaGetLastError(), what); }

  int device_;
  std::string name_;
  std::deque<void*> owned_;  // weights
  size_t weight_bytes_ = 0;
  Scratch staging_, xq_, xd_, scores_, scale_;
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
