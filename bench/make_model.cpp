// Writes a random-weight Llama GGUF of a given shape, for memory and speed benchmarks
// of model sizes that cannot ship (e.g. the 1.1B TinyLlama shape in Q8_0), and for the
// conformance check against llama.cpp on the shapes users bring (the real widths and
// head layouts of released models, with few layers).
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "gguf_writer.hpp"
#include "lmac/lm/ggml_types.hpp"
#include "lmac/lm/gguf.hpp"

namespace {

using lmac::GgmlType;
using lmac::test::TinyLlamaShape;

// Llama 3's rope_freqs factors (factor 32, low/high frequency factors 1 and 4, original
// context 8192), from its published scaling rule, for head size `hd` and base 500000.
std::vector<float> llama3_rope_factors(uint32_t hd) {
  std::vector<float> f;
  const double pi = 3.14159265358979323846, low = 8192.0 / 1.0, high = 8192.0 / 4.0;
  for (uint32_t i = 0; i < hd / 2; ++i) {
    const double freq = std::pow(500000.0, -2.0 * i / hd), wavelen = 2 * pi / freq;
    if (wavelen < high)
      f.push_back(1.0f);
    else if (wavelen > low)
      f.push_back(32.0f);
    else {
      const double smooth = (8192.0 / wavelen - 1.0) / (4.0 - 1.0);
      f.push_back(static_cast<float>(1.0 / ((1 - smooth) / 32.0 + smooth)));
    }
  }
  return f;
}

// Named shapes: widths and heads of the released models.
bool named_shape(const std::string& name, TinyLlamaShape& s, std::string& vocab) {
  struct Named {
    const char* name;
    uint32_t embd, ff, heads, kv;
    float base;
    bool tied, bpe, llama3;
  };
  static const Named shapes[] = {
      {"llama2-7b", 4096, 11008, 32, 32, 10000.0f, false, false, false},
      {"llama3.2-1b", 2048, 8192, 32, 8, 500000.0f, true, true, true},
      {"tinyllama-1.1b", 2048, 5632, 32, 4, 10000.0f, false, false, false},
      {"smollm-135m", 576, 1536, 9, 3, 10000.0f, true, true, false},
      {"mistral-7b", 4096, 14336, 32, 8, 1000000.0f, false, false, false},
  };
  for (const Named& n : shapes)
    if (name == n.name) {
      s.n_embd = n.embd, s.n_ff = n.ff, s.n_head = n.heads, s.n_head_kv = n.kv, s.rope_base = n.base, s.tied = n.tied;
      if (n.llama3) s.rope_freqs = llama3_rope_factors(n.embd / n.heads);
      vocab = n.bpe ? "bpe" : "";
      return true;
    }
  return false;
}

GgmlType type_named(const std::string& t) {
  if (const lmac::GgmlTypeInfo* info = lmac::test::type_named(t)) return info->type;
  std::fprintf(stderr, "unknown type %s (%s)\n", t.c_str(), lmac::test::type_names().c_str());
  std::exit(2);
}

// The same model with every tensor dequantized to F32: what a Q8_0/Q4_K file's weights
// are exactly, for llama.cpp to compute in float32 as the reference.
int dequantize(const char* in_path, const char* out_path) {
  auto in = lmac::GgufFile::open(in_path);
  std::ifstream raw(in_path, std::ios::binary);
  const lmac::Bytes bytes{std::istreambuf_iterator<char>(raw), std::istreambuf_iterator<char>()};
  lmac::test::GgufWriter w;
  w.copy_kvs(bytes, "");
  for (const lmac::GgufTensor& t : in->tensors()) {
    lmac::Bytes f(t.elements() * 4);
    ggml_type_info(t.type).dequantize(t.data, reinterpret_cast<float*>(f.data()), t.elements());
    w.tensor(t.name, GgmlType::F32, t.dims, std::move(f));
  }
  const lmac::Bytes out = w.finish(static_cast<uint32_t>(in->alignment()));
  std::ofstream(out_path, std::ios::binary)
      .write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::strcmp(argv[2], "--dequantize") == 0) return dequantize(argv[3], argv[1]);
  if (argc < 2 || argv[1][0] == '-') {
    std::fprintf(stderr,
                 "usage: lmac_make_model OUT.gguf [n_embd n_layer n_ff n_head n_head_kv]\n"
                 "       lmac_make_model OUT.gguf --shape NAME TYPE LAYERS [BPE-VOCAB.gguf]\n"
                 "       lmac_make_model OUT.gguf --golden TYPE   (the golden streams' small model)\n"
                 "       lmac_make_model OUT.gguf --dequantize IN.gguf   (every tensor as F32)\n"
                 "         NAME: llama2-7b llama3.2-1b tinyllama-1.1b smollm-135m mistral-7b; TYPE: %s\n",
                 lmac::test::type_names().c_str());
    return 2;
  }
  TinyLlamaShape s;
  s.type = GgmlType::Q8_0;
  s.n_ctx = 2048;
  if (argc == 4 && std::strcmp(argv[2], "--golden") == 0) {
    s = lmac::test::golden_shape(type_named(argv[3]));
  } else if (argc > 2 && std::strcmp(argv[2], "--shape") == 0) {
    std::string vocab;
    if (argc < 6 || !named_shape(argv[3], s, vocab)) {
      std::fprintf(stderr, "unknown or incomplete --shape\n");
      return 2;
    }
    s.type = type_named(argv[4]);
    s.n_layer = static_cast<uint32_t>(std::atoi(argv[5]));
    s.weight_std = 0.02f;  // as trained models' projections are scaled
    if (!vocab.empty()) {
      if (argc < 7) {
        std::fprintf(stderr, "%s needs a byte-level BPE vocabulary GGUF\n", argv[3]);
        return 2;
      }
      std::ifstream in(argv[6], std::ios::binary);
      s.vocab_gguf.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
  } else {
    s.n_embd = argc > 2 ? static_cast<uint32_t>(std::atoi(argv[2])) : 2048;
    s.n_layer = argc > 3 ? static_cast<uint32_t>(std::atoi(argv[3])) : 22;
    s.n_ff = argc > 4 ? static_cast<uint32_t>(std::atoi(argv[4])) : 5632;
    s.n_head = argc > 5 ? static_cast<uint32_t>(std::atoi(argv[5])) : 32;
    s.n_head_kv = argc > 6 ? static_cast<uint32_t>(std::atoi(argv[6])) : 4;
  }
  lmac::Bytes b = lmac::test::make_random_llama(s);
  std::ofstream(argv[1], std::ios::binary)
      .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  std::printf("%s: %zu bytes\n", argv[1], b.size());
  return 0;
}
