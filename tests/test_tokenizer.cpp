#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "lmac/lm/gguf.hpp"
#include "lmac/lm/tokenizer.hpp"
#include "test_support.hpp"

namespace lmac {
namespace {

std::vector<std::string> split_inputs(const Bytes& b) {
  std::string all(b.begin(), b.end());
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> out;
  size_t pos = 0;
  for (size_t at; (at = all.find(sep, pos)) != std::string::npos; pos = at + sep.size())
    out.push_back(all.substr(pos, at - pos));
  return out;
}

std::vector<std::vector<int32_t>> read_ids(const std::string& path) {
  Bytes b = test::read_bytes(path);
  std::istringstream in(std::string(b.begin(), b.end()));
  std::vector<std::vector<int32_t>> out;
  for (std::string line; std::getline(in, line);) {
    std::istringstream ls(line);
    std::vector<int32_t> ids;
    for (int32_t id; ls >> id;) ids.push_back(id);
    out.push_back(ids);
  }
  return out;
}

// Runs llama.cpp's tokenizer vectors (.inp/.out), and when given the .detok file
// checks detokenization as llama_detokenize does it.
void run_vectors(const Tokenizer& tok, const std::string& inp, const std::string& out, const std::string& detok) {
  auto inputs = split_inputs(test::read_bytes(inp));
  auto want = read_ids(out);
  ASSERT_EQ(inputs.size(), want.size()) << inp;
  int passed = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto got = tok.encode(inputs[i]);
    EXPECT_EQ(got, want[i]) << inp << " #" << i;
    passed += got == want[i];
  }
  EXPECT_EQ(passed, static_cast<int>(inputs.size()));
  if (detok.empty()) return;
  auto detoks = split_inputs(test::read_bytes(detok));
  ASSERT_EQ(detoks.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(tok.decode(want[i]), detoks[i]) << detok << " #" << i;
}

TEST(Tokenizer, SentencePieceMatchesLlamaCpp) {
  const std::string dir = std::string(LMAC_TEST_DATA) + "/tokenizer/llama-spm/";
  auto f = GgufFile::open(dir + "ggml-vocab-llama-spm.gguf");
  auto tok = Tokenizer::from_gguf(*f);
  run_vectors(*tok, dir + "ggml-vocab-llama-spm.gguf.inp", dir + "ggml-vocab-llama-spm.gguf.out", "");
  run_vectors(*tok, dir + "ascii-audio-40.inp", dir + "ascii-audio-40.out", dir + "ascii-audio-40.detok");
  EXPECT_EQ(tok->encode("Once upon a time there was a little dog."),
            (std::vector<int32_t>{9038, 2501, 263, 931, 727, 471, 263, 2217, 11203, 29889}));
  EXPECT_EQ(tok->byte_token('\n'), 13);
  EXPECT_EQ(tok->byte_token(' '), 29871);
}

TEST(Tokenizer, Llama3BpeMatchesLlamaCpp) {
  const std::string dir = std::string(LMAC_TEST_DATA) + "/tokenizer/llama-bpe/";  // shipped: the test never skips
  auto f = GgufFile::open(dir + "ggml-vocab-llama-bpe.gguf");
  auto tok = Tokenizer::from_gguf(*f);
  run_vectors(*tok, dir + "ggml-vocab-llama-bpe.gguf.inp", dir + "ggml-vocab-llama-bpe.gguf.out", "");
  run_vectors(*tok, dir + "ascii-audio-40.inp", dir + "ascii-audio-40.out", dir + "ascii-audio-40.detok");
  // Without the clean-up, byte-level BPE is lossless on every vector.
  for (const auto& s : split_inputs(test::read_bytes(dir + "ascii-audio-40.inp")))
    EXPECT_EQ(tok->decode(tok->encode(s), false), s);
}

TEST(Tokenizer, RejectsUnknownTokenizerModels) {
  auto f = GgufFile::open(std::string(LMAC_TEST_DATA) + "/gguf/minimal-valid.gguf");
  EXPECT_THROW(Tokenizer::from_gguf(*f), FormatError);
}

}  // namespace
}  // namespace lmac
