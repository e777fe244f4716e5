#!/usr/bin/env bash
# The main job on bundled inputs: compress a bundled recording with the default model
# (the bundled language model mixed with the audio model), restore it and byte-compare,
# then evaluate the language model alone, the audio model alone and the mix against the
# classical compressors on the same chunks of the bundled audio (8-bit, the paper's setting).
set -euo pipefail
cd "$(dirname "$0")/.."
lmac=build/release/lmac
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
f=audio/Front_Center.wav
"$lmac" compress -f "$f" -o "$out/a.lmac"
"$lmac" decompress -f "$out/a.lmac" -o "$out/a.wav"
cmp "$f" "$out/a.wav"
"$lmac" info "$out/a.lmac"
echo "restored $f byte for byte"
echo
"$lmac" eval --audio-dir audio --bit-depth 8 --drop-partial --num-chunks "${LMAC_DEMO_CHUNKS:-24}" \
  --compressors lm,audio,mix,gzip,lzma2,zstd22,bzip2,brotli,flac,wavpack --json "$out/eval.json"
