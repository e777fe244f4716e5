#!/usr/bin/env bash
# Same-run speed comparison of lmac's engine with llama.cpp's llama-bench on the same
# GGUF files: rounds alternate the two programs (this shared machine's speed drifts by
# tens of percent within minutes), and medians over the rounds are printed.
#
# llama.cpp is built once by scripts/build-llamacpp.sh.
#
# Usage: scripts/bench-vs-llamacpp.sh [rounds] [model.gguf | tinyllama-1.1b ...]
#   default: 9 rounds on the bundled Q8_0 model and ../shared's F16 model when present.
#   tinyllama-1.1b: the random-weight 1.1B TinyLlama-shaped Q8_0 file (22 layers, made
#   once by bench/lmac_make_model under build/models/), measured at pp128 / tg32;
#   tinyllama-1.1b-TYPE (q4_k, f16, bf16, q4_0, ...): the same shape in that type, likewise.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-9}
shift || true
models=("$@")
if ((${#models[@]} == 0)); then
  models=(models/tinyllama-text-15m-q8_0.gguf)
  [ -f ../shared/models/tinyllama-text-15m-f16.gguf ] && models+=(../shared/models/tinyllama-text-15m-f16.gguf)
fi
threads=2

bash scripts/install-deps.sh
bash scripts/build.sh release >/dev/null
bench=$(bash scripts/build-llamacpp.sh llama-bench)/build/bin/llama-bench

out=$(mktemp -d)
for model in "${models[@]}"; do
  prompt=512 gen=128
  if [[ $model == tinyllama-1.1b* ]]; then
    type=${model#tinyllama-1.1b}
    type=${type#-}
    model=build/models/tinyllama-1.1b-shape-${type:-q8_0}.gguf
    shape=(--shape tinyllama-1.1b "$type" 22)
    [ -n "$type" ] || shape=()  # the generator's default file: this shape in Q8_0
    [ -f "$model" ] || { mkdir -p build/models && build/release/bench/lmac_make_model "$model" "${shape[@]}" >/dev/null; }
    prompt=128 gen=32
  fi
  for r in $(seq "$rounds"); do
    "$bench" -m "$model" -t "$threads" -p "$prompt" -n "$gen" -r 3 -o csv 2>/dev/null >"$out/llama-$r.csv"
    build/release/lmac bench "$model" -T "$threads" --prefill "$prompt" --decode "$gen" --reps 3 --batches 1 \
      --json "$out/lmac-$r.json" >/dev/null
  done
  python3 - "$out" "$rounds" "$model" "$prompt" "$gen" <<'PY'
import csv, json, statistics, sys
out, rounds, model, prompt, gen = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ll = {"pp": [], "tg": []}
lm = {"pp": [], "tg": []}
for r in range(1, rounds + 1):
    for row in csv.DictReader(open(f"{out}/llama-{r}.csv")):
        ll["pp" if int(row["n_prompt"]) else "tg"].append(float(row["avg_ts"]))
    j = json.load(open(f"{out}/lmac-{r}.json"))
    lm["pp"].append(j["prefill_tok_s"])
    lm["tg"].append(j["decode_tok_s"]["1"])
med = {k: (statistics.median(lm[k]), statistics.median(ll[k])) for k in lm}
print(f"{model} ({rounds} alternating rounds, medians, tok/s)")
print(f"  prefill {prompt} (pp{prompt}):  lmac {med['pp'][0]:8.0f}   llama.cpp {med['pp'][1]:8.0f}   ratio {med['pp'][0] / med['pp'][1]:.2f}")
print(f"  decode batch 1 (tg{gen}): lmac {med['tg'][0]:6.0f}   llama.cpp {med['tg'][1]:8.0f}   ratio {med['tg'][0] / med['tg'][1]:.2f}")
for k, name in (("pp", "prefill"), ("tg", "decode")):
    print(f"  {name} per round: lmac " + " ".join(f"{v:.0f}" for v in lm[k]) +
          " | llama.cpp " + " ".join(f"{v:.0f}" for v in ll[k]))
PY
done
rm -rf "$out"
