#!/usr/bin/env bash
# Regenerates tests/golden/*.lmac and tests/golden/MANIFEST from the bundled recordings.
# Only for a new arithmetic revision (docs/ARITHMETIC.md): the golden streams exist to
# prove that this build still decodes what earlier builds of the same revision made.
# The streams of earlier revisions (rev3-*.lmac to rev10-*.lmac) are kept as
# they are: they must be refused. v2/ holds this revision's streams as format version 2
# wrote them (lmac 0.1.0 and 0.2.0), kept as they are: they must still decode; at the
# next revision they become streams to refuse. sox -R keeps
# the dither of the 8-bit inputs the same from run to run.
#   bash scripts/make-golden-streams.sh [path/to/lmac]
set -euo pipefail
cd "$(dirname "$0")/.."
lmac=${1:-build/release/lmac}
G=tests/golden
M=models/tinyllama-text-15m-q8_0.gguf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The prefix of the current revision's streams, from the one place that defines it.
rev=r$(sed -n 's/.*kArithmeticRevision = \([0-9]*\);.*/\1/p' lib/lmac/common/arithmetic_revision.hpp)
[[ $rev != r ]] || { echo "no kArithmeticRevision found" >&2; exit 1; }
rm -f "$G/$rev-"*.lmac
# The K-quant, 32-value-block, IQ4, lattice and ternary models: small random-weight files that the
# tests make the same way.
make_model=$(dirname "$lmac")/bench/lmac_make_model
for t in q2_k q3_k q4_k q5_k q6_k q4_0 q5_1 iq4_nl iq4_xs iq2_xxs iq2_xs iq2_s iq3_xxs iq3_s iq1_s iq1_m tq1_0 tq2_0; do "$make_model" "$tmp/golden-$t.gguf" --golden $t >/dev/null; done
# name | sox conversion of the bundled recordings | lmac flags
cases=(
  "llm-u8-mono-subword|-b 8 -e unsigned|-m $M"
  "llm-u8-mono-char-mask|-b 8 -e unsigned|-m $M --tokenization char --mapping mask"
  "llm-s16-stereo-subword|-b 16 stereo|-m $M"
  "llm-s16-stereo-char-planar|-b 16 stereo|-m $M --tokenization char --layout planar --chunk-size 128"
  "llm-s24-mono-char|-b 24|-m $M --tokenization char"
  "llm-s32-stereo-blocked|-b 32 stereo|-m $M --layout blocked:4 --chunk-size 256"
  "builtin-u8-mono|-b 8 -e unsigned|-m builtin:order2"
  "builtin-s16-stereo-aiff|-b 16 stereo aiff|-m builtin:order2 --chunk-size 200"
  "builtin-s24-stereo-file-order|-b 24 stereo|-m builtin:order2 --byte-order file"
  "builtin-f32-mono|-b 32 -e floating-point|-m builtin:order2"
  "audio-u8-mono|-b 8 -e unsigned|-m audio --chunk-size 2048"
  "audio-s16-stereo-planar|-b 16 stereo|-m audio --layout planar --chunk-size 512"
  "audio-s24-mono|-b 24|-m audio --chunk-size 2046"
  "audio-s32-stereo-blocked|-b 32 stereo|-m audio --layout blocked:4 --chunk-size 256"
  "audio-s16-stereo-long|-b 16 stereo long|-m audio --chunk-size 16384"
  "audio-s16-mono-later|-b 16 later|-m audio --chunk-size 8192"
  "audio-s16-mono-pluck|-b 16 pluck|-m audio --chunk-size 24000"
  "audio-s16-mono-canonical-header|-b 16|-m audio --chunk-size 1024"
  "mix-s16-stereo|-b 16 stereo|-m mix:$M --chunk-size 256"
  "mix-u8-mono-builtin|-b 8 -e unsigned|-m mix:builtin:order2 --chunk-size 2048"
  "mix-s16-mono-segments|-b 16 medium|-m mix:$M --chunk-size 8184"
  "kq-q2_k-u8-mono-char|-b 8 -e unsigned|-m $tmp/golden-q2_k.gguf --tokenization char"
  "kq-q3_k-s16-mono-subword|-b 16|-m $tmp/golden-q3_k.gguf"
  "kq-q4_k-u8-mono-char|-b 8 -e unsigned|-m $tmp/golden-q4_k.gguf --tokenization char"
  "kq-q5_k-s16-stereo-char|-b 16 stereo|-m $tmp/golden-q5_k.gguf --tokenization char"
  "kq-q6_k-u8-mono-subword|-b 8 -e unsigned|-m $tmp/golden-q6_k.gguf"
  "kq-q4_0-u8-mono-char|-b 8 -e unsigned|-m $tmp/golden-q4_0.gguf --tokenization char"
  "kq-q5_1-s16-mono-subword|-b 16|-m $tmp/golden-q5_1.gguf"
  "kq-iq4_nl-u8-mono-char|-b 8 -e unsigned|-m $tmp/golden-iq4_nl.gguf --tokenization char"
  "kq-iq4_xs-s16-mono-subword|-b 16|-m $tmp/golden-iq4_xs.gguf"
  "kq-iq2_xxs-u8-mono-char|-b 8 -e unsigned|-m $tmp/golden-iq2_xxs.gguf --tokenization char"
  "kq-iq2_xs-s16-mono-subword|-b 16|-m $tmp/golden-iq2_xs.gguf"
  "kq-iq2_s-u8-mono-subword|-b 8 -e unsigned|-m $tmp/golden-iq2_s.gguf"
  "kq-iq3_xxs-u8-mono-char|-b 8 -e unsigned|-m $tmp/golden-iq3_xxs.gguf --tokenization char"
  "kq-iq3_s-s16-mono-subword|-b 16|-m $tmp/golden-iq3_s.gguf"
  "kq-iq1_s-u8-mono-char|-b 8 -e unsigned|-m $tmp/golden-iq1_s.gguf --tokenization char"
  "kq-iq1_m-s16-mono-subword|-b 16|-m $tmp/golden-iq1_m.gguf"
  "kq-tq1_0-u8-mono-char|-b 8 -e unsigned|-m $tmp/golden-tq1_0.gguf --tokenization char"
  "kq-tq2_0-s16-mono-subword|-b 16|-m $tmp/golden-tq2_0.gguf"
)
: >$G/MANIFEST
for c in "${cases[@]}"; do
  IFS='|' read -r name conv flags <<<"$c"
  ext=wav
  [[ $conv == *aiff* ]] && ext=aiff && conv=${conv/ aiff/}
  # "long": a quarter second, long enough for the encoder to choose the adaptive stages
  seconds=0.006
  [[ $conv == *stereo* ]] && seconds=0.0025
  [[ $conv == *long* ]] && conv=${conv/ long/} && seconds=0.25
  # "medium": 4,800 bytes, one chunk that the language model reads in three segments
  [[ $conv == *medium* ]] && conv=${conv/ medium/} && seconds=0.05
  # "later": a quarter second from 1 s in, where the encoder chooses the slowest
  # least-squares stage (code 3) and the context bias
  start=0.30
  [[ $conv == *later* ]] && conv=${conv/ later/} && seconds=0.25 && start=1.0
  if [[ $conv == *pluck* ]]; then
    # a plucked string at 110 Hz, 48 kHz, as one chunk: its period (436 samples) is
    # beyond 256, so the encoder takes the long reach (revision 11)
    sox -R -n -r 48000 -c 1 ${conv/ pluck/} "$tmp/$name.$ext" synth 0.25 pluck 110 gain -8
  elif [[ $conv == *stereo* ]]; then
    conv=${conv/ stereo/}
    sox -R -M audio/Front_Center.wav audio/Rear_Right.wav $conv "$tmp/$name.$ext" trim $start $seconds
  else
    sox -R audio/Front_Center.wav $conv "$tmp/$name.$ext" trim $start $seconds
  fi
  # --model-only: golden streams exist to exercise the model's arithmetic, never stored chunks
  # shellcheck disable=SC2086
  "$lmac" compress -q -f --model-only $flags "$tmp/$name.$ext" -o "$G/$rev-$name.lmac"
  model=bundled
  [[ $flags == *builtin:order2* ]] && model=builtin:order2
  [[ $flags == *"-m audio"* ]] && model=audio
  [[ $flags == *"-m mix:$M"* ]] && model=mix:bundled
  [[ $flags == *"-m mix:builtin:order2"* ]] && model=mix:builtin:order2
  [[ $flags =~ golden-([it]?q[0-9]_(k|0|1|nl|xs|xxs|s|m)) ]] && model=golden:${BASH_REMATCH[1]}
  echo "$rev-$name.lmac $model $(sha256sum <"$tmp/$name.$ext" | cut -d' ' -f1) $(stat -c %s "$tmp/$name.$ext")" >>$G/MANIFEST
done
ls -l $G
