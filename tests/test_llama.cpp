// The Llama engine: conformance with reference log-probabilities, and the determinism
// contract (bitwise-identical logits for any batching and thread count).
#include <gtest/gtest.h>
#include <cstdio>

#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "gguf_writer.hpp"
#include "lmac/lm/llama_model.hpp"
#include "test_support.hpp"

namespace lmac {
namespace {

const std::string kBundledModel = std::string(LMAC_SOURCE_DIR) + "/models/tinyllama-text-15m-q8_0.gguf";
const std::string kF16Model = std::string(LMAC_SHARED_DIR) + "/models/tinyllama-text-15m-f16.gguf";

std::vector<double> log_softmax(const float* l, size_t n) {
  double mx = l[0];
  for (size_t i = 0; i < n; ++i) mx = std::max(mx, static_cast<double>(l[i]));
  double s = 0;
  for (size_t i = 0; i < n; ++i) s += std::exp(l[i] - mx);
  std::vector<double> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = l[i] - mx - std::log(s);
  return out;
}

void check_conformance(const std::string& path, double max_tol, double mean_tol) {
  auto model = LlamaModel::load(path);
  std::ifstream in(std::string(LMAC_TEST_DATA) + "/tinyllama-text-15m.reflogits.json");
  nlohmann::json ref = nlohmann::json::parse(in);
  LlamaSession session(*model, make_cpu_backend(2));
  const size_t V = model->config().n_vocab;
  uint32_t seq = 0;
  for (const auto& s : ref["sequences"]) {
    std::vector<int32_t> ids = s["ids"].get<std::vector<int32_t>>();
    std::vector<BatchToken> batch;
    batch.reserve(ids.size());
    for (int32_t id : ids) batch.push_back({seq, id});
    std::vector<float> logits(ids.size() * V);
    session.forward(batch, {}, logits.data());
    double max_diff = 0, sum_diff = 0;
    auto want = s["next_token_logprob"].get<std::vector<double>>();
    auto argmax = s["argmax"].get<std::vector<int32_t>>();
    for (size_t i = 0; i + 1 < ids.size(); ++i) {
      auto lp = log_softmax(&logits[i * V], V);
      double d = std::fabs(lp[static_cast<size_t>(ids[i + 1])] - want[i]);
      max_diff = std::max(max_diff, d);
      sum_diff += d;
    }
    for (size_t i : {size_t{0}, size_t{1}, ids.size() - 1}) {
      const float* row = &logits[i * V];
      EXPECT_EQ(std::max_element(row, row + V) - row, argmax[i]) << s["name"] << " position " << i;
    }
    std::printf("conformance %s %s: max %.4f mean %.4f\n", model->config().name.c_str(),
                s["name"].get<std::string>().c_str(), max_diff, sum_diff / static_cast<double>(ids.size() - 1));
    EXPECT_LE(max_diff, max_tol) << s["name"];
    EXPECT_LE(sum_diff / static_cast<double>(ids.size() - 1), mean_tol) << s["name"];
    ++seq;
  }
}

TEST(LlamaConformance, BundledQ8_0MatchesReference) { check_conformance(kBundledModel, 0.35, 0.08); }

TEST(LlamaConformance, F16MatchesReferenceClosely) {
  if (!std::filesystem::exists(kF16Model)) GTEST_SKIP() << "needs ../shared/models/tinyllama-text-15m-f16.gguf";
  // ../shared/models/README.md allows 2e-3 to an engine that keeps every activation in
  // float32; revision 4 stores the KV cache in IEEE half (measured 0.0030 max, 0.0006
  // mean; llama.cpp, which also rounds its activations to half, gets 0.0068 / 0.0017).
  check_conformance(kF16Model, 4e-3, 1e-3);
}

// Logits of two sequences computed (a) as one prefill each, (b) one token at a time,
// (c) interleaved in mixed batches, each with 1, 2 and 3 threads: all bit-identical.
void check_batch_invariance(const LlamaModel& model, bool subset_rows) {
  std::mt19937 rng(9);
  const int32_t V = static_cast<int32_t>(model.config().n_vocab);
  std::vector<std::vector<int32_t>> seqs(2);
  for (auto& s : seqs) {
    s.push_back(model.tokenizer().bos());
    for (int i = 0; i < 23; ++i) s.push_back(std::uniform_int_distribution<int32_t>(3, V - 1)(rng));
  }
  std::vector<int32_t> rows;
  if (subset_rows)
    for (int c = 0; c < 128; ++c) rows.push_back(model.tokenizer().byte_token(static_cast<uint8_t>(c)));
  const size_t n_out = rows.empty() ? static_cast<size_t>(V) : rows.size();
  auto prefill = [&](int threads) {
    LlamaSession s(model, make_cpu_backend(threads));
    std::vector<std::vector<float>> out;
    for (uint32_t q = 0; q < 2; ++q) {
      std::vector<BatchToken> b;
      for (int32_t id : seqs[q]) b.push_back({q, id});
      std::vector<float> l(b.size() * n_out);
      s.forward(b, rows, l.data());
      out.push_back(l);
    }
    return out;
  };
  auto stepwise = [&](int threads, size_t chunk) {
    LlamaSession s(model, make_cpu_backend(threads));
    std::vector<std::vector<float>> out(2);
    for (size_t start = 0; start < seqs[0].size(); start += chunk) {
      std::vector<BatchToken> b;  // both sequences mixed in one call, one interleaving
      for (size_t i = start; i < std::min(seqs[0].size(), start + chunk); ++i) {
        b.push_back({7, seqs[1][i]});
        b.push_back({3, seqs[0][i]});
      }
      std::vector<float> l(b.size() * n_out);
      s.forward(b, rows, l.data());
      for (size_t k = 0; k < b.size(); ++k) {
        auto& dst = out[b[k].seq == 3 ? 0 : 1];
        dst.insert(dst.end(), l.begin() + static_cast<ptrdiff_t>(k * n_out),
                   l.begin() + static_cast<ptrdiff_t>((k + 1) * n_out));
      }
    }
    return out;
  };
  auto base = prefill(1);
  for (int threads : {1, 2, 3}) {
    EXPECT_EQ(prefill(threads), base) << threads << " threads, prefill";
    for (size_t chunk : {size_t{1}, size_t{5}})
      EXPECT_EQ(stepwise(threads, chunk), base) << threads << " threads, chunk " << chunk;
  }
}

TEST(LlamaDeterminism, BundledModelIsBatchInvariant) {
  auto model = LlamaModel::load(kBundledModel);
  check_batch_invariance(*model, false);
  check_batch_invariance(*model, true);
}

TEST(LlamaDeterminism, RandomModelsOfEveryKernelTypeAreBatchInvariant) {
  for (GgmlType type : {GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_K}) {
    test::TinyLlamaShape shape;
    shape.type = type;
    shape.tied = type == GgmlType::Q8_0;
    if (type == GgmlType::Q4_K) {
      shape.n_embd = 256;
      shape.n_ff = 512;
    }
    std::string path = test::temp_dir() + "/random.gguf";
    test::write_bytes(path, test::make_random_llama(shape));
    auto model = LlamaModel::load(path);
    check_batch_invariance(*model, false);
  }
}

std::vector<float> logits_of(const LlamaModel& model, int simd_level, int threads, bool reuse_cache) {
  set_cpu_simd_level(simd_level);
  std::mt19937 rng(5);
  const size_t V = model.config().n_vocab;
  std::vector<int32_t> ids = {model.tokenizer().bos()};
  for (int i = 0; i < 44; ++i)
    ids.push_back(std::uniform_int_distribution<int32_t>(3, static_cast<int32_t>(V) - 1)(rng));
  LlamaSession s(model, make_cpu_backend(threads));
  if (reuse_cache) {  // leave stale keys and values in a cache that the next sequence reuses
    std::vector<BatchToken> junk;
    for (size_t i = 0; i < ids.size(); ++i) junk.push_back({9, ids[ids.size() - 1 - i]});
    std::vector<float> l(junk.size() * V);
    s.forward(junk, {}, l.data());
    s.drop(9);
  }
  std::vector<float> out;
  auto run = [&](size_t from, size_t to) {
    std::vector<BatchToken> b;
    for (size_t i = from; i < to; ++i) b.push_back({1, ids[i]});
    std::vector<float> l(b.size() * V);
    s.forward(b, {}, l.data());
    out.insert(out.end(), l.begin(), l.end());
  };
  run(0, 40);  // prefill: tiled matmuls, attention over whole key blocks and tails
  for (size_t i = 40; i < ids.size(); ++i) run(i, i + 1);  // steps: fused matmuls
  set_cpu_simd_level(2);
  return out;
}

TEST(LlamaDeterminism, SimdLevelsAndReusedCachesGiveIdenticalLogits) {
  std::vector<std::unique_ptr<LlamaModel>> models;
  models.push_back(LlamaModel::load(kBundledModel));  // 6 heads over 2 KV heads of 48
  // An odd head count (a lone last head) with heads of 32, and no grouping with heads of 64.
  for (auto [n_embd, n_head, n_head_kv] : std::vector<std::array<uint32_t, 3>>{{96, 3, 1}, {128, 2, 2}}) {
    test::TinyLlamaShape shape;
    shape.n_embd = n_embd;
    shape.n_head = n_head;
    shape.n_head_kv = n_head_kv;
    shape.type = GgmlType::Q8_0;
    std::string path = test::temp_dir() + "/heads" + std::to_string(n_head) + ".gguf";
    test::write_bytes(path, test::make_random_llama(shape));
    models.push_back(LlamaModel::load(path));
  }
  for (const auto& m : models) {
    const auto best = logits_of(*m, 2, 2, false);
    EXPECT_EQ(logits_of(*m, 1, 2, false), best) << m->config().n_head << " heads, AVX2";
    EXPECT_EQ(logits_of(*m, 0, 3, false), best) << m->config().n_head << " heads, scalar";
    EXPECT_EQ(logits_of(*m, 2, 1, true), best) << m->config().n_head << " heads, reused cache";
  }
}

// The cache is a pool of page groups: a dropped sequence's groups serve the next ones,
// sequences that grow in the same batches take groups in turn (so a sequence's pages
// lie out of order in memory), and none of it changes a logit.
TEST(LlamaSession, PagedCacheReusesGroupsAndKeepsLogits) {
  auto model = LlamaModel::load(kBundledModel);
  const size_t V = model->config().n_vocab, group = kKvPage * model->config().kv_bytes_per_token();
  std::mt19937 rng(3);
  std::vector<int32_t> a(300), b(300);
  for (auto* ids : {&a, &b})
    for (auto& t : *ids) t = std::uniform_int_distribution<int32_t>(3, static_cast<int32_t>(V) - 1)(rng);
  // Sequence b alone in a fresh session: the logits to match.
  std::vector<float> want(b.size() * V);
  {
    LlamaSession alone(*model, make_cpu_backend(2));
    std::vector<BatchToken> batch(b.size());
    for (size_t i = 0; i < b.size(); ++i) batch[i] = {0, b[i]};
    alone.forward(batch, {}, want.data());
  }
  LlamaSession s(*model, make_cpu_backend(2));
  std::vector<BatchToken> batch(a.size());
  for (size_t i = 0; i < a.size(); ++i) batch[i] = {1, a[i]};
  std::vector<float> scratch(batch.size() * V);
  s.forward(batch, {}, scratch.data());
  EXPECT_EQ(s.kv_bytes(), 2 * group);  // 300 positions: two groups
  s.drop(1);
  // b (sequence 2) and a again (sequence 3), a few tokens of each per batch, past a page end.
  std::vector<float> got;
  for (size_t i = 0; i < b.size(); i += 50) {
    batch.clear();
    for (size_t j = i; j < i + 50; ++j) batch.push_back({3, a[j]});
    for (size_t j = i; j < i + 50; ++j) batch.push_back({2, b[j]});
    std::vector<float> l(batch.size() * V);
    s.forward(batch, {}, l.data());
    got.insert(got.end(), l.begin() + 50 * static_cast<ptrdiff_t>(V), l.end());
  }
  EXPECT_EQ(s.kv_bytes(), 4 * group);  // the two dropped groups, and two new ones
  EXPECT_EQ(got, want);
}

TEST(LlamaModel, RefusesOtherArchitecturesAndBrokenFiles) {
  std::string path = test::temp_dir() + "/not-llama.gguf";
  test::GgufWriter w;
  w.kv_string("general.architecture", "gpt2");
  test::write_bytes(path, w.finish());
  try {
    LlamaModel::load(path);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("unsupported architecture 'gpt2'"), std::string::npos);
  }
  Bytes model = test::read_bytes(kBundledModel);
  model.resize(model.size() / 2);
  test::write_bytes(path, model);
  EXPECT_THROW(LlamaModel::load(path), FormatError);
}

}  // namespace
}  // namespace lmac
