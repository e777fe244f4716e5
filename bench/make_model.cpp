// Writes a random-weight Llama GGUF of a given shape, for memory and speed benchmarks
// of model sizes that cannot ship (e.g. the 1.1B TinyLlama shape in Q8_0).
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "gguf_writer.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: lmac_make_model OUT.gguf [n_embd n_layer n_ff n_head n_head_kv] \n");
    return 2;
  }
  lmac::test::TinyLlamaShape s;
  s.type = lmac::GgmlType::Q8_0;
  s.n_embd = argc > 2 ? static_cast<uint32_t>(std::atoi(argv[2])) : 2048;
  s.n_layer = argc > 3 ? static_cast<uint32_t>(std::atoi(argv[3])) : 22;
  s.n_ff = argc > 4 ? static_cast<uint32_t>(std::atoi(argv[4])) : 5632;
  s.n_head = argc > 5 ? static_cast<uint32_t>(std::atoi(argv[5])) : 32;
  s.n_head_kv = argc > 6 ? static_cast<uint32_t>(std::atoi(argv[6])) : 4;
  s.n_ctx = 2048;
  lmac::Bytes b = lmac::test::make_random_llama(s);
  std::ofstream(argv[1], std::ios::binary)
      .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  std::printf("%s: %zu bytes\n", argv[1], b.size());
  return 0;
}
