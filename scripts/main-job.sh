#!/usr/bin/env bash
# Compresses and restores the bundled audio with the default model, byte-compares the
# result, and prints the evaluation table.
set -euo pipefail
cd "$(dirname "$0")/.."
lmac=build/release/lmac
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for f in audio/*.wav; do
  name=$(basename "$f")
  "$lmac" compress -q -f "$f" -o "$out/$name.lmac"
  "$lmac" decompress -q -f "$out/$name.lmac" -o "$out/$name"
  cmp "$f" "$out/$name"
  echo "$name: $(stat -c %s "$f") -> $(stat -c %s "$out/$name.lmac") bytes, restored byte for byte"
done
if "$lmac" eval --help >/dev/null 2>&1; then
  "$lmac" eval --audio-dir audio --bit-depth 8 --paper --compressors lm,gzip,lzma2,flac
fi
