// Which backend the model commands get: --device / LMAC_DEVICE, "auto" by default.
#include <fmt/format.h>

#include <cstdlib>
#include <mutex>
#include <string>

#include "lmac/common/error.hpp"
#include "lmac/lm/backend.hpp"
#include "lmac/lm/cuda_backend.hpp"

namespace lmac {
namespace {

struct Device {
  enum Kind { Cpu, Cuda, Grid } kind = Cpu;
  int index = 0;
};

std::mutex g_mutex;
std::string g_spec;  // empty: not chosen yet (LMAC_DEVICE or "auto" on first use)
Device g_device;
std::string g_auto_note;  // why "auto" chose the CPU

Device resolve(const std::string& spec) {
  g_auto_note.clear();
  if (spec == "cpu") return {Device::Cpu, 0};
  if (spec == "grid") return {Device::Grid, 0};
  if (spec == "auto") {
    std::string why;
    if (cuda_device_count(&why) > 0) return {Device::Cuda, 0};
    g_auto_note = " (auto: no usable CUDA GPU: " + why + ")";
    return {Device::Cpu, 0};
  }
  if (spec == "cuda" || spec.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (spec.size() > 5) {
      char* end = nullptr;
      const long v = std::strtol(spec.c_str() + 5, &end, 10);
      if (*end != '\0' || v < 0 || v > 1024) fail(fmt::format("--device {}: not a device number", spec));
      index = static_cast<int>(v);
    }
    std::string why;
    const int n = cuda_device_count(&why);
    if (n == 0) fail(fmt::format("--device {}: no usable CUDA GPU ({})", spec, why));
    if (index >= n) fail(fmt::format("--device {}: only {} CUDA GPU(s) present", spec, n));
    return {Device::Cuda, index};
  }
  fail(fmt::format("--device {}: expected auto, cpu, cuda, cuda:N or grid", spec));
}

}  // namespace

void select_device(const std::string& spec) {
  std::lock_guard lock(g_mutex);
  g_device = resolve(spec);
  g_spec = spec;
}

std::string selected_device() {
  std::lock_guard lock(g_mutex);
  if (g_spec.empty()) {
    const char* env = std::getenv("LMAC_DEVICE");
    g_spec = env != nullptr && *env != '\0' ? env : "auto";
    g_device = resolve(g_spec);
  }
  switch (g_device.kind) {
    case Device::Cuda:
      return fmt::format("cuda:{}", g_device.index);
    case Device::Grid:
      return "grid";
    default:
      return "cpu" + g_auto_note;
  }
}

std::unique_ptr<Backend> make_backend(int threads) {
  selected_device();
  switch (g_device.kind) {
    case Device::Cuda:
      return make_cuda_backend(g_device.index);
    case Device::Grid:
      return make_grid_backend(threads);
    default:
      return make_cpu_backend(threads);
  }
}

}  // namespace lmac
