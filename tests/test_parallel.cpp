// The work pool behind every parallel loop: each item exactly once, whatever the thread
// count, piece size, nesting or number of concurrent callers; errors come back.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <thread>
#include <vector>

#include "lmac/common/parallel.hpp"

namespace lmac {
namespace {

std::vector<int> visits(int threads, size_t n, size_t grain) {
  std::vector<std::atomic<int>> seen(n);
  parallel_for(threads, n, grain, [&](size_t b, size_t e) {
    EXPECT_LT(b, e);
    EXPECT_LE(e, n);
    for (size_t i = b; i < e; ++i) seen[i].fetch_add(1);
  });
  std::vector<int> out(n);
  for (size_t i = 0; i < n; ++i) out[i] = seen[i].load();
  return out;
}

TEST(Parallel, EveryItemRunsExactlyOnce) {
  for (int threads : {1, 2, 3, 8})
    for (size_t n : {0, 1, 2, 17, 1000, 65537})
      for (size_t grain : {0, 1, 7, 64, 100000}) {
        const std::vector<int> seen = visits(threads, n, grain);
        EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), static_cast<long>(n))
            << threads << " threads, n " << n << ", grain " << grain;
      }
}

TEST(Parallel, ManyLoopsInARowLoseNothing) {
  std::vector<size_t> sums(2000);
  for (size_t k = 0; k < sums.size(); ++k) {
    std::atomic<size_t> sum{0};
    parallel_for_each(4, k % 50, [&](size_t i) { sum.fetch_add(i + 1); });
    sums[k] = sum.load();
  }
  for (size_t k = 0; k < sums.size(); ++k) EXPECT_EQ(sums[k], (k % 50) * (k % 50 + 1) / 2) << k;
}

TEST(Parallel, NestedAndConcurrentLoopsRunInline) {
  std::atomic<size_t> count{0};
  parallel_for_each(4, 8, [&](size_t) { parallel_for_each(4, 10, [&](size_t) { count.fetch_add(1); }); });
  EXPECT_EQ(count.load(), 80u);
  count = 0;
  std::vector<std::thread> callers;
  callers.reserve(4);
  for (int c = 0; c < 4; ++c)
    callers.emplace_back([&] {
      for (int k = 0; k < 200; ++k) parallel_for_each(3, 25, [&](size_t) { count.fetch_add(1); });
    });
  for (auto& t : callers) t.join();
  EXPECT_EQ(count.load(), 4u * 200u * 25u);
}

TEST(Parallel, TheFirstErrorIsRethrownAfterEveryPieceEnded) {
  std::atomic<int> ran{0};
  EXPECT_THROW(parallel_for_each(4, 100,
                                 [&](size_t i) {
                                   ran.fetch_add(1);
                                   if (i % 10 == 3) throw std::runtime_error("piece failed");
                                 }),
               std::runtime_error);
  EXPECT_EQ(ran.load(), 100);                                 // the other pieces still ran: no half-written outputs
  EXPECT_NO_THROW(parallel_for_each(4, 100, [](size_t) {}));  // and the pool still works
}

// Whole groups of chunks run as tasks side by side, also right after loops whose helper
// stalled (which makes fine-grained loops run inline for a while): each task here
// waits to see the other one start.
TEST(Parallel, TasksRunSideBySideEvenWhileLoopsBackOff) {
  const auto caller = std::this_thread::get_id();
  parallel_for_each(2, 2, [&](size_t) {  // a helper that takes long: the pool backs off
    if (std::this_thread::get_id() != caller) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  });
  std::atomic<int> started{0};
  std::vector<int> saw_other(2, 0);
  parallel_tasks(2, 2, [&](size_t i) {
    started.fetch_add(1);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (started.load() < 2 && std::chrono::steady_clock::now() < until) std::this_thread::yield();
    saw_other[i] = started.load() == 2;
  });
  EXPECT_EQ(saw_other, (std::vector<int>{1, 1}));
}

// A chunk's trials are tasks started inside a chunk's task: a thread with no chunk left
// (a helper, or the caller waiting for the others) takes some, so a file's long chunk
// does not run on one thread while the rest wait. Each inner task here waits to see the
// other one start; run inline, one after the other, the first would wait in vain.
TEST(Parallel, NestedTasksUseThreadsTheOuterTasksLeftIdle) {
  for (int round = 0; round < 20; ++round) {
    std::atomic<int> started{0};
    std::vector<int> saw_other(2, 0);
    parallel_tasks(2, 2, [&](size_t outer) {
      if (outer == 1) return;  // the short chunk
      parallel_tasks(2, 2, [&](size_t i) {
        started.fetch_add(1);
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (started.load() < 2 && std::chrono::steady_clock::now() < until) std::this_thread::yield();
        saw_other[i] = started.load() == 2;
      });
    });
    ASSERT_EQ(saw_other, (std::vector<int>{1, 1})) << "round " << round;
  }
}

// Nested tasks in every outer task at once, more than the pool has room for side by
// side (those beyond it run inline), and errors from inside them: every task exactly
// once, and the first error comes back out of both levels.
TEST(Parallel, NestedTasksRunOnceAndReportErrors) {
  std::vector<std::atomic<int>> seen(size_t{64} * 40);
  parallel_tasks(4, 64, [&](size_t o) {
    parallel_tasks(3, 40, [&](size_t i) { parallel_tasks(2, 1, [&](size_t) { seen[o * 40 + i].fetch_add(1); }); });
  });
  for (size_t k = 0; k < seen.size(); ++k) ASSERT_EQ(seen[k].load(), 1) << k;
  std::atomic<int> ran{0};
  EXPECT_THROW(parallel_tasks(2, 4,
                              [&](size_t) {
                                parallel_tasks(2, 8, [&](size_t i) {
                                  ran.fetch_add(1);
                                  if (i == 5) throw std::runtime_error("trial failed");
                                });
                              }),
               std::runtime_error);
  EXPECT_EQ(ran.load(), 32);
  EXPECT_NO_THROW(parallel_tasks(2, 4, [](size_t) { parallel_tasks(2, 4, [](size_t) {}); }));
}

// first_least finds what a loop in order finds: the first of the cheapest, below the
// limit, whatever order the threads finish in and however early losing runs stop.
TEST(Parallel, FirstLeastIsTheFirstCheapestWhateverTheThreads) {
  uint32_t seed = 12345;
  const auto next = [&] { return seed = seed * 1664525u + 1013904223u; };
  for (int round = 0; round < 200; ++round) {
    const size_t n = next() % 12;
    std::vector<int64_t> cost(n);
    for (auto& c : cost) c = static_cast<int64_t>(next() % 6);  // many ties
    int64_t expect_limit = round % 3 == 0 ? 3 : INT64_MAX;
    const int64_t start = expect_limit;
    size_t expect = n;
    for (size_t i = 0; i < n; ++i)
      if (cost[i] < expect_limit) expect = i, expect_limit = cost[i];
    for (int threads : {1, 2, 5}) {
      int64_t limit = start;
      const size_t got = first_least(threads, n, limit, [&](size_t i, const std::atomic<int64_t>& bound) {
        // A run stops once it passes the bound, as the encoder's estimates do.
        for (int64_t partial = 0; partial <= cost[i]; ++partial) {
          if (partial > bound.load()) return partial;
          std::this_thread::yield();
        }
        return cost[i];
      });
      ASSERT_EQ(got, expect) << "round " << round << ", " << threads << " threads";
      ASSERT_EQ(limit, expect_limit) << "round " << round;
    }
  }
}

// The codec's groups of chunks per thread: an 8 KB file of four full chunks and a tiny
// last one splits 3 + 2 with equal work.
TEST(Parallel, BalancedGroupsEvenOutTheWork) {
  const std::vector<size_t> members = {10, 11, 12, 13, 14}, cost = {2046, 2046, 2046, 2046, 8};
  EXPECT_EQ(balanced_groups(members, cost, 2), (std::vector<std::vector<size_t>>{{10, 12, 14}, {11, 13}}));
  const auto four = balanced_groups({0, 1, 2, 3, 4, 5, 6}, {5, 1, 1, 1, 1, 1, 1}, 4);
  ASSERT_EQ(four.size(), 4u);
  for (const auto& g : four) EXPECT_LE(g.size(), 2u);
  EXPECT_EQ(four[0], (std::vector<size_t>{0}));  // the big one alone
  EXPECT_EQ(balanced_groups({7, 8}, {1, 1}, 5).size(), 2u);
}

}  // namespace
}  // namespace lmac
