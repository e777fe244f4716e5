#!/usr/bin/env bash
# Thread robustness: decompression (and compression) of an 8 KB 16-bit excerpt of the
# bundled audio with the bundled model, at -T 1 and -T 2, on an idle machine and beside
# one busy process (a shell loop, the "competing load"), alternating the runs so that
# both see the same machine. Prints every run and the median ratio T2/T1 under load:
# it must stay at or below 1.0 (issue 10, item 7).
#   scripts/bench-threads-under-load.sh [rounds] [other-lmac-binary-to-compare]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
bins=(build/release/lmac ${2:+"$2"})
model=models/tinyllama-text-15m-q8_0.gguf
work=$(mktemp -d)
trap 'kill "${load:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
python3 - "$work/a.wav" <<'PY'
import sys, wave
w = wave.open("audio/Front_Center.wav")
o = wave.open(sys.argv[1], "wb"); o.setparams(w.getparams()); o.writeframes(w.readframes(4096)); o.close()
PY
"${bins[0]}" compress -q -f --model-only -m "$model" "$work/a.wav" -o "$work/a.lmac"
seconds() {  # binary, threads, command
  local t0 t1
  t0=$(date +%s.%N)
  if [ "$3" = decompress ]; then
    "$1" decompress -q -f -T "$2" -m "$model" "$work/a.lmac" -o "$work/b.wav"
    cmp -s "$work/a.wav" "$work/b.wav" || { echo "round trip failed" >&2; exit 1; }
  else
    "$1" compress -q -f --model-only -T "$2" -m "$model" "$work/a.wav" -o "$work/c.lmac"
  fi
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc
}
results=$work/results.txt
for load_state in idle load; do
  if [ $load_state = load ]; then (while :; do :; done) & load=$!; fi
  for r in $(seq "$rounds"); do
    for b in "${!bins[@]}"; do
      for cmd in decompress compress; do
        for t in 1 2; do
          s=$(seconds "${bins[$b]}" $t $cmd)
          echo "bin$b $load_state $cmd T$t round$r $s" | tee -a "$results"
        done
      done
    done
  done
  if [ $load_state = load ]; then kill $load; wait $load 2>/dev/null || true; unset load; fi
done
python3 - "$results" "${bins[@]}" <<'PY'
import sys, statistics, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    b, state, cmd, t, _, s = line.split()
    rows[(b, state, cmd, t)].append(float(s))
for i, path in enumerate(sys.argv[2:]):
    b = f"bin{i}"
    print(f"{path}:")
    for state in ("idle", "load"):
        for cmd in ("decompress", "compress"):
            t1 = statistics.median(rows[(b, state, cmd, "T1")]); t2 = statistics.median(rows[(b, state, cmd, "T2")])
            print(f"  {state:4} {cmd:10}  -T 1 {t1:6.2f} s   -T 2 {t2:6.2f} s   T2/T1 {t2 / t1:.2f}")
PY
