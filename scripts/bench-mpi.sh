#!/usr/bin/env bash
# Scale-out figures on this machine (issue 12): the bundled model's `lm` evaluation of
# the bundled audio at 1 and 2 ranks (alternating, same run; wall seconds and speed-up),
# then the cost of gathering at 8 ranks oversubscribed: rank 0's wait plus gather and
# merge (`gather_seconds` in the report) for gzip over every 256-byte chunk.
#   scripts/bench-mpi.sh [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
rounds=${1:-2}
lmac=$PWD/build/release/lmac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
wall() {  # ranks, json, eval arguments...
  local n=$1 json=$2 t0 t1
  shift 2
  t0=$(date +%s.%N)
  mpirun --quiet --oversubscribe -n "$n" "$lmac" eval -q --audio-dir audio --json "$json" "$@" > /dev/null
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc
}
lm=(--compressors lm --chunk-size 1024 --num-chunks 16 --no-verify --no-whole)
for r in $(seq "$rounds"); do
  for n in 1 2; do echo "lm ranks $n round $r $(wall $n "$work/lm$n.json" "${lm[@]}")"; done
done | tee "$work/lm.txt"
gz=(--compressors gzip --chunk-size 256 --no-verify --no-whole)
for n in 1 8; do
  s=$(wall $n "$work/gz$n.json" "${gz[@]}")
  echo "gzip ranks $n wall $s gather $(python3 -c "import json;print(json.load(open('$work/gz$n.json'))['gather_seconds'])")"
done | tee "$work/gz.txt"
python3 - "$work" <<'PY'
import json, statistics, sys
w = sys.argv[1]
t = {1: [], 2: []}
for line in open(f"{w}/lm.txt"):
    f = line.split(); t[int(f[2])].append(float(f[5]))
a, b = statistics.median(t[1]), statistics.median(t[2])
chunks = json.load(open(f"{w}/lm1.json"))["dataset"]["chunks"]
print(f"lm, bundled model, {chunks} chunks of 1024 bytes: 1 rank {a:.1f} s, 2 ranks {b:.1f} s: speed-up {a / b:.2f}x")
for n in (1, 8):
    j = json.load(open(f"{w}/gz{n}.json"))
    print(f"gzip, {j['dataset']['chunks']} chunks, {n} rank(s): gather and merge {1000 * j['gather_seconds']:.1f} ms")
PY
