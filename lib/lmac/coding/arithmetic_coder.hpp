// A 32-bit binary arithmetic coder (Witten, Neal and Cleary, with pending bits) over
// integer frequencies. Totals up to 2^30 keep every symbol of frequency >= 1 codable:
// after renormalization the range always exceeds 2^30, and range x total fits 64 bits.
#pragma once

#include <cstdint>

#include "lmac/common/bytes.hpp"

namespace lmac {

constexpr uint32_t kMaxTotal = 1u << 30;

class ArithmeticEncoder {
 public:
  // Codes the interval [cum, cum + freq) of [0, total); requires freq >= 1, total <= kMaxTotal.
  void encode(uint32_t cum, uint32_t freq, uint32_t total);
  // Flushes and returns the coded bytes; the encoder is then spent.
  Bytes finish();
  // The bits the coding has taken so far: those emitted, pending, and what the narrowed
  // interval has yet to emit (within a bit of the cost, -log2 of the product of the
  // coded probabilities). Two encoders compare by it before either finishes.
  uint64_t bits() const;

 private:
  void emit(int bit);
  uint64_t low_ = 0, high_ = 0xFFFFFFFFu;
  uint64_t pending_ = 0;
  Bytes out_;
  uint32_t bitbuf_ = 0;
  int nbits_ = 0;
};

class ArithmeticDecoder {
 public:
  explicit ArithmeticDecoder(ByteSpan data);
  // The cumulative frequency that the next symbol's interval contains.
  uint32_t target(uint32_t total) const;
  // Consumes the symbol whose interval is [cum, cum + freq).
  void consume(uint32_t cum, uint32_t freq, uint32_t total);
  // Bits read past the end of the data (a well-formed stream reads at most 32 + 2).
  uint64_t overrun_bits() const { return overrun_; }

 private:
  int next_bit();
  ByteSpan data_;
  size_t bitpos_ = 0;
  uint64_t overrun_ = 0;
  uint64_t low_ = 0, high_ = 0xFFFFFFFFu, value_ = 0;
};

}  // namespace lmac
