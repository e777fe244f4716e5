#!/usr/bin/env bash
# What the language model adds to lmac's audio model: lm / audio / mix / FLAC -8 /
# WavPack -hhx6 real rates on the same chunks (2046 bytes, 40 chunks drawn at random with
# seed 1), per set and bit depth, and the mix's gain over audio alone.
# Round trips are not re-checked here (VERIFY=1 does; the tests check them); CHUNKS=N.
#   bash scripts/bench-mixing.sh [lmac] [set dirs...]
# Sets default to the bundled recordings and those of scripts/fetch-debian-audio.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
lmac=${1:-build/release/lmac}
shift || true
sets=("$@")
[ ${#sets[@]} -eq 0 ] && sets=(audio build/debian-audio/speech build/debian-audio/music build/debian-audio/drums24)
chunks=${CHUNKS:-40}
verify=--no-verify
[ -n "${VERIFY:-}" ] && verify=
tmp_csv=$(mktemp)
trap 'rm -f "$tmp_csv" "$tmp_csv.log"' EXIT
printf '| set | bits | lm | audio | mix | FLAC -8 | WavPack -hhx6 | mix vs audio | audio KB/s (compress / decompress, 0: not run) |\n|---|---|---|---|---|---|---|---|---|\n'
for s in "${sets[@]}"; do
  for bd in 8 16 24; do
    "$lmac" eval --audio-dir "$s" --bit-depth "$bd" --sample random --seed 1 --num-chunks "$chunks" --no-whole $verify \
      --compressors lm,audio,mix,flac,wavpack --csv "$tmp_csv" >"$tmp_csv.log" 2>&1 ||
      { echo "$s at $bd bits: eval failed:" >&2; tail -3 "$tmp_csv.log" >&2; exit 1; }
    awk -F, -v set="$(basename "$s")" -v bd="$bd" '
      NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
      { c = $col["compressor"]; rate[c] = $col["real_rate"]; raw[c] = $col["raw_bytes"]
        comp[c] = $col["compress_seconds"]; dec[c] = $col["decompress_seconds"] }
      END {
        printf "| %s | %d | %.2f%% | %.2f%% | %.2f%% | %.2f%% | %.2f%% | %+.2f points | %.0f / %.0f |\n", set, bd,
          100 * rate["lm"], 100 * rate["audio"], 100 * rate["mix"], 100 * rate["flac"], 100 * rate["wavpack"],
          100 * (rate["mix"] - rate["audio"]), raw["audio"] / comp["audio"] / 1000,
          (dec["audio"] > 0 ? raw["audio"] / dec["audio"] / 1000 : 0)
      }' "$tmp_csv"
  done
done
