// A build without CUDA (nvcc was not found, or LMAC_CUDA=OFF): no GPU is ever usable.
#include "lmac/common/error.hpp"
#include "lmac/lm/cuda_backend.hpp"

namespace lmac {

int cuda_device_count(std::string* why) {
  if (why != nullptr) *why = "this lmac was built without CUDA (LMAC_CUDA=OFF or no nvcc)";
  return 0;
}

std::unique_ptr<Backend> make_cuda_backend(int) { fail("this lmac was built without CUDA"); }

}  // namespace lmac
