// The operations the Llama forward pass needs, behind one small interface, so that a
// GPU backend is a second implementation of the same operations rather than a fork of
// the forward pass. As in ggml's backends, the backend owns the memory it computes on:
// weights are handed over once (`weights`), activations, KV caches and the RoPE table
// are allocated through it (host memory for the CPU, device memory for CUDA), and the
// forward pass only passes those pointers on. Host data crosses only through `upload`
// and `download` (and the small index lists the operations take as spans).
//
// Every implementation computes exactly docs/ARITHMETIC.md: the same bits whatever the
// batch, the number of tokens or threads, the SIMD width or the device.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "lmac/coding/freq_table.hpp"
#include "lmac/common/simd_level.hpp"
#include "lmac/lm/ggml_types.hpp"

namespace lmac {

// A 2-D weight tensor in its stored type: `rows` rows of `cols` values (ggml ne1, ne0).
struct Matrix {
  GgmlType type = GgmlType::F32;
  size_t rows = 0, cols = 0;
  const uint8_t* data = nullptr;
  size_t row_bytes = 0;
  // Names the bytes (from the model's fingerprint and the tensor), so that a backend
  // can share what it makes of them without hashing them; 0: unknown.
  uint64_t content_id = 0;
  // The same values in a layout of the backend's own (made by `weights`), or null.
  const void* prepared = nullptr;
  size_t bytes() const { return rows * row_bytes; }
  // The stored row that output j of a product reads (Backend::matmul's `rows`: the
  // selected rows, or all of them in order when empty).
  const uint8_t* product_row(std::span<const int32_t> selected, size_t j) const {
    return data + (selected.empty() ? j : static_cast<size_t>(selected[j])) * row_bytes;
  }
};

// The KV cache holds IEEE half values (rounded to nearest even when stored; revision 4),
// in pages of kKvPage positions: a sequence's cache for one layer is a list of pages,
// page i holding positions i * kKvPage ... (i + 1) * kKvPage - 1, so that a cache grows
// without moving and a page freed by one sequence serves the next, whatever its length.
// Inside a page, KV head after KV head, so that attention reads each head's keys and
// values as two sequential streams: keys in blocks of kKeyBlock positions,
// dimension-major inside a block (one vector load holds one dimension of 16 consecutive
// keys); values one position after another.
constexpr size_t kKeyBlock = 16;
constexpr size_t kKvPage = 256;  // a multiple of kKeyBlock
struct KvPage {
  uint16_t* keys;    // kKvPage x kv_dim values, see key_index
  uint16_t* values;  // kKvPage x kv_dim values, see value_index
};
// Where dimension d of KV head h of the key at position pos (< kKvPage) of a page lives.
inline constexpr size_t key_index(size_t pos, size_t h, size_t d, size_t head_dim) {
  return ((h * (kKvPage / kKeyBlock) + pos / kKeyBlock) * head_dim + d) * kKeyBlock + pos % kKeyBlock;
}
// ... and of its value.
inline constexpr size_t value_index(size_t pos, size_t h, size_t d, size_t head_dim) {
  return (h * kKvPage + pos) * head_dim + d;
}

// Where a token's key and value go: the page of its sequence's cache for one layer that
// holds its position, and its place in that page (position % kKvPage).
struct KvWrite {
  uint16_t* keys;    // the page's keys
  uint16_t* values;  // the page's values
  size_t pos;        // < kKvPage
};

// One attention read: the query heads of a token attend to positions 0..n_keys-1 of
// its sequence's cache for this layer, key j in pages[j / kKvPage].
struct AttentionJob {
  const float* q;       // n_head x head_dim
  const KvPage* pages;  // host memory (a backend copies what its kernels need)
  size_t n_keys;
  float* out;  // n_head x head_dim
};

enum class WeightUse { Products, RowsOnly };

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;

  // ---- Memory
  // Whether the backend's memory is the host's (then results may be written in place).
  virtual bool host_memory() const { return false; }
  virtual void* alloc(size_t bytes) = 0;
  virtual void release(void* p) = 0;
  virtual void upload(void* dst, const void* host_src, size_t bytes) = 0;
  virtual void download(void* host_dst, const void* src, size_t bytes) = 0;
  virtual void copy(void* dst, const void* src, size_t bytes) = 0;
  // Bytes the backend can still allocate, where its memory is its own (a GPU's); none
  // for the host's memory, which sets no limit of its own.
  virtual std::optional<size_t> free_memory() const { return std::nullopt; }
  // Bytes of weights the backend holds in memory of its own since it was made: tiles and
  // copies (CPU), uploads (GPU). What it reads from the mapped file is not counted.
  virtual size_t weight_bytes() const { return 0; }
  // Returns when every operation issued so far has finished (a GPU runs them
  // asynchronously; host backends finish each before returning).
  virtual void synchronize() {}
  // The weights in the backend's memory and layout; called once per tensor of a
  // session. The CPU computes on the mapped file (Q8_0 also repacked for its VNNI
  // kernel, shared between sessions); CUDA uploads (Q8_0 repacked into an int8 and a
  // scale plane, other types as stored: its kernels read each value from the blocks,
  // the bits the CPU's dequantizers give).
  // `use`: whether matmul will read w (or only get_rows, which reads the stored rows).
  virtual Matrix weights(const Matrix& w, WeightUse use) = 0;
  virtual const float* weights(const float* v, size_t n) = 0;

  // ---- Operations (docs/ARITHMETIC.md §2; all pointers are the backend's memory)
  // y[t * n_out + j] = W[row_j] . x[t * cols ...], row_j = rows[j] or j when rows is empty:
  // dot16 over the dequantized row; Q8_0: exact integer block products (§2.3).
  virtual void matmul(const Matrix& w, const float* x, size_t n_tokens, float* y, std::span<const int32_t> rows) = 0;
  // out[i * cols ...] = row ids[i] of w, dequantized.
  virtual void get_rows(const Matrix& w, std::span<const int32_t> ids, float* out) = 0;
  // y = x / sqrt(mean(x^2) + eps) * weight, per token (§2.1).
  virtual void rmsnorm(const float* x, const float* weight, size_t n_tokens, size_t dim, float eps, float* y) = 0;
  // Rotates adjacent pairs (ggml "normal" RoPE) of the first rot_dim values of each head
  // of token t by the angles of position pos[t]: cos_sin[pos * rot_dim + 2i] and [.. + 2i + 1]
  // are the cosine and sine for pair i (§2.5, table from lm/rope_table).
  virtual void rope(float* x, size_t n_tokens, size_t n_heads, size_t head_dim, size_t rot_dim,
                    std::span<const int32_t> pos, const float* cos_sin) = 0;
  // Token t's keys k[t * kv_dim ...] and values v[t * kv_dim ...], rounded to half, into
  // writes[t] (§2.6).
  virtual void store_kv(std::span<const KvWrite> writes, const float* k, const float* v, size_t n_kv_head,
                        size_t head_dim) = 0;
  // Causal softmax attention with grouped-query heads (n_head / n_kv_head queries per key
  // head), §2.7: s_j = (fma chain over d of q[d] k_j[d]) * scale; e_j = det_exp(s_j - max s);
  // sum = the 16-lane tree of e (lane j mod 16); out[d] = (fma chain over j of e_j v_j[d]) * (1 / sum).
  virtual void attention(std::span<const AttentionJob> jobs, size_t n_head, size_t n_kv_head, size_t head_dim) = 0;
  // out = silu(gate) * up (§2.4)
  virtual void swiglu(const float* gate, const float* up, size_t n, float* out) = 0;
  // x += y
  virtual void add(float* x, const float* y, size_t n) = 0;
  // dst row i = src row rows[i], dim floats each.
  virtual void gather_rows(const float* src, std::span<const int32_t> rows, size_t dim, float* dst) = 0;

  // ---- Frequencies (§4) of n rows of `vocab` logits in the backend's memory, B =
  // total_bits; the coder's intervals come back to the host, not the tables.
  // out[i] = the interval of symbols[i] (host) in row i's table.
  virtual void intervals(const float* logits, size_t n, size_t vocab, int total_bits, std::span<const int32_t> symbols,
                         Interval* out) = 0;
  // target(i, total) gives the coder's target in row i's table; symbols[i] and out[i]
  // (host) get the symbol whose interval holds it and that interval.
  virtual void search(const float* logits, size_t n, size_t vocab, int total_bits, const TargetFn& target,
                      int32_t* symbols, Interval* out) = 0;
};

// A block of a backend's memory, released with it.
class Buffer {
 public:
  Buffer() = default;
  Buffer(Backend& backend, size_t bytes) : be_(&backend), p_(bytes ? backend.alloc(bytes) : nullptr), bytes_(bytes) {}
  Buffer(Buffer&& o) noexcept : be_(o.be_), p_(o.p_), bytes_(o.bytes_) { o.p_ = nullptr, o.bytes_ = 0; }
  Buffer& operator=(Buffer&& o) noexcept {
    std::swap(be_, o.be_), std::swap(p_, o.p_), std::swap(bytes_, o.bytes_);
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() {
    if (p_ != nullptr) be_->release(p_);
  }
  template <typename T>
  T* as() const {
    return static_cast<T*>(p_);
  }
  size_t bytes() const { return bytes_; }

 private:
  Backend* be_ = nullptr;
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

std::unique_ptr<Backend> make_cpu_backend(int threads);
// The kernels of the CUDA backend run on the host, one simulated thread after another:
// the GPU's per-thread arithmetic, checked against the CPU without a GPU ("grid" device).
std::unique_ptr<Backend> make_grid_backend(int threads);

// Time per kind of operation ("matmul Q8_0", "attention", ...): calls and seconds.
struct OpTimes {
  struct Op {
    size_t calls = 0;
    double seconds = 0;
  };
  std::map<std::string, Op> ops;
};
// `inner` with every operation timed into *times (lmac bench --profile). Each operation
// waits for the device to finish, so the times add up to the pass, which runs a little
// slower than unprofiled.
std::unique_ptr<Backend> make_profiled_backend(std::unique_ptr<Backend> inner, std::shared_ptr<OpTimes> times);

// The device the model commands run on: "auto" (CUDA when a usable GPU is present, else
// the CPU), "cpu", "cuda" or "cuda:N", "grid". Throws with the reason when it cannot be
// used (no GPU, a build without CUDA). The LMAC_DEVICE environment variable sets the
// default; select_device overrides it (--device).
void select_device(const std::string& spec);
std::string selected_device();
// A backend on the selected device (threads: CPU threads it may use).
std::unique_ptr<Backend> make_backend(int threads);

// The fixed-order dot product every CPU kernel uses: 16 lanes (lane = index mod 16),
// each a chain of fused multiply-adds in index order, then a fixed pairwise tree.
float dot16(const float* a, const float* b, size_t n);

}  // namespace lmac
