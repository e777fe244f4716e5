// The GPU's arithmetic without a GPU: the "grid" backend runs the CUDA kernels'
// per-thread functions (lm/kernel_math.hpp) over the same grids on the host, and must
// give the CPU backend's bits operation by operation, for whole models, and for streams.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "gguf_writer.hpp"
#include "lmac/codec/file_codec.hpp"
#include "lmac/lm/backend.hpp"
#include "lmac/lm/backend_check.hpp"
#include "lmac/lm/cuda_backend.hpp"
#include "lmac/lm/llama_model.hpp"
#include "lmac/models/model_registry.hpp"
#include "test_support.hpp"

namespace lmac {
namespace {

const std::string kBundledModel = std::string(LMAC_SOURCE_DIR) + "/models/tinyllama-text-15m-q8_0.gguf";

TEST(GridBackend, EveryOperationMatchesTheCpuBitwise) {
  auto cpu = make_cpu_backend(2), grid = make_grid_backend(2);
  for (uint32_t seed : {1u, 2u}) {
    const auto checks = compare_backends(*cpu, *grid, seed);
    EXPECT_GE(checks.size(), 20u);
    for (const BackendCheck& c : checks) EXPECT_EQ(c.differing, 0u) << c.name << " (seed " << seed << ")";
  }
}

// A 40-token prefill, then single steps: logits of the grid backend and the CPU's.
std::vector<float> logits(const LlamaModel& model, std::unique_ptr<Backend> backend) {
  std::mt19937 rng(5);
  const size_t V = model.config().n_vocab;
  std::vector<int32_t> ids = {model.tokenizer().bos()};
  for (int i = 0; i < 44; ++i)
    ids.push_back(std::uniform_int_distribution<int32_t>(3, static_cast<int32_t>(V) - 1)(rng));
  LlamaSession s(model, std::move(backend));
  std::vector<float> out;
  auto run = [&](size_t from, size_t to) {
    std::vector<BatchToken> b;
    for (size_t i = from; i < to; ++i) b.push_back({1, ids[i], i % 3 != 1});  // some tokens without logits
    std::vector<float> l(b.size() * V);
    s.forward(b, {}, l.data());
    out.insert(out.end(), l.begin(), l.end());
  };
  run(0, 40);
  for (size_t i = 40; i < ids.size(); ++i) run(i, i + 1);
  return out;
}

TEST(GridBackend, WholeModelsGiveTheCpuLogits) {
  std::vector<std::unique_ptr<LlamaModel>> models;
  models.push_back(LlamaModel::load(kBundledModel));
  for (GgmlType type : {GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_K}) {
    test::TinyLlamaShape shape;
    shape.type = type;
    shape.tied = type == GgmlType::Q8_0;
    if (type == GgmlType::Q4_K) shape.n_embd = 256, shape.n_ff = 512;
    const std::string path = test::temp_dir() + "/grid-" + ggml_type_info(type).name + ".gguf";
    test::write_bytes(path, test::make_random_llama(shape));
    models.push_back(LlamaModel::load(path));
  }
  for (const auto& m : models) {
    const std::vector<float> grid = logits(*m, make_grid_backend(2)), cpu = logits(*m, make_cpu_backend(2));
    ASSERT_EQ(grid.size(), cpu.size());
    size_t differing = 0, nan = 0;
    for (size_t i = 0; i < cpu.size(); ++i) {
      differing += std::memcmp(&grid[i], &cpu[i], 4) != 0;
      nan += std::isnan(cpu[i]);
    }
    EXPECT_EQ(differing, 0u) << m->config().name << " " << ggml_type_info(m->layers()[0].wq.type).name;
    EXPECT_EQ(nan, 0u) << m->config().name << " " << ggml_type_info(m->layers()[0].wq.type).name;
  }
}

TEST(GridBackend, StreamsAreByteIdenticalAndCrossDecode) {
  auto model = load_model(kBundledModel);
  for (int bits : {8, 16})
    for (TokenMode mode : {TokenMode::Subword, TokenMode::Char}) {
      PcmFormat f;
      f.bits = static_cast<uint16_t>(bits);
      f.channels = 2;
      f.kind = bits == 8 ? SampleKind::Unsigned : SampleKind::Signed;
      const Bytes wav = test::make_wav(f, test::make_pcm(f, 60, test::Content::SineNoise, 4));
      CompressOptions o;
      o.codec.tokenization = mode;
      o.codec.threads = 2;
      o.chunk_bytes = static_cast<uint32_t>(f.frame_bytes() * 25);
      select_device("cpu");
      const Bytes on_cpu = compress_audio(*model, wav, o);
      select_device("grid");
      const Bytes on_grid = compress_audio(*model, wav, o);
      EXPECT_EQ(on_grid, on_cpu) << bits << "-bit, mode " << static_cast<int>(mode);
      const DecompressResult back = decompress_audio(*model, parse_lmac(on_cpu), o.codec, false);  // on the grid
      EXPECT_EQ(back.file, wav);
      select_device("cpu");
    }
}

TEST(Devices, UnusableDevicesAreRefusedWithTheReason) {
  if (cuda_device_count() == 0) {
    try {
      select_device("cuda");
      FAIL() << "--device cuda accepted without a GPU";
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find("no usable CUDA GPU"), std::string::npos) << e.what();
    }
    select_device("auto");
    EXPECT_EQ(selected_device().rfind("cpu", 0), 0u) << selected_device();
  }
  EXPECT_THROW(select_device("tpu"), Error);
  EXPECT_THROW(select_device("cuda:x"), Error);
  select_device("cpu");
  EXPECT_EQ(selected_device(), "cpu");
}

}  // namespace
}  // namespace lmac
