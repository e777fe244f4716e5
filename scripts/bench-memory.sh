#!/usr/bin/env bash
# Peak RSS of the engine against file size + KV cache + 64 MB: on the bundled model and
# on a generated random-weight Q8_0 file of the 1.1B TinyLlama shape (about 1 GB).
set -euo pipefail
cd "$(dirname "$0")/.."
lmac=build/release/lmac
"$lmac" bench --reps 1
big=${LMAC_BIG_MODEL:-build/release/tinyllama-1b-shape-q8_0.gguf}
[ -f "$big" ] || build/release/bench/lmac_make_model "$big" 2048 22 5632 32 4
"$lmac" bench "$big" --prefill 64 --decode 8 --batches 1,8 --reps 1
