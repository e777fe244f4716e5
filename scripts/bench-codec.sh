#!/usr/bin/env bash
# Prints the README's codec figures: real and paper-adjusted rates of the bundled model
# at 8 and 16 bits on the bundled audio beside FLAC and xz on the same chunks, codec
# speed (audio KB/s, tokens/s) and peak RSS; then the engine benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
lmac=build/release/lmac
out=${1:-$(mktemp -d)}
mkdir -p "$out"
for bits in 8 16; do
  /usr/bin/time -f "peak RSS %M KB, wall %e s" \
    "$lmac" eval --audio-dir audio --bit-depth "$bits" --compressors lm,flac,lzma2 --no-whole \
    --json "$out/eval$bits.json" --csv "$out/eval$bits.csv"
done
"$lmac" eval --merge "$out/eval8.json" "$out/eval16.json" --plot "$out/rates.svg" > /dev/null
python3 - "$out" <<'PY'
import json, sys
for bits in (8, 16):
    r = json.load(open(f"{sys.argv[1]}/eval{bits}.json"))
    lm = next(c for c in r["compressors"] if c["name"] == "lm")
    print(f"{bits}-bit lm: {lm['tokens']} tokens, compress {lm['raw_bytes']/1000/lm['compress_seconds']:.2f} audio KB/s "
          f"({lm['tokens']/lm['compress_seconds']:.0f} tok/s), decompress {lm['raw_bytes']/1000/lm['decompress_seconds']:.2f} "
          f"audio KB/s ({lm['tokens']/lm['decompress_seconds']:.0f} tok/s)")
PY
"$lmac" bench
