#!/usr/bin/env bash
# Conformance on the shapes users bring (issue 9, item 8): random-weight GGUFs with the
# real widths and head layouts of Llama-2-7B (multi-head, SentencePiece), Llama-3.2-1B
# (grouped heads, llama3 RoPE factors in rope_freqs, tied output, llama-bpe vocabulary),
# TinyLlama-1.1B, SmolLM-135M (9 heads of 64, 3 KV heads, tied, byte-level BPE) and
# Mistral-7B (RoPE base 1e6), with LAYERS layers (default 2), in F16, Q8_0 and Q4_K;
# projections scaled as trained models' are (std 0.02). lmac's logits are compared with
# llama.cpp's on the same file and tokens (BOS and 47 random ids), full-vocabulary
# log-softmax of the next token, in nats; and both with llama.cpp computing the same
# weights dequantized to F32 (the exact model the file describes). PASS: lmac within
# 0.02 nats of that reference at every position. Exits 1 if any model fails.
#   [LAYERS=n] [TYPES="f16 q8_0 q4_k"] scripts/conformance-vs-llamacpp.sh [shape ...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh >/dev/null
llama=$(bash scripts/build-llamacpp.sh llama)
cmake --preset release -DLMAC_LLAMACPP_DIR="$llama" >/dev/null
cmake --build build/release --target lmac_vs_llamacpp lmac_make_model >/dev/null
shapes=("$@")
((${#shapes[@]})) || shapes=(llama2-7b llama3.2-1b tinyllama-1.1b smollm-135m mistral-7b)
vocab=testdata/tokenizer/llama-bpe/ggml-vocab-llama-bpe.gguf
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
for shape in "${shapes[@]}"; do
  for type in ${TYPES:-f16 q8_0 q4_k}; do
    model=$work/$shape-$type.gguf
    build/release/bench/lmac_make_model "$model" --shape "$shape" "$type" "${LAYERS:-2}" "$vocab" >/dev/null
    build/release/bench/lmac_make_model "$work/reference.gguf" --dequantize "$model"
    # llama.cpp's log goes to a file, shown when the comparison fails (a model that
    # printed nothing once, on a loaded machine, left no trace of why)
    if ! LD_LIBRARY_PATH="$llama/build/bin" build/release/bench/lmac_vs_llamacpp "$model" "$work/reference.gguf" \
      2>"$work/stderr.log" | sed "s|$work/||"; then
      fail=1
      echo "$shape $type: lmac_vs_llamacpp failed; its last messages:"
      tail -5 "$work/stderr.log"
    fi
    rm -f "$model" "$work/reference.gguf"
  done
done
exit $fail
