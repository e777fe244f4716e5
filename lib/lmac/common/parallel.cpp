#include "lmac/common/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
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

class Pool {
 public:
  static Pool& get() {
    static Pool* pool = new Pool;  // never destroyed: helpers sleep until the process ends
    return *pool;
  }

  // coarse: pieces long enough that waits for helpers say nothing about the machine.
  bool try_run(int threads, size_t n, size_t grain, const std::function<void(size_t, size_t)>& body, bool coarse) {
    std::unique_lock lock(run_, std::try_to_lock);
    if (!lock.owns_lock()) return false;
    grow(threads - 1);
    // First close the counter under the new generation, so that no helper still reading
    // the last loop's fields can claim against the ones written next.
    generation_ = (generation_ + 1) & 0xffffff;
    claim_.store(generation_ << kItemBits | kItemMask, std::memory_order_seq_cst);
    body_.store(&body, std::memory_order_release);
    n_.store(n, std::memory_order_release);
    grain_.store(grain, std::memory_order_release);
    done_.store(0, std::memory_order_release);
    error_ = nullptr;
    active_.store(threads - 1, std::memory_order_relaxed);
    claim_.store(generation_ << kItemBits, std::memory_order_release);
    wake_.fetch_add(1, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) wake_.notify_all();
    const auto start = Clock::now();
    work();
    const auto own_done = Clock::now();
    for (int spins = 0; done_.load(std::memory_order_acquire) < n; ++spins) {
      if (spins < 4096)
        cpu_relax();
      else
        std::this_thread::yield();
    }
    if (!coarse) note_wait(own_done - start, Clock::now() - own_done);
    if (error_) std::rethrow_exception(error_);
    return true;
  }

  // Whether loops should run on the caller alone for now (see note_wait).
  bool backing_off() const {
    return Clock::now().time_since_epoch().count() < quiet_until_.load(std::memory_order_relaxed);
  }

 private:
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
      if (index < active_.load(std::memory_order_relaxed)) work();
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

  // Claims and runs pieces of the current loop until none is left.
  void work() {
    t_inside = true;
    for (;;) {
      uint64_t c = claim_.load(std::memory_order_acquire);
      const auto* body = body_.load(std::memory_order_acquire);
      const size_t n = n_.load(std::memory_order_acquire), grain = grain_.load(std::memory_order_acquire);
      const size_t begin = c & kItemMask;
      if (begin >= n) break;
      const size_t end = std::min(n, begin + grain);
      // Fails when another thread claimed first or a new loop started: both re-read.
      if (!claim_.compare_exchange_weak(c, c + (end - begin), std::memory_order_acq_rel)) continue;
      try {
        (*body)(begin, end);
      } catch (...) {
        std::lock_guard g(error_lock_);
        if (!error_) error_ = std::current_exception();
      }
      done_.fetch_add(end - begin, std::memory_order_release);
    }
    t_inside = false;
  }

  std::mutex run_;  // one loop at a time; a second caller runs its loop inline
  std::vector<std::thread> threads_;
  uint64_t generation_ = 0;
  std::atomic<uint64_t> claim_{0};
  std::atomic<const std::function<void(size_t, size_t)>*> body_{nullptr};
  std::atomic<size_t> n_{0}, grain_{1}, done_{0};
  std::atomic<int> active_{0};
  std::atomic<uint32_t> wake_{0};
  std::atomic<int> sleepers_{0};
  std::mutex error_lock_;
  std::exception_ptr error_;
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
  if (threads <= 1 || n <= 1 || t_inside || !Pool::get().try_run(threads, n, 1, body, true)) run_inline(n, 1, body);
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
