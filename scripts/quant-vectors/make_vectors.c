// Golden quantization vectors from ggml itself, for block types added after the set in
// testdata/quant/README.md was made: the same 4 x 512 source rows, quantized with
// ggml_quantize_chunk (no importance matrix: ggml's reference quantizers) and
// dequantized with ggml's to_float. Writes T.bin, T.source.f32 and T.dequant.f32 into
// the directory given, and prints each type's types.tsv line.
//   make_vectors DIR TYPE...   (TYPE: a ggml type name, e.g. iq4_nl)
#include <math.h>
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
    if (ggml_quantize_chunk(type, src, q, 0, kRows, kCols, NULL) != kRows * row_bytes) return 1;
    ggml_get_type_traits(type)->to_float(q, deq, kRows * kCols);
    write_file(argv[1], argv[a], ".bin", q, kRows * row_bytes);
    write_file(argv[1], argv[a], ".source.f32", src, sizeof src);
    write_file(argv[1], argv[a], ".dequant.f32", deq, sizeof deq);
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
