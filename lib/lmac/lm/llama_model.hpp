// A Llama-architecture model read from GGUF (Llama 1/2/3.x, TinyLlama, SmolLM,
// Mistral without sliding window), and its forward pass over batches of tokens from
// many sequences, each with its own KV cache. The pass reads top to bottom like
// llama2.c; the arithmetic lives in the Backend.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "lmac/lm/backend.hpp"
#include "lmac/lm/gguf.hpp"
#include "lmac/lm/tokenizer.hpp"

namespace lmac {

struct LlamaConfig {
  std::string name;
  uint32_t n_vocab = 0, n_embd = 0, n_layer = 0, n_ff = 0, n_head = 0, n_head_kv = 0;
  uint32_t head_dim = 0, rot_dim = 0, n_ctx = 0;
  float rms_eps = 1e-5f, rope_base = 10000.0f;
  bool tied_output = false;
  // Keys and values of every layer, IEEE half (docs/ARITHMETIC.md §2.6).
  size_t kv_bytes_per_token() const { return size_t{2} * n_layer * n_head_kv * head_dim * sizeof(uint16_t); }
};

struct LlamaLayer {
  const float* attn_norm = nullptr;
  Matrix wq, wk, wv, wo;
  const float* ffn_norm = nullptr;
  Matrix w_gate, w_up, w_down;
  // The seven weight matrices, in file order within the layer.
  std::array<const Matrix*, 7> matrices() const { return {&wq, &wk, &wv, &wo, &w_gate, &w_up, &w_down}; }
  std::array<Matrix*, 7> matrices() { return {&wq, &wk, &wv, &wo, &w_gate, &w_up, &w_down}; }
};

class LlamaModel {
 public:
  // Maps the file and checks every tensor's presence, type and shape; throws with the
  // file's problem (or the architectures supported) otherwise.
  static std::unique_ptr<LlamaModel> load(const std::string& path);

  const LlamaConfig& config() const { return config_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const GgufFile& file() const { return *file_; }
  uint64_t fingerprint() const { return fingerprint_; }
  uint64_t parameter_count() const;

  const Matrix& token_embd() const { return token_embd_; }
  const Matrix& output() const { return output_; }
  const float* output_norm() const { return output_norm_; }
  const float* rope_factors() const { return rope_factors_; }
  const std::vector<LlamaLayer>& layers() const { return layers_; }

 private:
  std::unique_ptr<GgufFile> file_;
  std::unique_ptr<Tokenizer> tokenizer_;
  LlamaConfig config_;
  Matrix token_embd_, output_;
  const float* output_norm_ = nullptr;
  const float* rope_factors_ = nullptr;
  std::vector<LlamaLayer> layers_;
  uint64_t fingerprint_ = 0;
};

// One token of a batch: appended to sequence `seq` at the sequence's next position.
struct BatchToken {
  uint32_t seq = 0;
  int32_t token = 0;
  bool logits = true;  // whether this token's logits are wanted
};

// Runs the model over batches on one backend; holds one KV cache per live sequence: a
// list of page groups (each holding kKvPage positions of every layer's keys and values
// in IEEE half, in the backend's memory), taken as the sequence grows from a pool that
// dropped sequences return their groups to.
class LlamaSession {
 public:
  // Hands the model's weights to the backend (an upload for a GPU).
  LlamaSession(const LlamaModel& model, std::unique_ptr<Backend> backend);

  // Appends the tokens (several may belong to one sequence, in order) and writes
  // logits[k * n_out ...] (host memory) for the k-th token that wants logits: all
  // vocabulary rows, or only `out_rows` when given.
  void forward(std::span<const BatchToken> batch, std::span<const int32_t> out_rows, float* logits);
  // The same pass with the logits left in the backend's memory (for its `intervals` and
  // `search`), valid until the next pass; null when no token wants logits.
  const float* forward_kept(std::span<const BatchToken> batch, std::span<const int32_t> out_rows);
  // Ends a sequence; its pages go back to the pool for the next sequences (a codec runs
  // one short sequence per chunk, and fresh pages cost more than the work on them).
  void drop(uint32_t seq);
  size_t length(uint32_t seq) const;
  size_t kv_bytes() const;
  // Backend memory one more sequence of `positions` tokens takes when a pass feeds it up
  // to `per_pass` tokens, each with logits over `rows` rows: its KV pages (whole pages),
  // and its share of a pass's activations, attention scores and tables (an upper bound
  // of what the backends allocate per token).
  size_t sequence_bytes(size_t positions, size_t per_pass, size_t rows) const;
  const Backend& backend() const { return *backend_; }
  Backend& backend() { return *backend_; }

 private:
  struct Cache {
    std::vector<uint32_t> groups;  // page group i holds positions i * kKvPage ...
    size_t n_pos = 0;
  };
  // The model's tensors as the backend holds them.
  struct Weights {
    Matrix token_embd, output;
    const float* output_norm = nullptr;
    std::vector<LlamaLayer> layers;
  };
  // Activations of one batch in the backend's memory, kept between calls so that a step
  // allocates nothing.
  struct Scratch {
    Buffer x, xb, q, k, v, att, gate, up, hb, out_x, logits;
    std::vector<int32_t> pos, ids, out_tokens;
    std::vector<Cache*> cache;
    std::unordered_map<const Cache*, size_t> table_at;  // each sequence's page list, in a layer's
    std::vector<size_t> table;                          // where token t's sequence's page list starts in a layer's
    std::vector<KvPage> pages;                          // page lists, layer after layer
    std::vector<KvWrite> writes;
    std::vector<AttentionJob> jobs;
  };
  void place(std::span<const BatchToken> batch);
  // The pass; returns the logits in the backend's memory (host_out when the backend's
  // memory is the host's and host_out is given), or null when none are wanted.
  const float* run(std::span<const BatchToken> batch, std::span<const int32_t> out_rows, float* host_out);
  void reserve(Cache& cache);
  void list_pages();
  // Layer l's page in page group g.
  KvPage page(uint32_t g, size_t l) const;
  float* scratch(Buffer& b, size_t floats);
  void grow_rope_table(size_t n_pos);

  const LlamaModel& model_;
  std::unique_ptr<Backend> backend_;
  Weights w_;
  std::unordered_map<uint32_t, Cache> caches_;
  std::vector<Buffer> groups_;  // the pool's page groups
  std::vector<uint32_t> free_;  // groups no sequence holds
  size_t pages_per_pass_ = 0;   // entries of one layer in Scratch::pages
  Scratch s_;
  std::vector<float> rope_cs_;  // cos, sin of every rotated pair, per position seen so far
  Buffer rope_table_;           // rope_cs_ in the backend's memory
};

}  // namespace lmac
