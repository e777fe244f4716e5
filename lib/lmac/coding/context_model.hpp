// The built-in adaptive context model over 7-bit symbols ("builtin:order2"): counts of
// orders 0, 1 and 2 mixed with fixed integer weights, learned afresh for every chunk.
// Needs no model file; it is the baseline the Llama engine is compared against.
#pragma once

#include <array>
#include <memory>
#include <unordered_map>

#include "lmac/coding/predictor.hpp"

namespace lmac {

class Order2Predictor final : public Predictor {
 public:
  static constexpr uint32_t kAlphabet = 128;
  uint32_t alphabet_size() const override { return kAlphabet; }
  void feed(std::span<const Feed> feeds, std::span<FreqTable> out) override;
  void release(uint32_t seq) override { states_.erase(seq); }

 private:
  using Counts = std::array<uint16_t, kAlphabet>;
  struct State {
    Counts order0{};
    std::unordered_map<uint32_t, Counts> order1, order2;
    int32_t prev1 = 0, prev2 = 0;
    void update(int32_t symbol);
    void predict(FreqTable& out);
  };
  std::unordered_map<uint32_t, std::unique_ptr<State>> states_;
};

}  // namespace lmac
