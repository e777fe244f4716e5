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

// Calls fn(group, predictor) for every group. Groups run in parallel, each with a
// predictor of its own, when the model allows several predictors or no predictor is
// needed (mode none: fn gets null); otherwise one predictor gets every thread and the
// groups run one after another.
template <typename Fn>
void run_batches(const CodecModel& model, std::optional<TokenMode> mode, const std::vector<std::vector<size_t>>& groups,
                 const CodecOptions& o, Fn&& fn) {
  if (!mode || model.parallel_predictors()) {
    parallel_for_each(o.threads, groups.size(), [&](size_t gi) {
      auto pred = mode ? model.predictor(*mode, 1) : nullptr;
      fn(groups[gi], pred.get());
    });
  } else {
    auto pred = model.predictor(*mode, o.threads);
    for (const auto& g : groups) fn(g, pred.get());
  }
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
