// The GPU's arithmetic without a GPU: the "grid" backend runs the CUDA kernels'
// per-thread functions (lm/kernel_math.hpp) over the same grids on the host, and must
// give the CPU backend's bits operation by operation, for whole models, and for streams.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>

#include "gguf_writer.hpp"
#include "lmac/codec/chunk_codec.hpp"
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

// A random-weight model of `shape`, written as NAME.gguf in the test's folder.
std::string model_file(const test::TinyLlamaShape& shape, const std::string& name) {
  std::string path = test::temp_dir() + "/" + name + ".gguf";
  test::write_bytes(path, test::make_random_llama(shape));
  return path;
}

TEST(GridBackend, WholeModelsGiveTheCpuLogits) {
  std::vector<std::unique_ptr<LlamaModel>> models;
  models.push_back(LlamaModel::load(kBundledModel));
  for (GgmlType type : {GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_K}) {
    test::TinyLlamaShape shape;
    shape.type = type;
    shape.tied = type == GgmlType::Q8_0;
    if (type == GgmlType::Q4_K) shape.n_embd = 256, shape.n_ff = 512;
    models.push_back(LlamaModel::load(model_file(shape, std::string("grid-") + ggml_type_info(type).name)));
  }
  for (const auto& m : models) {
    const std::vector<float> grid = logits(*m, make_grid_backend(2)), cpu = logits(*m, make_cpu_backend(2));
    ASSERT_EQ(grid.size(), cpu.size());
    size_t differing = 0, nan = 0;
    for (size_t i = 0; i < cpu.size(); ++i) {
      differing += std::bit_cast<uint32_t>(grid[i]) != std::bit_cast<uint32_t>(cpu[i]);
      nan += std::isnan(cpu[i]);
    }
    EXPECT_EQ(differing, 0u) << m->config().name << " " << ggml_type_info(m->layers()[0].wq.type).name;
    EXPECT_EQ(nan, 0u) << m->config().name << " " << ggml_type_info(m->layers()[0].wq.type).name;
  }
}

// What a backend says it holds for the weights (lmac model-info --memory, lmac bench):
// the grid backend's Q8_0 planes exactly (an int8 a weight and a float a block); the CPU
// tiles or copies what its kernels at this SIMD level read from memory of its own (none
// of so small a model at some levels), never more than twice the weights products read.
TEST(GridBackend, WeightMemoryIsWhatTheBackendHolds) {
  test::TinyLlamaShape shape;
  shape.type = GgmlType::Q8_0;
  shape.tied = false;
  const auto model = LlamaModel::load(model_file(shape, "weight-memory"));
  size_t product_weights = model->output().rows * model->output().cols;
  for (const LlamaLayer& l : model->layers())
    for (const Matrix* w : l.matrices()) product_weights += w->rows * w->cols;
  const Matrix& embd = model->token_embd();
  ASSERT_EQ(embd.type, GgmlType::Q8_0);
  const size_t all_weights = product_weights + embd.rows * embd.cols;  // the grid repacks the embedding too
  const LlamaSession grid(*model, make_grid_backend(2)), cpu(*model, make_cpu_backend(2));
  EXPECT_EQ(grid.backend().weight_bytes(), all_weights + all_weights / 32 * sizeof(float));
  EXPECT_LE(cpu.backend().weight_bytes(), 2 * product_weights);
}

// Both token modes (char: the 128 rows of the alphabet; subword: the whole vocabulary),
// each at one depth (the depth changes what is fed, not how).
TEST(GridBackend, StreamsAreByteIdenticalAndCrossDecode) {
  auto model = load_model(kBundledModel);
  for (const auto& [bits, mode] : {std::pair{8, TokenMode::Char}, std::pair{16, TokenMode::Subword}}) {
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

// A random-weight model many times cheaper than the bundled one on the emulator, for
// what does not depend on the weights (the memory a sequence takes); activations and
// attention scores in about the bundled model's proportions.
std::string tiny_model(uint32_t n_ctx) {
  test::TinyLlamaShape shape;
  shape.type = GgmlType::Q8_0;
  shape.n_embd = 128, shape.n_ff = 512;
  shape.n_ctx = n_ctx;
  return model_file(shape, "grid-tiny-" + std::to_string(n_ctx));
}

// The emulated GPU's memory (LMAC_GRID_MEMORY) for the length of a test.
class GridMemory {
 public:
  explicit GridMemory(size_t bytes) { setenv("LMAC_GRID_MEMORY", std::to_string(bytes).c_str(), 1); }
  ~GridMemory() { unsetenv("LMAC_GRID_MEMORY"); }
};

TEST(Devices, SequenceBytesBoundWhatAnotherSequenceTakes) {
  const auto model = LlamaModel::load(tiny_model(512));
  const GridMemory memory(size_t{1} << 40);
  const std::vector<int32_t> rows = {5, 9, 12};
  // Memory held after 300 tokens of `sequences` sequences fed together, 16 a pass each.
  auto held = [&](uint32_t sequences) {
    LlamaSession s(*model, make_grid_backend(1));
    std::vector<float> logits(size_t{16} * sequences * rows.size());
    for (int32_t at = 0; at < 300; at += 16) {
      std::vector<BatchToken> batch;
      for (uint32_t q = 0; q < sequences; ++q)
        for (int32_t t = at; t < std::min(at + 16, 300); ++t) batch.push_back({q, 1 + t % 50});
      s.forward(batch, rows, logits.data());
    }
    return (size_t{1} << 40) - *s.backend().free_memory();
  };
  const size_t one = held(1), two = held(2);
  const size_t bound = LlamaSession(*model, make_grid_backend(1)).sequence_bytes(300, 16, rows.size());
  const size_t pages = 2 * kKvPage * model->config().kv_bytes_per_token();
  EXPECT_GE(two - one, pages);
  EXPECT_LE(two - one, bound);
  // The grid holds the scores and tables in its own vectors, the estimate counts them
  // too; still no more than twice what the sequence's activations take.
  EXPECT_LE(bound - pages, 2 * (two - one - pages))
      << "an estimate far above what a sequence takes: " << bound << " bytes against " << two - one;
}

// With the codec's own choice of batch (0), a device takes as many chunks a call as its
// free memory holds: the emulated GPU holding two and a half chunks' worth codes 5
// chunks two at a time, the same bytes as the CPU; without a limit, all at once.
TEST(Devices, AutomaticBatchIsWhatTheDeviceMemoryHolds) {
  const std::string path = tiny_model(256);
  auto model = load_model(path);
  const auto llama = LlamaModel::load(path);
  PcmFormat f;
  f.bits = 8;
  f.channels = 1;
  f.kind = SampleKind::Unsigned;
  const Bytes pcm = test::make_pcm(f, size_t{5} * 32, test::Content::SineNoise, 3);
  std::vector<ChunkRange> ranges;
  for (size_t i = 0; i < 5; ++i) ranges.push_back({32 * i, 32});
  const SerialOptions serial;
  CodecOptions o;
  o.tokenization = TokenMode::Char;  // 32 tokens a chunk
  o.threads = 1;
  o.store_incompressible = false;  // every chunk through the model
  std::vector<size_t> steps;
  o.progress = [&](size_t done, size_t) {
    if (done > 0) steps.push_back(done);  // (0: a decoder's first report)
  };
  // 16 symbols a call: the encoder's slice; 128 rows: the char alphabet.
  const size_t chunk = LlamaSession(*llama, make_grid_backend(1)).sequence_bytes(33, 16, 128);

  select_device("cpu");
  const std::vector<ChunkRecord> on_cpu = encode_chunks(*model, {&f, &serial}, pcm, ranges, o);
  select_device("grid");
  {
    const GridMemory memory((2 * chunk + chunk / 2) / 9 * 10);
    steps.clear();
    std::vector<std::string> notes;
    o.note = [&](const std::string& line) { notes.push_back(line); };
    const std::vector<ChunkRecord> on_grid = encode_chunks(*model, {&f, &serial}, pcm, ranges, o);
    o.note = {};
    EXPECT_EQ(steps, (std::vector<size_t>{2, 4, 5}));
    // -v says what was chosen and why.
    EXPECT_EQ(notes, (std::vector<std::string>{
                         "batch 2: the device's free memory holds 2 sequences of 33 positions",
                         "5 char chunks: 3 groups of at most 2 (the codec's choice), one after another on 1 thread"}));
    ASSERT_EQ(on_grid.size(), on_cpu.size());
    for (size_t i = 0; i < on_cpu.size(); ++i) EXPECT_EQ(on_grid[i].tokens, on_cpu[i].tokens) << "chunk " << i;
    steps.clear();
    const DecodedChunks back = decode_chunks(*model, {&f, &serial}, on_cpu, ranges, std::vector<bool>(5, true), o);
    EXPECT_EQ(steps, (std::vector<size_t>{2, 4, 5}));
    for (size_t i = 0; i < 5; ++i) {
      ASSERT_TRUE(back.chunks[i].has_value()) << back.errors[i];
      EXPECT_TRUE(std::equal(back.chunks[i]->begin(), back.chunks[i]->end(), pcm.begin() + 32 * i)) << i;
    }
  }
  steps.clear();
  encode_chunks(*model, {&f, &serial}, pcm, ranges, o);
  EXPECT_EQ(steps, (std::vector<size_t>{5}));
  select_device("cpu");
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
