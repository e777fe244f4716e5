#!/usr/bin/env bash
# The main job: install, build, then compress the bundled audio with the default model
# and compare it with the classical compressors on the same chunks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh release
exec bash scripts/main-job.sh
