#!/usr/bin/env bash
# Cross-machine determinism: streams made on the dev machine decode here, and streams
# made here are byte-identical to the dev machine's, at every SIMD level.
set -u
cd "$(dirname "$0")"
# LMAC: an lmac built on this machine (scripts/device/check.sh); default: the packed one
L=${LMAC:-"lib/ld-linux-x86-64.so.2 --library-path lib ./lmac"}
grep -m1 "model name" /proc/cpuinfo; grep -o -w -E 'avx2|fma|f16c|avx512f|avx512bw|avx512_vnni' /proc/cpuinfo | sort | uniq -c | tr '\n' ' '; echo
M=data/tinyllama-text-15m-q8_0.gguf
fail=0
for level in best avx2 scalar; do
  if [ $level = best ]; then unset LMAC_SIMD; else export LMAC_SIMD=$level; fi
  $L model-info $M | grep kernels
  for s in b16 b16o $( [ $level = scalar ] || echo a8 ); do
    $L decompress -q -f -m $( [ $s = b16o ] && echo builtin:order2 || echo $M ) data/$s.lmac -o /tmp/$s.wav && cmp /tmp/$s.wav data/${s%o}.wav && echo "$level: decoded $s.lmac from the dev machine: identical" || { echo "$level: $s DECODE MISMATCH"; fail=1; }
  done
  $L compress -q -f -m $M --tokenization char data/b16.wav -o /tmp/b16.lmac && cmp /tmp/b16.lmac data/b16.lmac && echo "$level: char-mode stream made here is byte-identical" || { echo "$level: b16 ENCODE MISMATCH"; fail=1; }
  if [ $level != scalar ]; then
    $L compress -q -f -m $M data/a8.wav -o /tmp/a8.lmac && cmp /tmp/a8.lmac data/a8.lmac && echo "$level: subword stream made here is byte-identical" || { echo "$level: a8 ENCODE MISMATCH"; fail=1; }
  fi
done
unset LMAC_SIMD
$L bench $M --reps 3 -T 2
$L bench $M --reps 3 -T 8 | head -4
echo "cross-machine check: $([ $fail = 0 ] && echo PASS || echo FAIL)"
