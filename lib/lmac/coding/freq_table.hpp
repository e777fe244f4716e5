// Integer frequencies for the arithmetic coder, made deterministically from model
// outputs. Every symbol gets at least 1, so any symbol stays codable.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace lmac {

struct FreqTable {
  std::vector<uint32_t> freq;
  uint32_t total = 0;

  // Cumulative frequency below symbol s (linear; tables are rebuilt every symbol).
  uint32_t cum_below(uint32_t s) const;
  // The symbol whose interval contains target, and its cumulative start.
  uint32_t find(uint32_t target, uint32_t* cum) const;
  void recompute_total();
};

// softmax(logits) scaled to about `total_bits` bits, floor 1. A pure function of the
// logit bits: own exp, a fixed summation order, no library math (DESIGN: Determinism).
void freq_from_logits(std::span<const float> logits, int total_bits, FreqTable& out);

}  // namespace lmac
