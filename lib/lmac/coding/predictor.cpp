#include "lmac/coding/predictor.hpp"

#include <cstdint>
#include <vector>

#include "lmac/common/error.hpp"

namespace lmac {

size_t Predictor::capacity(size_t, size_t) const { return SIZE_MAX; }

void Predictor::feed_intervals(std::span<const Feed> feeds, std::span<const int32_t> coded, std::span<Interval> out) {
  if (coded.size() != feeds.size() || out.size() != feeds.size()) fail("predictor: feed/output size mismatch");
  check_symbols(coded, alphabet_size());
  thread_local std::vector<FreqTable> tables;
  tables.resize(feeds.size());
  feed(feeds, tables);
  for (size_t i = 0; i < feeds.size(); ++i) out[i] = tables[i].interval(static_cast<uint32_t>(coded[i]));
}

void Predictor::feed_search(std::span<const Feed> feeds, const TargetFn& target, std::span<int32_t> symbols,
                            std::span<Interval> out) {
  if (symbols.size() != feeds.size() || out.size() != feeds.size()) fail("predictor: feed/output size mismatch");
  thread_local std::vector<FreqTable> tables;
  tables.resize(feeds.size());
  feed(feeds, tables);
  for (size_t i = 0; i < feeds.size(); ++i) out[i] = tables[i].locate(target(i, tables[i].total), &symbols[i]);
}

}  // namespace lmac
