// Resumable evaluation in one process: a run over a partly filled checkpoint measures
// only what is missing and gives the uninterrupted answer; torn lines are redone; a
// checkpoint of another run is refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "lmac/eval/checkpoint.hpp"
#include "lmac/eval/run.hpp"
#include "lmac/models/model_registry.hpp"
#include "test_support.hpp"

namespace lmac {
namespace {

Dataset small_dataset(const std::string& name) {
  const std::string dir = test::temp_dir() + "/" + name;
  std::filesystem::create_directories(dir);
  PcmFormat f;
  f.channels = 2;
  test::write_bytes(dir + "/a.wav", test::make_wav(f, test::make_pcm(f, 3000, test::Content::SineNoise)));
  test::write_bytes(dir + "/b.wav", test::make_wav(f, test::make_pcm(f, 1700, test::Content::Square)));
  DatasetOptions o;
  o.dirs = {dir};
  o.chunk_bytes = 1000;
  return load_dataset(o);
}

void expect_same(const std::vector<CompressorResult>& a, const std::vector<CompressorResult>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].name, b[i].name);
    EXPECT_EQ(a[i].compressed_bytes, b[i].compressed_bytes) << a[i].name;
    EXPECT_EQ(a[i].paper_bytes, b[i].paper_bytes) << a[i].name;
    EXPECT_EQ(a[i].whole_bytes, b[i].whole_bytes) << a[i].name;
    EXPECT_EQ(a[i].tokens, b[i].tokens) << a[i].name;
    EXPECT_EQ(a[i].residual_bytes, b[i].residual_bytes) << a[i].name;
    for (const auto& [path, f] : a[i].per_file) EXPECT_EQ(f.compressed, b[i].per_file.at(path).compressed) << path;
  }
}

TEST(Checkpoint, ResumedRunGivesTheUninterruptedAnswerAndMeasuresOnlyWhatIsMissing) {
  const Dataset d = small_dataset("resume");
  auto model = load_model("builtin:order2"), audio = load_model("audio");
  EvalOptions o;
  o.compressors = {"lm", "audio", "gzip", "flac"};
  o.model = model.get();
  o.audio_model = audio.get();
  const std::vector<CompressorResult> whole = evaluate(d, o);
  // The audio model runs whole files too (each as one chunk); a language model cannot.
  EXPECT_FALSE(whole[0].whole_bytes.has_value());
  ASSERT_TRUE(whole[1].whole_bytes.has_value());
  const std::string path = test::temp_dir() + "/resume.ckpt";
  {
    Checkpoint cp(path, "run-1", true);
    // A run that finished every other chunk of gzip and lm, and one whole file of gzip.
    for (const std::string name : {"gzip", "lm"}) {
      std::vector<size_t> half;
      for (size_t i = 0; i < d.chunks.size(); i += 2) half.push_back(i);
      cp.add_chunks(name, half, measure_chunks(d, name, half, o).chunks);
    }
    const std::vector<size_t> first{0};
    cp.add_wholes("gzip", first, measure_whole(d, "gzip", first, o));
  }
  std::ofstream(path, std::ios::app) << "c flac 1 12 0 0 0 00000000";  // a line cut short: redone
  auto world = make_world();
  Checkpoint cp(path, "run-1", false);
  size_t total = 0;
  o.progress = [&](const std::string&, size_t, size_t t) { total = t; };
  const RunOutcome run = run_evaluation(d, o, *world, &cp);
  ASSERT_TRUE(run.failure.empty()) << run.failure;
  expect_same(run.results, whole);
  const size_t n = d.chunks.size(), half = (n + 1) / 2;
  const size_t first_whole = whole_input_sizes(d).at(0).chunks;
  // lm, audio, gzip, flac chunks; audio, gzip, flac wholes, each as many as the chunks
  // that cover it (gzip's first whole was done)
  EXPECT_EQ(total, 2 * (n - half) + 2 * n + n + (n - first_whole) + n);
  // Everything is recorded now: a third run measures nothing.
  total = 0;
  const RunOutcome again = run_evaluation(d, o, *world, &cp);
  expect_same(again.results, whole);
  EXPECT_EQ(total, 0u);
}

TEST(Checkpoint, OneOfAnotherRunIsRefusedNamingTheFile) {
  const std::string path = test::temp_dir() + "/other.ckpt";
  { Checkpoint cp(path, "run-A", true); }
  try {
    Checkpoint cp(path, "run-B", true);
    FAIL() << "accepted a checkpoint of another run";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": checkpoint of another evaluation"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Checkpoint(test::temp_dir() + "/missing.ckpt", "run-A", false), Error);
}

TEST(Checkpoint, CostSplitIsBalancedAndCoversEveryItemOnce) {
  const std::vector<size_t> items{10, 11, 12, 13, 14, 15, 16};
  const std::vector<uint64_t> costs{5, 5, 5, 5, 5, 5, 2};
  const auto parts = split_by_cost(items, costs, 3);
  std::vector<size_t> seen;
  for (const auto& p : parts) {
    uint64_t load = 0;
    for (size_t i : p) load += costs[i - 10], seen.push_back(i);
    EXPECT_LE(load, 12u);
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, items);
  EXPECT_EQ(split_by_cost(items, costs, 3), parts);  // the same on every rank
}

}  // namespace
}  // namespace lmac
