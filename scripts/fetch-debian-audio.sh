#!/usr/bin/env bash
# Real recordings from Debian packages for the mixing figures (README, "Audio model and
# mixing"): speech (speech-dispatcher, 16 kHz 16-bit), music samples (sonic-pi-samples,
# 44.1 kHz 16-bit, mostly stereo), drums (hydrogen-drumkits' rumpf kit, 48 kHz 24-bit).
# The bundled voice recordings (alsa-utils) are in audio/. A fourth set, dev (17 other
# files of the same packages: sonic-pi samples and two other hydrogen kits), is for tuning
# the audio model, so the reported sets stay unseen by its choices; a fifth, devspeech
# (40 Asterisk telephone prompts, 8 kHz 16-bit: two speakers, English and French), tunes
# it for speech, which `dev` lacks.
#   bash scripts/fetch-debian-audio.sh [DIR]   (default build/debian-audio)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/debian-audio}
mkdir -p "$out/debs" "$out/x" "$out/speech" "$out/music" "$out/drums24" "$out/dev" "$out/devspeech"
(cd "$out/debs" && apt-get download speech-dispatcher sonic-pi-samples hydrogen-drumkits \
  asterisk-core-sounds-en-wav asterisk-core-sounds-fr-wav >/dev/null)
for d in "$out"/debs/*.deb; do dpkg-deb -x "$d" "$out/x"; done
ln -sf "$PWD/$out/x/usr/share/sounds/speech-dispatcher/dummy-message.wav" "$out/speech/"
for f in ambi_choir ambi_drone ambi_piano bass_voxy_c bass_woodsy_c guit_harmonics loop_amen loop_compus; do
  ln -sf "$PWD/$out/x/usr/share/sonic-pi/samples/$f.flac" "$out/music/"
done
# every 25th file of the kit, in name order: 8 takes
find "$out/x/usr/share/hydrogen/data/drumkits/rumpf_kit_z01_h2" -name '*.flac' | sort | awk 'NR % 25 == 1' | head -8 |
  while read -r f; do ln -sf "$PWD/$f" "$out/drums24/"; done
# dev: every 14th other sonic-pi sample (from the 3rd), and 3 takes of each of two kits
find "$out/x/usr/share/sonic-pi/samples" -maxdepth 1 -type f -printf '%f\n' | sort | grep -v -e ambi_choir -e ambi_drone -e ambi_piano -e bass_voxy_c \
  -e bass_woodsy_c -e guit_harmonics -e loop_amen -e loop_compus | awk 'NR % 14 == 3' |
  while read -r f; do ln -sf "$PWD/$out/x/usr/share/sonic-pi/samples/$f" "$out/dev/"; done
for k in Audiophob ColomboAcousticDrumkit; do
  (cd "$out/x/usr/share/hydrogen/data/drumkits" && find "$k" -name '*.wav' -o -name '*.flac') | sort |
    awk 'NR % 9 == 2' | head -3 | while read -r f; do
      ln -sf "$PWD/$out/x/usr/share/hydrogen/data/drumkits/$f" "$out/dev/${k}_$(basename "$f")"
    done
done
# devspeech: every 18th prompt (from the 5th) of each speaker, in name order: 20 each
for v in en_US_f_Allison fr_CA_f_June; do
  find "$out/x/usr/share/asterisk/sounds/$v" -maxdepth 1 -name '*.wav' | sort | awk 'NR % 18 == 5' |
    while read -r f; do ln -sf "$PWD/$f" "$out/devspeech/${v%%_f_*}_$(basename "$f")"; done
done
echo "$out: speech $(ls "$out/speech" | wc -l), music $(ls "$out/music" | wc -l), drums24 $(ls "$out/drums24" | wc -l), dev $(ls "$out/dev" | wc -l), devspeech $(ls "$out/devspeech" | wc -l) files"
