#!/usr/bin/env bash
# Builds llama.cpp (CPU, native) once under build/llamacpp/, for the same-run speed and
# conformance comparisons. llama.cpp is not packaged for Debian 12; its source comes from
# the npm registry, where node-llama-cpp ships a git bundle of the llama.cpp release it
# binds (pinned below). Prints the llama.cpp source directory.
#   scripts/build-llamacpp.sh [targets...]   (default: llama-bench llama)
set -euo pipefail
cd "$(dirname "$0")/.."
node_llama_cpp=3.21.1
targets=("$@")
((${#targets[@]})) || targets=(llama-bench llama)
for tool in npm git python3; do  # each is also the Debian package's name
  command -v "$tool" >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$tool" >&2
done
work=build/llamacpp
if [ ! -d "$work/llama.cpp" ]; then
  mkdir -p "$work"
  (cd "$work" && npm pack --silent "node-llama-cpp@$node_llama_cpp" >/dev/null &&
    tar xzf "node-llama-cpp-$node_llama_cpp.tgz" package/llama/gitRelease.bundle package/llama/llama.cpp.info.json &&
    rm -rf llama.cpp && git clone -q package/llama/gitRelease.bundle llama.cpp)
fi
[ -f "$work/llama.cpp/build/CMakeCache.txt" ] ||
  cmake -S "$work/llama.cpp" -B "$work/llama.cpp/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
    -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_EXAMPLES=OFF >&2
cmake --build "$work/llama.cpp/build" --target "${targets[@]}" -j "$(nproc)" >&2
echo "llama.cpp: node-llama-cpp $node_llama_cpp bundle, $(tr -d ' \n' <"$work/package/llama/llama.cpp.info.json")" >&2
echo "$PWD/$work/llama.cpp"
