#include "gguf_writer.hpp"

#include <cctype>
#include <cstring>
#include <random>

#include <fmt/format.h>

namespace lmac::test {
namespace {

void put(Bytes& b, uint64_t v, int n) {
  size_t at = b.size();
  b.resize(at + static_cast<size_t>(n));
  store_le(b.data() + at, v, n);
}
void put_str(Bytes& b, const std::string& s) {
  put(b, s.size(), 8);
  b.insert(b.end(), s.begin(), s.end());
}
uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
// Round-to-nearest (ties away) for normal values in range, as the generated models
// have always been made; values below half's normal range to nearest even subnormals (a
// 7B model's Q6_K or IQ4_XS scales lie there: flushed to zero, whole tensors were zero).
uint16_t to_half(float f) {
  uint32_t u = f32_bits(f);
  uint32_t sign = (u >> 16) & 0x8000;
  int exp = static_cast<int>((u >> 23) & 0xFF) - 127 + 15;
  uint32_t man = u & 0x7FFFFF;
  if (exp <= 0) return fp32_to_fp16(f);
  uint32_t h = sign | (static_cast<uint32_t>(exp) << 10) | (man >> 13);
  if (man & 0x1000) ++h;
  return static_cast<uint16_t>(h);
}

}  // namespace

void GgufWriter::kv_string(const std::string& k, const std::string& v) {
  put_str(kv_, k);
  put(kv_, 8, 4);
  put_str(kv_, v);
  ++n_kv_;
}
void GgufWriter::kv_u32(const std::string& k, uint32_t v) {
  put_str(kv_, k);
  put(kv_, 4, 4);
  put(kv_, v, 4);
  ++n_kv_;
}
void GgufWriter::kv_f32(const std::string& k, float v) {
  put_str(kv_, k);
  put(kv_, 6, 4);
  put(kv_, f32_bits(v), 4);
  ++n_kv_;
}
void GgufWriter::kv_strings(const std::string& k, const std::vector<std::string>& v) {
  put_str(kv_, k);
  put(kv_, 9, 4);
  put(kv_, 8, 4);
  put(kv_, v.size(), 8);
  for (const auto& s : v) put_str(kv_, s);
  ++n_kv_;
}
void GgufWriter::kv_f32s(const std::string& k, const std::vector<float>& v) {
  put_str(kv_, k);
  put(kv_, 9, 4);
  put(kv_, 6, 4);
  put(kv_, v.size(), 8);
  for (float f : v) put(kv_, f32_bits(f), 4);
  ++n_kv_;
}
void GgufWriter::kv_i32s(const std::string& k, const std::vector<int32_t>& v) {
  put_str(kv_, k);
  put(kv_, 9, 4);
  put(kv_, 5, 4);
  put(kv_, v.size(), 8);
  for (int32_t i : v) put(kv_, static_cast<uint32_t>(i), 4);
  ++n_kv_;
}
void GgufWriter::tensor(const std::string& name, GgmlType type, std::vector<uint64_t> dims, Bytes data) {
  tensors_.push_back({name, type, std::move(dims), std::move(data)});
}

namespace {

// Bytes of one GGUF value of `type` at p (bounds are the caller's file).
size_t value_size(const uint8_t* p, uint32_t type) {
  static const size_t fixed[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
  if (type == 8) return 8 + load_le(p, 8);  // string
  if (type == 9) {                          // array: element type, count, elements
    const uint32_t et = static_cast<uint32_t>(load_le(p, 4));
    const uint64_t n = load_le(p + 4, 8);
    size_t at = 12;
    for (uint64_t i = 0; i < n; ++i) at += value_size(p + at, et);
    return at;
  }
  return fixed[type];
}

// Calls fn(key, first byte of the pair, one past its last, value type, value bytes)
// for each key-value pair of a GGUF file.
template <typename Fn>
void each_kv(ByteSpan g, Fn&& fn) {
  const uint64_t n = load_le(g.data() + 16, 8);
  size_t at = 24;
  for (uint64_t i = 0; i < n; ++i) {
    const size_t start = at;
    const uint64_t klen = load_le(g.data() + at, 8);
    const std::string key(reinterpret_cast<const char*>(g.data() + at + 8), klen);
    at += 8 + klen;
    const uint32_t type = static_cast<uint32_t>(load_le(g.data() + at, 4));
    const uint8_t* value = g.data() + at + 4;
    at += 4 + value_size(value, type);
    fn(key, start, at, type, value);
  }
}

}  // namespace

size_t GgufWriter::copy_kvs(ByteSpan g, const std::string& prefix) {
  size_t copied = 0;
  each_kv(g, [&](const std::string& key, size_t start, size_t end, uint32_t, const uint8_t*) {
    if (key.rfind(prefix, 0) != 0) return;
    kv_.insert(kv_.end(), g.begin() + static_cast<ptrdiff_t>(start), g.begin() + static_cast<ptrdiff_t>(end));
    ++n_kv_, ++copied;
  });
  return copied;
}

Bytes GgufWriter::finish(uint32_t alignment) const {
  Bytes out = {'G', 'G', 'U', 'F'};
  put(out, 3, 4);
  put(out, tensors_.size(), 8);
  put(out, n_kv_, 8);
  out.insert(out.end(), kv_.begin(), kv_.end());
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    put_str(out, t.name);
    put(out, t.dims.size(), 4);
    for (uint64_t d : t.dims) put(out, d, 8);
    put(out, static_cast<uint32_t>(t.type), 4);
    put(out, offset, 8);
    offset += (t.data.size() + alignment - 1) / alignment * alignment;
  }
  out.resize((out.size() + alignment - 1) / alignment * alignment, 0);
  for (const auto& t : tensors_) {
    out.insert(out.end(), t.data.begin(), t.data.end());
    out.resize((out.size() + alignment - 1) / alignment * alignment, 0);
  }
  return out;
}

namespace {

// Random weights with std `scale`, in `type`'s block layout (valid scales, random quants).
Bytes random_weights(GgmlType type, size_t rows, size_t cols, float scale, std::mt19937& rng) {
  const auto& info = ggml_type_info(type);
  Bytes out(rows * cols / info.block_elems * info.block_bytes);
  std::normal_distribution<float> g(0.0f, scale);
  std::uniform_int_distribution<int> byte(0, 255);
  const size_t blocks = out.size() / info.block_bytes;
  for (size_t b = 0; b < blocks; ++b) {
    uint8_t* p = out.data() + b * info.block_bytes;
    switch (type) {
      case GgmlType::F32:
        for (uint32_t i = 0; i < info.block_elems; ++i) store_le(p + size_t{4} * i, f32_bits(g(rng)), 4);
        break;
      case GgmlType::F16:
        store_le(p, to_half(g(rng)), 2);
        break;
      case GgmlType::Q8_0:
        store_le(p, to_half(scale / 64), 2);
        for (int i = 0; i < 32; ++i) p[2 + i] = static_cast<uint8_t>(byte(rng));
        break;
      case GgmlType::BF16:
        store_le(p, f32_bits(g(rng)) >> 16, 2);
        break;
      default: {
        // Random quants; the scale d (and dmin, a half at min_at, for types with mins)
        // sized so that the values spread about `scale`: quants x sub-block scales reach
        // about d_per times d.
        for (uint32_t i = 0; i < info.block_bytes; ++i) p[i] = static_cast<uint8_t>(byte(rng));
        struct Scales {
          float d_per = 0.0f;
          size_t min_at = 0;
          float min_per = 0.0f;
        } scales{};
        switch (type) {
          case GgmlType::Q4_0:
            scales = {4};
            break;
          case GgmlType::Q5_0:
            scales = {8};
            break;
          case GgmlType::Q4_1:
            scales = {4, 2, -0.5f};
            break;
          case GgmlType::Q5_1:
            scales = {8, 2, -0.25f};
            break;
          case GgmlType::Q2_K:
            scales = {32, 82, 64};
            break;
          case GgmlType::Q3_K:
            scales = {64};
            break;
          case GgmlType::Q6_K:
            scales = {2048};
            break;
          case GgmlType::IQ4_NL:
            scales = {64};
            break;
          case GgmlType::IQ4_XS:
            scales = {1024};
            break;
          case GgmlType::IQ2_XXS:  // d (2 ls + 1) / 8 times grid values of about 29 (rms)
          case GgmlType::IQ2_XS:
          case GgmlType::IQ2_S:
            scales = {50};
            break;
          case GgmlType::IQ3_XXS:  // d (2 ls + 1) / 4 times about 37; d (2 ls + 1) times about 9
          case GgmlType::IQ3_S:
            scales = {150};
            break;
          case GgmlType::IQ1_S:  // d (2 k + 1) (g +- 1/8), k 0..7
          case GgmlType::IQ1_M:
            scales = {6};
            break;
          case GgmlType::TQ1_0:  // d (q - 1), q 0..2 (a few random TQ2_0 fields say 3)
          case GgmlType::TQ2_0:
            scales = {1};
            break;
          default:
            scales = {256, 2, 64};  // Q4_K, Q5_K
        }
        store_block_scale(type, p, to_half(scale / scales.d_per));
        if (scales.min_at != 0) store_le(p + scales.min_at, to_half(scale / scales.min_per), 2);
      }
    }
  }
  return out;
}

}  // namespace

namespace {

// The number of entries of tokenizer.ggml.tokens in a GGUF file.
size_t vocab_size(ByteSpan g) {
  size_t n = 0;
  each_kv(g, [&](const std::string& key, size_t, size_t, uint32_t, const uint8_t* value) {
    if (key == "tokenizer.ggml.tokens") n = load_le(value + 4, 8);
  });
  return n;
}

}  // namespace

namespace {
std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

const GgmlTypeInfo* type_named(const std::string& lower_name) {
  for (const GgmlTypeInfo& t : ggml_types())
    if (lower(t.name) == lower_name) return &t;
  return nullptr;
}

std::string type_names() {
  std::string all;
  for (const GgmlTypeInfo& t : ggml_types()) {
    if (!all.empty()) all += ' ';
    all += lower(t.name);
  }
  return all;
}

TinyLlamaShape golden_shape(GgmlType type) {
  TinyLlamaShape s;
  s.n_embd = 256;
  s.n_ff = 512;
  s.n_layer = 2;
  s.n_head = 4;
  s.n_head_kv = 2;
  s.n_ctx = 2048;
  s.type = type;
  s.seed = 7;
  s.weight_std = 0.05f;
  return s;
}

Bytes make_random_llama(const TinyLlamaShape& s) {
  std::mt19937 rng(s.seed);
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<int32_t> types = {2, 3, 3};
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(fmt::format("<0x{:02X}>", b));
    types.push_back(6);
  }
  tokens.push_back("\xE2\x96\x81");
  types.push_back(1);
  for (int c = 33; c < 127; ++c) {
    tokens.push_back(std::string(1, static_cast<char>(c)));
    types.push_back(1);
  }
  for (const char* m : {"ab", "abc", "\342\226\201a", "the", "th", "he", "  "}) {  // (octal: "a" is no digit)
    tokens.push_back(m);
    types.push_back(1);
  }
  std::vector<float> scores(tokens.size());
  for (size_t i = 0; i < scores.size(); ++i) scores[i] = -static_cast<float>(i % 97);
  uint32_t n_vocab = static_cast<uint32_t>(tokens.size());
  // Pad the vocabulary to a multiple of 32 rows is not needed; rows are independent.
  GgufWriter w;
  w.kv_string("general.architecture", "llama");
  w.kv_string("general.name", "random-llama");
  w.kv_u32("llama.context_length", s.n_ctx);
  w.kv_u32("llama.embedding_length", s.n_embd);
  w.kv_u32("llama.block_count", s.n_layer);
  w.kv_u32("llama.feed_forward_length", s.n_ff);
  w.kv_u32("llama.attention.head_count", s.n_head);
  w.kv_u32("llama.attention.head_count_kv", s.n_head_kv);
  w.kv_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
  w.kv_f32("llama.rope.freq_base", s.rope_base);
  if (s.vocab_gguf.empty()) {
    w.kv_string("tokenizer.ggml.model", "llama");
    w.kv_strings("tokenizer.ggml.tokens", tokens);
    w.kv_f32s("tokenizer.ggml.scores", scores);
    w.kv_i32s("tokenizer.ggml.token_type", types);
    w.kv_u32("tokenizer.ggml.bos_token_id", 1);
  } else {
    w.copy_kvs(s.vocab_gguf, "tokenizer.");
    n_vocab = static_cast<uint32_t>(vocab_size(s.vocab_gguf));
  }
  const uint32_t hd = s.n_embd / s.n_head, kv = hd * s.n_head_kv;
  auto norm = [&](size_t n) {
    Bytes b(n * 4);
    std::normal_distribution<float> g(1.0f, 0.1f);
    for (size_t i = 0; i < n; ++i) store_le(b.data() + 4 * i, f32_bits(g(rng)), 4);
    return b;
  };
  auto mat = [&](const std::string& name, size_t cols, size_t rows, float scale) {
    // Rows that are no whole number of blocks fall back to Q8_0, as llama-quantize does.
    const GgmlType type = cols % ggml_type_info(s.type).block_elems == 0 ? s.type : GgmlType::Q8_0;
    w.tensor(name, type, {cols, rows}, random_weights(type, rows, cols, scale, rng));
  };
  const float ws = s.weight_std;
  mat("token_embd.weight", s.n_embd, n_vocab, ws * 5.0f);
  w.tensor("output_norm.weight", GgmlType::F32, {s.n_embd}, norm(s.n_embd));
  if (!s.tied) mat("output.weight", s.n_embd, n_vocab, ws);
  if (!s.rope_freqs.empty()) {
    Bytes f(s.rope_freqs.size() * 4);
    for (size_t i = 0; i < s.rope_freqs.size(); ++i) store_le(f.data() + 4 * i, f32_bits(s.rope_freqs[i]), 4);
    w.tensor("rope_freqs.weight", GgmlType::F32, {s.rope_freqs.size()}, f);
  }
  for (uint32_t l = 0; l < s.n_layer; ++l) {
    std::string p = fmt::format("blk.{}.", l);
    w.tensor(p + "attn_norm.weight", GgmlType::F32, {s.n_embd}, norm(s.n_embd));
    w.tensor(p + "ffn_norm.weight", GgmlType::F32, {s.n_embd}, norm(s.n_embd));
    mat(p + "attn_q.weight", s.n_embd, s.n_embd, ws);
    mat(p + "attn_k.weight", s.n_embd, kv, ws);
    mat(p + "attn_v.weight", s.n_embd, kv, ws);
    mat(p + "attn_output.weight", s.n_embd, s.n_embd, ws / 2);
    mat(p + "ffn_gate.weight", s.n_embd, s.n_ff, ws);
    mat(p + "ffn_up.weight", s.n_embd, s.n_ff, ws);
    mat(p + "ffn_down.weight", s.n_ff, s.n_embd, ws / 2);
  }
  return w.finish();
}

}  // namespace lmac::test
