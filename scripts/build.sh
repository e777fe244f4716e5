#!/usr/bin/env bash
# Configures and builds one CMake preset (release, debug, asan, fuzz), every target or
# the ones named after it.
#   bash scripts/build.sh [preset] [target ...]
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-release}
cmake --preset "$preset" >/dev/null
targets=("${@:2}")
cmake --build --preset "$preset" -j "$(nproc)" ${targets[@]/#/--target=}
