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

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace lmac {

// Runs body(begin, end) over [0, n) in pieces of `grain` items on up to `threads`
// threads (the caller included). Runs inline when threads <= 1, n <= grain, or when
// called from inside another loop or task; a loop of small pieces also runs inline
// while the pool backs off on a busy machine (a helper that was descheduled stalled
// the last loops). The first exception a body throws is rethrown here after every
// other piece has run, on helpers or inline alike.
void parallel_for(int threads, size_t n, size_t grain, const std::function<void(size_t, size_t)>& body);

// Tasks that each run long compared to waking a thread (whole groups of chunks, a
// chunk's trials): they always get the helpers, back-off or not, since a task never
// waits for another. Tasks started inside a task run beside it: helpers with nothing
// left of the outer tasks, and callers waiting for other nested tasks, take them (inline
// only when 15 nested loops are open at once), so a long chunk is not left to one thread.
void parallel_tasks(int threads, size_t n, const std::function<void(size_t)>& task);

// The index of the first of n items whose cost is least and below `limit` (n when none
// is), their costs found as tasks on up to `threads` threads. cost(i, bound) may stop
// once its cost passes `bound` (the least cost any item has finished with, or `limit`)
// and return any figure above it: an item that ends with the least cost never passes it,
// so it runs to its end and the index is the one a loop in order finds, whatever runs
// first. `limit` becomes the least cost when an item is below it.
size_t first_least(int threads, size_t n, int64_t& limit,
                   const std::function<int64_t(size_t, const std::atomic<int64_t>& bound)>& cost);

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
