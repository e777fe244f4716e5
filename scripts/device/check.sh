#!/usr/bin/env bash
# Runs on the device machine (scripts/device/prepare.sh fills what it needs):
#  1. builds lmac there from source against the carried Debian 12 packages, unpacked into
#     a private prefix, so that libm and the CPU are that machine's own;
#  2. the cross-machine check (scripts/cross-machine-check.sh) with that build and with
#     the binary packed here: streams made here decode there and streams made there are
#     byte-identical, at every SIMD level;
#  3. GPU checks when the machine has one (lmac's CUDA backend built there for sm_90):
#     every operation GPU == CPU bitwise (lmac check-device), the same .lmac bytes from the
#     GPU as from the dev machine's CPU, GPU-made streams decoded by the CPU, and speed on
#     the generated 1.1B TinyLlama-shaped and 7B Llama-2-shaped Q8_0 files; streams of
#     Q4_K, Q6_K and F16 models (weights kept in their block format) from the GPU and the CPU;
#  4. CPU thread scaling of lmac and of llama.cpp's llama-bench built there (1-16 threads),
#     bundled model and the generated 1.1B TinyLlama-shaped Q8_0 file.
# Output: $OUT/check.log. (RPATH, not RUNPATH: libsndfile's own dependencies must come
# from the prefix too.)
set -u
OUT=${OUT:-/tmp/lmac-device-out}
mkdir -p "$OUT"
exec > >(tee "$OUT/check.log") 2>&1
cd "$(dirname "$0")/../.."
t0=$(date +%s)
stamp() { echo "== [$(($(date +%s) - t0)) s] $*"; }
nproc; grep -m1 "model name" /proc/cpuinfo; (g++ --version; cmake --version) | grep -E "g\+\+|cmake version"
ldd --version | head -1

stamp "unpacking the Debian packages into a private prefix"
D=/tmp/lmac-deps
mkdir -p $D
for f in .device/debs/*.deb; do dpkg -x "$f" $D; done
find $D -type l | while read -r l; do t=$(readlink "$l"); case $t in /*) ln -sfn "$D$t" "$l" ;; esac; done
sed -i "s|^prefix=/usr\$|prefix=$D/usr|" $D/usr/lib/x86_64-linux-gnu/pkgconfig/*.pc $D/usr/share/pkgconfig/*.pc
LIBS=$D/usr/lib/x86_64-linux-gnu:$D/lib/x86_64-linux-gnu
printf '#!/bin/sh\nLD_LIBRARY_PATH=%s exec %s/usr/bin/pkgconf "$@"\n' "$LIBS" "$D" >$D/pkg-config
chmod +x $D/pkg-config
export PKG_CONFIG_LIBDIR=$D/usr/lib/x86_64-linux-gnu/pkgconfig:$D/usr/share/pkgconfig

stamp "building lmac from source"
cmake -S . -B build/dev -G Ninja -DCMAKE_BUILD_TYPE=Release -DLMAC_BUILD_TESTS=OFF -DLMAC_BUILD_MICROBENCH=OFF \
  -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DPKG_CONFIG_EXECUTABLE=$D/pkg-config -DCMAKE_PREFIX_PATH=$D/usr \
  "-DCMAKE_EXE_LINKER_FLAGS=-Wl,--disable-new-dtags,-rpath,$LIBS -Wl,-rpath-link,$LIBS" >"$OUT/cmake.log" 2>&1 || { tail -30 "$OUT/cmake.log"; exit 1; }
cmake --build build/dev -j "$(nproc)" >"$OUT/build.log" 2>&1 || { grep -m20 -B2 -A8 "error" "$OUT/build.log"; exit 1; }
LMAC=$PWD/build/dev/lmac
ldd "$LMAC" | grep -E "libm\.|libc\.|sndfile|gomp"
grep -E "lmac CUDA backend" "$OUT/cmake.log"

stamp "llama.cpp (llama-bench, CPU) in the background"
(mkdir -p /tmp/llamacpp && tar -C /tmp/llamacpp -xJf .device/llamacpp-src.tar.xz &&
  cmake -S /tmp/llamacpp/llama.cpp -B /tmp/llamacpp/build -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DGGML_CUDA=OFF \
    -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF >/dev/null &&
  cmake --build /tmp/llamacpp/build --target llama-bench -j "$(nproc)" >/tmp/llamacpp/build.log 2>&1) &
llama_build=$!

if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  GLMAC="timeout 120 $LMAC"  # a kernel that hangs must not take the session's device time
  stamp "GPU: every operation against the CPU"
  $GLMAC --device cuda check-device
  for nr in 2 4 8; do  # every Q8_0 warp shape (by default small checks take 1 token tile)
    LMAC_CUDA_Q8_TOKEN_TILES=$nr $GLMAC --device cuda check-device | tail -1 | sed "s/^/token tiles $nr: /"
  done
  stamp "GPU: streams of the bundled model, same bytes as the dev machine's CPU, decoded by the CPU"
  G=/tmp/gpu && mkdir -p $G
  for batch in 1 16; do
    $GLMAC --device cuda compress -q -f --batch $batch xm/data/a8.wav -o $G/a8.lmac && cmp $G/a8.lmac xm/data/a8.lmac &&
      echo "batch $batch: 8-bit subword stream from the GPU == dev machine CPU" || echo "batch $batch: a8 GPU MISMATCH"
    $GLMAC --device cuda compress -q -f --batch $batch --tokenization char xm/data/b16.wav -o $G/b16.lmac &&
      cmp $G/b16.lmac xm/data/b16.lmac && echo "batch $batch: 16-bit char stream from the GPU == dev machine CPU" ||
      echo "batch $batch: b16 GPU MISMATCH"
  done
  $GLMAC --device cuda compress -q -f --tokenization char xm/data/a8.wav -o $G/a8c.lmac
  $LMAC --device cpu decompress -q -f $G/a8c.lmac -o $G/a8c.wav && cmp $G/a8c.wav xm/data/a8.wav &&
    echo "GPU-made char stream decoded by the CPU: identical" || echo "GPU->CPU decode MISMATCH"
  $GLMAC --device cuda decompress -q -f xm/data/a8.lmac -o $G/a8.wav && cmp $G/a8.wav xm/data/a8.wav &&
    echo "dev-machine stream decoded by the GPU: identical" || echo "CPU->GPU decode MISMATCH"
  for d in cuda cpu; do
    /usr/bin/time -f "$d: compress 8-bit %e s" $LMAC --device $d compress -q -f xm/data/a8.wav -o $G/t.lmac
    /usr/bin/time -f "$d: decompress 8-bit %e s" $LMAC --device $d decompress -q -f $G/t.lmac -o $G/t.wav
  done
  ls -l xm/data/a8.wav | awk '{print "a8.wav: " $5 " bytes"}'
fi

stamp "cross-machine check with lmac built here from source"
LMAC=$LMAC bash xm/check.sh 2>&1 | grep -v "^prefill\|^decode\|^peak\|threads, kernels"
stamp "cross-machine check with the binary packed on the dev machine"
bash xm/check.sh 2>&1 | grep -E "identical|MISMATCH|PASS|FAIL"

stamp "generating the 1.1B TinyLlama-shaped Q8_0 file"
build/dev/bench/lmac_make_model /tmp/tl11.gguf
if command -v nvidia-smi >/dev/null; then
  stamp "GPU speed: 1.1B TinyLlama-shaped Q8_0, Q8_0 warps' token tiles chosen by shape, then forced"
  timeout 90 $LMAC --device cuda bench /tmp/tl11.gguf --prefill 2048 --decode 16 --batches 1,64 --reps 1
  for nr in 2 8; do
    LMAC_CUDA_Q8_TOKEN_TILES=$nr timeout 60 $LMAC --device cuda bench /tmp/tl11.gguf --prefill 2048 --decode 16 \
      --batches 64 --reps 1 | sed "s/^/token tiles $nr: /"
  done
  stamp "GPU: weights in their block format (2-layer 1.1B-shaped Q4_K, Q6_K and IQ2_XS: integer products; F16): GPU stream == CPU stream"
  for t in q4_k q6_k iq2_xs f16; do
    build/dev/bench/lmac_make_model /tmp/tl_$t.gguf --shape tinyllama-1.1b $t 2
    $GLMAC --device cuda compress -q -f -m /tmp/tl_$t.gguf --model-only xm/data/a8.wav -o $G/$t.gpu.lmac
    timeout 120 $LMAC --device cpu compress -q -f -m /tmp/tl_$t.gguf --model-only xm/data/a8.wav -o $G/$t.cpu.lmac
    cmp $G/$t.gpu.lmac $G/$t.cpu.lmac && echo "$t: GPU stream == CPU stream" || echo "$t: GPU/CPU stream MISMATCH"
    timeout 60 $LMAC --device cuda bench /tmp/tl_$t.gguf --prefill 2048 --decode 16 --batches 1,64 --reps 1 |
      sed "s/^/$t: /"
    rm -f /tmp/tl_$t.gguf
  done
  stamp "GPU speed: 7B Llama-2-shaped Q8_0 (generated here), 2048-token chunks, 64 and 128 chunks decoding"
  build/dev/bench/lmac_make_model /tmp/l7b.gguf 4096 32 11008 32 32
  timeout 240 $LMAC --device cuda bench /tmp/l7b.gguf --prefill 2048 --decode 16 --batches 64,128 --context 256 \
    --reps 1 &
  sleep 45; nvidia-smi --query-gpu=memory.used --format=csv,noheader; wait
  stamp "GPU: the codec with the 7B file, 70 chunks of 8-bit audio (char), batch chosen by the GPU's memory"
  timeout 150 $LMAC -v --device cuda compress -f -m /tmp/l7b.gguf --model-only --tokenization char xm/data/c8.wav \
    -o $G/c8.lmac 2>&1 | grep -E "KB/s|error"
  timeout 200 $LMAC -v --device cuda decompress -f -m /tmp/l7b.gguf $G/c8.lmac -o $G/c8.wav 2>&1 | grep -E "KB/s|error"
  cmp $G/c8.wav xm/data/c8.wav && echo "7B GPU round trip: identical" || echo "7B GPU round trip MISMATCH"
  stamp "GPU: where the 7B passes spend their time (each operation waits for the GPU)"
  timeout 120 $LMAC --device cuda bench /tmp/l7b.gguf --prefill 2048 --decode 8 --batches 64 --context 256 --reps 1 \
    --profile
  rm -f /tmp/l7b.gguf
fi
wait $llama_build && echo "llama-bench built" || { echo "llama-bench build FAILED"; tail -20 /tmp/llamacpp/build.log; }
LB=/tmp/llamacpp/build/bin/llama-bench

stamp "thread scaling (tok/s): prefill 128 / decode 32, batch 1; llama.cpp and lmac alternate"
R=$OUT/scaling
mkdir -p $R
for m in xm/data/tinyllama-text-15m-q8_0.gguf /tmp/tl11.gguf; do
  for t in 1 4 8 16; do
    n=$(basename $m .gguf)-t$t
    [ -x $LB ] && $LB -m $m -t $t -p 128 -n 32 -r 2 -o csv >$R/$n.csv 2>/dev/null
    $LMAC bench $m -T $t --prefill 128 --decode 32 --batches 1 --reps 2 --json $R/$n.json >/dev/null
  done
done
python3 - $R <<'PY'
import csv, json, os, sys
r = sys.argv[1]
for m in ("tinyllama-text-15m-q8_0", "tl11"):
    for t in (1, 4, 8, 16):
        n = f"{r}/{m}-t{t}"
        if not os.path.exists(n + ".json"):
            print(f"{m} threads {t}: lmac bench did not run"); continue
        j = json.load(open(n + ".json"))
        ll = {"pp": float("nan"), "tg": float("nan")}
        if os.path.exists(n + ".csv"):
            for row in csv.DictReader(open(n + ".csv")):
                ll["pp" if int(row["n_prompt"]) else "tg"] = float(row["avg_ts"])
        pp, tg = j["prefill_tok_s"], j["decode_tok_s"]["1"]
        print(f"{m:26s} threads {t:2d}: prefill 128 lmac {pp:9.1f} llama.cpp {ll['pp']:9.1f} ({pp/ll['pp']:.2f}x)"
              f" | decode lmac {tg:8.1f} llama.cpp {ll['tg']:8.1f} ({tg/ll['tg']:.2f}x)")
PY
stamp "done"
