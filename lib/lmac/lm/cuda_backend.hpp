// The CUDA backend (lm/cuda_backend.cu, built when nvcc is found: LMAC_CUDA=AUTO). Its
// kernels run the per-thread functions of lm/kernel_math.hpp, so the bits are the CPU
// backend's (docs/ARITHMETIC.md); a stream made on one decodes on the other.
#pragma once

#include <memory>
#include <string>

#include "lmac/lm/backend.hpp"

namespace lmac {

// Usable CUDA GPUs; 0 with the reason in *why when there are none (no driver, no GPU,
// a build without CUDA).
int cuda_device_count(std::string* why = nullptr);
// A backend on GPU `device`. Throws with the cause when the GPU cannot be used.
std::unique_ptr<Backend> make_cuda_backend(int device);

}  // namespace lmac
