// Parallel loops that stay fast when the machine is busy.
//
// OpenMP's loops hand each thread a fixed share and wait at a barrier for the slowest;
// when another process takes a core, the thread sharing it stalls every step, and
// libgomp's spinning waiters take the rest (issue: -T 2 2-3x slower than -T 1 under
// load). Here a loop is cut into pieces that threads claim as they run: the caller
// claims pieces too and never waits for a helper that has not started, so a
// descheduled helper costs at most the piece it holds. Helpers spin briefly between
// loops, then sleep on a futex (std::atomic::wait).
//
// Determinism: which thread runs a piece is not fixed, so a body must write only its
// own outputs and never reduce across pieces (DESIGN: Determinism).
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

namespace lmac {

// Runs body(begin, end) over [0, n) in pieces of `grain` items on up to `threads`
// threads (the caller included). Runs inline when threads <= 1, n <= grain, or when
// called from inside another parallel_for; a loop of small pieces also runs inline
// while the pool backs off on a busy machine (a helper that was descheduled stalled
// the last loops). The first exception a body throws is rethrown here after every
// other piece has run, on helpers or inline alike.
void parallel_for(int threads, size_t n, size_t grain, const std::function<void(size_t, size_t)>& body);

// Tasks that each run long compared to waking a thread (whole groups of chunks): they
// always get the helpers, back-off or not, since a task never waits for another.
void parallel_tasks(int threads, size_t n, const std::function<void(size_t)>& task);

// `members` dealt into at most `n_groups` groups of about equal total cost (cost[k]: the
// work of members[k]; largest first, each to the group with the least so far, at most
// ceil(members / n_groups) per group), each group in member order; no empty groups.
std::vector<std::vector<size_t>> balanced_groups(const std::vector<size_t>& members, const std::vector<size_t>& cost,
                                                 size_t n_groups);

// One item at a time: body(i).
inline void parallel_for_each(int threads, size_t n, const std::function<void(size_t)>& body) {
  parallel_for(threads, n, 1, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) body(i);
  });
}

}  // namespace lmac
