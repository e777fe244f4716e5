// A backend that times another one, operation by operation (lmac bench --profile).
#include <chrono>
#include <utility>

#include "lmac/lm/backend.hpp"

namespace lmac {
namespace {

class ProfiledBackend final : public Backend {
 public:
  ProfiledBackend(std::unique_ptr<Backend> inner, std::shared_ptr<OpTimes> times)
      : be_(std::move(inner)), times_(std::move(times)) {}
  const char* name() const override { return be_->name(); }

  bool host_memory() const override { return be_->host_memory(); }
  void* alloc(size_t bytes) override { return be_->alloc(bytes); }
  void release(void* p) override { be_->release(p); }
  void upload(void* dst, const void* src, size_t bytes) override { be_->upload(dst, src, bytes); }
  void download(void* dst, const void* src, size_t bytes) override { be_->download(dst, src, bytes); }
  void copy(void* dst, const void* src, size_t bytes) override { be_->copy(dst, src, bytes); }
  void synchronize() override { be_->synchronize(); }
  size_t weight_bytes() const override { return be_->weight_bytes(); }
  Matrix weights(const Matrix& w, WeightUse use) override { return be_->weights(w, use); }
  const float* weights(const float* v, size_t n) override { return be_->weights(v, n); }

  void matmul(const Matrix& w, const float* x, size_t n, float* y, std::span<const int32_t> rows) override {
    // Prefill-shaped and decode-shaped products apart: they are bound by different things.
    const std::string op = std::string("matmul ") + ggml_type_info(w.type).name + (n > 16 ? " (> 16 tokens)" : "");
    timed(op, [&] { be_->matmul(w, x, n, y, rows); });
  }
  void get_rows(const Matrix& w, std::span<const int32_t> ids, float* out) override {
    timed("get_rows", [&] { be_->get_rows(w, ids, out); });
  }
  void rmsnorm(const float* x, const float* w, size_t n, size_t dim, float eps, float* y) override {
    timed("rmsnorm", [&] { be_->rmsnorm(x, w, n, dim, eps, y); });
  }
  void rope(float* x, size_t n, size_t heads, size_t hd, size_t rot, std::span<const int32_t> pos,
            const float* cs) override {
    timed("rope", [&] { be_->rope(x, n, heads, hd, rot, pos, cs); });
  }
  void store_kv(std::span<const KvWrite> writes, const float* k, const float* v, size_t n_kv, size_t hd) override {
    timed("store_kv", [&] { be_->store_kv(writes, k, v, n_kv, hd); });
  }
  void attention(std::span<const AttentionJob> jobs, size_t n_head, size_t n_kv, size_t hd) override {
    timed("attention", [&] { be_->attention(jobs, n_head, n_kv, hd); });
  }
  void swiglu(const float* g, const float* u, size_t n, float* out) override {
    timed("swiglu", [&] { be_->swiglu(g, u, n, out); });
  }
  void add(float* x, const float* y, size_t n) override {
    timed("add", [&] { be_->add(x, y, n); });
  }
  void gather_rows(const float* src, std::span<const int32_t> rows, size_t dim, float* dst) override {
    timed("gather_rows", [&] { be_->gather_rows(src, rows, dim, dst); });
  }
  void intervals(const float* logits, size_t n, size_t vocab, int bits, std::span<const int32_t> symbols,
                 Interval* out) override {
    timed("frequency intervals", [&] { be_->intervals(logits, n, vocab, bits, symbols, out); });
  }
  void search(const float* logits, size_t n, size_t vocab, int bits, const TargetFn& target, int32_t* symbols,
              Interval* out) override {
    timed("frequency search", [&] { be_->search(logits, n, vocab, bits, target, symbols, out); });
  }

 private:
  template <typename Fn>
  void timed(const std::string& op, Fn&& fn) {
    be_->synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    be_->synchronize();
    OpTimes::Op& o = times_->ops[op];
    ++o.calls;
    o.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

  std::unique_ptr<Backend> be_;
  std::shared_ptr<OpTimes> times_;
};

}  // namespace

std::unique_ptr<Backend> make_profiled_backend(std::unique_ptr<Backend> inner, std::shared_ptr<OpTimes> times) {
  return std::make_unique<ProfiledBackend>(std::move(inner), std::move(times));
}

}  // namespace lmac
