#include "lmac/lm/detail/host_backend.hpp"

#include "lmac/common/parallel.hpp"

namespace lmac {

void HostBackend::intervals(const float* logits, size_t n, size_t vocab, int total_bits,
                            std::span<const int32_t> symbols, Interval* out) {
  check_symbols(symbols, vocab);
  parallel_for_each(threads_, n, [&](size_t i) {
    thread_local FreqTable t;  // reused: one table per coded token
    freq_from_logits(std::span<const float>(logits + i * vocab, vocab), total_bits, t);
    out[i] = t.interval(static_cast<uint32_t>(symbols[i]));
  });
}

void HostBackend::search(const float* logits, size_t n, size_t vocab, int total_bits, const TargetFn& target,
                         int32_t* symbols, Interval* out) {
  tables_.resize(std::max(tables_.size(), n));
  parallel_for_each(threads_, n, [&](size_t i) {
    freq_from_logits(std::span<const float>(logits + i * vocab, vocab), total_bits, tables_[i]);
  });
  for (size_t i = 0; i < n; ++i) out[i] = tables_[i].locate(target(i, tables_[i].total), &symbols[i]);
}

}  // namespace lmac
