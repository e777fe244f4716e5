// What the token codec (chunk_codec.cpp) and the audio codec (audio_chunk_codec.cpp)
// share: groups of chunks, the predictor each group runs with, the feeding of a group's
// positions through it, progress reported as groups finish on any thread, and the
// verbatim record of an incompressible chunk.
#pragma once

#include <algorithm>
#include <functional>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "lmac/codec/chunk_codec.hpp"
#include "lmac/common/parallel.hpp"

namespace lmac {

// `members` cut, in order, into groups of `batch` (the last may be shorter).
inline std::vector<std::vector<size_t>> batches(const std::vector<size_t>& members, int batch) {
  std::vector<std::vector<size_t>> groups;
  const size_t b = static_cast<size_t>(std::max(1, batch));
  for (size_t start = 0; start < members.size(); start += b)
    groups.emplace_back(members.begin() + static_cast<ptrdiff_t>(start),
                        members.begin() + static_cast<ptrdiff_t>(std::min(members.size(), start + b)));
  return groups;
}

// Encoders feed at most this many positions of one chunk per call, which bounds the
// memory of the distributions (positions x alphabet) whatever the chunk size.
constexpr size_t kSliceTokens = 16;

// Encoding a group whose symbols are known: sequence g is fed BOS, then symbol(g, t)
// for t = 0 .. lengths[g] - 2, a slice per chunk and call; use(g, t, table) gets the
// distribution of position t. The sequences are released at the end.
template <typename Symbol, typename Use>
void feed_known(Predictor& pred, const std::vector<size_t>& lengths, Symbol&& symbol, Use&& use) {
  std::vector<size_t> fed(lengths.size(), 0);  // positions fed so far (BOS is position 0)
  std::vector<Feed> feeds;
  std::vector<std::pair<size_t, size_t>> who;  // (chunk in group, position it predicts)
  std::vector<FreqTable> out;
  for (;;) {
    feeds.clear();
    who.clear();
    for (size_t g = 0; g < lengths.size(); ++g)
      for (size_t k = 0; k < kSliceTokens && fed[g] < lengths[g]; ++k, ++fed[g]) {
        feeds.push_back({static_cast<uint32_t>(g), fed[g] == 0 ? kStartOfSequence : symbol(g, fed[g] - 1)});
        who.emplace_back(g, fed[g]);
      }
    if (feeds.empty()) break;
    out.resize(feeds.size());
    pred.feed(feeds, out);
    for (size_t i = 0; i < feeds.size(); ++i) use(who[i].first, who[i].second, out[i]);
  }
  for (size_t g = 0; g < lengths.size(); ++g) pred.release(static_cast<uint32_t>(g));
}

// Decoding a group: sequence g is fed BOS, then each symbol that decide(g, table)
// returns, until it has had lengths[g] distributions; one position of every live chunk
// per call. The sequences are released at the end.
template <typename Decide>
void feed_decoded(Predictor& pred, const std::vector<size_t>& lengths, Decide&& decide) {
  std::vector<size_t> done(lengths.size(), 0);
  std::vector<Feed> feeds, next;
  std::vector<size_t> who, next_who;
  std::vector<FreqTable> out;
  for (size_t g = 0; g < lengths.size(); ++g)
    if (lengths[g] > 0) feeds.push_back({static_cast<uint32_t>(g), kStartOfSequence}), who.push_back(g);
  while (!feeds.empty()) {
    out.resize(feeds.size());
    pred.feed(feeds, out);
    next.clear();
    next_who.clear();
    for (size_t i = 0; i < feeds.size(); ++i) {
      const size_t g = who[i];
      const int32_t s = decide(g, out[i]);
      if (++done[g] < lengths[g]) next.push_back({static_cast<uint32_t>(g), s}), next_who.push_back(g);
    }
    feeds.swap(next);
    who.swap(next_who);
  }
  for (size_t g = 0; g < lengths.size(); ++g) pred.release(static_cast<uint32_t>(g));
}

// Calls fn(group, predictor) for `members` (cost[k]: the work of members[k], e.g. its
// bytes) in groups of at most `batch`. With parallel predictors (or none needed: mode
// none, fn gets null) groups run side by side, each with a one-thread predictor of its
// own, and are balanced so that every thread has as much to do: no decode step then
// waits for another thread, and a busy machine costs only the time its cores are taken.
// Otherwise, or when only one group is possible, one predictor gets every thread and
// the groups run one after another. Bits do not depend on the grouping.
template <typename Fn>
void run_batches(const CodecModel& model, std::optional<TokenMode> mode, const std::vector<size_t>& members,
                 const std::vector<size_t>& cost, int batch, const CodecOptions& o, Fn&& fn) {
  const size_t threads = static_cast<size_t>(std::max(1, o.threads)), b = static_cast<size_t>(std::max(1, batch));
  if (members.empty()) return;
  if (!mode || model.parallel_predictors()) {
    // A whole number of rounds of `threads` groups, each within the batch.
    const size_t rounds = (members.size() + b * threads - 1) / (b * threads);
    const auto groups = balanced_groups(members, cost, std::min(members.size(), rounds * threads));
    if (!mode || groups.size() > 1) {
      parallel_tasks(o.threads, groups.size(), [&](size_t gi) {
        auto pred = mode ? model.predictor(*mode, 1) : nullptr;
        fn(groups[gi], pred.get());
      });
      return;
    }
  }
  auto pred = model.predictor(*mode, o.threads);
  for (const auto& g : batches(members, batch)) fn(g, pred.get());
}

// The chunk's bytes as they are: when the model cannot make them smaller.
inline void store_verbatim(ChunkRecord& r, ByteSpan chunk) {
  r.stored = true;
  r.mode = TokenMode::Char;
  r.token_count = 0;
  r.tokens.assign(chunk.begin(), chunk.end());
  r.residual_mode = ResidualMode::Packed;
  r.residual.clear();
}

class ChunkProgress {
 public:
  ChunkProgress(const std::function<void(size_t, size_t)>& report, size_t total) : report_(report), total_(total) {}

  void add(size_t n) {
    std::lock_guard g(lock_);
    done_ += n;
    if (report_) report_(done_, total_);
  }

 private:
  const std::function<void(size_t, size_t)>& report_;
  size_t total_, done_ = 0;
  std::mutex lock_;
};

}  // namespace lmac
