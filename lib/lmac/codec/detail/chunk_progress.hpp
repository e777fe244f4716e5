// Chunks finished so far, reported as groups finish on any thread.
#pragma once

#include <functional>
#include <mutex>

namespace lmac {

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
