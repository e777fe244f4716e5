#!/usr/bin/env bash
# Writes lib/lmac/lm/detail/iq_grids.hpp: the codebooks of ggml's lattice types (IQ2_XXS,
# IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M), copied from ggml-common.h of the
# llama.cpp that scripts/build-llamacpp.sh pins (MIT license, "Copyright (c) 2023-2026
# The ggml authors"). The tables are data of the format, not code: a GGUF file's grid
# indices mean these entries. Run once; the header is committed.
#   scripts/make-iq-grids.sh
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(bash scripts/build-llamacpp.sh ggml-base)
commit=$(git -C "$src" rev-parse HEAD)
python3 - "$src/ggml/src/ggml-common.h" "$commit" >lib/lmac/lm/detail/iq_grids.hpp <<'PY'
import re, sys
text = open(sys.argv[1]).read()
tables = [("iq2xxs_grid", "uint64_t", 256, "Iq2xxs"), ("iq2xs_grid", "uint64_t", 512, "Iq2xs"),
          ("iq2s_grid", "uint64_t", 1024, "Iq2s"), ("iq3xxs_grid", "uint32_t", 256, "Iq3xxs"),
          ("iq3s_grid", "uint32_t", 512, "Iq3s"), ("iq1s_grid", "uint64_t", 2048, "Iq1s")]
out = [f"""// The codebooks of ggml's lattice types, entry for entry as ggml-common.h of llama.cpp
// {sys.argv[2]} has them (MIT license, Copyright (c) 2023-2026 The ggml
// authors). Written by scripts/make-iq-grids.sh; do not edit. Each entry is 8 (uint64_t:
// IQ2_*, IQ1_*) or 4 (uint32_t: IQ3_*) values as bytes, least significant first: IQ2's
// magnitudes 8, 25, 43; IQ3_XXS's 4, 12, ..., 52, 62; IQ3_S's 1, 3, ..., 15; IQ1's
// signed -1, 0, 1. The host reads the constexpr tables; device code (nvcc) its own copies.
#pragma once

#include <cstdint>

#include "lmac/lm/detail/kernel_math.hpp"
"""]
for name, ctype, n, cname in tables:
    m = re.search(r"GGML_TABLE_BEGIN\(" + ctype + r", " + name + r", [A-Z_0-9]+\)(.*?)GGML_TABLE_END", text, re.S)
    vals = re.findall(r"0x[0-9a-fA-F]+", m.group(1))
    assert len(vals) == n, (name, len(vals))
    per = 4 if ctype == "uint64_t" else 6
    lines = [", ".join(vals[i:i + per]) for i in range(0, n, per)]
    out.append(f"#define LMAC_{cname.upper()}_GRID \\\n  " + ", \\\n  ".join(lines) + "\n")
out.append("namespace lmac::km {\n\nnamespace grids {")
for name, ctype, n, cname in tables:
    out.append(f"inline constexpr {ctype} k{cname}[{n}] = {{LMAC_{cname.upper()}_GRID}};")
out.append("#if defined(__CUDACC__)")
for name, ctype, n, cname in tables:
    out.append(f"__device__ const {ctype} k{cname}Device[{n}] = {{LMAC_{cname.upper()}_GRID}};")
out.append("#endif\n}  // namespace grids\n")
for name, ctype, n, cname in tables:
    out.append(f"""LMAC_HD {ctype} {name}(uint32_t i) {{
#if defined(__CUDA_ARCH__)
  return grids::k{cname}Device[i];
#else
  return grids::k{cname}[i];
#endif
}}""")
out.append("\n}  // namespace lmac::km")
for name, ctype, n, cname in tables:
    out.append(f"#undef LMAC_{cname.upper()}_GRID")
print("\n".join(out))
PY
echo "lib/lmac/lm/detail/iq_grids.hpp from llama.cpp $commit" >&2
