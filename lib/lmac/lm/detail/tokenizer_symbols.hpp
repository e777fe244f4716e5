// The linked list of symbols both tokenizers merge: one entry per UTF-8 character of a
// text, merged in place (a merged-away symbol keeps n = 0).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace lmac {

inline size_t utf8_len(uint8_t lead) {
  static const size_t lookup[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return lookup[lead >> 4];
}

struct MergeSymbol {
  int prev, next;   // neighbours in the list, -1 at the ends
  size_t start, n;  // bytes of the text this symbol covers
};

inline std::vector<MergeSymbol> split_utf8(std::string_view text) {
  std::vector<MergeSymbol> sym;
  for (size_t off = 0; off < text.size();) {
    size_t n = std::min(text.size() - off, utf8_len(static_cast<uint8_t>(text[off])));
    int idx = static_cast<int>(sym.size());
    sym.push_back({idx - 1, off + n == text.size() ? -1 : idx + 1, off, n});
    off += n;
  }
  return sym;
}

// Merges symbol `right` into its left neighbour `left`.
inline void merge_symbols(std::vector<MergeSymbol>& sym, int left, int right) {
  MergeSymbol& l = sym[static_cast<size_t>(left)];
  MergeSymbol& r = sym[static_cast<size_t>(right)];
  l.n += r.n;
  r.n = 0;
  l.next = r.next;
  if (r.next >= 0) sym[static_cast<size_t>(r.next)].prev = left;
}

}  // namespace lmac
