// The operations the Llama forward pass needs, behind one small interface, so that a
// GPU backend is a second implementation of the same operations rather than a fork of
// the forward pass. Every implementation must be batch-invariant: each output element
// is reduced in one fixed order, whatever the number of tokens or threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "lmac/common/simd_level.hpp"
#include "lmac/lm/ggml_types.hpp"

namespace lmac {

// A 2-D weight tensor in its stored type: `rows` rows of `cols` values (ggml ne1, ne0).
struct Matrix {
  GgmlType type = GgmlType::F32;
  size_t rows = 0, cols = 0;
  const uint8_t* data = nullptr;
  size_t row_bytes = 0;
};

// The KV cache holds IEEE half values (rounded to nearest even when stored; revision 4).
// Keys are cached in blocks of kKeyBlock positions, dimension-major inside a block, so
// that one vector load holds one dimension of 16 consecutive keys. Values are cached
// one position after another (n_pos x kv_dim).
constexpr size_t kKeyBlock = 16;
// Where value d of KV head h of the key at position pos lives.
inline size_t key_index(size_t pos, size_t h, size_t d, size_t n_kv_head, size_t head_dim) {
  return ((pos / kKeyBlock * n_kv_head + h) * head_dim + d) * kKeyBlock + pos % kKeyBlock;
}
// Values a key cache needs for n_pos positions (whole blocks).
inline size_t key_cache_elems(size_t n_pos, size_t kv_dim) {
  return (n_pos + kKeyBlock - 1) / kKeyBlock * kKeyBlock * kv_dim;
}

// One attention read: the query heads of a token attend to positions 0..n_keys-1 of
// its sequence's cache for this layer.
struct AttentionJob {
  const float* q;       // n_head x head_dim
  const uint16_t* keys;    // IEEE half, blocked, see key_index
  const uint16_t* values;  // IEEE half, n_keys x kv_dim
  size_t n_keys;
  float* out;  // n_head x head_dim
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  // y[t * n_out + j] = sum_k W[row_j][k] * x[t * cols + k], row_j = rows[j] or j when rows is empty.
  // The CPU backend sums in dot16 order over the dequantized row, except for Q8_0
  // weights: exact integer block products with 16-bit activations (lm/cpu_q8.hpp).
  virtual void matmul(const Matrix& w, const float* x, size_t n_tokens, float* y, std::span<const int32_t> rows) = 0;
  // out[i * cols ...] = row ids[i] of w, dequantized.
  virtual void get_rows(const Matrix& w, std::span<const int32_t> ids, float* out) = 0;
  // y = x / sqrt(mean(x^2) + eps) * weight, per token.
  virtual void rmsnorm(const float* x, const float* weight, size_t n_tokens, size_t dim, float eps, float* y) = 0;
  // Rotates adjacent pairs (ggml "normal" RoPE) of the first rot_dim values of each head
  // of token t by the angles of position pos[t]: cos_sin[pos * rot_dim + 2i] and [.. + 2i + 1]
  // are the cosine and sine for pair i.
  virtual void rope(float* x, size_t n_tokens, size_t n_heads, size_t head_dim, size_t rot_dim, const int32_t* pos,
                    const float* cos_sin) = 0;
  // Causal softmax attention with grouped-query heads (n_head / n_kv_head queries per key
  // head), in this order for every output: s_j = (fma chain over d of q[d] k_j[d]) * scale;
  // e_j = det_exp(s_j - max s); sum = the 16-lane tree of e (lane j mod 16);
  // out[d] = (fma chain over j of e_j v_j[d]) * (1 / sum).
  virtual void attention(std::span<const AttentionJob> jobs, size_t n_head, size_t n_kv_head, size_t head_dim) = 0;
  // out = silu(gate) * up
  virtual void swiglu(const float* gate, const float* up, size_t n, float* out) = 0;
  // x += y
  virtual void add(float* x, const float* y, size_t n) = 0;
};

std::unique_ptr<Backend> make_cpu_backend(int threads);

// The fixed-order dot product every CPU kernel uses: 16 lanes (lane = index mod 16),
// each a chain of fused multiply-adds in index order, then a fixed pairwise tree.
float dot16(const float* a, const float* b, size_t n);

}  // namespace lmac
