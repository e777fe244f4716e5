#!/usr/bin/env bash
# Installs, builds and runs every test: Release, then ASan+UBSan, then bounded fuzz runs
# (the fuzz build checks no checksum, so hostile streams reach the decoders; the
# round-trip fuzzer compresses and decompresses arbitrary PCM with arbitrary options;
# the products and operations fuzzers compare every SIMD level and the grid backend on
# fuzzed weights, activations, KV caches and logits).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
start=$(date +%s)
# Formatting is part of the build: the repository's .clang-format, checked, not applied.
find lib cli tests bench fuzz -name '*.cpp' -o -name '*.hpp' | xargs clang-format --dry-run -Werror
# Tests run one per core: most are single-threaded, and the work pool's idle helpers
# spin only 50 µs before they sleep (on 2 cores the release tests took 54 s instead of
# 77 s one at a time).
# The sanitizer and fuzz builds keep line tables only (-g1: stack traces still name
# file and line), which compiles a quarter faster than full debug information.
jobs=$(nproc)
bash scripts/build.sh release
ctest --test-dir build/release --output-on-failure -j "$jobs"
# The work pool shares loops between threads without locks; ThreadSanitizer runs its
# tests (nested tasks, errors, first_least) on the pool alone, built in seconds.
mkdir -p build/tsan
g++ -std=c++20 -O1 -g1 -fsanitize=thread -Ilib lib/lmac/common/parallel.cpp tests/test_parallel.cpp \
  -lgtest -lgtest_main -pthread -o build/tsan/parallel_tests
TSAN_OPTIONS=halt_on_error=1 build/tsan/parallel_tests --gtest_brief=1
bash scripts/build.sh asan
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build/asan --output-on-failure -j "$jobs"
bash scripts/build.sh fuzz fuzz_lmac_parser fuzz_input_parsers fuzz_roundtrip fuzz_block_products fuzz_backend_ops
mkdir -p build/fuzz/corpus
build/release/lmac compress -q -f -m builtin:order2 audio/Front_Center.wav --chunk-size 512 \
  -o build/fuzz/corpus/seed.lmac
# the audio decoder's parameters and stages; not the long stream, whose runs take 0.2 s each
# and the mixing (with the built-in model; a segmented stream for the header's flag)
for f in tests/golden/r[0-9]*-audio-*.lmac tests/golden/r[0-9]*-mix-*.lmac; do
  [[ $f == *-long.lmac ]] || cp "$f" build/fuzz/corpus/
done
# format version 2's reader (lmac 0.1.0 and 0.2.0 streams)
for f in tests/golden/v2/r[0-9]*-builtin-*.lmac tests/golden/v2/r[0-9]*-audio-u8-mono.lmac; do
  cp "$f" build/fuzz/corpus/v2-"$(basename "$f")"
done
build/fuzz/fuzz/fuzz_lmac_parser -max_total_time="${LMAC_FUZZ_SECONDS:-60}" -max_len=65536 -rss_limit_mb=2048 \
  build/fuzz/corpus 2>&1 | tail -n 3
mkdir -p build/fuzz/corpus-inputs
cp testdata/gguf/*.gguf build/fuzz/corpus-inputs/
head -c 4096 audio/Front_Center.wav > build/fuzz/corpus-inputs/seed.wav
build/fuzz/fuzz/fuzz_input_parsers -max_total_time="${LMAC_FUZZ_SECONDS:-60}" -max_len=65536 -rss_limit_mb=2048 \
  build/fuzz/corpus-inputs 2>&1 | tail -n 3
# Inputs grow fast (-len_control=1): at libFuzzer's default pace a minute ends at 14-byte
# inputs (8 samples, one chunk); here at about 240 bytes, with more coverage (10,638
# edges and 42,279 features against 10,274 and 33,719 in one minute; seeding 800-byte
# inputs from start gave 1 run a second and less)
mkdir -p build/fuzz/corpus-roundtrip
build/fuzz/fuzz/fuzz_roundtrip -max_total_time="${LMAC_FUZZ_SECONDS:-60}" -len_control=1 -max_len=4096 \
  -rss_limit_mb=2048 \
  build/fuzz/corpus-roundtrip 2>&1 | tail -n 3
# one seed per block type (its first byte): 16 rows of 3 blocks, 6 tokens; the rest of
# each matrix comes from the target's own stream
mkdir -p build/fuzz/corpus-products
for t in $(seq 0 31); do printf "\\x$(printf %02x "$t")\\x0f\\x02\\x05" > build/fuzz/corpus-products/type"$t"; done
build/fuzz/fuzz/fuzz_block_products -max_total_time="${LMAC_FUZZ_SECONDS:-60}" -max_len=4096 -rss_limit_mb=2048 \
  build/fuzz/corpus-products 2>&1 | tail -n 3
# frequency tables, attention and the element-wise steps (first byte mod 3)
mkdir -p build/fuzz/corpus-ops
for t in 0 1 2 3 4 5; do printf "\\x$(printf %02x "$t")\\x05\\x03\\x02\\x01\\x40" > build/fuzz/corpus-ops/seed"$t"; done
build/fuzz/fuzz/fuzz_backend_ops -max_total_time="${LMAC_FUZZ_SECONDS:-60}" -max_len=4096 -rss_limit_mb=2048 \
  build/fuzz/corpus-ops 2>&1 | tail -n 3
echo "all test stages passed in $(( $(date +%s) - start )) s"
