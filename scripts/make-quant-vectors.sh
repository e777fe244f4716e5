#!/usr/bin/env bash
# Adds golden quantization vectors made by ggml itself to testdata/quant/ for the given
# block types (default: the types added after the original set, iq4_nl iq4_xs, the
# lattice and the ternary types), from the
# same source rows. ggml's base library (quantizers and dequantizers, no -march flags,
# as the README of testdata/quant says) comes from the llama.cpp that
# scripts/build-llamacpp.sh pins. Prints the types.tsv lines; add them by hand.
#   scripts/make-quant-vectors.sh [type...]
set -euo pipefail
cd "$(dirname "$0")/.."
types=("$@")
((${#types[@]})) || types=(iq4_nl iq4_xs iq2_xxs iq2_xs iq2_s iq3_xxs iq3_s iq1_s iq1_m tq1_0 tq2_0)
src=$(bash scripts/build-llamacpp.sh ggml-base)
out=build/quant-vectors
mkdir -p "$out"
cc -O2 -std=c11 -I "$src/ggml/include" scripts/quant-vectors/make_vectors.c \
  -L "$src/build/bin" -Wl,-rpath,"$src/build/bin" -lggml-base -lm -o "$out/make_vectors"
"$out/make_vectors" testdata/quant "${types[@]}"
