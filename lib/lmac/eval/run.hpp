// An evaluation spread over the ranks of a World, resumable from a Checkpoint: each
// compressor's unfinished chunks (and whole files) are split over the ranks by cost,
// measured in batches that are recorded as they finish, gathered to rank 0 and
// summarized there from every chunk's figures, so the report is the same for any
// number of ranks and any number of interruptions.
#pragma once

#include <string>
#include <vector>

#include "lmac/eval/checkpoint.hpp"
#include "lmac/eval/evaluate.hpp"
#include "lmac/eval/world.hpp"

namespace lmac {

struct RunOutcome {
  std::vector<CompressorResult> results;  // rank 0 only
  std::string failure;                    // "rank R: why" when a rank failed (rank 0 only)
  bool failed_here = false;               // this rank failed
  double gather_seconds = 0;              // rank 0: from its own last chunk to every figure merged
};

// progress (options.progress) is called on rank 0 as ("eval", units done, units) for
// the whole job. checkpoint may be null.
RunOutcome run_evaluation(const Dataset& data, const EvalOptions& options, World& world, Checkpoint* checkpoint);

// Splits items with the given costs over `parts` parts, largest first onto the least
// loaded part (ties: the lower part, then the lower index); each part's items sorted.
std::vector<std::vector<size_t>> split_by_cost(const std::vector<size_t>& items, const std::vector<uint64_t>& costs,
                                               int parts);

}  // namespace lmac
