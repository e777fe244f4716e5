// What the token codec (chunk_codec.cpp) and the audio codec (audio_chunk_codec.cpp)
// share: groups of chunks, the predictor each group runs with, progress reported as
// groups finish on any thread, and the verbatim record of an incompressible chunk.
#pragma once

#include <algorithm>
#include <functional>
#include <mutex>
#include <optional>
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
