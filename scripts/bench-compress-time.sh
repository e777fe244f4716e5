#!/usr/bin/env bash
# Compression and restore time of two lmac builds on the same files, alternating (the
# machine is shared: only a ratio from one run means anything), with the same options;
# checks that both make the same bytes (each restore checks the stream's checksums).
#   bash scripts/bench-compress-time.sh OLD_LMAC NEW_LMAC [rounds] [set ...] [-- lmac compress options]
# A set is a folder name under build/debian-audio (scripts/fetch-debian-audio.sh), `audio`
# (the bundled files) or any folder of audio files. Default: audio dev devspeech, 3 rounds,
# `-m audio`. Prints one row per set: the bytes, the medians of each build's summed
# times, and new / old.
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1 new=$2
shift 2
rounds=3
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then rounds=$1; shift; fi
sets=()
while [[ $# -gt 0 && $1 != -- ]]; do sets+=("$1"); shift; done
[[ $# -gt 0 ]] && shift
opts=("$@")
[[ ${#opts[@]} -eq 0 ]] && opts=(-m audio)
[[ ${#sets[@]} -eq 0 ]] && sets=(audio dev devspeech)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Seconds (3 decimals) that "$@" takes.
seconds() {
  local t0 t1
  t0=$(date +%s%N)
  "$@"
  t1=$(date +%s%N)
  echo "$(( (t1 - t0) / 1000000 ))" | awk '{ printf "%.3f", $1 / 1000 }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

printf '| set | files | bytes | compress old | compress new | new/old | restore old | restore new | new/old |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
for set in "${sets[@]}"; do
  dir=$set
  [[ -d $dir ]] || dir=build/debian-audio/$set
  [[ -d $dir ]] || { echo "$set: no such folder (run scripts/fetch-debian-audio.sh)" >&2; exit 1; }
  files=("$dir"/*)
  for which in old new; do : > "$work/c_$which" && : > "$work/r_$which"; done
  bytes=0
  for ((r = 0; r < rounds; ++r)); do
    for which in old new; do
      bin=${!which}
      c=0 d=0 total=0
      # shellcheck disable=SC2034  # read through ${!which}
      for i in "${!files[@]}"; do
        out=$work/$which-$i.lmac
        t=$(seconds "$bin" compress -q -f "${opts[@]}" "${files[$i]}" -o "$out")
        c=$(echo "$c $t" | awk '{ print $1 + $2 }')
        t=$(seconds "$bin" decompress -q -f "$out" -o "$work/restored")
        d=$(echo "$d $t" | awk '{ print $1 + $2 }')
        total=$((total + $(stat -c %s "$out")))
        if [[ $which == new ]] && ! cmp -s "$work/old-$i.lmac" "$out"; then
          echo "${files[$i]}: the two builds make different bytes" >&2
          exit 1
        fi
      done
      echo "$c" >> "$work/c_$which"
      echo "$d" >> "$work/r_$which"
      bytes=$total
    done
  done
  co=$(median < "$work/c_old") cn=$(median < "$work/c_new")
  ro=$(median < "$work/r_old") rn=$(median < "$work/r_new")
  printf '| %s | %d | %d | %.2f s | %.2f s | %.2f | %.2f s | %.2f s | %.2f |\n' "$set" "${#files[@]}" "$bytes" \
    "$co" "$cn" "$(echo "$cn $co" | awk '{ print $1 / $2 }')" "$ro" "$rn" "$(echo "$rn $ro" | awk '{ print $1 / $2 }')"
done
