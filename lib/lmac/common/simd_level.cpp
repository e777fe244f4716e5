#include "lmac/common/simd_level.hpp"

#include <cpuid.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>

namespace lmac {
namespace {

bool cpu_has_f16c() {  // clang has no __builtin_cpu_supports("f16c")
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
}

int detect_simd_level() {
  int level = 0;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c()) level = 1;
  if (level == 1 && __builtin_cpu_supports("avx512f")) level = 2;
  if (const char* e = std::getenv("LMAC_SIMD")) {
    if (std::string(e) == "scalar")
      level = 0;
    else if (std::string(e) == "avx2" || std::string(e) == "avx2-novnni")
      level = std::min(level, 1);
  }
  return level;
}

bool cpu_has_avx_vnni() {  // CPUID leaf 7, sub-leaf 1, EAX bit 4 (no __builtin_cpu_supports name in clang 14)
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 4)) != 0;
}

bool detect_avx_vnni() {
  const char* e = std::getenv("LMAC_SIMD");
  return cpu_has_avx_vnni() && !(e != nullptr && std::string(e) == "avx2-novnni");
}

const int g_cpu_level = detect_simd_level();
const bool g_cpu_avx_vnni = detect_avx_vnni();
std::atomic<int> g_level_cap{2};
std::atomic<bool> g_avx_vnni_allowed{true};

}  // namespace

int simd_level() { return std::min(g_cpu_level, g_level_cap.load(std::memory_order_relaxed)); }

void set_cpu_simd_level(int level) { g_level_cap = std::clamp(level, 0, 2); }

bool have_avx_vnni() { return have_avx2() && g_cpu_avx_vnni && g_avx_vnni_allowed.load(std::memory_order_relaxed); }

void set_cpu_avx_vnni(bool allowed) { g_avx_vnni_allowed = allowed; }

const char* cpu_simd_name() {
  static const char* names[] = {"scalar", "avx2+fma", "avx512f"};
  return names[simd_level()];
}

}  // namespace lmac
