// Integer frequencies for the arithmetic coder, made deterministically from model
// outputs. Every symbol gets at least 1, so any symbol stays codable.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace lmac {

// A symbol's coding interval: [cum, cum + freq) of total.
struct Interval {
  uint32_t cum = 0, freq = 0, total = 0;
};

// A decoder's target in a table of the given total, for distribution i of a batch.
using TargetFn = std::function<uint32_t(size_t i, uint32_t total)>;

struct FreqTable {
  std::vector<uint32_t> freq;
  uint32_t total = 0;

  // Cumulative frequency below symbol s (linear; tables are rebuilt every symbol).
  uint32_t cum_below(uint32_t s) const;
  // The symbol whose interval contains target, and its cumulative start.
  uint32_t find(uint32_t target, uint32_t* cum) const;
  Interval interval(uint32_t s) const { return {cum_below(s), freq[s], total}; }
  // The symbol whose interval contains target (*symbol), and that interval.
  Interval locate(uint32_t target, int32_t* symbol) const;
  void recompute_total();
};

// Throws unless a table of n symbols fits total_bits bits (at most 30, 2n <= 2^bits).
void check_freq_size(size_t n, int total_bits);
// Throws unless every symbol is one of an alphabet of n.
void check_symbols(std::span<const int32_t> symbols, size_t n);

// softmax(logits) scaled to about `total_bits` bits, floor 1. A pure function of the
// logit bits: own exp, a fixed summation order, no library math (DESIGN: Determinism).
void freq_from_logits(std::span<const float> logits, int total_bits, FreqTable& out);

}  // namespace lmac
