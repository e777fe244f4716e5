// SentencePiece tokenization as llama.cpp's llm_tokenizer_spm.
#include <fmt/format.h>

#include <queue>

#include "lmac/common/error.hpp"
#include "lmac/lm/detail/tokenizer_symbols.hpp"
#include "lmac/lm/gguf.hpp"
#include "lmac/lm/tokenizer.hpp"

namespace lmac {

void Tokenizer::load_common(const GgufFile& f) {
  const GgufArray& toks = f.get("tokenizer.ggml.tokens").as_array();
  tokens_.reserve(toks.size());
  for (const auto& t : toks) tokens_.push_back(t.as_string());
  types_.assign(tokens_.size(), TokenType::Normal);
  if (const GgufValue* tt = f.find("tokenizer.ggml.token_type")) {
    const GgufArray& a = tt->as_array();
    if (a.size() != tokens_.size()) fail_format("tokenizer.ggml.token_type has the wrong length");
    for (size_t i = 0; i < a.size(); ++i) types_[i] = static_cast<TokenType>(a[i].as_int());
  }
  for (size_t i = 0; i < tokens_.size(); ++i) index_.emplace(tokens_[i], static_cast<int32_t>(i));
  if (const GgufValue* b = f.find("tokenizer.ggml.bos_token_id")) bos_ = static_cast<int32_t>(b->as_int());
  if (bos_ < 0 || bos_ >= static_cast<int32_t>(tokens_.size())) fail_format("BOS token id out of range");
}

int32_t Tokenizer::find(std::string_view text) const {
  auto it = index_.find(std::string(text));
  return it == index_.end() ? -1 : it->second;
}

namespace {

const std::string kSpace = "\xE2\x96\x81";  // U+2581

class SpmTokenizer final : public Tokenizer {
 public:
  explicit SpmTokenizer(const GgufFile& f) {
    kind_ = "llama (SentencePiece)";
    load_common(f);
    scores_.assign(tokens_.size(), 0.0f);
    if (const GgufValue* s = f.find("tokenizer.ggml.scores")) {
      const GgufArray& a = s->as_array();
      if (a.size() != tokens_.size()) fail_format("tokenizer.ggml.scores has the wrong length");
      for (size_t i = 0; i < a.size(); ++i) scores_[i] = static_cast<float>(a[i].as_float());
    }
    if (const GgufValue* p = f.find("tokenizer.ggml.add_space_prefix")) add_space_prefix_ = p->as_int() != 0;
    for (int b = 0; b < 256; ++b) byte_ids_[b] = find(fmt::format("<0x{:02X}>", b));
  }

  std::vector<int32_t> encode(std::string_view raw) const override {
    if (raw.empty()) return {};  // llama.cpp adds no space prefix to empty text
    std::string text;
    if (add_space_prefix_) text = " ";
    text += raw;
    std::string escaped;
    for (char c : text) escaped += c == ' ' ? kSpace : std::string(1, c);
    return tokenize(escaped);
  }

  std::string piece(int32_t id) const override {
    const size_t i = static_cast<size_t>(id);
    switch (types_[i]) {
      case TokenType::Normal:
      case TokenType::UserDefined: {
        std::string out;
        const std::string& t = tokens_[i];
        for (size_t p = 0; p < t.size();) {
          if (t.compare(p, 3, kSpace) == 0) {
            out += ' ';
            p += 3;
          } else {
            out += t[p++];
          }
        }
        return out;
      }
      case TokenType::Byte:
        return std::string(1, static_cast<char>(std::stoi(tokens_[i].substr(3, 2), nullptr, 16)));
      case TokenType::Unknown:
        return "\xE2\x96\x85";
      default:
        return "";
    }
  }

  std::string decode(std::span<const int32_t> ids, bool /*clean_up*/) const override {
    std::string out;
    for (size_t k = 0; k < ids.size(); ++k) {
      if (ids[k] < 0 || ids[k] >= vocab_size())
        fail_format(fmt::format("token id {} out of range (vocabulary of {})", ids[k], vocab_size()));
      std::string p = piece(ids[k]);
      if (k == 0 && add_space_prefix_ && !p.empty() && p[0] == ' ') p.erase(0, 1);
      out += p;
    }
    return out;
  }

  int32_t byte_token(uint8_t c) const override {
    int32_t id = c == ' ' ? find(kSpace) : find(std::string(1, static_cast<char>(c)));
    if (id >= 0 && types_[static_cast<size_t>(id)] == TokenType::Normal) return id;
    if (byte_ids_[c] < 0) fail_format(fmt::format("vocabulary has no token for byte {:#04x}", c));
    return byte_ids_[c];
  }

 private:
  using Symbol = MergeSymbol;
  struct Bigram {
    int left, right;
    float score;
    size_t size;
  };
  struct Worse {
    bool operator()(const Bigram& l, const Bigram& r) const {
      return l.score < r.score || (l.score == r.score && l.left > r.left);
    }
  };

  std::vector<int32_t> tokenize(const std::string& text) const {
    std::vector<Symbol> sym = split_utf8(text);
    std::priority_queue<Bigram, std::vector<Bigram>, Worse> queue;
    std::unordered_map<std::string, std::pair<int, int>> rev_merge;
    auto try_add = [&](int left, int right) {
      if (left == -1 || right == -1) return;
      std::string t = text.substr(sym[static_cast<size_t>(left)].start,
                                  sym[static_cast<size_t>(left)].n + sym[static_cast<size_t>(right)].n);
      int32_t id = find(t);
      if (id < 0) return;
      queue.push({left, right, scores_[static_cast<size_t>(id)], t.size()});
      rev_merge[t] = {left, right};
    };
    for (size_t i = 1; i < sym.size(); ++i) try_add(static_cast<int>(i) - 1, static_cast<int>(i));
    while (!queue.empty()) {
      Bigram b = queue.top();
      queue.pop();
      Symbol& l = sym[static_cast<size_t>(b.left)];
      Symbol& r = sym[static_cast<size_t>(b.right)];
      if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;
      merge_symbols(sym, b.left, b.right);
      try_add(l.prev, b.left);
      try_add(b.left, l.next);
    }
    std::vector<int32_t> out;
    for (int i = sym.empty() ? -1 : 0; i != -1; i = sym[static_cast<size_t>(i)].next)
      resegment(text, sym, sym[static_cast<size_t>(i)], rev_merge, out);
    return out;
  }

  void resegment(const std::string& text, const std::vector<Symbol>& sym, const Symbol& s,
                 const std::unordered_map<std::string, std::pair<int, int>>& rev_merge,
                 std::vector<int32_t>& out) const {
    std::string t = text.substr(s.start, s.n);
    if (int32_t id = find(t); id >= 0) {
      out.push_back(id);
      return;
    }
    auto it = rev_merge.find(t);
    if (it == rev_merge.end()) {
      for (char c : t) {
        int32_t id = byte_ids_[static_cast<uint8_t>(c)];
        if (id < 0) fail_format("vocabulary lacks byte-fallback tokens");
        out.push_back(id);
      }
      return;
    }
    resegment(text, sym, sym[static_cast<size_t>(it->second.first)], rev_merge, out);
    resegment(text, sym, sym[static_cast<size_t>(it->second.second)], rev_merge, out);
  }

  std::vector<float> scores_;
  bool add_space_prefix_ = true;
  int32_t byte_ids_[256] = {};
};

}  // namespace

std::unique_ptr<Tokenizer> make_spm_tokenizer(const GgufFile& f) { return std::make_unique<SpmTokenizer>(f); }

}  // namespace lmac
