// What the token codec (chunk_codec.cpp) and the audio codec (audio_chunk_codec.cpp)
// share: groups of chunks, the predictor each group runs with, the feeding of a group's
// positions through it, progress reported as groups finish on any thread, and the
// verbatim record of an incompressible chunk.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
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
// for t = 0 .. lengths[g] - 2, a slice per chunk and call, while keep(g, t) holds before
// position t is fed (once false for a chunk, it must stay false: the chunk stops there);
// predict(feeds, who) runs one call, who[i] = (chunk in group, position feed i
// predicts). The sequences are released at the end.
template <typename Symbol, typename Predict, typename Keep>
void feed_slices_while(Predictor& pred, const std::vector<size_t>& lengths, Symbol&& symbol, Predict&& predict,
                       Keep&& keep) {
  std::vector<size_t> fed(lengths.size(), 0);  // positions fed so far (BOS is position 0)
  std::vector<Feed> feeds;
  std::vector<std::pair<size_t, size_t>> who;
  for (;;) {
    feeds.clear();
    who.clear();
    for (size_t g = 0; g < lengths.size(); ++g)
      for (size_t k = 0; k < kSliceTokens && fed[g] < lengths[g] && keep(g, fed[g]); ++k, ++fed[g]) {
        feeds.push_back({static_cast<uint32_t>(g), fed[g] == 0 ? kStartOfSequence : symbol(g, fed[g] - 1)});
        who.emplace_back(g, fed[g]);
      }
    if (feeds.empty()) break;
    predict(std::span<const Feed>(feeds), who);
  }
  for (size_t g = 0; g < lengths.size(); ++g) pred.release(static_cast<uint32_t>(g));
}

template <typename Symbol, typename Predict>
void feed_slices(Predictor& pred, const std::vector<size_t>& lengths, Symbol&& symbol, Predict&& predict) {
  feed_slices_while(pred, lengths, symbol, predict, [](size_t, size_t) { return true; });
}

// feed_slices_while with use(g, t, table) getting the distribution of position t.
template <typename Symbol, typename Use, typename Keep>
void feed_known_while(Predictor& pred, const std::vector<size_t>& lengths, Symbol&& symbol, Use&& use, Keep&& keep) {
  std::vector<FreqTable> out;
  feed_slices_while(
      pred, lengths, symbol,
      [&](std::span<const Feed> feeds, const auto& who) {
        out.resize(feeds.size());
        pred.feed(feeds, out);
        for (size_t i = 0; i < feeds.size(); ++i) use(who[i].first, who[i].second, out[i]);
      },
      keep);
}

template <typename Symbol, typename Use>
void feed_known(Predictor& pred, const std::vector<size_t>& lengths, Symbol&& symbol, Use&& use) {
  feed_known_while(pred, lengths, symbol, use, [](size_t, size_t) { return true; });
}

// feed_slices with use(g, t, interval) getting the interval of symbol(g, t), the
// symbol coded at position t.
template <typename Symbol, typename Use>
void feed_known_intervals(Predictor& pred, const std::vector<size_t>& lengths, Symbol&& symbol, Use&& use) {
  std::vector<int32_t> coded;
  std::vector<Interval> out;
  feed_slices(pred, lengths, symbol, [&](std::span<const Feed> feeds, const auto& who) {
    coded.resize(feeds.size());
    out.resize(feeds.size());
    for (size_t i = 0; i < feeds.size(); ++i) coded[i] = symbol(who[i].first, who[i].second);
    pred.feed_intervals(feeds, coded, out);
    for (size_t i = 0; i < feeds.size(); ++i) use(who[i].first, who[i].second, out[i]);
  });
}

// Decoding a group: sequence g is fed BOS, then each symbol decoded after it, until it
// has had lengths[g] distributions; one position of every live chunk per call.
// decode(feeds, who, symbols) decodes the symbol after each feed (who[i]: its chunk in
// the group). The sequences are released at the end.
template <typename Decode>
void feed_positions(Predictor& pred, const std::vector<size_t>& lengths, Decode&& decode) {
  std::vector<size_t> done(lengths.size(), 0);
  std::vector<Feed> feeds, next;
  std::vector<size_t> who, next_who;
  std::vector<int32_t> symbols;
  for (size_t g = 0; g < lengths.size(); ++g)
    if (lengths[g] > 0) feeds.push_back({static_cast<uint32_t>(g), kStartOfSequence}), who.push_back(g);
  while (!feeds.empty()) {
    symbols.resize(feeds.size());
    decode(std::span<const Feed>(feeds), std::span<const size_t>(who), std::span<int32_t>(symbols));
    next.clear();
    next_who.clear();
    for (size_t i = 0; i < feeds.size(); ++i) {
      const size_t g = who[i];
      if (++done[g] < lengths[g]) next.push_back({static_cast<uint32_t>(g), symbols[i]}), next_who.push_back(g);
    }
    feeds.swap(next);
    who.swap(next_who);
  }
  for (size_t g = 0; g < lengths.size(); ++g) pred.release(static_cast<uint32_t>(g));
}

// feed_positions with decide(g, table) returning the symbol decoded from the table.
template <typename Decide>
void feed_decoded(Predictor& pred, const std::vector<size_t>& lengths, Decide&& decide) {
  std::vector<FreqTable> out;
  feed_positions(pred, lengths, [&](std::span<const Feed> feeds, std::span<const size_t> who, std::span<int32_t> sym) {
    out.resize(feeds.size());
    pred.feed(feeds, out);
    for (size_t i = 0; i < feeds.size(); ++i) sym[i] = decide(who[i], out[i]);
  });
}

// feed_positions with the predictor's search: target(g, total) gives chunk g's coder
// target, consume(g, symbol, interval) takes what it found.
template <typename Target, typename Consume>
void feed_searched(Predictor& pred, const std::vector<size_t>& lengths, Target&& target, Consume&& consume) {
  std::vector<Interval> out;
  feed_positions(pred, lengths, [&](std::span<const Feed> feeds, std::span<const size_t> who, std::span<int32_t> sym) {
    out.resize(feeds.size());
    pred.feed_search(
        feeds, [&](size_t i, uint32_t total) { return target(who[i], total); }, sym, out);
    for (size_t i = 0; i < feeds.size(); ++i) consume(who[i], sym[i], out[i]);
  });
}

// The batch when the codec chooses (batch 0): the model's most, fewer where the
// predictor's device memory holds fewer sequences of the longest member (positions:
// its symbols and BOS; an encoder feeds a sequence kSliceTokens symbols a call).
inline int automatic_batch(const CodecModel& model, const Predictor& pred, const std::vector<size_t>& cost,
                           const CodecOptions& o) {
  const size_t positions = *std::max_element(cost.begin(), cost.end()) + 1;
  const size_t fits = pred.capacity(positions, kSliceTokens);
  const auto batch = static_cast<int>(std::clamp<size_t>(fits, 1, static_cast<size_t>(model.max_auto_batch())));
  if (o.note && fits < SIZE_MAX)
    o.note(
        fmt::format("batch {}: the device's free memory holds {} sequences of {} positions", batch, fits, positions));
  return batch;
}

// Tells CodecOptions::note how a run of chunks was grouped (`how`: where the groups run).
inline void note_grouping(const CodecOptions& o, std::optional<TokenMode> mode, size_t chunks, size_t groups,
                          size_t most, bool chosen, size_t threads, const char* how) {
  if (!o.note) return;
  const char* name = !mode ? "model-free" : *mode == TokenMode::Char ? "char" : "subword";
  o.note(fmt::format("{} {} chunks: {} group{} of at most {}{}, {} on {} thread{}", chunks, name, groups,
                     groups == 1 ? "" : "s", most, chosen ? " (the codec's choice)" : "", how, threads,
                     threads == 1 ? "" : "s"));
}

// Calls fn(group, predictor) for `members` (cost[k]: the symbols members[k] codes, its
// work) in groups of at most `batch` (0: the codec's choice, automatic_batch). With
// parallel predictors (or none needed: mode none, fn gets null) groups run side by
// side, each with a one-thread predictor of its own, and are balanced so that every
// thread has as much to do: no decode step then waits for another thread, and a busy
// machine costs only the time its cores are taken. Otherwise, or when only one group
// is possible, one predictor gets every thread and the groups run one after another.
// Bits do not depend on the grouping.
template <typename Fn>
void run_batches(const CodecModel& model, std::optional<TokenMode> mode, const std::vector<size_t>& members,
                 const std::vector<size_t>& cost, int batch, const CodecOptions& o, Fn&& fn) {
  if (members.empty()) return;
  const size_t threads = static_cast<size_t>(std::max(1, o.threads));
  const size_t b = static_cast<size_t>(batch > 0 ? batch : model.max_auto_batch());
  if (!mode || model.parallel_predictors()) {
    // A whole number of rounds of `threads` groups, each within the batch.
    const size_t rounds = (members.size() + b * threads - 1) / (b * threads);
    const auto groups = balanced_groups(members, cost, std::min(members.size(), rounds * threads));
    if (!mode || groups.size() > 1) {
      note_grouping(o, mode, members.size(), groups.size(), b, batch == 0, std::min(threads, groups.size()),
                    "side by side");
      parallel_tasks(o.threads, groups.size(), [&](size_t gi) {
        auto pred = mode ? model.predictor(*mode, 1) : nullptr;
        fn(groups[gi], pred.get());
      });
      return;
    }
  }
  auto pred = model.predictor(*mode, o.threads);
  const int chosen = batch > 0 ? batch : automatic_batch(model, *pred, cost, o);
  const auto groups = batches(members, chosen);
  note_grouping(o, mode, members.size(), groups.size(), static_cast<size_t>(chosen), batch == 0, threads,
                "one after another");
  for (const auto& g : groups) fn(g, pred.get());
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
