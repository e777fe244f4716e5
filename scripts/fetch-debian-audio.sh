#!/usr/bin/env bash
# Real recordings from Debian packages for the mixing figures (README, "Audio model and
# mixing"): speech (speech-dispatcher, 16 kHz 16-bit), music samples (sonic-pi-samples,
# 44.1 kHz 16-bit, mostly stereo), drums (hydrogen-drumkits' rumpf kit, 48 kHz 24-bit).
# The bundled voice recordings (alsa-utils) are in audio/.
#   bash scripts/fetch-debian-audio.sh [DIR]   (default build/debian-audio)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/debian-audio}
mkdir -p "$out/debs" "$out/x" "$out/speech" "$out/music" "$out/drums24"
(cd "$out/debs" && apt-get download speech-dispatcher sonic-pi-samples hydrogen-drumkits >/dev/null)
for d in "$out"/debs/*.deb; do dpkg-deb -x "$d" "$out/x"; done
ln -sf "$PWD/$out/x/usr/share/sounds/speech-dispatcher/dummy-message.wav" "$out/speech/"
for f in ambi_choir ambi_drone ambi_piano bass_voxy_c bass_woodsy_c guit_harmonics loop_amen loop_compus; do
  ln -sf "$PWD/$out/x/usr/share/sonic-pi/samples/$f.flac" "$out/music/"
done
# every 25th file of the kit, in name order: 8 takes
find "$out/x/usr/share/hydrogen/data/drumkits/rumpf_kit_z01_h2" -name '*.flac' | sort | awk 'NR % 25 == 1' | head -8 |
  while read -r f; do ln -sf "$PWD/$f" "$out/drums24/"; done
echo "$out: speech $(ls "$out/speech" | wc -l), music $(ls "$out/music" | wc -l), drums24 $(ls "$out/drums24" | wc -l) files"
