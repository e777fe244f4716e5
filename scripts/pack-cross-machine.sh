#!/usr/bin/env bash
# Packs lmac (binary, its shared libraries and loader, the bundled model) with streams
# made on this machine into xm/, so scripts/cross-machine-check.sh can prove on another
# x86-64 machine that they decode there and that it makes the very same bytes:
#   bash scripts/pack-cross-machine.sh && (copy xm/ over) && bash xm/check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
lmac=build/release/lmac
rm -rf xm && mkdir -p xm/lib xm/data
cp "$lmac" xm/
for f in $(ldd "$lmac" | grep -oE "/[^ ]+\.so[^ ]*"); do cp -L "$f" xm/lib/; done
cp models/tinyllama-text-15m-q8_0.gguf xm/data/
cp scripts/cross-machine-check.sh xm/check.sh
sox audio/Front_Center.wav -b 8 xm/data/a8.wav trim 0 0.4
sox audio/Rear_Right.wav -c 2 xm/data/b16.wav trim 0 0.05
sox audio/Front_Center.wav audio/Rear_Right.wav -b 8 xm/data/c8.wav  # 70 chunks: codec speed on a GPU
"$lmac" compress -q -f xm/data/a8.wav -o xm/data/a8.lmac
"$lmac" compress -q -f --tokenization char xm/data/b16.wav -o xm/data/b16.lmac
"$lmac" compress -q -f -m builtin:order2 xm/data/b16.wav -o xm/data/b16o.lmac
du -sh xm
