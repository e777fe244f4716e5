#!/usr/bin/env bash
# The audio model against FLAC -8 and WavPack -hhx6, per set: real rates on 2 KB chunks
# (2046 bytes at 24 bits: whole samples) and on whole files (`lmac eval`'s whole column:
# each file one chunk). `dev` and `devspeech` are the sets the audio model's parameters
# were tuned on; the others are the sets the README reports. Sets from
# scripts/fetch-debian-audio.sh.
#   bash scripts/bench-audio-model.sh [lmac] [set:bits ...]
set -euo pipefail
cd "$(dirname "$0")/.."
lmac=${1:-build/release/lmac}
shift || true
specs=("$@")
[ ${#specs[@]} -eq 0 ] && specs=(dev:16 devspeech:16 audio:16 speech:16 music:16 drums24:24 devspeech:8 speech:8 audio:8)
printf '| set | bits | audio 2 KB | audio whole | FLAC whole | WavPack whole |\n|---|---|---|---|---|---|\n'
for spec in "${specs[@]}"; do
  set=${spec%%:*} bits=${spec##*:}
  dir=build/debian-audio/$set
  [ "$set" = audio ] && dir=audio
  [ -d "$dir" ] || { echo "$dir: no such set (run scripts/fetch-debian-audio.sh)" >&2; exit 1; }
  chunk=2048
  [ "$bits" = 24 ] && chunk=2046
  "$lmac" eval --audio-dir "$dir" --bit-depth "$bits" --chunk-size "$chunk" --no-verify \
    --compressors audio,flac,wavpack 2>&1 |
    awk -v set="$set" -v bits="$bits" '
      $1 == "audio" || $1 == "flac" || $1 == "wavpack" { real[$1] = $4; whole[$1] = $6 }
      END { printf "| %s | %s | %s | %s | %s | %s |\n", set, bits, real["audio"], whole["audio"], whole["flac"], whole["wavpack"] }'
done
