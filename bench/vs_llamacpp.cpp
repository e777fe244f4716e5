// Logits of lmac's engine against llama.cpp's on the same GGUF file and tokens
// (docs/ARITHMETIC.md, "Conformance"). Prints, over every position of a fixed sequence,
// the largest and mean difference of the next-token log-probability (nats, full
// vocabulary softmax) and the largest logit difference relative to the logits' spread.
// Built when LMAC_LLAMACPP_DIR names a llama.cpp build (scripts/conformance-vs-llamacpp.sh).
#include <llama.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "lmac/lm/backend.hpp"
#include "lmac/lm/llama_model.hpp"

namespace {

std::vector<float> log_softmax(const float* l, size_t n) {
  double mx = l[0], sum = 0;
  for (size_t i = 1; i < n; ++i) mx = std::max<double>(mx, l[i]);
  for (size_t i = 0; i < n; ++i) sum += std::exp(double(l[i]) - mx);
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(double(l[i]) - mx - std::log(sum));
  return out;
}

std::vector<float> llamacpp_logits(const char* path, const std::vector<int32_t>& tokens, int n_vocab) {
  llama_backend_init();
  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  llama_model* model = llama_model_load_from_file(path, mp);
  if (!model) std::exit(1);
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = 512;
  cp.n_batch = cp.n_ubatch = static_cast<uint32_t>(tokens.size());
  cp.n_threads = cp.n_threads_batch = 2;
  // llama.cpp's CPU flash attention rounds queries and partial sums to half; its other
  // path keeps float32 like lmac. LMAC_LLAMACPP_FA=1 compares with flash attention.
  const char* fa = std::getenv("LMAC_LLAMACPP_FA");
  cp.flash_attn_type = fa && *fa == '1' ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED;
  llama_context* ctx = llama_init_from_model(model, cp);
  llama_batch b = llama_batch_init(static_cast<int32_t>(tokens.size()), 0, 1);
  for (size_t i = 0; i < tokens.size(); ++i) {
    b.token[i] = tokens[i];
    b.pos[i] = static_cast<int32_t>(i);
    b.n_seq_id[i] = 1;
    b.seq_id[i][0] = 0;
    b.logits[i] = 1;
  }
  b.n_tokens = static_cast<int32_t>(tokens.size());
  if (llama_decode(ctx, b) != 0) std::exit(1);
  std::vector<float> out(tokens.size() * static_cast<size_t>(n_vocab));
  for (size_t i = 0; i < tokens.size(); ++i) {
    const float* l = llama_get_logits_ith(ctx, static_cast<int32_t>(i));
    std::copy(l, l + n_vocab, out.begin() + static_cast<ptrdiff_t>(i * static_cast<size_t>(n_vocab)));
  }
  llama_batch_free(b);
  llama_free(ctx);
  llama_model_free(model);
  return out;
}

// Returns the largest |d log p(next)|.
double report(const char* what, const std::vector<int32_t>& tokens, const std::vector<float>& ours,
              const std::vector<float>& theirs, size_t n_vocab) {
  const size_t n = tokens.size();
  double max_lp = 0, sum_lp = 0, max_rel = 0;
  for (size_t i = 0; i + 1 < n; ++i) {
    const float* a = &ours[i * n_vocab];
    const float* b = &theirs[i * n_vocab];
    const auto la = log_softmax(a, n_vocab), lb = log_softmax(b, n_vocab);
    const double d = std::fabs(double(la[static_cast<size_t>(tokens[i + 1])]) - lb[static_cast<size_t>(tokens[i + 1])]);
    max_lp = std::max(max_lp, d);
    sum_lp += d;
    double mean = 0, var = 0, worst = 0;
    for (size_t v = 0; v < n_vocab; ++v) mean += b[v];
    mean /= double(n_vocab);
    for (size_t v = 0; v < n_vocab; ++v)
      var += (b[v] - mean) * (b[v] - mean), worst = std::max(worst, double(std::fabs(a[v] - b[v])));
    max_rel = std::max(max_rel, worst / std::sqrt(var / double(n_vocab)));
  }
  std::printf("  %-38s |d log p(next)| max %.4f mean %.4f nats, max |d logit| / logit std %.4f\n", what, max_lp,
              sum_lp / double(n - 1), max_rel);
  return max_lp;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: lmac_vs_llamacpp MODEL.gguf [REFERENCE.gguf]\n");
    return 2;
  }
  std::unique_ptr<lmac::LlamaModel> model;
  try {
    model = lmac::LlamaModel::load(argv[1]);
  } catch (const std::exception& e) {
    std::printf("%s: lmac refuses it: %s\n", argv[1], e.what());
    return 1;
  }
  const size_t n_vocab = model->config().n_vocab, n = 48;
  std::vector<int32_t> tokens{model->tokenizer().bos()};
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(n_vocab) - 1);
  while (tokens.size() < n) tokens.push_back(id(rng));
  std::printf("%s: %zu positions\n", argv[1], n - 1);
  std::vector<lmac::BatchToken> batch;
  batch.reserve(tokens.size());
  for (int32_t t : tokens) batch.push_back({0, t, true});
  std::vector<float> ours(n * n_vocab);
  lmac::LlamaSession(*model, lmac::make_cpu_backend(2)).forward(batch, {}, ours.data());
  // llama.cpp on the same file, and (given) on the reference: the same weights in F32.
  const std::vector<float> theirs = llamacpp_logits(argv[1], tokens, static_cast<int>(n_vocab));
  report("lmac vs llama.cpp", tokens, ours, theirs, n_vocab);
  if (argc < 3) return 0;
  // The verdict: lmac within kTolerance of the exact weights computed in float32. (Its
  // own roundings are the half KV cache and Q8_0's 16-bit activations; llama.cpp's
  // quantized paths round activations to 8 bits and differ far more, printed above.)
  constexpr double kTolerance = 0.02;
  const std::vector<float> reference = llamacpp_logits(argv[2], tokens, static_cast<int>(n_vocab));
  const double ours_off = report("lmac vs F32 reference (llama.cpp)", tokens, ours, reference, n_vocab);
  report("llama.cpp vs F32 reference", tokens, theirs, reference, n_vocab);
  const bool pass = ours_off <= kTolerance;
  std::printf("  %s: lmac within %.2f nats of the float32 reference\n", pass ? "PASS" : "FAIL", kTolerance);
  return pass ? 0 : 1;
}
