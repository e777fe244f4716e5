// Tokenizers of Llama-family GGUF files, matching llama.cpp's: SentencePiece
// (`tokenizer.ggml.model = llama`: score-ordered merges, U+2581 spaces, space prefix,
// byte fallback) and byte-level BPE (`gpt2`: regex pre-tokenizer, merge ranks,
// ignore_merges). Special tokens are never parsed out of raw text.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace lmac {

class GgufFile;

enum class TokenType : int32_t {
  Undefined = 0,
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Token ids of raw text (no BOS/EOS).
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  // The text of the ids, as llama_detokenize(remove_special=false, unparse_special=false);
  // clean_up=false skips BPE's space clean-up, which is lossy (the codec needs exact text).
  virtual std::string decode(std::span<const int32_t> ids, bool clean_up = true) const = 0;
  // The bytes one token stands for in the middle of a text (control tokens: empty).
  virtual std::string piece(int32_t id) const = 0;
  // The token that stands for the single byte c (for char mode): a one-character
  // piece when the vocabulary has one, else the byte token.
  virtual int32_t byte_token(uint8_t c) const = 0;

  int32_t vocab_size() const { return static_cast<int32_t>(tokens_.size()); }
  int32_t bos() const { return bos_; }
  const std::string& kind() const { return kind_; }
  const std::string& token_text(int32_t id) const { return tokens_.at(static_cast<size_t>(id)); }

  // Reads tokenizer.ggml.* from a GGUF file; refuses unknown tokenizer models.
  static std::unique_ptr<Tokenizer> from_gguf(const GgufFile& file);

 protected:
  std::vector<std::string> tokens_;
  std::vector<TokenType> types_;
  std::unordered_map<std::string, int32_t> index_;
  int32_t bos_ = 1;
  std::string kind_;
  void load_common(const GgufFile& file);
  int32_t find(std::string_view text) const;  // -1 when absent
};

}  // namespace lmac
