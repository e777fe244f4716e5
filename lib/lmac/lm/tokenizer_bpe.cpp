// Byte-level BPE tokenization as llama.cpp's llm_tokenizer_bpe: the pre-tokenizer
// regexes run as written with PCRE2 (Unicode properties), then merges by rank.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <fmt/format.h>

#include <queue>

#include "lmac/common/error.hpp"
#include "lmac/lm/detail/tokenizer_symbols.hpp"
#include "lmac/lm/gguf.hpp"
#include "lmac/lm/tokenizer.hpp"

namespace lmac {
namespace {

const char* kLlama3Regex =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* kGpt2Regex = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// One compiled pre-tokenizer regex.
class Regex {
 public:
  explicit Regex(const char* pattern) {
    int err = 0;
    PCRE2_SIZE off = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err,
                          &off, nullptr);
    if (code_ == nullptr) fail("cannot compile the pre-tokenizer regex");
    data_ = pcre2_match_data_create_from_pattern(code_, nullptr);
  }
  ~Regex() {
    pcre2_match_data_free(data_);
    pcre2_code_free(code_);
  }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Splits text into matches; the text between matches forms pieces of its own, as in
  // llama.cpp's unicode_regex_split.
  void split(std::string_view text, std::vector<std::string>& out) const {
    size_t pos = 0, last = 0;
    while (pos < text.size()) {
      int rc = pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), pos, PCRE2_NO_UTF_CHECK,
                           data_, nullptr);
      if (rc < 0) break;
      PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data_);
      if (ov[0] > last) out.emplace_back(text.substr(last, ov[0] - last));
      if (ov[1] == ov[0]) {  // empty match: step one character
        pos = ov[1] + utf8_len(static_cast<uint8_t>(text[ov[1]]));
        continue;
      }
      out.emplace_back(text.substr(ov[0], ov[1] - ov[0]));
      pos = last = ov[1];
    }
    if (last < text.size()) out.emplace_back(text.substr(last));
  }

 private:
  pcre2_code* code_;
  pcre2_match_data* data_;
};

class BpeTokenizer final : public Tokenizer {
 public:
  explicit BpeTokenizer(const GgufFile& f) {
    load_common(f);
    std::string pre = f.find("tokenizer.ggml.pre") ? f.get("tokenizer.ggml.pre").as_string() : "default";
    kind_ = "gpt2 (byte-level BPE, pre-tokenizer " + pre + ")";
    if (pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3") {
      regexes_.push_back(std::make_unique<Regex>(kLlama3Regex));
      ignore_merges_ = true;
      clean_spaces_ = true;
    } else if (pre == "smollm") {
      regexes_.push_back(std::make_unique<Regex>("\\p{N}"));
      regexes_.push_back(std::make_unique<Regex>(kGpt2Regex));
    } else if (pre == "gpt-2" || pre == "default") {
      regexes_.push_back(std::make_unique<Regex>(kGpt2Regex));
    } else {
      fail_format("unsupported BPE pre-tokenizer '" + pre + "' (llama-bpe, smollm, gpt-2)");
    }
    if (const GgufValue* c = f.find("tokenizer.ggml.clean_spaces")) clean_spaces_ = c->as_int() != 0;
    const GgufArray& merges = f.get("tokenizer.ggml.merges").as_array();
    for (size_t i = 0; i < merges.size(); ++i) ranks_.emplace(merges[i].as_string(), static_cast<int32_t>(i));
    // GPT-2 bytes_to_unicode: printable bytes map to themselves, the rest to 256 + n.
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      bool keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      uint32_t cp = keep ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + n++);
      append_utf8(byte_text_[b], cp);
      unicode_to_byte_[byte_text_[b]] = static_cast<uint8_t>(b);
    }
  }

  std::vector<int32_t> encode(std::string_view text) const override {
    std::vector<std::string> words{std::string(text)};
    for (const auto& re : regexes_) {
      std::vector<std::string> next;
      for (const auto& w : words) re->split(w, next);
      words.swap(next);
    }
    std::vector<int32_t> out;
    for (const auto& w : words) {
      std::string encoded;
      for (char c : w) encoded += byte_text_[static_cast<uint8_t>(c)];
      merge_word(encoded, out);
    }
    return out;
  }

  std::string piece(int32_t id) const override {
    const size_t i = static_cast<size_t>(id);
    if (types_[i] == TokenType::Control) return "";
    if (types_[i] == TokenType::UserDefined) return tokens_[i];
    std::string out;
    const std::string& t = tokens_[i];
    for (size_t p = 0; p < t.size();) {
      size_t n = utf8_len(static_cast<uint8_t>(t[p]));
      auto it = unicode_to_byte_.find(t.substr(p, n));
      if (it == unicode_to_byte_.end()) fail_format("token text is not byte-level: " + t);
      out += static_cast<char>(it->second);
      p += n;
    }
    return out;
  }

  std::string decode(std::span<const int32_t> ids, bool clean_up) const override {
    std::string text;
    for (int32_t id : ids) {
      if (id < 0 || id >= vocab_size())
        fail_format(fmt::format("token id {} out of range (vocabulary of {})", id, vocab_size()));
      text += piece(id);
    }
    if (clean_up && clean_spaces_) clean(text);
    return text;
  }

  int32_t byte_token(uint8_t c) const override {
    int32_t id = find(byte_text_[c]);
    if (id < 0) fail_format(fmt::format("vocabulary has no token for byte {:#04x}", c));
    return id;
  }

 private:
  using Symbol = MergeSymbol;
  struct Bigram {
    int left, right;
    int32_t rank;
    std::string text;
  };
  struct Worse {
    bool operator()(const Bigram& l, const Bigram& r) const {
      return l.rank > r.rank || (l.rank == r.rank && l.left > r.left);
    }
  };

  void merge_word(const std::string& word, std::vector<int32_t>& out) const {
    if (ignore_merges_) {
      if (int32_t id = find(word); id >= 0) {
        out.push_back(id);
        return;
      }
    }
    std::vector<Symbol> sym = split_utf8(word);
    std::priority_queue<Bigram, std::vector<Bigram>, Worse> queue;
    auto text_of = [&](const Symbol& s) { return word.substr(s.start, s.n); };
    auto add = [&](int l, int r) {
      if (l == -1 || r == -1) return;
      std::string a = text_of(sym[static_cast<size_t>(l)]), b = text_of(sym[static_cast<size_t>(r)]);
      auto it = ranks_.find(a + " " + b);
      if (it == ranks_.end()) return;
      queue.push({l, r, it->second, a + b});
    };
    for (size_t i = 1; i < sym.size(); ++i) add(static_cast<int>(i) - 1, static_cast<int>(i));
    while (!queue.empty()) {
      Bigram b = queue.top();
      queue.pop();
      Symbol& l = sym[static_cast<size_t>(b.left)];
      Symbol& r = sym[static_cast<size_t>(b.right)];
      if (l.n == 0 || r.n == 0 || text_of(l) + text_of(r) != b.text) continue;
      merge_symbols(sym, b.left, b.right);
      add(l.prev, b.left);
      add(b.left, l.next);
    }
    for (const Symbol& s : sym) {
      if (s.n == 0) continue;
      std::string t = text_of(s);
      if (int32_t id = find(t); id >= 0) {
        out.push_back(id);
        continue;
      }
      for (size_t p = 0; p < t.size();) {  // llama.cpp: fall back to the pieces of each character
        size_t n = utf8_len(static_cast<uint8_t>(t[p]));
        if (int32_t id = find(t.substr(p, n)); id >= 0) out.push_back(id);
        p += n;
      }
    }
  }

  // llama.cpp's clean_spaces passes over the detokenized text.
  static void clean(std::string& t) {
    for (size_t i = 1; i < t.size(); ++i)
      if (t[i - 1] == ' ' && (t[i] == '?' || t[i] == '!' || t[i] == '.' || t[i] == ',')) t.erase(i - 1, 1);
    for (size_t i = 1; i + 1 < t.size(); ++i)
      if (t[i] == '\'' && t[i - 1] == ' ' && t[i + 1] == ' ') {
        t.erase(i - 1, 1);
        t.erase(i, 1);
      }
    for (size_t i = 1; i < t.size(); ++i) {
      if (t[i - 1] != ' ' || t[i] != '\'' || i + 1 >= t.size()) continue;
      const char x1 = t[i + 1];
      const bool s_or_m = x1 == 's' || x1 == 'm';                                             // " 's", " 'm"
      const bool re_or_ve = i + 2 < t.size() && (x1 == 'r' || x1 == 'v') && t[i + 2] == 'e';  // " 're", " 've"
      if (s_or_m || re_or_ve) t.erase(i - 1, 1);
    }
  }

  std::vector<std::unique_ptr<Regex>> regexes_;
  std::unordered_map<std::string, int32_t> ranks_;
  std::string byte_text_[256];
  std::unordered_map<std::string, uint8_t> unicode_to_byte_;
  bool ignore_merges_ = false;
  bool clean_spaces_ = false;
};

}  // namespace

std::unique_ptr<Tokenizer> make_bpe_tokenizer(const GgufFile& f) { return std::make_unique<BpeTokenizer>(f); }
std::unique_ptr<Tokenizer> make_spm_tokenizer(const GgufFile& f);

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const GgufFile& f) {
  const std::string& model = f.get("tokenizer.ggml.model").as_string();
  if (model == "llama") return make_spm_tokenizer(f);
  if (model == "gpt2") return make_bpe_tokenizer(f);
  fail_format("unsupported tokenizer model '" + model + "' (llama, gpt2)");
}

}  // namespace lmac
