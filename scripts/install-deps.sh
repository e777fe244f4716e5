#!/usr/bin/env bash
# Installs the Debian 12 packages lmac needs to build, test and run its demo (as root).
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config clang clang-format libclang-rt-14-dev
      libsndfile1-dev zlib1g-dev liblzma-dev libzstd-dev libbz2-dev libbrotli-dev libflac-dev
      libwavpack-dev libcli11-dev nlohmann-json3-dev libfmt-dev libxxhash-dev libgtest-dev
      libbenchmark-dev libpcre2-dev nettle-dev alsa-utils sox openmpi-bin libopenmpi-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
