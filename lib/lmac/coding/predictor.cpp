#include "lmac/coding/predictor.hpp"

#include <vector>

#include "lmac/common/error.hpp"

namespace lmac {

void Predictor::feed_intervals(std::span<const Feed> feeds, std::span<const int32_t> coded, std::span<Interval> out) {
  if (coded.size() != feeds.size() || out.size() != feeds.size()) fail("predictor: feed/output size mismatch");
  thread_local std::vector<FreqTable> tables;
  tables.resize(feeds.size());
  feed(feeds, tables);
  for (size_t i = 0; i < feeds.size(); ++i) {
    if (coded[i] < 0 || static_cast<size_t>(coded[i]) >= tables[i].freq.size())
      fail("token outside the model's alphabet");
    out[i] = tables[i].interval(static_cast<uint32_t>(coded[i]));
  }
}

void Predictor::feed_search(std::span<const Feed> feeds, const TargetFn& target, std::span<int32_t> symbols,
                            std::span<Interval> out) {
  if (symbols.size() != feeds.size() || out.size() != feeds.size()) fail("predictor: feed/output size mismatch");
  thread_local std::vector<FreqTable> tables;
  tables.resize(feeds.size());
  feed(feeds, tables);
  for (size_t i = 0; i < feeds.size(); ++i) {
    uint32_t cum = 0;
    const uint32_t s = tables[i].find(target(i, tables[i].total), &cum);
    symbols[i] = static_cast<int32_t>(s);
    out[i] = {cum, tables[i].freq[s], tables[i].total};
  }
}

}  // namespace lmac
