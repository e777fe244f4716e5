// Writes small GGUF files for tests: metadata of any type and tensors of given bytes,
// and random-weight Llama models of a chosen block type.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lmac/common/bytes.hpp"
#include "lmac/lm/ggml_types.hpp"

namespace lmac::test {

class GgufWriter {
 public:
  void kv_string(const std::string& key, const std::string& v);
  void kv_u32(const std::string& key, uint32_t v);
  void kv_f32(const std::string& key, float v);
  void kv_strings(const std::string& key, const std::vector<std::string>& v);
  void kv_f32s(const std::string& key, const std::vector<float>& v);
  void kv_i32s(const std::string& key, const std::vector<int32_t>& v);
  void tensor(const std::string& name, GgmlType type, std::vector<uint64_t> dims, Bytes data);
  // Copies every key-value pair of another GGUF file whose key starts with `prefix`
  // (e.g. "tokenizer." from llama.cpp's ggml-vocab-*.gguf); returns how many.
  size_t copy_kvs(ByteSpan gguf, const std::string& prefix);
  Bytes finish(uint32_t alignment = 32) const;

 private:
  Bytes kv_;
  uint64_t n_kv_ = 0;
  struct T {
    std::string name;
    GgmlType type;
    std::vector<uint64_t> dims;
    Bytes data;
  };
  std::vector<T> tensors_;
};

struct TinyLlamaShape {
  uint32_t n_embd = 64, n_layer = 2, n_ff = 96, n_head = 4, n_head_kv = 2, n_ctx = 256;
  GgmlType type = GgmlType::F16;
  bool tied = false;
  uint32_t seed = 1;
  float weight_std = 0.2f;        // of the projection matrices (trained models: about 0.02)
  float rope_base = 10000.0f;     // llama.rope.freq_base
  std::vector<float> rope_freqs;  // per-pair RoPE factors (Llama 3.x scaling), when not empty
  Bytes vocab_gguf;               // a vocabulary-only GGUF whose tokenizer.* keys replace the built-in one
};

// The block type named as ggml writes names in lower case ("q4_k", "iq2_xxs"), or null.
const GgmlTypeInfo* type_named(const std::string& lower_name);
// Those names, separated by spaces.
std::string type_names();

// The small random-weight model of the golden streams in `type` (widths that K-quant
// super-blocks divide), made the same way by the tests and by lmac_make_model --golden.
TinyLlamaShape golden_shape(GgmlType type);

// A random-weight Llama with a small SentencePiece-style vocabulary (control tokens,
// 256 byte tokens, the printable ASCII characters and a few merges).
Bytes make_random_llama(const TinyLlamaShape& shape);

}  // namespace lmac::test
