// Causal attention on the CPU, the order of operations stated at Backend::attention:
// AVX-512, AVX2 and scalar paths give the same bits.
#pragma once

#include <cstddef>
#include <span>

#include "lmac/lm/backend.hpp"

namespace lmac::cpu {

void attention(std::span<const AttentionJob> jobs, size_t n_head, size_t n_kv_head, size_t head_dim, int threads);

}  // namespace lmac::cpu
