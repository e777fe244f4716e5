#include "lmac/codec/model.hpp"
#include "lmac/coding/context_model.hpp"
#include "lmac/common/error.hpp"
#include "lmac/common/hash.hpp"

namespace lmac {
namespace {

class BuiltinOrder2 final : public CodecModel {
 public:
  std::string name() const override { return "builtin:order2"; }
  uint64_t fingerprint() const override {
    static const char kId[] = "lmac builtin:order2 v1";
    return hash64(kId, sizeof kId - 1);
  }
  bool has_subword() const override { return false; }
  std::vector<int32_t> tokenize(std::string_view) const override { fail("builtin:order2 has no subword tokenizer"); }
  std::string detokenize(std::span<const int32_t>) const override { fail("builtin:order2 has no subword tokenizer"); }
  size_t max_tokens() const override { return SIZE_MAX; }
  std::unique_ptr<Predictor> predictor(TokenMode, int) const override { return std::make_unique<Order2Predictor>(); }
  bool parallel_predictors() const override { return true; }
};

}  // namespace

std::unique_ptr<CodecModel> make_builtin_order2() { return std::make_unique<BuiltinOrder2>(); }

}  // namespace lmac
