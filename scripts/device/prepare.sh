#!/usr/bin/env bash
# Fills .device/ (ignored by git) with what the device machine needs to build lmac from
# source and to run scripts/device/check.sh there, where nothing can be downloaded:
#   - the Debian 12 packages lmac builds against (headers, libraries, pkg-config files),
#     unpacked there into a private prefix (never over /);
#   - llama.cpp's source (the release scripts/bench-vs-llamacpp.sh pins), trimmed;
#   - xm/: streams made here (scripts/pack-cross-machine.sh), to decode there.
# Then: device run with carry [".device", "xm"] and command `bash scripts/device/check.sh`.
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo '/.device/' >>.git/info/exclude
mkdir -p .device/debs
pkgs=(libsndfile1-dev libsndfile1 libflac-dev libflac12 libvorbis-dev libvorbis0a libvorbisenc2 libvorbisfile3
      libogg-dev libogg0 libopus-dev libopus0 libmpg123-dev libmpg123-0 libmp3lame-dev libmp3lame0
      zlib1g-dev zlib1g liblzma-dev liblzma5 libzstd-dev libzstd1 libbz2-dev libbz2-1.0 libbrotli-dev libbrotli1
      libwavpack-dev libwavpack1 libcli11-dev nlohmann-json3-dev libfmt-dev libfmt9 libxxhash-dev libxxhash0
      libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3 pkgconf pkgconf-bin libpkgconf3)
(cd .device/debs && apt-get download "${pkgs[@]}" 2>/dev/null)
src=build/llamacpp/llama.cpp
if [ ! -d "$src" ]; then  # the same pinned release as scripts/bench-vs-llamacpp.sh
  mkdir -p build/llamacpp
  (cd build/llamacpp && npm pack --silent node-llama-cpp@3.21.1 >/dev/null &&
    tar xzf node-llama-cpp-3.21.1.tgz package/llama/gitRelease.bundle package/llama/llama.cpp.info.json &&
    git clone -q package/llama/gitRelease.bundle llama.cpp)
fi
tar -C build/llamacpp --exclude=.git --exclude=llama.cpp/models --exclude=llama.cpp/docs \
  --exclude=llama.cpp/tests --exclude=llama.cpp/benches --exclude=llama.cpp/gguf-py --exclude=llama.cpp/examples \
  --exclude=llama.cpp/tools/server/public --exclude=llama.cpp/tools/server/webui --exclude=llama.cpp/media \
  -cJf .device/llamacpp-src.tar.xz llama.cpp
bash scripts/pack-cross-machine.sh
du -sh .device xm
