// The probability model behind the coder: it gives, for many independent sequences
// at once, the distribution of each sequence's next symbol. Both the built-in context
// models and the Llama engine implement it.
//
// Contract (DESIGN: Determinism): the table produced for a sequence is a pure function
// of that sequence's symbols so far; it must not depend on which other sequences share
// a call, on their order, or on the number of threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "lmac/coding/freq_table.hpp"

namespace lmac {

struct Feed {
  uint32_t seq;    // caller-chosen sequence id
  int32_t symbol;  // symbol appended to the sequence; kStartOfSequence starts it
};
constexpr int32_t kStartOfSequence = -1;

class Predictor {
 public:
  virtual ~Predictor() = default;
  virtual uint32_t alphabet_size() const = 0;
  // Applies the feeds in order and writes, for each, the distribution of the symbol
  // that follows it in its sequence. Several feeds may name the same sequence.
  virtual void feed(std::span<const Feed> feeds, std::span<FreqTable> out) = 0;
  // Forgets a sequence (its id may then be started again).
  virtual void release(uint32_t seq) = 0;
  // How many more sequences of up to `positions` symbols, each fed up to `per_call`
  // symbols a call, its device's free memory holds; SIZE_MAX where it computes in the
  // host's memory, which sets no limit of its own.
  virtual size_t capacity(size_t positions, size_t per_call) const;

  // What a coder needs instead of whole tables, so that a predictor on a device brings
  // back a few integers per symbol rather than a table. The defaults build the tables.
  //
  // Encoding: applies the feeds as feed() does; out[i] = the interval of coded[i] (the
  // symbol that follows feed i) in its distribution.
  virtual void feed_intervals(std::span<const Feed> feeds, std::span<const int32_t> coded, std::span<Interval> out);
  // Decoding: applies the feeds; for each, target(i, total) gives the coder's target in
  // a table of that total, and symbols[i] / out[i] get the symbol whose interval holds
  // it and that interval.
  virtual void feed_search(std::span<const Feed> feeds, const TargetFn& target, std::span<int32_t> symbols,
                           std::span<Interval> out);
};

}  // namespace lmac
