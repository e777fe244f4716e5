#include "lmac/lm/llama_model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "lmac/common/arithmetic_revision.hpp"
#include "lmac/common/error.hpp"
#include "lmac/common/hash.hpp"
#include "lmac/lm/rope_table.hpp"

namespace lmac {
namespace {

uint32_t meta_u32(const GgufFile& f, const std::string& key) {
  uint64_t v = f.get(key).as_uint();
  if (v > (1u << 30)) fail_format(fmt::format("{} = {} is out of range", key, v));
  return static_cast<uint32_t>(v);
}

Matrix matrix(const GgufFile& f, const std::string& name, size_t cols, size_t rows) {
  const GgufTensor& t = f.tensor(name);
  if (t.dims.size() != 2 || t.dims[0] != cols || t.dims[1] != rows)
    fail_format(
        fmt::format("tensor '{}' has shape [{}], expected [{}, {}]", name, fmt::join(t.dims, ", "), cols, rows));
  Matrix m;
  m.type = t.type;
  m.rows = rows;
  m.cols = cols;
  m.data = t.data;
  m.row_bytes = ggml_row_bytes(t.type, cols);
  return m;
}

const float* vector_f32(const GgufFile& f, const std::string& name, size_t n) {
  const GgufTensor& t = f.tensor(name);
  if (t.type != GgmlType::F32 || t.elements() != n)
    fail_format(fmt::format("tensor '{}' must be F32 with {} values", name, n));
  if (reinterpret_cast<uintptr_t>(t.data) % alignof(float)) fail_format("tensor '" + name + "' is misaligned");
  return reinterpret_cast<const float*>(t.data);
}

LlamaConfig read_config(const GgufFile& f) {
  const std::string& arch = f.get("general.architecture").as_string();
  if (arch != "llama")
    fail_format("unsupported architecture '" + arch +
                "' (lmac runs 'llama': Llama 1/2/3/3.1/3.2, TinyLlama, SmolLM, Mistral without sliding window)");
  LlamaConfig c;
  c.name = f.find("general.name") ? f.get("general.name").as_string() : "llama";
  c.n_embd = meta_u32(f, "llama.embedding_length");
  c.n_layer = meta_u32(f, "llama.block_count");
  c.n_ff = meta_u32(f, "llama.feed_forward_length");
  c.n_head = meta_u32(f, "llama.attention.head_count");
  c.n_head_kv = f.find("llama.attention.head_count_kv") ? meta_u32(f, "llama.attention.head_count_kv") : c.n_head;
  c.n_ctx = meta_u32(f, "llama.context_length");
  if (c.n_head == 0 || c.n_head_kv == 0 || c.n_head % c.n_head_kv || c.n_layer == 0)
    fail_format("inconsistent attention head counts");
  c.head_dim = f.find("llama.attention.key_length") ? meta_u32(f, "llama.attention.key_length") : c.n_embd / c.n_head;
  c.rot_dim = f.find("llama.rope.dimension_count") ? meta_u32(f, "llama.rope.dimension_count") : c.head_dim;
  if (c.rot_dim > c.head_dim || c.rot_dim % 2) fail_format("invalid llama.rope.dimension_count");
  if (const GgufValue* v = f.find("llama.attention.layer_norm_rms_epsilon"))
    c.rms_eps = static_cast<float>(v->as_float());
  if (const GgufValue* v = f.find("llama.rope.freq_base")) c.rope_base = static_cast<float>(v->as_float());
  if (!(c.rope_base >= 1.0f && c.rope_base <= 1e30f)) fail_format("llama.rope.freq_base must be in [1, 1e30]");
  if (f.find("llama.attention.sliding_window"))
    fail_format("sliding-window attention is not supported (Mistral with sliding window)");
  return c;
}

LlamaLayer read_layer(const GgufFile& f, const LlamaConfig& c, uint32_t i) {
  const size_t q_dim = static_cast<size_t>(c.n_head) * c.head_dim,
               kv_dim = static_cast<size_t>(c.n_head_kv) * c.head_dim;
  const std::string p = fmt::format("blk.{}.", i);
  LlamaLayer l;
  l.attn_norm = vector_f32(f, p + "attn_norm.weight", c.n_embd);
  l.wq = matrix(f, p + "attn_q.weight", c.n_embd, q_dim);
  l.wk = matrix(f, p + "attn_k.weight", c.n_embd, kv_dim);
  l.wv = matrix(f, p + "attn_v.weight", c.n_embd, kv_dim);
  l.wo = matrix(f, p + "attn_output.weight", q_dim, c.n_embd);
  l.ffn_norm = vector_f32(f, p + "ffn_norm.weight", c.n_embd);
  l.w_gate = matrix(f, p + "ffn_gate.weight", c.n_embd, c.n_ff);
  l.w_up = matrix(f, p + "ffn_up.weight", c.n_embd, c.n_ff);
  l.w_down = matrix(f, p + "ffn_down.weight", c.n_ff, c.n_embd);
  return l;
}

// Every tensor's name, type, shape and bytes, the tokenizer, and the engine's arithmetic
// revision: what a stream depends on (the stream header names its revision too, so an
// old stream is refused with the revision it needs).
uint64_t model_fingerprint(const GgufFile& f, const Tokenizer& tokenizer) {
  Hasher h;
  for (const GgufTensor& t : f.tensors()) {
    h.update(t.name.data(), t.name.size());
    uint32_t type = static_cast<uint32_t>(t.type);
    h.update(&type, 4);
    h.update(t.dims.data(), t.dims.size() * sizeof(uint64_t));
    h.update(t.data, t.bytes);
  }
  for (int32_t i = 0; i < tokenizer.vocab_size(); ++i) {
    const std::string& s = tokenizer.token_text(i);
    h.update(s.data(), s.size() + 1);
  }
  h.update(tokenizer.kind().data(), tokenizer.kind().size());
  const std::string revision = fmt::format("lmac-engine-arithmetic-{}", kArithmeticRevision);
  h.update(revision.data(), revision.size());
  return h.digest();
}

}  // namespace

std::unique_ptr<LlamaModel> LlamaModel::load(const std::string& path) {
  auto m = std::make_unique<LlamaModel>();
  m->file_ = GgufFile::open(path);
  const GgufFile& f = *m->file_;
  LlamaConfig& c = m->config_ = read_config(f);
  m->tokenizer_ = Tokenizer::from_gguf(f);
  const GgufTensor& emb = f.tensor("token_embd.weight");
  if (emb.dims.size() != 2) fail_format("token_embd.weight is not a matrix");
  c.n_vocab = static_cast<uint32_t>(emb.dims[1]);
  if (c.n_vocab != static_cast<uint32_t>(m->tokenizer_->vocab_size()))
    fail_format(
        fmt::format("the embedding has {} rows but the tokenizer {} tokens", c.n_vocab, m->tokenizer_->vocab_size()));
  m->token_embd_ = matrix(f, "token_embd.weight", c.n_embd, c.n_vocab);
  c.tied_output = f.find_tensor("output.weight") == nullptr;
  m->output_ = c.tied_output ? m->token_embd_ : matrix(f, "output.weight", c.n_embd, c.n_vocab);
  m->output_norm_ = vector_f32(f, "output_norm.weight", c.n_embd);
  if (f.find_tensor("rope_freqs.weight")) {
    m->rope_factors_ = vector_f32(f, "rope_freqs.weight", c.rot_dim / 2);
    for (uint32_t i = 0; i < c.rot_dim / 2; ++i)
      if (!(m->rope_factors_[i] >= 1e-6f && m->rope_factors_[i] <= 1e6f))
        fail_format("rope_freqs.weight holds a factor outside [1e-6, 1e6]");
  }
  for (uint32_t i = 0; i < c.n_layer; ++i) m->layers_.push_back(read_layer(f, c, i));
  m->fingerprint_ = model_fingerprint(f, *m->tokenizer_);
  // Content ids: the fingerprint and the tensor's place in the model.
  uint64_t index = 0;
  auto name = [&](Matrix& w) {
    const uint64_t parts[2] = {m->fingerprint_, ++index};
    w.content_id = hash64(parts, sizeof parts);
  };
  name(m->token_embd_);
  name(m->output_);
  for (LlamaLayer& l : m->layers_)
    for (Matrix* w : l.matrices()) name(*w);
  return m;
}

uint64_t LlamaModel::parameter_count() const {
  uint64_t n = 0;
  for (const GgufTensor& t : file_->tensors()) n += t.elements();
  return n;
}

LlamaSession::LlamaSession(const LlamaModel& model, std::unique_ptr<Backend> backend)
    : model_(model), backend_(std::move(backend)) {
  Backend& be = *backend_;
  const LlamaConfig& c = model.config();
  // A matrix the backend copied leaves the mapping's pages at once, so that the file
  // and the copy are never both resident (a second copy of a 7B model would not fit).
  auto take = [&](const Matrix& w, WeightUse use) {
    Matrix m = be.weights(w, use);
    if (m.prepared != nullptr || m.data != w.data) model.file().release_pages(w.data, w.bytes());
    return m;
  };
  w_.token_embd = take(model.token_embd(), c.tied_output ? WeightUse::Products : WeightUse::RowsOnly);
  w_.output = c.tied_output ? w_.token_embd : take(model.output(), WeightUse::Products);
  w_.output_norm = be.weights(model.output_norm(), c.n_embd);
  for (const LlamaLayer& l : model.layers())
    w_.layers.push_back(
        {be.weights(l.attn_norm, c.n_embd), take(l.wq, WeightUse::Products), take(l.wk, WeightUse::Products),
         take(l.wv, WeightUse::Products), take(l.wo, WeightUse::Products), be.weights(l.ffn_norm, c.n_embd),
         take(l.w_gate, WeightUse::Products), take(l.w_up, WeightUse::Products), take(l.w_down, WeightUse::Products)});
}

size_t LlamaSession::length(uint32_t seq) const {
  auto it = caches_.find(seq);
  return it == caches_.end() ? 0 : it->second.n_pos;
}

size_t LlamaSession::kv_bytes() const {
  size_t b = 0;
  for (const Buffer& g : groups_) b += g.bytes();
  return b;
}

size_t LlamaSession::sequence_bytes(size_t positions, size_t per_pass, size_t rows) const {
  const LlamaConfig& c = model_.config();
  const size_t pages = (positions + kKvPage - 1) / kKvPage;
  const size_t q_dim = size_t{c.n_head} * c.head_dim, kv_dim = size_t{c.n_head_kv} * c.head_dim;
  // x, xb, out_x; q, att; k, v; gate, up, hb; a head's scores over every position; the
  // logits, their weights and frequencies (4 bytes each); the 16-bit quantized input of
  // the widest product with its block scales.
  const size_t floats =
      3 * size_t{c.n_embd} + 2 * q_dim + 2 * kv_dim + 3 * size_t{c.n_ff} + size_t{c.n_head} * positions + 3 * rows;
  const size_t quantized = 3 * std::max<size_t>(c.n_embd, c.n_ff);
  return pages * kKvPage * c.kv_bytes_per_token() + per_pass * (4 * floats + quantized);
}

void LlamaSession::drop(uint32_t seq) {
  auto it = caches_.find(seq);
  if (it == caches_.end()) return;
  free_.insert(free_.end(), it->second.groups.begin(), it->second.groups.end());
  caches_.erase(it);
}

// Computed once per position with lmac's own math (lm/rope_table), the same for every
// batch, machine and device, and handed to the backend.
void LlamaSession::grow_rope_table(size_t n_pos) {
  const LlamaConfig& c = model_.config();
  const size_t rot = c.rot_dim, have = rope_cs_.size() / rot;
  if (n_pos <= have) return;
  const size_t want = std::max(n_pos, std::min<size_t>(2 * have, c.n_ctx));
  rope_cs_.resize(want * rot);
  rope_table_rows({c.rope_base, c.rot_dim, model_.rope_factors()}, have, want - have, &rope_cs_[have * rot]);
  rope_table_ = Buffer(*backend_, rope_cs_.size() * sizeof(float));
  backend_->upload(rope_table_.as<void>(), rope_cs_.data(), rope_cs_.size() * sizeof(float));
}

// A page group: every layer's page, keys then values, layer after layer.
KvPage LlamaSession::page(uint32_t g, size_t l) const {
  const LlamaConfig& c = model_.config();
  const size_t page_elems = kKvPage * c.n_head_kv * c.head_dim;
  uint16_t* keys = groups_[g].as<uint16_t>() + 2 * l * page_elems;
  return {keys, keys + page_elems};
}

// Page groups for every position a cache holds; nothing already there moves.
void LlamaSession::reserve(Cache& cc) {
  const LlamaConfig& c = model_.config();
  const size_t group_bytes = size_t{2} * c.n_layer * kKvPage * c.n_head_kv * c.head_dim * sizeof(uint16_t);
  while (cc.groups.size() * kKvPage < cc.n_pos) {
    if (free_.empty()) {
      free_.push_back(static_cast<uint32_t>(groups_.size()));
      groups_.emplace_back(*backend_, group_bytes);
    }
    cc.groups.push_back(free_.back());
    free_.pop_back();
  }
}

// Every layer's page list of each sequence in the batch, once per sequence (its tokens'
// attention jobs share it): s.pages[l * pages_per_pass_ + s.table[t] ...] for token t.
void LlamaSession::list_pages() {
  Scratch& s = s_;
  const size_t n = s.cache.size(), n_layer = model_.config().n_layer;
  s.table.resize(n);
  auto& at = s.table_at;
  at.clear();
  size_t total = 0;
  for (size_t t = 0; t < n; ++t) {
    auto [it, fresh] = at.try_emplace(s.cache[t], total);
    if (fresh) total += s.cache[t]->groups.size();
    s.table[t] = it->second;
  }
  pages_per_pass_ = total;
  s.pages.resize(n_layer * total);
  for (const auto& [cache, first] : at)
    for (size_t l = 0; l < n_layer; ++l)
      for (size_t i = 0; i < cache->groups.size(); ++i) s.pages[l * total + first + i] = page(cache->groups[i], l);
}

float* LlamaSession::scratch(Buffer& b, size_t floats) {
  if (b.bytes() < floats * sizeof(float)) b = Buffer(*backend_, floats * sizeof(float));
  return b.as<float>();
}

// Gives each token of the batch its sequence's cache and next position (after the
// tokens of its sequence so far, and before it in this batch), with room in the caches
// for the whole batch and RoPE angles up to the last position.
void LlamaSession::place(std::span<const BatchToken> batch) {
  const LlamaConfig& c = model_.config();
  const size_t n = batch.size();
  Scratch& s = s_;
  s.pos.resize(n);
  s.ids.resize(n);
  s.cache.resize(n);
  size_t max_pos = 0;
  for (size_t t = 0; t < n; ++t) {
    Cache& cc = caches_[batch[t].seq];
    if (cc.n_pos >= c.n_ctx) fail(fmt::format("sequence longer than the model's context of {} tokens", c.n_ctx));
    s.pos[t] = static_cast<int32_t>(cc.n_pos++);
    s.ids[t] = batch[t].token;
    s.cache[t] = &cc;
    max_pos = std::max(max_pos, cc.n_pos);
  }
  for (Cache* cc : s.cache) reserve(*cc);
  list_pages();
  grow_rope_table(max_pos);
}

void LlamaSession::forward(std::span<const BatchToken> batch, std::span<const int32_t> out_rows, float* logits) {
  const float* out = run(batch, out_rows, logits);
  if (out == nullptr || out == logits) return;
  const size_t n_rows = out_rows.empty() ? model_.config().n_vocab : out_rows.size();
  backend_->download(logits, out, s_.out_tokens.size() * n_rows * sizeof(float));
}

const float* LlamaSession::forward_kept(std::span<const BatchToken> batch, std::span<const int32_t> out_rows) {
  return run(batch, out_rows, nullptr);
}

const float* LlamaSession::run(std::span<const BatchToken> batch, std::span<const int32_t> out_rows, float* host_out) {
  const LlamaConfig& c = model_.config();
  Backend& be = *backend_;
  const size_t n = batch.size(), dim = c.n_embd, hd = c.head_dim;
  const size_t q_dim = c.n_head * hd, kv_dim = c.n_head_kv * hd;
  if (n == 0) return nullptr;
  place(batch);

  Scratch& s = s_;
  float *x = scratch(s.x, n * dim), *xb = scratch(s.xb, n * dim), *q = scratch(s.q, n * q_dim);
  float *att = scratch(s.att, n * q_dim), *k = scratch(s.k, n * kv_dim), *v = scratch(s.v, n * kv_dim);
  float *gate = scratch(s.gate, n * c.n_ff), *up = scratch(s.up, n * c.n_ff), *hb = scratch(s.hb, n * c.n_ff);
  const float* rope = rope_table_.as<float>();
  be.get_rows(w_.token_embd, s.ids, x);

  for (uint32_t l = 0; l < c.n_layer; ++l) {
    const LlamaLayer& L = w_.layers[l];
    // Attention block: norm, projections, RoPE, cache append, attention, output projection.
    be.rmsnorm(x, L.attn_norm, n, dim, c.rms_eps, xb);
    be.matmul(L.wq, xb, n, q, {});
    be.matmul(L.wk, xb, n, k, {});
    be.matmul(L.wv, xb, n, v, {});
    be.rope(q, n, c.n_head, hd, c.rot_dim, s.pos, rope);
    be.rope(k, n, c.n_head_kv, hd, c.rot_dim, s.pos, rope);
    const KvPage* pages = &s.pages[l * pages_per_pass_];
    s.writes.resize(n);
    for (size_t t = 0; t < n; ++t) {
      const KvPage& p = pages[s.table[t] + static_cast<size_t>(s.pos[t]) / kKvPage];
      s.writes[t] = {p.keys, p.values, static_cast<size_t>(s.pos[t]) % kKvPage};
    }
    be.store_kv(s.writes, k, v, c.n_head_kv, hd);
    // Every token reads its keys from the cache, so a prefill reduces over exactly
    // what a later one-token step would see.
    s.jobs.resize(n);
    for (size_t t = 0; t < n; ++t)
      s.jobs[t] = {&q[t * q_dim], pages + s.table[t], static_cast<size_t>(s.pos[t]) + 1, &att[t * q_dim]};
    be.attention(s.jobs, c.n_head, c.n_head_kv, hd);
    be.matmul(L.wo, att, n, xb, {});
    be.add(x, xb, n * dim);

    // Feed-forward block: norm, SwiGLU, down projection.
    be.rmsnorm(x, L.ffn_norm, n, dim, c.rms_eps, xb);
    be.matmul(L.w_gate, xb, n, gate, {});
    be.matmul(L.w_up, xb, n, up, {});
    be.swiglu(gate, up, n * c.n_ff, hb);
    be.matmul(L.w_down, hb, n, xb, {});
    be.add(x, xb, n * dim);
  }

  // Only the tokens whose logits are wanted go through the output head.
  s.out_tokens.clear();
  for (size_t t = 0; t < n; ++t)
    if (batch[t].logits) s.out_tokens.push_back(static_cast<int32_t>(t));
  const size_t n_out = s.out_tokens.size(), n_rows = out_rows.empty() ? c.n_vocab : out_rows.size();
  if (n_out == 0) return nullptr;
  float* sel = x;
  if (n_out < n) be.gather_rows(x, s.out_tokens, dim, sel = scratch(s.out_x, n_out * dim));
  be.rmsnorm(sel, w_.output_norm, n_out, dim, c.rms_eps, xb);
  float* out = be.host_memory() && host_out != nullptr ? host_out : scratch(s.logits, n_out * n_rows);
  be.matmul(w_.output, xb, n_out, out, out_rows);
  return out;
}

}  // namespace lmac
