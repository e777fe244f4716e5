#include "lmac/coding/context_model.hpp"

#include "lmac/common/error.hpp"

namespace lmac {
namespace {

void bump(std::array<uint16_t, Order2Predictor::kAlphabet>& c, int32_t s, uint16_t by) {
  c[static_cast<size_t>(s)] = static_cast<uint16_t>(c[static_cast<size_t>(s)] + by);
  if (c[static_cast<size_t>(s)] > 60000)
    for (auto& v : c) v = static_cast<uint16_t>(v >> 1);
}

}  // namespace

void Order2Predictor::State::update(int32_t s) {
  bump(order0, s, 1);
  bump(order1[static_cast<uint32_t>(prev1)], s, 1);
  bump(order2[static_cast<uint32_t>(prev2 << 7 | prev1)], s, 1);
  prev2 = prev1;
  prev1 = s;
}

void Order2Predictor::State::predict(FreqTable& out) {
  static const Counts kZero{};
  auto find = [](const std::unordered_map<uint32_t, Counts>& m, uint32_t k) -> const Counts& {
    auto it = m.find(k);
    return it == m.end() ? kZero : it->second;
  };
  const Counts& c1 = find(order1, static_cast<uint32_t>(prev1));
  const Counts& c2 = find(order2, static_cast<uint32_t>(prev2 << 7 | prev1));
  out.freq.resize(kAlphabet);
  for (size_t i = 0; i < kAlphabet; ++i) out.freq[i] = 1 + 2u * order0[i] + 8u * c1[i] + 32u * c2[i];
  out.recompute_total();
  // Long chunks grow the counts; halving keeps the total codable (<= 2^24).
  while (out.total > (1u << 24)) {
    for (auto& f : out.freq) f = 1 + f / 2;
    out.recompute_total();
  }
}

void Order2Predictor::feed(std::span<const Feed> feeds, std::span<FreqTable> out) {
  if (feeds.size() != out.size()) fail("predictor: feed/output size mismatch");
  for (size_t i = 0; i < feeds.size(); ++i) {
    auto& st = states_[feeds[i].seq];
    if (feeds[i].symbol == kStartOfSequence) {
      st = std::make_unique<State>();
    } else {
      if (!st) fail("predictor: sequence fed before it was started");
      if (feeds[i].symbol < 0 || feeds[i].symbol >= static_cast<int32_t>(kAlphabet))
        fail("predictor: symbol out of range");
      st->update(feeds[i].symbol);
    }
    st->predict(out[i]);
  }
}

}  // namespace lmac
