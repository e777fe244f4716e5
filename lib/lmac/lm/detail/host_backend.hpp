// The memory half of a backend that computes in host memory (the CPU and grid backends).
#pragma once

#include <cstring>
#include <new>
#include <vector>

#include "lmac/lm/backend.hpp"

namespace lmac {

class HostBackend : public Backend {
 public:
  explicit HostBackend(int threads) : threads_(threads < 1 ? 1 : threads) {}
  bool host_memory() const override { return true; }
  // Aligned for the widest vector loads.
  void* alloc(size_t bytes) override { return ::operator new (bytes, std::align_val_t{64}); }
  void release(void* p) override { ::operator delete (p, std::align_val_t{64}); }
  void upload(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void download(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  void copy(void* dst, const void* src, size_t bytes) override { std::memcpy(dst, src, bytes); }
  const float* weights(const float* v, size_t) override { return v; }
  // dst row i = src row rows[i]; rows may overlap (rows[i] >= i when compacting in place).
  void gather_rows(const float* src, std::span<const int32_t> rows, size_t dim, float* dst) override {
    for (size_t i = 0; i < rows.size(); ++i)
      std::memmove(dst + i * dim, src + static_cast<size_t>(rows[i]) * dim, dim * sizeof(float));
  }
  // The CPU's tables (coding/freq_table), a row per thread.
  void intervals(const float* logits, size_t n, size_t vocab, int total_bits, std::span<const int32_t> symbols,
                 Interval* out) override;
  void search(const float* logits, size_t n, size_t vocab, int total_bits, const TargetFn& target, int32_t* symbols,
              Interval* out) override;

 protected:
  int threads_;

 private:
  std::vector<FreqTable> tables_;
};

}  // namespace lmac
