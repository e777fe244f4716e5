// The work pool behind every parallel loop: each item exactly once, whatever the thread
// count, piece size, nesting or number of concurrent callers; errors come back.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
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
