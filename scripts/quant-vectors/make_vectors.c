// Golden quantization vectors from ggml itself, for block types added after the set in
// testdata/quant/README.md was made: the same 4 x 512 source rows, quantized with
// ggml_quantize_chunk (no importance matrix: ggml's reference quantizers; a uniform one
// for the types that need one) and
// dequantized with ggml's to_float. Writes T.bin, T.source.f32 and T.dequant.f32 into
// the directory given, and prints each type's types.tsv line.
//   make_vectors DIR TYPE...   (TYPE: a ggml type name, e.g. iq4_nl)
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml.h"

enum { kRows = 4, kCols = 512 };

static void write_file(const char* dir, const char* name, const char* suffix, const void* p, size_t n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s%s", dir, name, suffix);
  FILE* f = fopen(path, "wb");
  if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(1);
  }
}

static enum ggml_type type_named(const char* name) {
  for (int t = 0; t < GGML_TYPE_COUNT; ++t) {
    const char* n = ggml_type_name((enum ggml_type)t);
    if (n && strcmp(n, name) == 0) return (enum ggml_type)t;
  }
  fprintf(stderr, "unknown type %s\n", name);
  exit(2);
}

// 16 blocks of random bytes (splitmix64), the fp16 scale set to 1.0 (IQ1_M: the top
// nibbles of its four scale words; TQ1_0, TQ2_0: the block's last two bytes), dequantized: every bit of every field, grid indices
// over the whole grid, where quantized rows reach only some. T.random.bin and
// T.random.dequant.f32.
static void write_random_blocks(const char* dir, const char* name, enum ggml_type type) {
  enum { kBlocks = 16 };
  const size_t block_bytes = ggml_type_size(type), n = kBlocks * (size_t)ggml_blck_size(type);
  unsigned char* q = malloc(kBlocks * block_bytes);
  float* deq = malloc(n * sizeof(float));
  uint64_t state = 0x5EED0000u + (uint64_t)type;
  for (size_t i = 0; i < kBlocks * block_bytes; ++i) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    q[i] = (unsigned char)(z ^ (z >> 31));
  }
  for (size_t b = 0; b < kBlocks; ++b) {
    unsigned char* s = q + b * block_bytes;
    if (type == GGML_TYPE_IQ1_M) {
      for (int w = 0; w < 4; ++w)  // word w's top nibble: bits 4w .. 4w + 3 of d
        s[48 + 2 * w + 1] = (unsigned char)((s[48 + 2 * w + 1] & 0x0F) | ((0x3C00 >> (4 * w)) & 0xF) << 4);
    } else if (type == GGML_TYPE_TQ1_0 || type == GGML_TYPE_TQ2_0) {  // d: the block's last two bytes
      s[block_bytes - 2] = 0x00, s[block_bytes - 1] = 0x3C;
    } else {
      s[0] = 0x00, s[1] = 0x3C;
    }
  }
  ggml_get_type_traits(type)->to_float(q, deq, (int64_t)n);
  write_file(dir, name, ".random.bin", q, kBlocks * block_bytes);
  write_file(dir, name, ".random.dequant.f32", deq, n * sizeof(float));
  free(q);
  free(deq);
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: make_vectors DIR TYPE...\n");
    return 2;
  }
  static float src[kRows * kCols], deq[kRows * kCols];
  char path[4096];
  snprintf(path, sizeof path, "%s/source.f32", argv[1]);
  FILE* f = fopen(path, "rb");
  if (!f || fread(src, 4, kRows * kCols, f) != kRows * kCols) {
    fprintf(stderr, "cannot read %s\n", path);
    return 1;
  }
  fclose(f);
  for (int a = 2; a < argc; ++a) {
    const enum ggml_type type = type_named(argv[a]);
    const size_t row_bytes = ggml_row_size(type, kCols);
    unsigned char* q = malloc(kRows * row_bytes);
    ggml_quantize_init(type);
    // IQ2_XXS, IQ2_XS and IQ1_S quantize only with an importance matrix: a uniform one.
    static float ones[kCols];
    for (int i = 0; i < kCols; ++i) ones[i] = 1.0f;
    const float* imatrix = ggml_quantize_requires_imatrix(type) ? ones : NULL;
    if (ggml_quantize_chunk(type, src, q, 0, kRows, kCols, imatrix) != kRows * row_bytes) return 1;
    ggml_get_type_traits(type)->to_float(q, deq, kRows * kCols);
    write_file(argv[1], argv[a], ".bin", q, kRows * row_bytes);
    write_file(argv[1], argv[a], ".source.f32", src, sizeof src);
    write_file(argv[1], argv[a], ".dequant.f32", deq, sizeof deq);
    write_random_blocks(argv[1], argv[a], type);
    double rmse[3];
    float maxabs3 = 0.0f;
    for (int r = 0; r < kRows; ++r) {
      double e = 0.0;
      for (int i = 0; i < kCols; ++i) {
        const double d = (double)deq[r * kCols + i] - src[r * kCols + i];
        e += d * d;
        if (r == 3 && fabsf(deq[r * kCols + i]) > maxabs3) maxabs3 = fabsf(deq[r * kCols + i]);
      }
      if (r < 3) rmse[r] = sqrt(e / kCols);
    }
    printf("%s\t%d\t%lld\t%zu\t%zu\t%zu\t%g\t%g\t%g\t%g\n", argv[a], (int)type, (long long)ggml_blck_size(type),
           ggml_type_size(type), row_bytes, kRows * row_bytes, rmse[0], rmse[1], rmse[2], maxabs3);
    free(q);
  }
  return 0;
}
