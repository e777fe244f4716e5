#include "lmac/common/parallel.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace lmac {
namespace {

// How long an idle helper polls for the next loop before it sleeps: a forward pass
// issues loops a few microseconds apart, and a futex wake costs about as much as that.
constexpr auto kSpin = std::chrono::microseconds(50);

// Waits longer than this for a helper mean it was descheduled (see Pool::note_wait).
constexpr auto kLongWait = std::chrono::microseconds(200);
constexpr auto kMinBackoff = std::chrono::milliseconds(5);
constexpr auto kMaxBackoff = std::chrono::milliseconds(640);

// The claim counter packs the loop's generation (top 24 bits) with the next item, so a
// helper that slept through a loop can never claim a piece of the next one.
constexpr int kItemBits = 40;
constexpr uint64_t kItemMask = (uint64_t{1} << kItemBits) - 1;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

using Clock = std::chrono::steady_clock;

thread_local bool t_inside = false;  // this thread is running a piece

using Body = std::function<void(size_t, size_t)>;

// One loop's state. Its owner (the caller that started it) writes the fields; any
// thread claims pieces. A claim succeeds only under the generation it read the fields
// under, so a thread that slept through a loop can never claim a piece of the next one.
struct Loop {
  std::atomic<bool> owned{false};  // slots for nested tasks: taken by a caller
  uint64_t generation = 0;         // the owner's
  std::atomic<uint64_t> claim{0};
  std::atomic<const Body*> body{nullptr};
  std::atomic<size_t> n{0}, grain{1}, done{0};
  std::atomic<int> active{0};  // helpers with a lower index may join
  std::mutex error_lock;
  std::exception_ptr error;
};

class Pool {
 public:
  static Pool& get() {
    static Pool* pool = new Pool;  // never destroyed: helpers sleep until the process ends
    return *pool;
  }

  // A loop from outside the pool: one at a time (a second caller runs its loop inline).
  // coarse: pieces long enough that waits for helpers say nothing about the machine.
  bool try_run(int threads, size_t n, size_t grain, const Body& body, bool coarse) {
    std::unique_lock lock(run_, std::try_to_lock);
    if (!lock.owns_lock()) return false;
    const auto start = Clock::now();
    const auto own_done = run(loops_[0], threads, n, grain, body);
    if (!coarse) note_wait(own_done - start, Clock::now() - own_done);
    if (loops_[0].error) std::rethrow_exception(loops_[0].error);
    return true;
  }

  // Tasks started inside a piece (a chunk's trials): in a free nested slot, so that
  // helpers with nothing left of the outer loop, and callers waiting for it, join in.
  bool try_run_nested(int threads, size_t n, const Body& body) {
    for (size_t s = 1; s < kLoops; ++s) {
      Loop& loop = loops_[s];
      if (bool expected = false; !loop.owned.compare_exchange_strong(expected, true, std::memory_order_acquire))
        continue;
      nested_open_.fetch_add(1, std::memory_order_seq_cst);
      run(loop, threads, n, 1, body);
      nested_open_.fetch_sub(1, std::memory_order_relaxed);
      const std::exception_ptr error = std::exchange(loop.error, nullptr);
      loop.owned.store(false, std::memory_order_release);
      if (error) std::rethrow_exception(error);
      return true;
    }
    return false;
  }

  // Whether loops should run on the caller alone for now (see note_wait).
  bool backing_off() const {
    return Clock::now().time_since_epoch().count() < quiet_until_.load(std::memory_order_relaxed);
  }

 private:
  static constexpr size_t kLoops = 16;  // the outer loop and up to 15 nested ones at once

  // Starts the loop, works on it, then helps nested loops until every piece of it has
  // ended (never the outer loop's: a waiting caller of a nested loop would take a whole
  // outer task and keep its own loop's caller waiting that long). Returns when the
  // caller's own claims ran out.
  Clock::time_point run(Loop& loop, int threads, size_t n, size_t grain, const Body& body) {
    grow(threads - 1);
    // First close the counter under the new generation, so that no helper still reading
    // the last loop's fields can claim against the ones written next.
    loop.generation = (loop.generation + 1) & 0xffffff;
    loop.claim.store(loop.generation << kItemBits | kItemMask, std::memory_order_seq_cst);
    loop.body.store(&body, std::memory_order_release);
    loop.n.store(n, std::memory_order_release);
    loop.grain.store(grain, std::memory_order_release);
    loop.done.store(0, std::memory_order_release);
    loop.error = nullptr;
    loop.active.store(threads - 1, std::memory_order_release);
    loop.claim.store(loop.generation << kItemBits, std::memory_order_release);
    wake_.fetch_add(1, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) wake_.notify_all();
    work(loop, -1);
    const auto own_done = Clock::now();
    for (int spins = 0; loop.done.load(std::memory_order_acquire) < n; ++spins) {
      if (work_nested(&loop)) {
        spins = 0;
      } else if (spins < 4096) {
        cpu_relax();
      } else {
        std::this_thread::yield();
      }
    }
    return own_done;
  }

  // A caller that waited for a helper longer than it worked itself (and long enough to
  // be a descheduled thread, not a slow piece) had better run alone: the machine is
  // busy. It does so for a while that doubles while waits go on and halves after a
  // loop without one, so an idle machine gets its threads back quickly.
  void note_wait(Clock::duration worked, Clock::duration waited) {
    if (waited > std::max<Clock::duration>(worked, kLongWait)) {
      backoff_ = std::min<Clock::duration>(backoff_ * 2, kMaxBackoff);
      quiet_until_.store((Clock::now() + backoff_).time_since_epoch().count(), std::memory_order_relaxed);
    } else if (backoff_ > kMinBackoff) {
      backoff_ /= 2;
    }
  }

  // A new helper starts from the wake count before this loop's, so it joins the loop
  // being started even when its thread runs only after the wake-up.
  // When the system refuses another thread, the loops run on the helpers there are: the
  // caller waits for pieces, not for particular helpers.
  void grow(int helpers) {
    std::lock_guard g(grow_);
    while (static_cast<int>(threads_.size()) < helpers) {
      const int index = static_cast<int>(threads_.size());
      try {
        threads_.emplace_back([this, index, seen = wake_.load()] { helper(index, seen); });
      } catch (const std::system_error&) {
        return;
      }
      threads_.back().detach();
    }
  }

  void helper(int index, uint32_t seen) {
    for (;;) {
      seen = wait_for_change(seen);
      while (work(loops_[0], index) | work_nested(nullptr, index)) {
      }
    }
  }

  uint32_t wait_for_change(uint32_t seen) {
    const auto until = std::chrono::steady_clock::now() + kSpin;
    for (int i = 0;; ++i) {
      if (uint32_t now = wake_.load(std::memory_order_acquire); now != seen) return now;
      cpu_relax();
      if ((i & 63) == 63 && std::chrono::steady_clock::now() > until) break;
    }
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    wake_.wait(seen, std::memory_order_seq_cst);
    sleepers_.fetch_sub(1, std::memory_order_seq_cst);
    return wake_.load(std::memory_order_acquire);
  }

  // Works on every nested loop but `skip` that has pieces left (none to look at, the
  // common case, costs one load); whether it ran any.
  bool work_nested(const Loop* skip, int index = -1) {
    if (nested_open_.load(std::memory_order_seq_cst) == 0) return false;
    bool ran = false;
    for (size_t s = 1; s < kLoops; ++s)
      if (&loops_[s] != skip) ran |= work(loops_[s], index);
    return ran;
  }

  // Claims and runs pieces of `loop` until none is left; helper `index` only where the
  // loop lets it join (-1: its caller, or a caller waiting for a loop nested in it).
  // Whether it ran any.
  bool work(Loop& loop, int index) {
    const bool was_inside = std::exchange(t_inside, true);
    bool ran = false;
    for (;;) {
      uint64_t c = loop.claim.load(std::memory_order_acquire);
      const auto* body = loop.body.load(std::memory_order_acquire);
      const size_t n = loop.n.load(std::memory_order_acquire), grain = loop.grain.load(std::memory_order_acquire);
      const size_t begin = c & kItemMask;
      if (begin >= n || (index >= 0 && index >= loop.active.load(std::memory_order_acquire))) break;
      const size_t end = std::min(n, begin + grain);
      // Fails when another thread claimed first or a new loop started: both re-read.
      if (!loop.claim.compare_exchange_weak(c, c + (end - begin), std::memory_order_acq_rel)) continue;
      ran = true;
      try {
        (*body)(begin, end);
      } catch (...) {
        std::lock_guard g(loop.error_lock);
        if (!loop.error) loop.error = std::current_exception();
      }
      loop.done.fetch_add(end - begin, std::memory_order_release);
    }
    t_inside = was_inside;
    return ran;
  }

  std::mutex run_;   // one loop from outside the pool at a time
  std::mutex grow_;  // callers of nested loops may add helpers at once
  std::vector<std::thread> threads_;
  std::array<Loop, kLoops> loops_;
  std::atomic<int> nested_open_{0};
  std::atomic<uint32_t> wake_{0};
  std::atomic<int> sleepers_{0};
  Clock::duration backoff_ = kMinBackoff;
  std::atomic<Clock::rep> quiet_until_{0};
};

// The caller alone, piece by piece as the pool would cut them, so that a failing piece
// skips no other piece whether or not helpers ran.
void run_inline(size_t n, size_t grain, const std::function<void(size_t, size_t)>& body) {
  std::exception_ptr first;
  for (size_t b = 0; b < n; b += grain) {
    try {
      body(b, std::min(n, b + grain));
    } catch (...) {
      if (!first) first = std::current_exception();
    }
  }
  if (first) std::rethrow_exception(first);
}

}  // namespace

void parallel_for(int threads, size_t n, size_t grain, const std::function<void(size_t, size_t)>& body) {
  grain = std::max<size_t>(grain, 1);
  if (threads <= 1 || n <= grain || t_inside || Pool::get().backing_off() ||
      !Pool::get().try_run(threads, n, grain, body, false))
    run_inline(n, grain, body);
}

void parallel_tasks(int threads, size_t n, const std::function<void(size_t)>& task) {
  const std::function<void(size_t, size_t)> body = [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) task(i);
  };
  if (threads <= 1 || n <= 1) return run_inline(n, 1, body);
  Pool& pool = Pool::get();
  if (!(t_inside ? pool.try_run_nested(threads, n, body) : pool.try_run(threads, n, 1, body, true)))
    run_inline(n, 1, body);
}

size_t first_least(int threads, size_t n, int64_t& limit,
                   const std::function<int64_t(size_t, const std::atomic<int64_t>&)>& cost) {
  std::atomic<int64_t> bound{limit};
  std::vector<int64_t> costs(n);
  parallel_tasks(threads, n, [&](size_t i) {
    costs[i] = cost(i, bound);
    for (int64_t b = bound.load(); costs[i] < b && !bound.compare_exchange_weak(b, costs[i]);) {
    }
  });
  size_t best = n;
  for (size_t i = 0; i < n; ++i)
    if (costs[i] < limit) best = i, limit = costs[i];
  return best;
}

std::vector<std::vector<size_t>> balanced_groups(const std::vector<size_t>& members, const std::vector<size_t>& cost,
                                                 size_t n_groups) {
  std::vector<size_t> order(members.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return cost[a] > cost[b]; });
  n_groups = std::max<size_t>(1, n_groups);
  const size_t room = (members.size() + n_groups - 1) / n_groups;
  std::vector<std::vector<size_t>> picked(n_groups);
  std::vector<size_t> load(n_groups, 0);
  for (size_t k : order) {
    size_t best = n_groups;
    for (size_t g = 0; g < n_groups; ++g)
      if (picked[g].size() < room && (best == n_groups || load[g] < load[best])) best = g;
    picked[best].push_back(k);
    load[best] += cost[k];
  }
  std::vector<std::vector<size_t>> groups;
  for (auto& p : picked) {
    if (p.empty()) continue;
    std::sort(p.begin(), p.end());
    auto& g = groups.emplace_back();
    for (size_t k : p) g.push_back(members[k]);
  }
  return groups;
}

}  // namespace lmac
